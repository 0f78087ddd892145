-- API tokens for service accounts (a BI tool, a case system): each belongs to a user, whose
-- role and units it acts with. Only the token's SHA-256 is kept; it is shown once.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      BIGINT NOT NULL REFERENCES users (id),
    name         TEXT   NOT NULL,
    token_hash   TEXT   NOT NULL UNIQUE,
    created_at   TEXT   NOT NULL,
    created_by   TEXT   NOT NULL,
    expires_at   TEXT,
    revoked_at   TEXT,
    last_used_at TEXT
);

-- /metrics counts failed logins by the audit trail's action on every scrape.
CREATE INDEX audit_action ON audit_log (action);
