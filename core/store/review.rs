//! Review tasks, their reviewed users and flagged rows, and the notices about them.

use chrono::{DateTime, Utc};
use loggvakt_connector::{AccessEvent, ReviewOutcome};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Result, Store, StoreError, WriteTx, opt_text_col, opt_ts, parse_ts, text_col, ts};
use crate::model::check::CheckKind;
use crate::model::notice::{Notice, NoticeKind, NoticeState};
use crate::model::order::OrderState;
use crate::model::task::{
    NewTask, ReviewedPeriod, StoredFlag, Task, TaskEvent, TaskRows, TaskState, TaskUser,
    outcome_str,
};

const TASK_COLUMNS: &str = "id, kind, draw_id, check_id, unit_id, system_id, month, \
     reviewer_name, reviewer_email, state, created_at, remind_at, deadline, reminded_at, \
     escalated_at, outcome, comment, closed_at, closed_by, write_back, users, events, \
     flagged_events, retain_until, rows_purged_at";

fn corrupt(what: &str, id: i64, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what} {id}: {e}"))
}

pub fn parse_outcome(raw: &str) -> Option<ReviewOutcome> {
    match raw {
        "utan_anmarkning" => Some(ReviewOutcome::UtanAnmarkning),
        "med_anmarkning" => Some(ReviewOutcome::MedAnmarkning),
        _ => None,
    }
}

fn task_from_row(row: &AnyRow) -> Result<Task> {
    let id: i64 = row.try_get("id")?;
    let outcome: Option<String> = row.try_get("outcome")?;
    Ok(Task {
        id,
        kind: text_col(row, "kind", "task", id)?,
        draw_id: row.try_get("draw_id")?,
        check_id: row.try_get("check_id")?,
        unit: text_col(row, "unit_id", "task", id)?,
        system: text_col(row, "system_id", "task", id)?,
        month: opt_text_col(row, "month", "task", id)?,
        reviewer_name: row.try_get("reviewer_name")?,
        reviewer_email: row.try_get("reviewer_email")?,
        state: text_col(row, "state", "task", id)?,
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        remind_at: parse_ts(&row.try_get::<String, _>("remind_at")?)?,
        deadline: parse_ts(&row.try_get::<String, _>("deadline")?)?,
        reminded_at: opt_ts(row, "reminded_at")?,
        escalated_at: opt_ts(row, "escalated_at")?,
        outcome: outcome
            .map(|o| parse_outcome(&o).ok_or_else(|| corrupt("task", id, "outcome")))
            .transpose()?,
        comment: row.try_get("comment")?,
        closed_at: opt_ts(row, "closed_at")?,
        closed_by: row.try_get("closed_by")?,
        write_back: row.try_get("write_back")?,
        users: row.try_get("users")?,
        events: row.try_get("events")?,
        flagged_events: row.try_get("flagged_events")?,
        retain_until: opt_ts(row, "retain_until")?,
        rows_purged_at: opt_ts(row, "rows_purged_at")?,
    })
}

fn notice_from_row(row: &AnyRow) -> Result<Notice> {
    let id: i64 = row.try_get("id")?;
    Ok(Notice {
        id,
        task_id: row.try_get("task_id")?,
        order_id: row.try_get("order_id")?,
        kind: text_col(row, "kind", "notice", id)?,
        recipient: row.try_get("recipient")?,
        subject: row.try_get("subject")?,
        body: row.try_get("body")?,
        state: text_col(row, "state", "notice", id)?,
        attempts: row.try_get::<i64, _>("attempts")? as u32,
        last_error: row.try_get("last_error")?,
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        sent_at: opt_ts(row, "sent_at")?,
    })
}

impl WriteTx {
    /// Stores a new task with its users and row flags; `None` when the draw or check already
    /// has one (another instance made it first).
    pub async fn insert_task(&mut self, t: &NewTask) -> Result<Option<i64>> {
        let inserted = self
            .insert_id(
                sqlx::query(
                    "INSERT INTO review_tasks (kind, draw_id, check_id, unit_id, system_id, \
                     month, reviewer_name, reviewer_email, state, created_at, remind_at, \
                     deadline) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, $10, $11) \
                     ON CONFLICT DO NOTHING RETURNING id",
                )
                .bind(t.kind.as_str())
                .bind(t.draw_id)
                .bind(t.check_id)
                .bind(t.unit.as_str())
                .bind(t.system.as_str())
                .bind(t.month.map(|m| m.to_string()))
                .bind(t.reviewer.name.as_str())
                .bind(t.reviewer.email.as_str())
                .bind(ts(t.created_at))
                .bind(ts(t.remind_at))
                .bind(ts(t.deadline)),
            )
            .await?;
        let Some(id) = inserted else { return Ok(None) };
        self.store_task_rows(id, &t.rows).await?;
        Ok(Some(id))
    }

    /// Stores (again) what a task has counted: its users, the rules' flags on its rows, and
    /// the totals; a later part of the draw adds to the flags and replaces the rest.
    pub async fn store_task_rows(&mut self, id: i64, t: &TaskRows) -> Result<()> {
        sqlx::query("DELETE FROM task_users WHERE task_id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        for u in &t.users {
            sqlx::query(
                "INSERT INTO task_users (task_id, username, staff_id, events, distinct_patients, flags) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(u.username.as_str())
            .bind(u.staff_id.as_deref())
            .bind(u.events)
            .bind(u.distinct_patients)
            .bind(serde_json::to_string(&u.flags).expect("flags serialise"))
            .execute(&mut *self.tx)
            .await?;
        }
        let flags: Vec<&(i64, StoredFlag)> = t.flags.iter().collect();
        for batch in self
            .batching
            .batches(&flags, 3, |(_, f)| 40 + f.reason.len())
        {
            let sql = format!(
                "INSERT INTO event_flags (event_id, code, reason) VALUES {} ON CONFLICT DO NOTHING",
                self.batching.placeholders(batch.len(), 3)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (event, f) in batch {
                q = q.bind(*event).bind(f.code.as_str()).bind(f.reason.as_str());
            }
            q.execute(&mut *self.tx).await?;
        }
        let flagged = t
            .flags
            .iter()
            .map(|(id, _)| *id)
            .collect::<std::collections::HashSet<_>>()
            .len();
        sqlx::query(
            "UPDATE review_tasks SET users = $1, events = $2, flagged_events = $3, parts_in = $4 \
             WHERE id = $5",
        )
        .bind(t.users.len() as i64)
        .bind(t.events)
        .bind(flagged as i64)
        .bind(t.parts_in)
        .bind(id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Closes an open task; false when it was no longer open.
    #[allow(clippy::too_many_arguments)]
    pub async fn close_task(
        &mut self,
        id: i64,
        outcome: ReviewOutcome,
        comment: Option<&str>,
        by: &str,
        at: DateTime<Utc>,
        write_back: Option<&str>,
        retain_until: Option<DateTime<Utc>>,
    ) -> Result<bool> {
        self.exec_one(
            sqlx::query(
                "UPDATE review_tasks SET state = 'closed', outcome = $1, comment = $2, \
                 closed_by = $3, closed_at = $4, write_back = $5, retain_until = $6 \
                 WHERE id = $7 AND state = 'open'",
            )
            .bind(outcome_str(outcome))
            .bind(comment)
            .bind(by)
            .bind(ts(at))
            .bind(write_back)
            .bind(retain_until.map(ts))
            .bind(id),
        )
        .await
    }

    pub async fn set_write_back(&mut self, id: i64, state: &str) -> Result<()> {
        self.exec(
            sqlx::query("UPDATE review_tasks SET write_back = $1 WHERE id = $2")
                .bind(state)
                .bind(id),
        )
        .await
    }

    pub async fn set_retain_until(&mut self, id: i64, until: DateTime<Utc>) -> Result<()> {
        self.exec(
            sqlx::query("UPDATE review_tasks SET retain_until = $1 WHERE id = $2")
                .bind(ts(until))
                .bind(id),
        )
        .await
    }

    /// Marks a task reminded or escalated; false when another instance did it first.
    pub async fn mark_task(
        &mut self,
        id: i64,
        column: TaskMark,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let sql = match column {
            TaskMark::Reminded => {
                "UPDATE review_tasks SET reminded_at = $1 WHERE id = $2 AND reminded_at IS NULL AND state = 'open'"
            }
            TaskMark::Escalated => {
                "UPDATE review_tasks SET escalated_at = $1 WHERE id = $2 AND escalated_at IS NULL AND state = 'open'"
            }
        };
        self.exec_one(sqlx::query(sql).bind(ts(at)).bind(id)).await
    }

    /// Queues a notice about a task or an order, made at the transaction's time; false when
    /// it already has this notice for this recipient.
    pub async fn insert_notice(
        &mut self,
        about: NoticeAbout,
        kind: NoticeKind,
        recipient: &str,
        subject: &str,
        body: &str,
    ) -> Result<bool> {
        let (task, order) = match about {
            NoticeAbout::Task(id) => (Some(id), None),
            NoticeAbout::Order(id) => (None, Some(id)),
        };
        let row = sqlx::query(
            "INSERT INTO notifications (task_id, order_id, kind, recipient, subject, body, state, \
             next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7) \
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(task)
        .bind(order)
        .bind(kind.as_str())
        .bind(recipient)
        .bind(subject)
        .bind(body)
        .bind(ts(self.at))
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(row.is_some())
    }

    /// Records a notice's delivery attempt.
    pub async fn notice_attempted(
        &mut self,
        id: i64,
        state: NoticeState,
        error: Option<&str>,
        next_attempt_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.exec(
            sqlx::query(
                "UPDATE notifications SET state = $1, attempts = attempts + 1, last_error = $2, \
             next_attempt_at = $3, sent_at = CASE WHEN $1 = 'sent' THEN $4 ELSE sent_at END \
             WHERE id = $5",
            )
            .bind(state.as_str())
            .bind(error)
            .bind(ts(next_attempt_at))
            .bind(ts(at))
            .bind(id),
        )
        .await
    }

    /// Deletes a task's extract rows and their flags, keeping the task and its counts.
    pub async fn purge_task_rows(&mut self, task: &Task, at: DateTime<Utc>) -> Result<u64> {
        let (col, key) = match (task.draw_id, task.check_id) {
            (Some(d), _) => ("draw_id", d),
            (None, Some(c)) => ("check_id", c),
            (None, None) => return Ok(0),
        };
        let events = format!(
            "SELECT e.id FROM access_events e JOIN orders o ON o.id = e.order_id WHERE o.{col} = $1"
        );
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM event_flags WHERE event_id IN ({events})"
        )))
        .bind(key)
        .execute(&mut *self.tx)
        .await?;
        let deleted = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM access_events WHERE id IN ({events})"
        )))
        .bind(key)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        sqlx::query("UPDATE review_tasks SET rows_purged_at = $1 WHERE id = $2")
            .bind(ts(at))
            .bind(task.id)
            .execute(&mut *self.tx)
            .await?;
        Ok(deleted)
    }
}

/// What a notice is about.
#[derive(Debug, Clone, Copy)]
pub enum NoticeAbout {
    Task(i64),
    Order(i64),
}

/// An order whose delivery is overdue, as its notice needs it.
#[derive(Debug, Clone)]
pub struct OverdueOrder {
    pub id: i64,
    pub reference: String,
    pub system: String,
    pub deliver_by: Option<DateTime<Utc>>,
    pub unit: String,
}

#[derive(Debug, Clone, Copy)]
pub enum TaskMark {
    Reminded,
    Escalated,
}

impl Store {
    pub async fn task(&self, id: i64) -> Result<Option<Task>> {
        self.fetch_by_id("review_tasks", TASK_COLUMNS, id, task_from_row)
            .await
    }

    pub async fn tasks(&self, state: Option<TaskState>) -> Result<Vec<Task>> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM review_tasks WHERE ($1 IS NULL OR state = $1) ORDER BY id"
        );
        self.fetch_vec(
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(state.map(TaskState::as_str)),
            task_from_row,
        )
        .await
    }

    /// Open tasks whose reviewer has not yet been told about them.
    pub async fn tasks_unannounced(&self) -> Result<Vec<Task>> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM review_tasks t WHERE state = 'open' AND NOT EXISTS \
             (SELECT 1 FROM notifications n WHERE n.task_id = t.id AND n.kind = 'assigned' \
             AND LOWER(n.recipient) = LOWER(t.reviewer_email)) ORDER BY id"
        );
        self.fetch_vec(sqlx::query(sqlx::AssertSqlSafe(sql)), task_from_row)
            .await
    }

    /// The tasks a reviewer sees: those of `units`, and those assigned to `email`.
    pub async fn tasks_for_reviewer(&self, units: &[String], email: &str) -> Result<Vec<Task>> {
        let listed: Vec<String> = (0..units.len()).map(|i| format!("${}", i + 2)).collect();
        let in_units = if units.is_empty() {
            String::new()
        } else {
            format!(" OR unit_id IN ({})", listed.join(", "))
        };
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM review_tasks WHERE LOWER(reviewer_email) = LOWER($1){in_units} ORDER BY id"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(email.trim());
        for u in units {
            q = q.bind(u.as_str());
        }
        q.fetch_all(self.pool())
            .await?
            .iter()
            .map(task_from_row)
            .collect()
    }

    /// Orders awaiting delivery, each with the unit whose manager reviews it: the draw's
    /// unit, or the targeted check's.
    pub async fn awaiting_order_units(&self) -> Result<std::collections::HashMap<i64, String>> {
        let sql = format!(
            "SELECT o.id, COALESCE(d.unit_id, c.unit_id) FROM orders o \
             LEFT JOIN draws d ON d.id = o.draw_id LEFT JOIN checks c ON c.id = o.check_id \
             WHERE o.state IN ({})",
            super::orders::states_where(OrderState::awaits_file)
        );
        let rows: Vec<(i64, Option<String>)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, unit)| unit.map(|u| (id, u)))
            .collect())
    }

    /// Closed tasks whose rows are still stored and whose retention has ended.
    pub async fn tasks_to_purge(&self, now: DateTime<Utc>) -> Result<Vec<Task>> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM review_tasks WHERE state = 'closed' \
             AND rows_purged_at IS NULL AND retain_until IS NOT NULL AND retain_until <= $1 ORDER BY id"
        );
        self.fetch_vec(
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ts(now)),
            task_from_row,
        )
        .await
    }

    /// Draws that ran, have a sample, no task yet, and every order imported.
    /// Draws that have run, with no task yet and at least one part a reviewer can work on
    /// (imported, delivered outside loggvakt, or taken out by hand): the reviewer starts on
    /// what has arrived (issue 10).
    pub async fn draws_ready_for_review(&self) -> Result<Vec<i64>> {
        let sql = format!(
            "SELECT x.id FROM draws x WHERE x.status IN ('done', 'late') \
             AND NOT EXISTS (SELECT 1 FROM review_tasks t WHERE t.draw_id = x.id) \
             AND EXISTS (SELECT 1 FROM orders o WHERE o.draw_id = x.id AND o.state IN ({})) \
             ORDER BY x.id",
            super::orders::states_where(OrderState::opens_task)
        );
        let rows: Vec<(i64,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// The subjects a scheduled routine has already checked in a month.
    pub async fn routine_subjects(
        &self,
        routine: &str,
        month: &str,
    ) -> Result<std::collections::HashSet<String>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT subject FROM checks WHERE routine_id = $1 AND month = $2")
                .bind(routine)
                .bind(month)
                .fetch_all(self.pool())
                .await?;
        Ok(rows.into_iter().map(|(s,)| s).collect())
    }

    /// `(staff id, rows)` of the staff whose stored rows show them opening a patient's record.
    pub async fn staff_accessing(&self, patient_digits: &str) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT e.staff_id, COUNT(*) FROM access_events e JOIN orders o ON o.id = e.order_id \
             WHERE e.patient_id = $1 AND e.staff_id IS NOT NULL AND o.state = 'imported' \
             GROUP BY e.staff_id",
        )
        .bind(patient_digits)
        .fetch_all(self.pool())
        .await?)
    }

    /// How many of a draw's orders are imported.
    pub async fn imported_parts(&self, draw_id: i64) -> Result<i64> {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM orders WHERE draw_id = $1 AND state = 'imported'")
                .bind(draw_id)
                .fetch_one(self.pool())
                .await?;
        Ok(n)
    }

    /// Open tasks of draws with more parts imported than the task has counted, with their
    /// draw.
    pub async fn tasks_with_new_parts(&self) -> Result<Vec<(i64, i64)>> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            // Counted once per draw and joined: as a correlated subquery SQLite took the
            // (state, …) index and read every imported order once per open task, 21 s of
            // every minute's tick for a region's month (7 500 tasks).
            "SELECT t.id, t.draw_id FROM review_tasks t \
             JOIN (SELECT draw_id, COUNT(*) AS n FROM orders \
                   WHERE state = 'imported' AND draw_id IS NOT NULL GROUP BY draw_id) o \
               ON o.draw_id = t.draw_id \
             WHERE t.state = 'open' AND t.parts_in < o.n ORDER BY t.id",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows)
    }

    /// Checks with orders, no task yet, and every order imported: a check by patient or
    /// user is one question, answered whole.
    pub async fn checks_ready_for_review(&self) -> Result<Vec<i64>> {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT x.id FROM checks x \
             WHERE NOT EXISTS (SELECT 1 FROM review_tasks t WHERE t.check_id = x.id) \
             AND EXISTS (SELECT 1 FROM orders o WHERE o.check_id = x.id) \
             AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.check_id = x.id AND o.state <> 'imported') \
             ORDER BY x.id",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// The activity each reviewed user's rows come from: a draw's sampled periods, or a
    /// check's period (for its user, or for everyone in a check by patient).
    pub async fn reviewed_periods(&self, task: &Task) -> Result<Vec<ReviewedPeriod>> {
        if let Some(draw) = task.draw_id {
            // The members only: the draw's population snapshot is not needed here.
            return Ok(self
                .draw_members(draw)
                .await?
                .into_iter()
                .map(|s| ReviewedPeriod {
                    username: Some(s.username),
                    from: s.review_from.naive_local(),
                    to: s.review_to.naive_local(),
                })
                .collect());
        }
        let Some(check) = task.check_id else {
            return Ok(Vec::new());
        };
        Ok(self
            .check(check)
            .await?
            .map(|c| ReviewedPeriod {
                username: (c.kind == CheckKind::User).then_some(c.subject),
                from: c.from,
                to: c.to,
            })
            .into_iter()
            .collect())
    }

    pub async fn task_users(&self, task_id: i64) -> Result<Vec<TaskUser>> {
        let query = sqlx::query(
            "SELECT username, staff_id, events, distinct_patients, flags FROM task_users \
             WHERE task_id = $1 ORDER BY username",
        );
        self.fetch_vec(query.bind(task_id), |r| {
            let flags: String = r.try_get("flags")?;
            Ok(TaskUser {
                username: r.try_get("username")?,
                staff_id: r.try_get("staff_id")?,
                events: r.try_get("events")?,
                distinct_patients: r.try_get("distinct_patients")?,
                flags: serde_json::from_str(&flags).map_err(|e| corrupt("task", task_id, e))?,
            })
        })
        .await
    }

    /// Distinct patients per review of this user in earlier tasks: the user's own history.
    pub async fn user_history(
        &self,
        username: &str,
        system: &str,
        before: i64,
    ) -> Result<Vec<i64>> {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT u.distinct_patients FROM task_users u JOIN review_tasks t ON t.id = u.task_id \
             WHERE u.username = $1 AND t.system_id = $2 AND t.id < $3 ORDER BY t.id DESC LIMIT 12",
        )
        .bind(username)
        .bind(system)
        .bind(before)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(n,)| n).collect())
    }

    /// The source rows of stored events, as evidence behind a row a reviewer opens in full;
    /// events without one are left out.
    pub async fn events_raw(&self, ids: &[i64]) -> Result<std::collections::HashMap<i64, String>> {
        let mut out = std::collections::HashMap::new();
        for chunk in ids.chunks(500) {
            let listed: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT id, raw FROM access_events WHERE raw IS NOT NULL AND id IN ({})",
                listed.join(", ")
            );
            let mut q = sqlx::query_as::<_, (i64, String)>(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(*id);
            }
            out.extend(q.fetch_all(self.pool()).await?);
        }
        Ok(out)
    }

    /// The stored events behind a draw or a check, with their order.
    pub async fn events_of(
        &self,
        draw_id: Option<i64>,
        check_id: Option<i64>,
    ) -> Result<Vec<TaskEvent>> {
        let (col, key) = match (draw_id, check_id) {
            (Some(d), _) => ("draw_id", d),
            (None, Some(c)) => ("check_id", c),
            (None, None) => return Ok(Vec::new()),
        };
        let sql = format!(
            "SELECT e.id, e.staff_id, e.time, e.user_id, e.user_name, e.patient_id, e.patient_name, \
             e.care_unit, e.action, e.event_text, e.system_part, e.system_id, e.protected_identity, \
             e.reference_number FROM access_events e JOIN orders o ON o.id = e.order_id \
             WHERE o.{col} = $1 AND o.state = 'imported' \
             ORDER BY e.user_id, e.time, e.id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key)
            .fetch_all(self.pool())
            .await?;
        let mut events: Vec<TaskEvent> = rows
            .iter()
            .map(|r| {
                let id: i64 = r.try_get("id")?;
                Ok(TaskEvent {
                    id,
                    staff_id: r.try_get("staff_id")?,
                    event: AccessEvent {
                        time: text_col(r, "time", "event", id)?,
                        system: r.try_get("system_id")?,
                        user_id: r.try_get("user_id")?,
                        user_name: r.try_get("user_name")?,
                        patient_id: text_col(r, "patient_id", "event", id)?,
                        patient_name: r.try_get("patient_name")?,
                        care_unit: r.try_get("care_unit")?,
                        action: text_col(r, "action", "event", id)?,
                        event_text: r.try_get("event_text")?,
                        system_part: r.try_get("system_part")?,
                        raw: None,
                        protected_identity: r.try_get::<i64, _>("protected_identity")? != 0,
                        reference_number: r.try_get("reference_number")?,
                    },
                    flags: Vec::new(),
                })
            })
            .collect::<Result<_>>()?;
        let flag_sql = format!(
            "SELECT f.event_id, f.code, f.reason FROM event_flags f \
             JOIN access_events e ON e.id = f.event_id JOIN orders o ON o.id = e.order_id \
             WHERE o.{col} = $1 AND o.state = 'imported'"
        );
        let flags = sqlx::query(sqlx::AssertSqlSafe(flag_sql))
            .bind(key)
            .fetch_all(self.pool())
            .await?;
        let index: std::collections::HashMap<i64, usize> =
            events.iter().enumerate().map(|(i, e)| (e.id, i)).collect();
        for f in &flags {
            let event: i64 = f.try_get("event_id")?;
            let code: String = f.try_get("code")?;
            if let (Some(&i), Some(code)) =
                (index.get(&event), crate::model::rules::Code::parse(&code))
            {
                events[i].flags.push(StoredFlag {
                    code,
                    reason: f.try_get("reason")?,
                });
            }
        }
        for e in &mut events {
            e.flags.sort_by_key(|f| f.code);
        }
        Ok(events)
    }

    pub async fn notices(&self, task_id: Option<i64>) -> Result<Vec<Notice>> {
        let rows = sqlx::query(
            "SELECT id, task_id, order_id, kind, recipient, subject, body, state, attempts, last_error, \
             created_at, sent_at FROM notifications WHERE ($1 IS NULL OR task_id = $1) ORDER BY id",
        )
        .bind(task_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(notice_from_row).collect()
    }

    /// Orders flagged overdue (still waiting past their delivery date) that nobody has been
    /// told about yet, with the unit whose draw or check they serve.
    pub async fn overdue_orders_untold(&self) -> Result<Vec<OverdueOrder>> {
        let rows: Vec<(i64, String, String, Option<String>, String)> = sqlx::query_as(
            "SELECT o.id, o.reference, o.system_id, o.deliver_by, COALESCE(d.unit_id, c.unit_id) \
             FROM orders o LEFT JOIN draws d ON d.id = o.draw_id \
             LEFT JOIN checks c ON c.id = o.check_id \
             WHERE o.state IN ('awaiting_delivery', 'manual') AND o.reminded_at IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.order_id = o.id) \
             ORDER BY o.id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(id, reference, system, deliver_by, unit)| {
                Ok(OverdueOrder {
                    id,
                    reference,
                    system,
                    deliver_by: deliver_by.as_deref().map(parse_ts).transpose()?,
                    unit,
                })
            })
            .collect()
    }

    pub async fn notices_due(&self, now: DateTime<Utc>) -> Result<Vec<Notice>> {
        let rows = sqlx::query(
            "SELECT id, task_id, order_id, kind, recipient, subject, body, state, attempts, last_error, \
             created_at, sent_at FROM notifications WHERE state = 'pending' AND next_attempt_at <= $1 \
             ORDER BY id LIMIT 500",
        )
        .bind(ts(now))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(notice_from_row).collect()
    }
}
