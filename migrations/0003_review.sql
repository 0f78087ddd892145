-- Review: tasks handed to managers, the flags rules raised, notices sent, cases opened from
-- findings, and targeted checks and patient requests that use the same order pipeline.

-- The connector's own protected-identity mark on an event.
ALTER TABLE access_events ADD COLUMN protected_identity BIGINT NOT NULL DEFAULT 0;
-- An order made for a targeted check or a patient request rather than a draw.
ALTER TABLE orders ADD COLUMN check_id BIGINT;
CREATE INDEX orders_check ON orders (check_id);

-- Targeted checks (by user or by patient) and patient requests.
CREATE TABLE checks (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT   NOT NULL,              -- user | patient | patient_request
    routine_id    TEXT,                         -- set when a scheduled targeted routine made it
    month         TEXT,
    system_id     TEXT   NOT NULL,
    unit_id       TEXT   NOT NULL,              -- whose manager reviews it
    subject       TEXT   NOT NULL,              -- username, or a patient's personnummer
    period_from   TEXT   NOT NULL,
    period_to     TEXT   NOT NULL,
    reason        TEXT   NOT NULL,
    requested_by  TEXT   NOT NULL,
    created_at    TEXT   NOT NULL,
    UNIQUE (routine_id, month, system_id, subject)
);

-- A patient's request for the log of who read their record (S3).
CREATE TABLE patient_requests (
    check_id           BIGINT PRIMARY KEY REFERENCES checks (id),
    received_on        TEXT   NOT NULL,
    identity_document  TEXT   NOT NULL,
    identity_checked_by TEXT  NOT NULL,
    dispatched_at      TEXT,
    registered_mail    TEXT,
    receipt_at         TEXT
);

CREATE TABLE review_tasks (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT   NOT NULL,            -- stickprov | riktad | patient_request
    draw_id         BIGINT UNIQUE REFERENCES draws (id),
    check_id        BIGINT UNIQUE REFERENCES checks (id),
    unit_id         TEXT   NOT NULL,
    system_id       TEXT   NOT NULL,
    month           TEXT,
    reviewer_name   TEXT   NOT NULL,
    reviewer_email  TEXT   NOT NULL,
    state           TEXT   NOT NULL,            -- open | closed
    created_at      TEXT   NOT NULL,
    remind_at       TEXT   NOT NULL,
    deadline        TEXT   NOT NULL,
    reminded_at     TEXT,
    escalated_at    TEXT,
    outcome         TEXT,                       -- utan_anmarkning | med_anmarkning
    comment         TEXT,
    closed_at       TEXT,
    closed_by       TEXT,
    write_back      TEXT,                       -- what writing the outcome back gave
    users           BIGINT NOT NULL DEFAULT 0,
    events          BIGINT NOT NULL DEFAULT 0,
    flagged_events  BIGINT NOT NULL DEFAULT 0,
    retain_until    TEXT,                       -- rows kept until then; NULL while open
    rows_purged_at  TEXT
);
CREATE INDEX review_tasks_state ON review_tasks (state, deadline);

-- Per reviewed user: counts that stay after the rows are purged, and user-level flags.
CREATE TABLE task_users (
    task_id            BIGINT NOT NULL REFERENCES review_tasks (id),
    username           TEXT   NOT NULL,
    staff_id           TEXT,
    events             BIGINT NOT NULL,
    distinct_patients  BIGINT NOT NULL,
    flags              TEXT   NOT NULL,         -- JSON [{code, reason}]
    PRIMARY KEY (task_id, username)
);

CREATE TABLE event_flags (
    event_id  BIGINT NOT NULL,
    code      TEXT   NOT NULL,
    reason    TEXT   NOT NULL,
    PRIMARY KEY (event_id, code)
);

-- Notices to managers; unique per task, kind and recipient so a notice is made once.
CREATE TABLE notifications (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id     BIGINT NOT NULL REFERENCES review_tasks (id),
    kind        TEXT   NOT NULL,                -- assigned | reminder | escalation
    recipient   TEXT   NOT NULL,
    subject     TEXT   NOT NULL,
    body        TEXT   NOT NULL,
    state       TEXT   NOT NULL,                -- pending | sent | failed
    attempts    BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error  TEXT,
    created_at  TEXT   NOT NULL,
    sent_at     TEXT,
    UNIQUE (task_id, kind, recipient)
);
CREATE INDEX notifications_due ON notifications (state, next_attempt_at);

-- A finding followed to a decision (DOMAIN.md "Outcome and follow-up").
CREATE TABLE cases (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id      BIGINT NOT NULL UNIQUE REFERENCES review_tasks (id),
    unit_id      TEXT   NOT NULL,
    system_id    TEXT   NOT NULL,
    opened_at    TEXT   NOT NULL,
    opened_by    TEXT   NOT NULL,
    summary      TEXT   NOT NULL,
    state        TEXT   NOT NULL,               -- open | decided
    decision     TEXT,                          -- no_breach | breach_labour_law | police_report
    decided_at   TEXT,
    decided_by   TEXT,
    decision_note TEXT,
    retain_until TEXT                           -- ten years after the decision
);

CREATE TABLE case_steps (
    case_id  BIGINT NOT NULL REFERENCES cases (id),
    step     TEXT   NOT NULL,                   -- contact_employee | targeted_check | inform_chief
    at       TEXT   NOT NULL,
    by_actor TEXT   NOT NULL,
    note     TEXT   NOT NULL,
    PRIMARY KEY (case_id, step)
);
