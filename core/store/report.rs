//! The compliance report's two queries. The classification of a draw is done here, in SQL,
//! so that a region's year (tens of thousands of draws) comes back as one row per unit,
//! system and month instead of one per draw. The categories and their precedence are
//! described in `crate::report`.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;

use super::{Result, Store, ts};
use crate::calendar::Month;
use crate::model::report::Counts;

/// One (unit, system, month) of draws with its counts.
pub(crate) struct CountsRow {
    pub unit: String,
    pub system: String,
    pub month: String,
    pub counts: Counts,
}

// The first matching branch wins, so every draw lands in exactly one category. SUM over
// integers is BIGINT on SQLite but NUMERIC on PostgreSQL, which `Any` cannot decode: hence
// the casts.
const COMPLIANCE_SQL: &str = "\
SELECT unit_id, system_id, month, \
  CAST(SUM(CASE WHEN cat <> 'empty' THEN 1 ELSE 0 END) AS BIGINT) AS planned, \
  CAST(SUM(CASE WHEN cat = 'empty' THEN 1 ELSE 0 END) AS BIGINT) AS empty_draws, \
  CAST(SUM(CASE WHEN cat = 'done_on_time' THEN 1 ELSE 0 END) AS BIGINT) AS done_on_time, \
  CAST(SUM(CASE WHEN cat = 'late' THEN 1 ELSE 0 END) AS BIGINT) AS late, \
  CAST(SUM(CASE WHEN cat = 'missed' THEN 1 ELSE 0 END) AS BIGINT) AS missed, \
  CAST(SUM(CASE WHEN cat = 'in_progress' THEN 1 ELSE 0 END) AS BIGINT) AS in_progress, \
  CAST(SUM(CASE WHEN cat = 'overdue' THEN 1 ELSE 0 END) AS BIGINT) AS overdue, \
  CAST(SUM(CASE WHEN cat = 'waiting' THEN 1 ELSE 0 END) AS BIGINT) AS waiting, \
  CAST(SUM(CASE WHEN outcome = 'utan_anmarkning' THEN 1 ELSE 0 END) AS BIGINT) AS utan_anmarkning, \
  CAST(SUM(CASE WHEN outcome = 'med_anmarkning' THEN 1 ELSE 0 END) AS BIGINT) AS med_anmarkning, \
  CAST(SUM(open_case) AS BIGINT) AS open_cases, \
  CAST(SUM(outside) AS BIGINT) AS reviewed_outside, \
  CAST(SUM(CASE WHEN outside = 1 OR hand = 1 THEN 1 ELSE 0 END) AS BIGINT) AS by_hand \
FROM ( \
  SELECT d.unit_id, d.system_id, d.month, \
    CASE \
      WHEN d.sample_size = 0 THEN 'empty' \
      WHEN d.status = 'missed' THEN 'missed' \
      WHEN d.status NOT IN ('done', 'late') OR t.id IS NULL THEN 'waiting' \
      WHEN t.state = 'closed' AND d.status = 'done' AND t.closed_at <= t.deadline \
        THEN 'done_on_time' \
      WHEN t.state = 'closed' THEN 'late' \
      WHEN t.deadline < $1 THEN 'overdue' \
      ELSE 'in_progress' \
    END AS cat, \
    CASE WHEN t.state = 'closed' THEN t.outcome END AS outcome, \
    CASE WHEN c.id IS NOT NULL AND c.state <> 'decided' THEN 1 ELSE 0 END AS open_case, \
    CASE WHEN t.state = 'closed' AND EXISTS (SELECT 1 FROM outside_reviews o \
      WHERE o.task_id = t.id) THEN 1 ELSE 0 END AS outside, \
    CASE WHEN t.state = 'closed' AND EXISTS (SELECT 1 FROM orders p \
      WHERE p.draw_id = d.id AND p.delivered_via IS NOT NULL) THEN 1 ELSE 0 END AS hand \
  FROM draws d \
  LEFT JOIN review_tasks t ON t.draw_id = d.id \
  LEFT JOIN cases c ON c.task_id = t.id \
  WHERE d.month >= $2 AND d.month <= $3 \
) per_draw \
GROUP BY unit_id, system_id, month \
ORDER BY unit_id, system_id, month";

impl Store {
    /// Counts per unit, system and month of the draws from `first` to `last` (inclusive),
    /// with open tasks judged against `now`.
    pub(crate) async fn compliance_counts(
        &self,
        first: Month,
        last: Month,
        now: DateTime<Utc>,
    ) -> Result<Vec<CountsRow>> {
        let query = sqlx::query(COMPLIANCE_SQL)
            .bind(ts(now))
            .bind(first.to_string())
            .bind(last.to_string());
        self.fetch_vec(query, |row| {
            Ok(CountsRow {
                unit: row.try_get("unit_id")?,
                system: row.try_get("system_id")?,
                month: row.try_get("month")?,
                counts: Counts {
                    planned: row.try_get("planned")?,
                    empty: row.try_get("empty_draws")?,
                    done_on_time: row.try_get("done_on_time")?,
                    late: row.try_get("late")?,
                    missed: row.try_get("missed")?,
                    in_progress: row.try_get("in_progress")?,
                    overdue: row.try_get("overdue")?,
                    waiting: row.try_get("waiting")?,
                    utan_anmarkning: row.try_get("utan_anmarkning")?,
                    med_anmarkning: row.try_get("med_anmarkning")?,
                    open_cases: row.try_get("open_cases")?,
                    reviewed_outside: row.try_get("reviewed_outside")?,
                    by_hand: row.try_get("by_hand")?,
                },
            })
        })
        .await
    }

    /// `(system, staff id)` of everyone sampled by a draw that ran (on its day or late) with
    /// its execution day from `from` to `to` (inclusive).
    pub(crate) async fn sampled_staff(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT DISTINCT d.system_id, m.staff_id FROM draw_members m \
             JOIN draws d ON d.id = m.draw_id \
             WHERE d.status IN ('done', 'late') \
               AND d.execution_date >= $1 AND d.execution_date <= $2",
        )
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch_all(self.pool())
        .await?)
    }
}

/// The raw facts of a year's follow-up (see `report::FollowUp`), between two instants.
#[derive(Debug, Default)]
pub(crate) struct FollowUpFacts {
    /// (kind, count) of the checks made.
    pub checks: Vec<(String, i64)>,
    /// (received_on, dispatched_at) of the patients' requests made.
    pub requests: Vec<(NaiveDate, Option<DateTime<Utc>>)>,
    /// (decision, count) of the cases opened; `None` while undecided.
    pub cases: Vec<(Option<String>, i64)>,
    pub orders_overdue: i64,
    pub orders_failed: i64,
}

impl Store {
    pub(crate) async fn follow_up_facts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<FollowUpFacts> {
        let (from, to) = (ts(from), ts(to));
        let checks: Vec<(String, i64)> = sqlx::query_as(
            "SELECT kind, COUNT(*) FROM checks WHERE created_at >= $1 AND created_at < $2 \
             GROUP BY kind ORDER BY kind",
        )
        .bind(&from)
        .bind(&to)
        .fetch_all(self.pool())
        .await?;
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT r.received_on, r.dispatched_at FROM patient_requests r \
             JOIN checks c ON c.id = r.check_id WHERE c.created_at >= $1 AND c.created_at < $2",
        )
        .bind(&from)
        .bind(&to)
        .fetch_all(self.pool())
        .await?;
        let mut requests = Vec::with_capacity(rows.len());
        for (received, dispatched) in rows {
            requests.push((
                super::parse_date(&received)?,
                dispatched.as_deref().map(super::parse_ts).transpose()?,
            ));
        }
        let cases: Vec<(Option<String>, i64)> = sqlx::query_as(
            "SELECT decision, COUNT(*) FROM cases WHERE opened_at >= $1 AND opened_at < $2 \
             GROUP BY decision",
        )
        .bind(&from)
        .bind(&to)
        .fetch_all(self.pool())
        .await?;
        let (orders_overdue, orders_failed): (i64, i64) = sqlx::query_as(
            "SELECT \
               COALESCE(SUM(CASE WHEN state = 'awaiting_delivery' AND deliver_by < $3 THEN 1 ELSE 0 END), 0), \
               COALESCE(SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END), 0) \
             FROM orders WHERE created_at >= $1 AND created_at < $2",
        )
        .bind(&from)
        .bind(&to)
        .bind(ts(now))
        .fetch_one(self.pool())
        .await?;
        Ok(FollowUpFacts {
            checks,
            requests,
            cases,
            orders_overdue,
            orders_failed,
        })
    }
}
