//! Cases, their steps, targeted checks and patient requests.

use chrono::{DateTime, NaiveDate, Utc};
use loggvakt_connector::Period;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{
    Result, Store, StoreError, WriteTx, opt_text_col, opt_ts, parse_date, parse_ts, text_col, ts,
};
use crate::model::case::{Case, CaseStep, Decision, Deviation, DeviationReport, Step};
use crate::model::check::{Check, CheckKind, PatientRequest};
use crate::model::task::Task;

fn corrupt(what: &str, id: i64, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what} {id}: {e}"))
}

fn naive(raw: &str, id: i64) -> Result<chrono::NaiveDateTime> {
    chrono::NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S")
        .map_err(|e| corrupt("check", id, e))
}

const CASE_COLUMNS: &str = "id, task_id, unit_id, system_id, opened_at, opened_by, summary, state, \
     decision, decided_at, decided_by, decision_note, retain_until";

const CHECK_COLUMNS: &str = "c.id, c.kind, c.routine_id, c.month, c.system_id, c.unit_id, c.subject, \
     c.period_from, c.period_to, c.reason, c.requested_by, c.created_at, r.received_on, \
     r.identity_document, r.identity_checked_by, r.dispatched_at, r.registered_mail, r.receipt_at";

fn check_from_row(row: &AnyRow) -> Result<Check> {
    let id: i64 = row.try_get("id")?;
    let received: Option<String> = row.try_get("received_on")?;
    let request = match received {
        None => None,
        Some(on) => Some(PatientRequest {
            received_on: parse_date(&on)?,
            identity_document: row.try_get("identity_document")?,
            identity_checked_by: row.try_get("identity_checked_by")?,
            dispatched_at: opt_ts(row, "dispatched_at")?,
            registered_mail: row.try_get("registered_mail")?,
            receipt_at: row
                .try_get::<Option<String>, _>("receipt_at")?
                .as_deref()
                .map(parse_date)
                .transpose()?,
        }),
    };
    Ok(Check {
        id,
        kind: text_col(row, "kind", "check", id)?,
        routine: row.try_get("routine_id")?,
        month: opt_text_col(row, "month", "check", id)?,
        system: text_col(row, "system_id", "check", id)?,
        unit: text_col(row, "unit_id", "check", id)?,
        subject: row.try_get("subject")?,
        from: naive(&row.try_get::<String, _>("period_from")?, id)?,
        to: naive(&row.try_get::<String, _>("period_to")?, id)?,
        reason: row.try_get("reason")?,
        requested_by: row.try_get("requested_by")?,
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        request,
    })
}

impl WriteTx {
    pub async fn insert_case(
        &mut self,
        task: &Task,
        summary: &str,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<i64> {
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO cases (task_id, unit_id, system_id, opened_at, opened_by, summary, state) \
             VALUES ($1, $2, $3, $4, $5, $6, 'open') RETURNING id",
        )
        .bind(task.id)
        .bind(task.unit.as_str())
        .bind(task.system.as_str())
        .bind(ts(at))
        .bind(by)
        .bind(summary)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(id)
    }

    pub async fn insert_case_step(
        &mut self,
        case: i64,
        step: Step,
        note: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.exec(sqlx::query(
            "INSERT INTO case_steps (case_id, step, at, by_actor, note) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(case)
        .bind(step.as_str())
        .bind(ts(at))
        .bind(self.actor.clone())
        .bind(note))
.await
    }

    /// Saves a case's loggavvikelse; the earlier saves stay.
    pub async fn insert_case_deviation(&mut self, case: i64, d: &Deviation) -> Result<()> {
        self.exec(
            sqlx::query(
                "INSERT INTO case_deviations (case_id, seen, accesses, explanation, assessment, \
                 at, by_actor) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(case)
            .bind(d.seen.as_str())
            .bind(d.accesses.as_str())
            .bind(d.explanation.as_str())
            .bind(d.assessment.as_str())
            .bind(ts(self.at))
            .bind(self.actor.clone()),
        )
        .await
    }

    pub async fn decide_case(
        &mut self,
        case: i64,
        decision: Decision,
        note: &str,
        at: DateTime<Utc>,
        retain_until: DateTime<Utc>,
    ) -> Result<()> {
        self.exec(sqlx::query(
            "UPDATE cases SET state = 'decided', decision = $1, decided_at = $2, decided_by = $3, \
             decision_note = $4, retain_until = $5 WHERE id = $6 AND state = 'open'",
        )
        .bind(decision.as_str())
        .bind(ts(at))
        .bind(self.actor.clone())
        .bind(note)
        .bind(ts(retain_until))
        .bind(case))
.await
    }

    /// `None` when a scheduled check for this routine, month and subject exists.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_check(
        &mut self,
        kind: CheckKind,
        routine: Option<&str>,
        month: Option<&str>,
        system: &str,
        unit: &str,
        subject: &str,
        period: Period,
        reason: &str,
        requested_by: &str,
    ) -> Result<Option<i64>> {
        let fmt = |t: chrono::NaiveDateTime| t.format("%Y-%m-%dT%H:%M:%S").to_string();
        self.insert_id(
            sqlx::query(
                "INSERT INTO checks (kind, routine_id, month, system_id, unit_id, subject, \
                 period_from, period_to, reason, requested_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 ON CONFLICT DO NOTHING RETURNING id",
            )
            .bind(kind.as_str())
            .bind(routine)
            .bind(month)
            .bind(system)
            .bind(unit)
            .bind(subject)
            .bind(fmt(period.from))
            .bind(fmt(period.to))
            .bind(reason)
            .bind(requested_by)
            .bind(ts(self.at)),
        )
        .await
    }

    pub async fn insert_patient_request(
        &mut self,
        check: i64,
        received_on: NaiveDate,
        document: &str,
        checked_by: &str,
    ) -> Result<()> {
        self.exec(sqlx::query(
            "INSERT INTO patient_requests (check_id, received_on, identity_document, identity_checked_by) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(check)
        .bind(received_on.to_string())
        .bind(document)
        .bind(checked_by))
.await
    }

    pub async fn set_request_dispatch(
        &mut self,
        check: i64,
        registered_mail: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.exec(sqlx::query(
            "UPDATE patient_requests SET dispatched_at = $1, registered_mail = $2 WHERE check_id = $3",
        )
        .bind(ts(at))
        .bind(registered_mail)
        .bind(check))
.await
    }

    pub async fn set_request_receipt(&mut self, check: i64, on: NaiveDate) -> Result<()> {
        self.exec(
            sqlx::query("UPDATE patient_requests SET receipt_at = $1 WHERE check_id = $2")
                .bind(on.to_string())
                .bind(check),
        )
        .await
    }
}

impl Store {
    pub async fn case(&self, id: i64) -> Result<Option<Case>> {
        let case = self.fetch_by_id("cases", CASE_COLUMNS, id, case_from_row);
        let Some(mut case) = case.await? else {
            return Ok(None);
        };
        self.complete_case(&mut case).await?;
        Ok(Some(case))
    }

    pub async fn cases(&self) -> Result<Vec<Case>> {
        let sql = format!("SELECT {CASE_COLUMNS} FROM cases ORDER BY id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?;
        let mut cases = Vec::new();
        for row in &rows {
            let mut case = case_from_row(row)?;
            self.complete_case(&mut case).await?;
            cases.push(case);
        }
        Ok(cases)
    }

    pub async fn case_of_task(&self, task: i64) -> Result<Option<i64>> {
        let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM cases WHERE task_id = $1")
            .bind(task)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|(id,)| id))
    }

    /// A case row's steps and latest loggavvikelse.
    async fn complete_case(&self, case: &mut Case) -> Result<()> {
        case.steps = self.case_steps(case.id).await?;
        case.deviation = self.case_deviation(case.id).await?;
        Ok(())
    }

    async fn case_deviation(&self, id: i64) -> Result<Option<DeviationReport>> {
        let query = sqlx::query(
            "SELECT seen, accesses, explanation, assessment, at, by_actor FROM case_deviations \
             WHERE case_id = $1 ORDER BY id DESC LIMIT 1",
        );
        let mut latest = self
            .fetch_vec(query.bind(id), |r| {
                Ok(DeviationReport {
                    text: Deviation {
                        seen: r.try_get("seen")?,
                        accesses: r.try_get("accesses")?,
                        explanation: r.try_get("explanation")?,
                        assessment: r.try_get("assessment")?,
                    },
                    at: parse_ts(&r.try_get::<String, _>("at")?)?,
                    by: r.try_get("by_actor")?,
                })
            })
            .await?;
        Ok(latest.pop())
    }

    async fn case_steps(&self, id: i64) -> Result<Vec<CaseStep>> {
        let query = sqlx::query(
            "SELECT step, at, by_actor, note FROM case_steps WHERE case_id = $1 ORDER BY at, step",
        );
        self.fetch_vec(query.bind(id), |r| {
            let step: String = r.try_get("step")?;
            Ok(CaseStep {
                step: Step::parse(&step).ok_or_else(|| corrupt("case", id, "step"))?,
                at: parse_ts(&r.try_get::<String, _>("at")?)?,
                by: r.try_get("by_actor")?,
                note: r.try_get("note")?,
            })
        })
        .await
    }

    pub async fn check(&self, id: i64) -> Result<Option<Check>> {
        let sql = format!(
            "SELECT {CHECK_COLUMNS} FROM checks c LEFT JOIN patient_requests r ON r.check_id = c.id \
             WHERE c.id = $1"
        );
        self.fetch_opt(
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id),
            check_from_row,
        )
        .await
    }

    pub async fn checks(&self) -> Result<Vec<Check>> {
        let sql = format!(
            "SELECT {CHECK_COLUMNS} FROM checks c LEFT JOIN patient_requests r ON r.check_id = c.id \
             ORDER BY c.id"
        );
        self.fetch_vec(sqlx::query(sqlx::AssertSqlSafe(sql)), check_from_row)
            .await
    }

    pub async fn task_of_check(&self, check: i64) -> Result<Option<Task>> {
        let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM review_tasks WHERE check_id = $1")
            .bind(check)
            .fetch_optional(self.pool())
            .await?;
        match row {
            Some((id,)) => self.task(id).await,
            None => Ok(None),
        }
    }

    pub async fn orders_of_check(&self, check: i64) -> Result<Vec<i64>> {
        let rows: Vec<(i64,)> =
            sqlx::query_as("SELECT id FROM orders WHERE check_id = $1 ORDER BY id")
                .bind(check)
                .fetch_all(self.pool())
                .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }
}

fn case_from_row(row: &AnyRow) -> Result<Case> {
    let id: i64 = row.try_get("id")?;
    Ok(Case {
        id,
        task_id: row.try_get("task_id")?,
        unit: text_col(row, "unit_id", "case", id)?,
        system: text_col(row, "system_id", "case", id)?,
        opened_at: parse_ts(&row.try_get::<String, _>("opened_at")?)?,
        opened_by: row.try_get("opened_by")?,
        summary: row.try_get("summary")?,
        state: text_col(row, "state", "case", id)?,
        decision: opt_text_col(row, "decision", "case", id)?,
        decided_at: opt_ts(row, "decided_at")?,
        decided_by: row.try_get("decided_by")?,
        decision_note: row.try_get("decision_note")?,
        retain_until: opt_ts(row, "retain_until")?,
        steps: Vec::new(),
        deviation: None,
    })
}
