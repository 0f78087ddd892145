-- OpenID Connect sign-ons under way: what the callback needs to finish one (the nonce the ID
-- token must carry, the PKCE verifier), kept in the database so that any instance behind a
-- balancer can finish what another started. A row is deleted when its callback arrives, so a
-- state is used once; rows past their expiry are deleted as new sign-ons start.
CREATE TABLE oidc_logins (
    state_hash     TEXT PRIMARY KEY,           -- SHA-256 of the `state` parameter
    browser_hash   TEXT NOT NULL,              -- SHA-256 of the cookie binding it to the browser
    nonce          TEXT NOT NULL,
    pkce_verifier  TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL
);
CREATE INDEX oidc_logins_expiry ON oidc_logins (expires_at);
