-- Durable plan: one draw per routine, unit and month, with its seed and population snapshot.
CREATE TABLE draws (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    routine_id       TEXT    NOT NULL,
    unit_id          TEXT    NOT NULL,
    system_id        TEXT    NOT NULL,
    month            TEXT    NOT NULL,
    execution_date   TEXT    NOT NULL,
    window_end       TEXT    NOT NULL,
    population_size  BIGINT  NOT NULL,
    sample_size      BIGINT  NOT NULL,
    seed             TEXT    NOT NULL,
    params           TEXT    NOT NULL,
    population       TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    created_at       TEXT    NOT NULL,
    executed_at      TEXT,
    claimed_by       TEXT,
    claim_expires    TEXT,
    UNIQUE (routine_id, unit_id, month)
);
CREATE INDEX draws_due ON draws (status, execution_date);
CREATE INDEX draws_month ON draws (month);

CREATE TABLE draw_members (
    draw_id      BIGINT NOT NULL REFERENCES draws (id),
    position     BIGINT NOT NULL,
    staff_id     TEXT   NOT NULL,
    username     TEXT   NOT NULL,
    review_from  TEXT   NOT NULL,
    review_to    TEXT   NOT NULL,
    PRIMARY KEY (draw_id, position)
);
CREATE INDEX draw_members_staff ON draw_members (staff_id);

-- Append-only, hash-chained record of every state change.
CREATE TABLE audit_log (
    seq          BIGINT PRIMARY KEY,
    at           TEXT   NOT NULL,
    recorded_at  TEXT   NOT NULL,
    actor        TEXT   NOT NULL,
    action       TEXT   NOT NULL,
    object       TEXT   NOT NULL,
    details      TEXT   NOT NULL,
    prev_hash    TEXT   NOT NULL,
    hash         TEXT   NOT NULL
);
CREATE INDEX audit_object ON audit_log (object);

CREATE TABLE meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
