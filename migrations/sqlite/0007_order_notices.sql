-- Notices about an order (its delivery is overdue) beside those about a task: a notice
-- belongs to a task or to an order. SQLite cannot drop NOT NULL in place, so the table is
-- rebuilt with its rows.
CREATE TABLE notifications_new (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id     BIGINT REFERENCES review_tasks (id),
    order_id    BIGINT REFERENCES orders (id),
    kind        TEXT   NOT NULL,                -- assigned | reminder | escalation | delivery_overdue
    recipient   TEXT   NOT NULL,
    subject     TEXT   NOT NULL,
    body        TEXT   NOT NULL,
    state       TEXT   NOT NULL,                -- pending | sent | failed
    attempts    BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error  TEXT,
    created_at  TEXT   NOT NULL,
    sent_at     TEXT,
    UNIQUE (task_id, kind, recipient),
    UNIQUE (order_id, kind, recipient),
    CHECK ((task_id IS NULL) <> (order_id IS NULL))
);
INSERT INTO notifications_new (id, task_id, kind, recipient, subject, body, state, attempts,
    next_attempt_at, last_error, created_at, sent_at)
SELECT id, task_id, kind, recipient, subject, body, state, attempts, next_attempt_at,
    last_error, created_at, sent_at FROM notifications;
DROP TABLE notifications;
ALTER TABLE notifications_new RENAME TO notifications;
CREATE INDEX notifications_due ON notifications (state, next_attempt_at);
