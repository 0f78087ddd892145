//! Single sign-on: OpenID Connect sign-ons under way (single use, short-lived, shared by
//! every instance), and users provisioned and kept up to date from the organisation's groups.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::Row;

use super::users::user_from_row;
use super::{Result, Store, parse_ts, ts};
use crate::model::sso::Grant;
use crate::model::user::User;

/// What the callback of one OpenID Connect sign-on needs, stored when it starts.
#[derive(Debug, Clone)]
pub struct PendingOidcLogin {
    /// SHA-256 of the `state` parameter (the state itself is only in the browser's URL).
    pub state_hash: String,
    /// SHA-256 of the cookie that binds the sign-on to the browser that started it.
    pub browser_hash: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub expires_at: DateTime<Utc>,
}

/// Who a sign-on names, as the identity provider (or proxy) said.
#[derive(Debug, Clone)]
pub struct SsoIdentity {
    pub username: String,
    pub name: String,
    pub email: String,
}

/// How a sign-on ended.
#[derive(Debug)]
pub enum SsoOutcome {
    SignedOn(User),
    /// No such user, and nothing to provision them from.
    Unknown,
    Disabled,
}

impl Store {
    /// Records a sign-on that has started; removes those whose time has run out.
    pub async fn begin_oidc_login(&self, p: &PendingOidcLogin, now: DateTime<Utc>) -> Result<()> {
        self.exec(sqlx::query("DELETE FROM oidc_logins WHERE expires_at < $1").bind(ts(now)))
            .await?;
        let insert = sqlx::query(
            "INSERT INTO oidc_logins \
             (state_hash, browser_hash, nonce, pkce_verifier, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&p.state_hash)
        .bind(&p.browser_hash)
        .bind(&p.nonce)
        .bind(&p.pkce_verifier)
        .bind(ts(now))
        .bind(ts(p.expires_at));
        self.exec(insert).await
    }

    /// Takes the sign-on of `state_hash` out of the store: a second call for the same state
    /// finds nothing, on any instance (the delete is the claim). `None` also when it expired.
    pub async fn take_oidc_login(
        &self,
        state_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<PendingOidcLogin>> {
        let taken = self
            .fetch_opt(
                sqlx::query(
                    "DELETE FROM oidc_logins WHERE state_hash = $1 \
                     RETURNING state_hash, browser_hash, nonce, pkce_verifier, expires_at",
                )
                .bind(state_hash),
                |row| {
                    Ok(PendingOidcLogin {
                        state_hash: row.try_get("state_hash")?,
                        browser_hash: row.try_get("browser_hash")?,
                        nonce: row.try_get("nonce")?,
                        pkce_verifier: row.try_get("pkce_verifier")?,
                        expires_at: parse_ts(&row.try_get::<String, _>("expires_at")?)?,
                    })
                },
            )
            .await?;
        Ok(taken.filter(|p| p.expires_at >= now))
    }

    /// Signs `who` on `via` a sign-on method (`oidc`, `header`). With a `grant` (their groups
    /// matched a rule) a missing user is created without a password (`user.provisioned`) and
    /// a known one gets the grant's role and units when they changed (`user.sso_updated`);
    /// without one only a known user gets in. Audited `user.sso_login`, all in one commit.
    pub async fn sso_sign_on(
        &self,
        who: &SsoIdentity,
        grant: Option<&Grant>,
        via: &str,
        at: DateTime<Utc>,
    ) -> Result<SsoOutcome> {
        let mut tx = self.begin_write(at, &format!("sso:{via}")).await?;
        let existing = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM users WHERE username = $1",
            super::users::USER_COLUMNS
        )))
        .bind(&who.username)
        .fetch_optional(&mut *tx.tx)
        .await?
        .as_ref()
        .map(user_from_row)
        .transpose()?
        .map(|(u, _)| u);
        let user_id = match (existing, grant) {
            (Some(u), _) if u.disabled => return Ok(SsoOutcome::Disabled),
            (None, None) => return Ok(SsoOutcome::Unknown),
            (Some(u), None) => u.id,
            (Some(u), Some(g)) => {
                if u.role != g.role || u.units != g.units {
                    tx.exec(
                        sqlx::query("UPDATE users SET role = $1, units = $2 WHERE id = $3")
                            .bind(g.role.as_str())
                            .bind(serde_json::to_string(&g.units).expect("strings serialise"))
                            .bind(u.id),
                    )
                    .await?;
                    tx.audit(
                        "user.sso_updated",
                        &format!("user:{}", u.id),
                        json!({
                            "username": u.username,
                            "via": via,
                            "from": {"role": u.role.as_str(), "units": u.units},
                            "to": {"role": g.role.as_str(), "units": g.units},
                        }),
                    )
                    .await?;
                }
                u.id
            }
            (None, Some(g)) => {
                // An empty password hash is no argon2 hash: the password form never matches it.
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO users (username, name, email, role, units, password_hash, created_at) \
                     VALUES ($1, $2, $3, $4, $5, '', $6) RETURNING id",
                )
                .bind(&who.username)
                .bind(&who.name)
                .bind(&who.email)
                .bind(g.role.as_str())
                .bind(serde_json::to_string(&g.units).expect("strings serialise"))
                .bind(ts(at))
                .fetch_one(&mut *tx.tx)
                .await?;
                tx.audit(
                    "user.provisioned",
                    &format!("user:{id}"),
                    json!({
                        "username": who.username,
                        "via": via,
                        "role": g.role.as_str(),
                        "units": g.units,
                    }),
                )
                .await?;
                id
            }
        };
        tx.commit_audited(
            "user.sso_login",
            &format!("user:{user_id}"),
            json!({"username": who.username, "via": via}),
        )
        .await?;
        let sql = format!(
            "SELECT {} FROM users WHERE id = $1",
            super::users::USER_COLUMNS
        );
        let user = self
            .fetch_opt(
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user_id),
                user_from_row,
            )
            .await?
            .map(|(u, _)| u);
        Ok(user.map_or(SsoOutcome::Unknown, SsoOutcome::SignedOn))
    }
}
