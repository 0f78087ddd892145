//! Running the draws whose execution day has come: on its day a draw is done, later within
//! its window it is late (its planned day kept), after the window it is missed and stays
//! visible as such. A draw that runs creates its extract orders in the same transaction.

use chrono::{NaiveDate, TimeDelta};
use serde_json::json;

use super::PlanError;
use crate::calendar::local_date;
use crate::clock::Clock;
use crate::connectors::Connectors;
use crate::crashpoint;
use crate::model::draw::{DrawStatus, draw_object};
use crate::model::org::Organisation;
use crate::orders;
use crate::store::{Store, StoreError, WriteTx};

/// How long a claimed draw stays with the instance running it before another may take it.
const CLAIM_TTL: TimeDelta = TimeDelta::minutes(10);
/// Draws run in one write transaction: a month's first draw day at a region's scale runs
/// thousands, and a transaction each made the database's commit, not the draw, the cost.
/// A crash loses at most this many draws' work, which their claims give back to the next
/// tick.
const DRAWS_PER_TX: usize = 50;

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
        for batch in claimed.chunks(DRAWS_PER_TX) {
            let mut tx = store.begin_write(now, actor).await?;
            let mut ran = Vec::with_capacity(batch.len());
            for &id in batch {
                crashpoint::pass("tick.after_claim");
                ran.push((
                    id,
                    run_draw(&mut tx, store, org, connectors, id, today).await?,
                ));
            }
            tx.commit().await?;
            for (id, (status, orders)) in ran {
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
}

/// Runs one claimed draw in the batch's transaction.
async fn run_draw(
    tx: &mut WriteTx,
    store: &Store,
    org: &Organisation,
    connectors: &Connectors,
    id: i64,
    today: NaiveDate,
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
    tx.finish_draw(id, status).await?;
    let orders = if status == DrawStatus::Missed {
        0
    } else {
        orders::create_for_draw(tx, org, connectors, &draw).await?
    };
    let action = if status == DrawStatus::Missed {
        "draw.missed"
    } else {
        "draw.executed"
    };
    tx.audit(
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
