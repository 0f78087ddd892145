//! Counts of the work in the database, for `/metrics`: what a monitoring system graphs and
//! alerts on. Counts only, grouped by state and system; never a unit, a person or a patient.

use chrono::{DateTime, Utc};

use super::{Result, Store, ts};
use crate::model::order::OrderState;

/// One gauge value with its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    pub labels: Vec<(&'static str, String)>,
    pub value: i64,
}

/// The work in the database at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkCounts {
    /// By `state`.
    pub draws: Vec<Count>,
    /// By `system` and `state`.
    pub orders: Vec<Count>,
    /// By `state`.
    pub tasks: Vec<Count>,
    /// Open tasks past their deadline.
    pub overdue_tasks: i64,
    /// By `state`.
    pub notices: Vec<Count>,
    /// By `system`: ordered or manual parts past their delivery deadline.
    pub overdue_deliveries: Vec<Count>,
    /// Failed logins ever (the audit trail's `login.failed`).
    pub login_failures: i64,
}

impl Store {
    pub async fn work_counts(&self, now: DateTime<Utc>) -> Result<WorkCounts> {
        let one = |rows: Vec<(String, i64)>| {
            rows.into_iter()
                .map(|(state, value)| Count {
                    labels: vec![("state", state)],
                    value,
                })
                .collect()
        };
        let draws = one(sqlx::query_as(
            "SELECT status, COUNT(*) FROM draws GROUP BY status ORDER BY status",
        )
        .fetch_all(self.pool())
        .await?);
        let tasks = one(sqlx::query_as(
            "SELECT state, COUNT(*) FROM review_tasks GROUP BY state ORDER BY state",
        )
        .fetch_all(self.pool())
        .await?);
        let notices = one(sqlx::query_as(
            "SELECT state, COUNT(*) FROM notifications GROUP BY state ORDER BY state",
        )
        .fetch_all(self.pool())
        .await?);
        let orders: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT system_id, state, COUNT(*) FROM orders GROUP BY system_id, state \
             ORDER BY system_id, state",
        )
        .fetch_all(self.pool())
        .await?;
        let orders = orders
            .into_iter()
            .map(|(system, state, value)| Count {
                labels: vec![("system", system), ("state", state)],
                value,
            })
            .collect();
        let (overdue_tasks,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM review_tasks WHERE state = 'open' AND deadline < $1",
        )
        .bind(ts(now))
        .fetch_one(self.pool())
        .await?;
        let overdue: Vec<(String, i64)> = sqlx::query_as(
            "SELECT system_id, COUNT(*) FROM orders WHERE state IN ($1, $2) AND deliver_by < $3 \
             GROUP BY system_id ORDER BY system_id",
        )
        .bind(OrderState::AwaitingDelivery.as_str())
        .bind(OrderState::Manual.as_str())
        .bind(ts(now))
        .fetch_all(self.pool())
        .await?;
        let overdue_deliveries = overdue
            .into_iter()
            .map(|(system, value)| Count {
                labels: vec![("system", system)],
                value,
            })
            .collect();
        let (login_failures,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE action = 'login.failed'")
                .fetch_one(self.pool())
                .await?;
        Ok(WorkCounts {
            draws,
            orders,
            tasks,
            overdue_tasks,
            notices,
            overdue_deliveries,
            login_failures,
        })
    }
}
