-- People who log in to the web pages, and their sessions (kept here rather than in a
-- session crate, so that sqlx is linked once).
CREATE TABLE users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    username       TEXT   NOT NULL UNIQUE,
    name           TEXT   NOT NULL,
    email          TEXT   NOT NULL,
    role           TEXT   NOT NULL,            -- admin | reviewer | executive | auditor
    units          TEXT   NOT NULL,            -- JSON list of unit ids a reviewer also sees
    password_hash  TEXT   NOT NULL,            -- argon2id, PHC string
    created_at     TEXT   NOT NULL,
    disabled       BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE sessions (
    token_hash  TEXT   PRIMARY KEY,            -- SHA-256 of the cookie's token
    user_id     BIGINT NOT NULL REFERENCES users (id),
    csrf        TEXT   NOT NULL,
    created_at  TEXT   NOT NULL,
    expires_at  TEXT   NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);
