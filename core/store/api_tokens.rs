//! API tokens: a service account's bearer token for `/api`, stored as its hash only.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::users::user_from_row;
use super::{Result, Store, parse_ts, ts};
use crate::model::user::User;

/// A token as `token list` shows it: never the token itself.
#[derive(Debug, Clone, Serialize)]
pub struct ApiToken {
    pub id: i64,
    pub username: String,
    pub role: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// How often a token's use is written down: a BI tool polling every second is not a write
/// per request.
const TOUCH_EVERY: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

fn optional_ts(row: &sqlx::any::AnyRow, column: &str) -> Result<Option<DateTime<Utc>>> {
    row.try_get::<Option<String>, _>(column)?
        .map(|t| parse_ts(&t))
        .transpose()
}

impl Store {
    /// Stores a new token for `user_id`; its id. Audited `api_token.created`.
    pub async fn create_api_token(
        &self,
        user_id: i64,
        name: &str,
        token_hash: &str,
        expires_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
        actor: &str,
    ) -> Result<i64> {
        let mut tx = self.begin_write(at, actor).await?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO api_tokens (user_id, name, token_hash, created_at, created_by, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(user_id)
        .bind(name)
        .bind(token_hash)
        .bind(ts(at))
        .bind(actor)
        .bind(expires_at.map(ts))
        .fetch_one(&mut *tx.tx)
        .await?;
        tx.commit_audited(
            "api_token.created",
            &format!("api_token:{id}"),
            serde_json::json!({"user_id": user_id, "name": name, "expires_at": expires_at.map(ts)}),
        )
        .await?;
        Ok(id)
    }

    /// Revokes token `id`; `false` when there is no such token or it was already revoked.
    pub async fn revoke_api_token(&self, id: i64, at: DateTime<Utc>, actor: &str) -> Result<bool> {
        let mut tx = self.begin_write(at, actor).await?;
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(ts(at))
        .bind(id)
        .execute(&mut *tx.tx)
        .await?
        .rows_affected()
            == 1;
        if done {
            tx.commit_audited(
                "api_token.revoked",
                &format!("api_token:{id}"),
                serde_json::json!({}),
            )
            .await?;
        }
        Ok(done)
    }

    pub async fn api_tokens(&self) -> Result<Vec<ApiToken>> {
        let query = sqlx::query(
            "SELECT t.id, u.username, u.role, t.name, t.created_at, t.created_by, t.expires_at, \
             t.revoked_at, t.last_used_at FROM api_tokens t JOIN users u ON u.id = t.user_id \
             ORDER BY t.id",
        );
        self.fetch_vec(query, |row| {
            Ok(ApiToken {
                id: row.try_get("id")?,
                username: row.try_get("username")?,
                role: row.try_get("role")?,
                name: row.try_get("name")?,
                created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
                created_by: row.try_get("created_by")?,
                expires_at: optional_ts(row, "expires_at")?,
                revoked_at: optional_ts(row, "revoked_at")?,
                last_used_at: optional_ts(row, "last_used_at")?,
            })
        })
        .await
    }

    /// The user a live token acts for, and the token's id: not revoked, not expired, the user not disabled. Its
    /// use is recorded every few minutes.
    pub async fn api_token_user(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(User, i64)>> {
        let sql = format!(
            "SELECT {}, t.id AS token_id, t.expires_at, t.revoked_at, t.last_used_at \
             FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1",
            super::users::qualified_user_columns("u")
        );
        let found = self.fetch_opt(
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(token_hash),
            |row| {
                let (user, _) = user_from_row(row)?;
                let id: i64 = row.try_get("token_id")?;
                let live = optional_ts(row, "revoked_at")?.is_none()
                    && optional_ts(row, "expires_at")?.is_none_or(|e| e > now)
                    && !user.disabled;
                Ok(live.then_some((user, id, optional_ts(row, "last_used_at")?)))
            },
        );
        let Some((user, id, last_used)) = found.await?.flatten() else {
            return Ok(None);
        };
        if last_used.is_none_or(|t| now - t > TOUCH_EVERY) {
            let touch = sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2");
            self.exec(touch.bind(ts(now)).bind(id)).await?;
        }
        Ok(Some((user, id)))
    }
}
