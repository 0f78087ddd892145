-- Delegations (seeds 000 "kan överlåtas till annan ansvarig chef", 004 "delegeringen ska
-- vara skriftlig"): one task, or all loggkontroll of a unit for a period, handed to another
-- named chef; who, to whom, from when and why are kept.
CREATE TABLE delegations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id     BIGINT REFERENCES review_tasks (id), -- one task, or
    unit_id     TEXT,                                -- a unit for a period
    valid_from  TEXT   NOT NULL,                     -- a date (a unit's) or a time (a task's)
    valid_until TEXT,                                -- a unit's last day
    from_email  TEXT   NOT NULL,
    to_name     TEXT   NOT NULL,
    to_email    TEXT   NOT NULL,
    reason      TEXT   NOT NULL,
    created_at  TEXT   NOT NULL,
    created_by  TEXT   NOT NULL
);
CREATE INDEX delegations_task ON delegations (task_id);
CREATE INDEX delegations_unit ON delegations (unit_id, valid_from);
