-- Failed logins per account and per client address, in the database so that throttling holds
-- across every instance that shares it.
CREATE TABLE login_failures (
    key          TEXT   PRIMARY KEY,            -- 'user:<username>' or 'addr:<ip>'
    failures     BIGINT NOT NULL,
    last_at      TEXT   NOT NULL,
    locked_until TEXT
);
