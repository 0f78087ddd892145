//! Delegations: stored once, never changed; a task's reviewer moves with its delegation in
//! the same transaction.

use chrono::NaiveDate;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Result, Store, StoreError, WriteTx, parse_date, parse_ts, ts};
use crate::ident::UnitId;
use crate::model::delegation::{Delegation, Scope};
use crate::model::org::Contact;

const COLUMNS: &str = "id, task_id, unit_id, valid_from, valid_until, from_email, to_name, \
     to_email, reason, created_at, created_by";

fn from_row(row: &AnyRow) -> Result<Delegation> {
    let id: i64 = row.try_get("id")?;
    let task: Option<i64> = row.try_get("task_id")?;
    let scope = match task {
        Some(task) => Scope::Task { task },
        None => {
            let unit: Option<String> = row.try_get("unit_id")?;
            let until: Option<String> = row.try_get("valid_until")?;
            let corrupt = || StoreError::Corrupt(format!("delegation {id}: neither task nor unit"));
            Scope::Unit {
                unit: UnitId::new(&unit.ok_or_else(corrupt)?)
                    .map_err(|e| StoreError::Corrupt(format!("delegation {id}: {e}")))?,
                from: parse_date(&row.try_get::<String, _>("valid_from")?)?,
                until: parse_date(&until.ok_or_else(corrupt)?)?,
            }
        }
    };
    Ok(Delegation {
        id,
        scope,
        from_email: row.try_get("from_email")?,
        to: Contact {
            name: row.try_get("to_name")?,
            email: row.try_get("to_email")?,
        },
        reason: row.try_get("reason")?,
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        created_by: row.try_get("created_by")?,
    })
}

impl WriteTx {
    /// Records a delegation made at the transaction's time by its actor.
    pub async fn insert_delegation(
        &mut self,
        scope: &Scope,
        from_email: &str,
        to: &Contact,
        reason: &str,
    ) -> Result<i64> {
        let (task, unit, from, until) = match scope {
            Scope::Task { task } => (Some(*task), None, ts(self.at), None),
            Scope::Unit { unit, from, until } => (
                None,
                Some(unit.to_string()),
                from.to_string(),
                Some(until.to_string()),
            ),
        };
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO delegations (task_id, unit_id, valid_from, valid_until, from_email, \
             to_name, to_email, reason, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(task)
        .bind(unit)
        .bind(from)
        .bind(until)
        .bind(from_email)
        .bind(to.name.as_str())
        .bind(to.email.as_str())
        .bind(reason)
        .bind(ts(self.at))
        .bind(self.actor.clone())
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(id)
    }

    /// Hands an open task to `to`; false when it is closed (or was never there).
    pub async fn reassign_task(&mut self, task: i64, to: &Contact) -> Result<bool> {
        self.exec_one(
            sqlx::query(
                "UPDATE review_tasks SET reviewer_name = $1, reviewer_email = $2 \
                 WHERE id = $3 AND state = 'open'",
            )
            .bind(to.name.as_str())
            .bind(to.email.as_str())
            .bind(task),
        )
        .await
    }

    /// The open tasks of `unit` that `email` reviews.
    pub async fn open_tasks_reviewed_by(&mut self, unit: &str, email: &str) -> Result<Vec<i64>> {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT id FROM review_tasks WHERE unit_id = $1 AND state = 'open' \
             AND LOWER(reviewer_email) = LOWER($2) ORDER BY id",
        )
        .bind(unit)
        .bind(email)
        .fetch_all(&mut *self.tx)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }
}

impl Store {
    /// Every delegation, newest first.
    pub async fn delegations(&self) -> Result<Vec<Delegation>> {
        let sql = format!("SELECT {COLUMNS} FROM delegations ORDER BY id DESC");
        self.fetch_vec(sqlx::query(sqlx::AssertSqlSafe(sql)), from_row)
            .await
    }

    /// A task's delegations, oldest first.
    pub async fn delegations_of_task(&self, task: i64) -> Result<Vec<Delegation>> {
        let sql = format!("SELECT {COLUMNS} FROM delegations WHERE task_id = $1 ORDER BY id");
        self.fetch_vec(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(task), from_row)
            .await
    }

    /// Whom `unit`'s new tasks go to on `day` by delegation: the latest delegation that
    /// covers the day.
    pub async fn unit_delegate(&self, unit: &str, day: NaiveDate) -> Result<Option<Contact>> {
        let day = day.to_string();
        let sql = format!(
            "SELECT {COLUMNS} FROM delegations WHERE unit_id = $1 AND valid_from <= $2 \
             AND valid_until >= $2 ORDER BY id DESC LIMIT 1"
        );
        let found = self
            .fetch_opt(
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(unit).bind(day),
                from_row,
            )
            .await?;
        Ok(found.map(|d| d.to))
    }
}
