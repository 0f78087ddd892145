//! Web users and their sessions.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Result, Store, StoreError, parse_ts, ts};
use crate::model::user::{Role, User};

pub(super) const USER_COLUMNS: &str =
    "id, username, name, email, role, units, password_hash, disabled";

pub(super) fn user_from_row(row: &AnyRow) -> Result<(User, String)> {
    let id: i64 = row.try_get("id")?;
    let role: String = row.try_get("role")?;
    let units: String = row.try_get("units")?;
    Ok((
        User {
            id,
            username: row.try_get("username")?,
            name: row.try_get("name")?,
            email: row.try_get("email")?,
            role: Role::parse(&role)
                .ok_or_else(|| StoreError::Corrupt(format!("user {id}: role '{role}'")))?,
            units: serde_json::from_str(&units)
                .map_err(|e| StoreError::Corrupt(format!("user {id}: units: {e}")))?,
            disabled: row.try_get::<i64, _>("disabled")? != 0,
        },
        row.try_get("password_hash")?,
    ))
}

/// The user columns with a table alias, for a join.
pub(super) fn qualified_user_columns(alias: &str) -> String {
    USER_COLUMNS
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A user about to be stored.
pub struct NewUser<'a> {
    pub username: &'a str,
    pub name: &'a str,
    pub email: &'a str,
    pub role: Role,
    pub units: &'a [String],
    pub password_hash: &'a str,
}

impl Store {
    /// Adds a user, or replaces the password, name, e-mail, role and units of an existing
    /// one with the same username; returns the id.
    pub async fn upsert_user(
        &self,
        u: &NewUser<'_>,
        at: DateTime<Utc>,
        actor: &str,
    ) -> Result<i64> {
        let mut tx = self.begin_write(at, actor).await?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO users (username, name, email, role, units, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (username) DO UPDATE SET \
             name = excluded.name, email = excluded.email, role = excluded.role, \
             units = excluded.units, password_hash = excluded.password_hash, disabled = 0 \
             RETURNING id",
        )
        .bind(u.username)
        .bind(u.name)
        .bind(u.email)
        .bind(u.role.as_str())
        .bind(serde_json::to_string(u.units).expect("strings serialise"))
        .bind(u.password_hash)
        .bind(ts(at))
        .fetch_one(&mut *tx.tx)
        .await?;
        // Every session of a changed user ends: a new password must lock out the old ones.
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx.tx)
            .await?;
        tx.commit_audited(
            "user.saved",
            &format!("user:{id}"),
            serde_json::json!({"username": u.username, "role": u.role.as_str(), "units": u.units}),
        )
        .await?;
        Ok(id)
    }

    /// The user and their password hash.
    pub async fn user_by_name(&self, username: &str) -> Result<Option<(User, String)>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
        self.fetch_opt(
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(username),
            user_from_row,
        )
        .await
    }

    pub async fn users(&self) -> Result<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY username");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| user_from_row(r).map(|(u, _)| u))
            .collect()
    }

    pub async fn insert_session(
        &self,
        token_hash: &str,
        user_id: i64,
        csrf: &str,
        now: DateTime<Utc>,
        expires: DateTime<Utc>,
    ) -> Result<()> {
        let insert = sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, csrf, created_at, expires_at, last_seen) \
             VALUES ($1, $2, $3, $4, $5, $4)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(csrf)
        .bind(ts(now))
        .bind(ts(expires));
        self.exec(insert).await?;
        // Expired sessions go as new ones come, so the table stays small without a job.
        self.exec(sqlx::query("DELETE FROM sessions WHERE expires_at < $1").bind(ts(now)))
            .await
    }

    /// The live session's user and CSRF token: not expired, and used within `idle`. Its use
    /// is recorded, at most every minute (or half of `idle`), so a busy page is not a write
    /// per request.
    pub async fn session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
        idle: chrono::TimeDelta,
    ) -> Result<Option<(User, String)>> {
        let sql = format!(
            "SELECT {}, s.csrf, s.expires_at, COALESCE(s.last_seen, s.created_at) AS last_seen \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1",
            qualified_user_columns("u")
        );
        let query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(token_hash);
        let live = self.fetch_opt(query, |row| {
            let expires = parse_ts(&row.try_get::<String, _>("expires_at")?)?;
            let last_seen = parse_ts(&row.try_get::<String, _>("last_seen")?)?;
            let (user, _) = user_from_row(row)?;
            let csrf: String = row.try_get("csrf")?;
            let alive = expires >= now && last_seen + idle >= now && !user.disabled;
            Ok(alive.then_some((user, csrf, last_seen)))
        });
        let Some((user, csrf, last_seen)) = live.await?.flatten() else {
            return Ok(None);
        };
        if now - last_seen > (idle / 2).min(chrono::TimeDelta::minutes(1)) {
            let touch = sqlx::query("UPDATE sessions SET last_seen = $1 WHERE token_hash = $2");
            self.exec(touch.bind(ts(now)).bind(token_hash)).await?;
        }
        Ok(Some((user, csrf)))
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<()> {
        self.exec(sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash))
            .await
    }
}

/// When repeated failed logins lock a key (an account or an address).
#[derive(Debug, Clone, Copy)]
pub struct Throttle {
    /// Failures within `window` of each other that lock the key.
    pub limit: i64,
    pub window: chrono::TimeDelta,
    pub lock: chrono::TimeDelta,
}

impl Store {
    /// The latest lock among `keys` that has not run out at `now`.
    pub async fn login_locked_until(
        &self,
        keys: &[String],
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        let mut latest = None;
        for key in keys {
            let row: Option<(Option<String>,)> =
                sqlx::query_as("SELECT locked_until FROM login_failures WHERE key = $1")
                    .bind(key)
                    .fetch_optional(self.pool())
                    .await?;
            if let Some((Some(until),)) = row {
                let until = parse_ts(&until)?;
                if until > now && latest.is_none_or(|l| until > l) {
                    latest = Some(until);
                }
            }
        }
        Ok(latest)
    }

    /// Counts a failed login against each `(key, throttle)` and audits it once (username and
    /// address, never the password tried). Returns whether a key is now locked.
    pub async fn record_login_failure(
        &self,
        keys: &[(String, Throttle)],
        now: DateTime<Utc>,
        details: serde_json::Value,
    ) -> Result<bool> {
        let mut tx = self.begin_write(now, "web:login").await?;
        let mut locked = false;
        for (key, throttle) in keys {
            let row: Option<(i64, String)> =
                sqlx::query_as("SELECT failures, last_at FROM login_failures WHERE key = $1")
                    .bind(key)
                    .fetch_optional(&mut *tx.tx)
                    .await?;
            let recent = match row {
                Some((n, last)) if parse_ts(&last)? + throttle.window > now => n,
                _ => 0,
            };
            let failures = recent + 1;
            let lock = (failures >= throttle.limit).then(|| ts(now + throttle.lock));
            locked |= lock.is_some();
            tx.exec(
                sqlx::query(
                    "INSERT INTO login_failures (key, failures, last_at, locked_until) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO UPDATE SET \
                     failures = excluded.failures, last_at = excluded.last_at, \
                     locked_until = excluded.locked_until",
                )
                .bind(key)
                .bind(failures)
                .bind(ts(now))
                .bind(lock),
            )
            .await?;
        }
        tx.commit_audited("login.failed", "login", details).await?;
        Ok(locked)
    }

    /// Forgets an account's failures after it logged in.
    pub async fn clear_login_failures(&self, key: &str) -> Result<()> {
        self.exec(sqlx::query("DELETE FROM login_failures WHERE key = $1").bind(key))
            .await
    }
}
