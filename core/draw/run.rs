//! Running the draws whose execution day has come: on its day a draw is done, later within
//! its window it is late (its planned day kept), after the window it is missed and stays
//! visible as such. A draw that runs creates its extract orders in the same transaction.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde_json::json;

use super::PlanError;
use crate::calendar::local_date;
use crate::clock::Clock;
use crate::connectors::Connectors;
use crate::crashpoint;
use crate::model::draw::{DrawStatus, draw_object};
use crate::model::org::Organisation;
use crate::orders;
use crate::store::{Store, StoreError};

/// How long a claimed draw stays with the instance running it before another may take it.
const CLAIM_TTL: TimeDelta = TimeDelta::minutes(10);

/// What running the due draws did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrawsRun {
    pub done: Vec<i64>,
    pub late: Vec<i64>,
    pub missed: Vec<i64>,
    pub orders_created: usize,
}

/// Claims and runs every draw that is due at the clock's time, in batches.
pub async fn run_due(
    store: &Store,
    org: &Organisation,
    connectors: &Connectors,
    clock: &Clock,
    instance: &str,
    actor: &str,
) -> Result<DrawsRun, PlanError> {
    let now = clock.now();
    let today = local_date(now);
    let mut report = DrawsRun::default();
    loop {
        let claimed = store
            .claim_due(today, instance, now + CLAIM_TTL, 200)
            .await?;
        if claimed.is_empty() {
            return Ok(report);
        }
        for id in claimed {
            crashpoint::pass("tick.after_claim");
            let (status, orders) = run_draw(store, org, connectors, id, today, now, actor).await?;
            report.orders_created += orders;
            match status {
                DrawStatus::Done => report.done.push(id),
                DrawStatus::Late => report.late.push(id),
                DrawStatus::Missed => report.missed.push(id),
                DrawStatus::Planned | DrawStatus::Running => {}
            }
        }
    }
}

/// Runs one claimed draw.
async fn run_draw(
    store: &Store,
    org: &Organisation,
    connectors: &Connectors,
    id: i64,
    today: NaiveDate,
    now: DateTime<Utc>,
    actor: &str,
) -> Result<(DrawStatus, usize), PlanError> {
    let draw = store
        .draw(id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("claimed draw {id} has vanished")))?;
    let status = if today > draw.window_end {
        DrawStatus::Missed
    } else if today > draw.execution_date {
        DrawStatus::Late
    } else {
        DrawStatus::Done
    };
    let mut tx = store.begin_write(now, actor).await?;
    tx.finish_draw(id, status).await?;
    let orders = if status == DrawStatus::Missed {
        0
    } else {
        orders::create_for_draw(&mut tx, org, connectors, &draw).await?
    };
    let action = if status == DrawStatus::Missed {
        "draw.missed"
    } else {
        "draw.executed"
    };
    tx.commit_audited(
        action,
        &draw_object(id),
        json!({
            "status": status,
            "execution_date": draw.execution_date,
            "window_end": draw.window_end,
            "ran_on": today,
            "days_late": (today - draw.execution_date).num_days().max(0),
        }),
    )
    .await?;
    Ok((status, orders))
}
