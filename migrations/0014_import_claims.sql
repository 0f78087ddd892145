-- A streamed import stores an order's events in short batches outside the audit chain's
-- lock; its claim keeps a second import of the same order out meanwhile, and names the
-- leftovers of one that died (whoever claims the order next removes them first).
CREATE TABLE import_claims (
    order_id   BIGINT NOT NULL PRIMARY KEY REFERENCES orders (id),
    holder     TEXT   NOT NULL,
    expires_at TEXT   NOT NULL
);
