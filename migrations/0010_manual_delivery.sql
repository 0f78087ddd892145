-- Deliveries that do not arrive as rows (issue 10): an extract read on screen, sent by post or
-- as a Cryptshare file, or in a message; and the sampled users whose log was reviewed outside
-- loggvakt. A draw's task is made when its first part is in, so it counts what it has seen.

-- How a delivery outside loggvakt reached the reviewer, and when Cosmic's password came.
ALTER TABLE orders ADD COLUMN delivered_via TEXT;
ALTER TABLE orders ADD COLUMN password_at TEXT;
-- Sesam 2's Referensnummer of a row (the view or document the user opened).
ALTER TABLE access_events ADD COLUMN reference_number TEXT;
-- How many of the draw's orders were imported when the task's rows were last counted.
ALTER TABLE review_tasks ADD COLUMN parts_in BIGINT NOT NULL DEFAULT 0;

CREATE TABLE outside_reviews (
    task_id     BIGINT NOT NULL REFERENCES review_tasks (id),
    username    TEXT   NOT NULL,
    via         TEXT   NOT NULL,                -- screen | paper | cryptshare | message | file
    rows_seen   BIGINT NOT NULL,
    remark      BIGINT NOT NULL,                -- 1: something to follow up
    note        TEXT   NOT NULL,
    recorded_by TEXT   NOT NULL,
    recorded_at TEXT   NOT NULL,
    PRIMARY KEY (task_id, username)
);
