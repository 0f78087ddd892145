//! Draws and their sampled members.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Result, Store, StoreError, WriteTx, parse_date, parse_ts, ts};
use crate::calendar::Month;
use crate::ident::{RoutineId, StaffId, SystemId, UnitId};
use crate::model::draw::{CycleState, Draw, DrawStatus, Seed, Selected};
use crate::model::open_work::{OpenWork, Owner};

const DRAW_COLUMNS: &str = "id, routine_id, unit_id, system_id, month, execution_date, \
     window_end, seed, params, population, checked, status, created_at, executed_at";

fn corrupt(id: i64, what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("draw {id}: {what}: {e}"))
}

fn draw_from_row(row: &AnyRow, selected: Vec<Selected>) -> Result<Draw> {
    let id: i64 = row.try_get("id")?;
    let text = |col: &str| -> Result<String> { Ok(row.try_get::<String, _>(col)?) };
    let id_of = |col: &str| -> Result<String> { text(col) };
    Ok(Draw {
        id,
        routine: RoutineId::new(&id_of("routine_id")?).map_err(|e| corrupt(id, "routine", e))?,
        unit: UnitId::new(&id_of("unit_id")?).map_err(|e| corrupt(id, "unit", e))?,
        system: SystemId::new(&id_of("system_id")?).map_err(|e| corrupt(id, "system", e))?,
        month: text("month")?
            .parse()
            .map_err(|e| corrupt(id, "month", e))?,
        params: serde_json::from_str(&text("params")?).map_err(|e| corrupt(id, "params", e))?,
        seed: Seed::from_hex(&text("seed")?)
            .ok_or_else(|| corrupt(id, "seed", "not 64 hex digits"))?,
        population: serde_json::from_str(&text("population")?)
            .map_err(|e| corrupt(id, "population", e))?,
        checked: serde_json::from_str(&text("checked")?).map_err(|e| corrupt(id, "checked", e))?,
        execution_date: parse_date(&text("execution_date")?)?,
        window_end: parse_date(&text("window_end")?)?,
        selected,
        status: DrawStatus::parse(&text("status")?)
            .ok_or_else(|| corrupt(id, "status", "unknown"))?,
        created_at: parse_ts(&text("created_at")?)?,
        executed_at: row
            .try_get::<Option<String>, _>("executed_at")?
            .as_deref()
            .map(parse_ts)
            .transpose()?,
    })
}

fn member_from_row(row: &AnyRow) -> Result<(i64, Selected)> {
    let draw_id: i64 = row.try_get("draw_id")?;
    let when = |col: &str| -> Result<chrono::DateTime<chrono::FixedOffset>> {
        let raw: String = row.try_get(col)?;
        DateTime::parse_from_rfc3339(&raw).map_err(|e| corrupt(draw_id, col, e))
    };
    Ok((
        draw_id,
        Selected {
            staff_id: StaffId::new(&row.try_get::<String, _>("staff_id")?)
                .map_err(|e| corrupt(draw_id, "staff_id", e))?,
            username: row.try_get("username")?,
            review_from: when("review_from")?,
            review_to: when("review_to")?,
        },
    ))
}

impl WriteTx {
    /// Stores draws unless one exists for their routine, unit and month; returns each one's
    /// new id, or `None` where another process got there first. One multi-row statement per
    /// table, because a region's month is thousands of draws and round trips dominate.
    pub async fn insert_draws(&mut self, draws: &[Draw]) -> Result<Vec<Option<i64>>> {
        if draws.is_empty() {
            return Ok(Vec::new());
        }
        let mut inserted: HashMap<(String, String), i64> = HashMap::new();
        // The population snapshot dominates a draw row's size: about 40 bytes a member.
        let draw_bytes = |d: &Draw| 400 + 48 * d.population.len() + 12 * d.checked.len();
        for batch in self.batching.batches(draws, 14, draw_bytes) {
            let sql = format!(
                "INSERT INTO draws (routine_id, unit_id, system_id, month, execution_date, window_end, \
                 population_size, sample_size, seed, params, population, checked, status, created_at) \
                 VALUES {} ON CONFLICT (routine_id, unit_id, month) DO NOTHING \
                 RETURNING id, routine_id, unit_id",
                self.batching.placeholders(batch.len(), 14)
            );
            let mut query = sqlx::query_as::<_, (i64, String, String)>(sqlx::AssertSqlSafe(sql));
            for d in batch {
                query = query
                    .bind(d.routine.as_str())
                    .bind(d.unit.as_str())
                    .bind(d.system.as_str())
                    .bind(d.month.to_string())
                    .bind(d.execution_date.to_string())
                    .bind(d.window_end.to_string())
                    .bind(d.population.len() as i64)
                    .bind(d.selected.len() as i64)
                    .bind(d.seed.to_hex())
                    .bind(serde_json::to_string(&d.params).expect("params serialise"))
                    .bind(serde_json::to_string(&d.population).expect("members serialise"))
                    .bind(serde_json::to_string(&d.checked).expect("staff ids serialise"))
                    .bind(d.status.as_str())
                    .bind(ts(d.created_at));
            }
            for (id, routine, unit) in query.fetch_all(&mut *self.tx).await? {
                inserted.insert((routine, unit), id);
            }
        }
        // All draws of one call share a month, so routine and unit identify each.
        let ids: Vec<Option<i64>> = draws
            .iter()
            .map(|d| {
                inserted
                    .get(&(d.routine.to_string(), d.unit.to_string()))
                    .copied()
            })
            .collect();
        let members: Vec<(i64, usize, &Selected)> = draws
            .iter()
            .zip(&ids)
            .filter_map(|(d, id)| id.map(|id| (id, d)))
            .flat_map(|(id, d)| d.selected.iter().enumerate().map(move |(i, s)| (id, i, s)))
            .collect();
        for batch in self.batching.batches(&members, 6, |_| 160) {
            let sql = format!(
                "INSERT INTO draw_members (draw_id, position, staff_id, username, review_from, review_to) \
                 VALUES {}",
                self.batching.placeholders(batch.len(), 6)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (id, position, s) in batch {
                query = query
                    .bind(*id)
                    .bind(*position as i64)
                    .bind(s.staff_id.as_str())
                    .bind(s.username.as_str())
                    .bind(s.review_from.to_rfc3339())
                    .bind(s.review_to.to_rfc3339());
            }
            query.execute(&mut *self.tx).await?;
        }
        Ok(ids)
    }

    /// Records how a claimed draw ended.
    pub async fn finish_draw(&mut self, id: i64, status: DrawStatus) -> Result<()> {
        self.exec(sqlx::query(
            "UPDATE draws SET status = $1, executed_at = $2, claimed_by = NULL, claim_expires = NULL \
             WHERE id = $3",
        )
        .bind(status.as_str())
        .bind(ts(self.at))
        .bind(id))
.await
    }
}

impl Store {
    /// Which (routine, unit) pairs already have a draw for `month`.
    pub async fn draw_keys(&self, month: Month) -> Result<HashSet<(String, String)>> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT routine_id, unit_id FROM draws WHERE month = $1")
                .bind(month.to_string())
                .fetch_all(self.pool())
                .await?;
        Ok(rows.into_iter().collect())
    }

    /// Who a draw selected, in selection order.
    pub async fn draw_members(&self, id: i64) -> Result<Vec<Selected>> {
        let members = sqlx::query(
            "SELECT draw_id, staff_id, username, review_from, review_to FROM draw_members \
             WHERE draw_id = $1 ORDER BY position",
        );
        self.fetch_vec(members.bind(id), |r| member_from_row(r).map(|(_, s)| s))
            .await
    }

    pub async fn draw(&self, id: i64) -> Result<Option<Draw>> {
        let selected = self.draw_members(id).await?;
        self.fetch_by_id("draws", DRAW_COLUMNS, id, |row| {
            draw_from_row(row, selected)
        })
        .await
    }

    /// Every draw of a month with its members, in id order: two queries, not one per draw.
    pub async fn draws_for_month(&self, month: Month) -> Result<Vec<Draw>> {
        let sql = format!("SELECT {DRAW_COLUMNS} FROM draws WHERE month = $1 ORDER BY id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(month.to_string())
            .fetch_all(self.pool())
            .await?;
        let member_rows = sqlx::query(
            "SELECT m.draw_id, m.staff_id, m.username, m.review_from, m.review_to \
             FROM draw_members m JOIN draws d ON d.id = m.draw_id \
             WHERE d.month = $1 ORDER BY m.draw_id, m.position",
        )
        .bind(month.to_string())
        .fetch_all(self.pool())
        .await?;
        let mut members: HashMap<i64, Vec<Selected>> = HashMap::new();
        for row in &member_rows {
            let (draw_id, s) = member_from_row(row)?;
            members.entry(draw_id).or_default().push(s);
        }
        rows.iter()
            .map(|row| {
                let id: i64 = row.try_get("id")?;
                draw_from_row(row, members.remove(&id).unwrap_or_default())
            })
            .collect()
    }

    /// Per routine and unit, the coverage cycle as their latest draw before `month` left it:
    /// two queries for the whole organisation, not one per unit.
    pub async fn cycle_states(
        &self,
        month: Month,
    ) -> Result<HashMap<(String, String), CycleState>> {
        // The latest earlier draw of each routine and unit (the unique index serves the
        // NOT EXISTS).
        const LATEST: &str = "d.month < $1 AND NOT EXISTS (SELECT 1 FROM draws n \
             WHERE n.routine_id = d.routine_id AND n.unit_id = d.unit_id \
             AND n.month > d.month AND n.month < $1)";
        let draws: Vec<(i64, String, String, i64, String)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT d.id, d.routine_id, d.unit_id, d.population_size, d.checked \
                 FROM draws d WHERE {LATEST}"
            )))
            .bind(month.to_string())
            .fetch_all(self.pool())
            .await?;
        let members: Vec<(i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT m.draw_id, m.staff_id FROM draw_members m JOIN draws d ON d.id = m.draw_id \
             WHERE {LATEST} ORDER BY m.draw_id, m.position"
        )))
        .bind(month.to_string())
        .fetch_all(self.pool())
        .await?;
        let mut selected: HashMap<i64, Vec<StaffId>> = HashMap::new();
        for (draw, staff) in members {
            let staff = StaffId::new(&staff).map_err(|e| corrupt(draw, "staff_id", e))?;
            selected.entry(draw).or_default().push(staff);
        }
        draws
            .into_iter()
            .map(|(id, routine, unit, population_size, checked)| {
                let state = CycleState {
                    population_size: population_size as usize,
                    checked: serde_json::from_str(&checked)
                        .map_err(|e| corrupt(id, "checked", e))?,
                    selected: selected.remove(&id).unwrap_or_default(),
                };
                Ok(((routine, unit), state))
            })
            .collect()
    }

    /// The units and systems that still have open work: draws not yet run, orders still
    /// waiting, tasks still open; so a configuration that drops or renames one can be told
    /// what it leaves behind.
    pub async fn open_work(&self) -> Result<Vec<OpenWork>> {
        let counts: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT 'unit', unit_id, 'draws', COUNT(*) FROM draws \
               WHERE status IN ('planned', 'running') GROUP BY unit_id \
             UNION ALL SELECT 'system', system_id, 'draws', COUNT(*) FROM draws \
               WHERE status IN ('planned', 'running') GROUP BY system_id \
             UNION ALL SELECT 'system', system_id, 'orders', COUNT(*) FROM orders \
               WHERE state IN ('pending', 'sending', 'awaiting_delivery', 'in_doubt', 'manual') GROUP BY system_id \
             UNION ALL SELECT 'unit', unit_id, 'tasks', COUNT(*) FROM review_tasks \
               WHERE state = 'open' GROUP BY unit_id \
             UNION ALL SELECT 'system', system_id, 'tasks', COUNT(*) FROM review_tasks \
               WHERE state = 'open' GROUP BY system_id",
        )
        .fetch_all(self.pool())
        .await?;
        let mut by_key: std::collections::BTreeMap<(Owner, String), OpenWork> =
            std::collections::BTreeMap::new();
        for (kind, id, what, n) in counts {
            let owner = if kind == "unit" {
                Owner::Unit
            } else {
                Owner::System
            };
            let work = by_key
                .entry((owner, id.clone()))
                .or_insert_with(|| OpenWork {
                    owner,
                    id,
                    draws: 0,
                    orders: 0,
                    tasks: 0,
                });
            match what.as_str() {
                "draws" => work.draws += n,
                "orders" => work.orders += n,
                _ => work.tasks += n,
            }
        }
        Ok(by_key.into_values().collect())
    }

    /// Every draw id, oldest first.
    pub async fn draw_ids(&self) -> Result<Vec<i64>> {
        let rows: Vec<(i64,)> = sqlx::query_as("SELECT id FROM draws ORDER BY id")
            .fetch_all(self.pool())
            .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Claims up to `limit` draws whose execution day has come, and every draw left `running`.
    /// The caller holds the tick lease, so no other tick is alive: a draw still `running`
    /// belongs to a tick that died mid-batch and is taken over at once rather than when its
    /// claim would have run out. PostgreSQL skips rows locked by a transaction still in
    /// flight; SQLite runs this under its single write lock.
    pub async fn claim_due(
        &self,
        today: NaiveDate,
        holder: &str,
        claim_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<i64>> {
        let sql = match self.backend() {
            super::Backend::Postgres => {
                "UPDATE draws SET status = 'running', claimed_by = $1, claim_expires = $2 \
                 WHERE id IN (SELECT id FROM draws \
                   WHERE (status = 'planned' AND execution_date <= $3) \
                      OR status = 'running' \
                   ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) \
                 RETURNING id"
            }
            super::Backend::Sqlite => {
                "UPDATE draws SET status = 'running', claimed_by = $1, claim_expires = $2 \
                 WHERE id IN (SELECT id FROM draws \
                   WHERE (status = 'planned' AND execution_date <= $3) \
                      OR status = 'running' \
                   ORDER BY id LIMIT $4) \
                 RETURNING id"
            }
        };
        let mut tx = match self.backend() {
            super::Backend::Sqlite => self.pool().begin_with("BEGIN IMMEDIATE").await?,
            super::Backend::Postgres => self.pool().begin().await?,
        };
        let mut ids: Vec<(i64,)> = sqlx::query_as(sql)
            .bind(holder)
            .bind(ts(claim_until))
            .bind(today.to_string())
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        ids.sort_unstable();
        Ok(ids.into_iter().map(|(id,)| id).collect())
    }
}
