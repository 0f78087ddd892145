-- Extract orders: one per draw part (a sample split by the connector's users-per-order
-- limit), durable, with an idempotency key the peer sees, and every attempt recorded.
CREATE TABLE orders (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    draw_id          BIGINT  REFERENCES draws (id),
    part             BIGINT  NOT NULL,
    system_id        TEXT    NOT NULL,
    idempotency_key  TEXT    NOT NULL UNIQUE,
    reference        TEXT    NOT NULL,
    request          TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    attempts         BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at  TEXT    NOT NULL,
    last_error       TEXT,
    external_ref     TEXT,
    receipt          TEXT,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL,
    sent_at          TEXT,
    delivered_at     TEXT,
    deliver_by       TEXT,
    reminded_at      TEXT,
    claim_expires    TEXT,
    UNIQUE (draw_id, part)
);
CREATE INDEX orders_due ON orders (state, next_attempt_at);

CREATE TABLE order_attempts (
    order_id  BIGINT NOT NULL REFERENCES orders (id),
    attempt   BIGINT NOT NULL,
    at        TEXT   NOT NULL,
    action    TEXT   NOT NULL,
    outcome   TEXT   NOT NULL,
    error     TEXT,
    PRIMARY KEY (order_id, attempt, action)
);

-- Normalised access events, linked to the order, the draw and the sampled person.
CREATE TABLE access_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id      BIGINT NOT NULL REFERENCES orders (id),
    draw_id       BIGINT,
    staff_id      TEXT,
    system_id     TEXT   NOT NULL,
    time          TEXT   NOT NULL,
    user_id       TEXT   NOT NULL,
    user_name     TEXT,
    patient_id    TEXT   NOT NULL,
    patient_name  TEXT,
    care_unit     TEXT,
    action        TEXT   NOT NULL,
    event_text    TEXT   NOT NULL,
    system_part   TEXT,
    raw           TEXT
);
CREATE INDEX access_events_order ON access_events (order_id);
CREATE INDEX access_events_draw ON access_events (draw_id, user_id);
