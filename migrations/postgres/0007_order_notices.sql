-- Notices about an order (its delivery is overdue) beside those about a task: a notice
-- belongs to a task or to an order.
ALTER TABLE notifications ALTER COLUMN task_id DROP NOT NULL;
ALTER TABLE notifications ADD COLUMN order_id BIGINT REFERENCES orders (id);
ALTER TABLE notifications ADD CONSTRAINT notifications_order_kind_recipient
    UNIQUE (order_id, kind, recipient);
ALTER TABLE notifications ADD CONSTRAINT notifications_task_or_order
    CHECK ((task_id IS NULL) <> (order_id IS NULL));
