//! What is due, and doing it: making a month's draws, and the tick that runs the plan.
//!
//! The plan lives in the database; the tick only looks at it. Each tick makes the draws of
//! every month from the first planned one up to the current one (so a month that began
//! while no instance ran is still drawn, and its lapsed work shows as missed), then claims
//! and runs the draws whose execution day has come.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde_json::json;

use crate::calendar::{Month, local_date};
use crate::clock::Clock;
use crate::connectors::Connectors;
use crate::crashpoint;
use crate::draw::{self, Draw, DrawParams, DrawStatus, Seed};
use crate::orders::{self, OrderReport};
use crate::org::{Organisation, RoutineKind};
use crate::review::{Review, ReviewReport};
use crate::rules::Rules;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(
        "{month} has not begun (the clock says {today}); a month is drawn only once it has started, so nobody knows its days in advance"
    )]
    FutureMonth { month: Month, today: NaiveDate },
    #[error("the operating system gave no randomness for the seed: {0}")]
    Entropy(getrandom::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Draws are stored in transactions of this many, so a huge organisation neither holds one
/// enormous transaction nor commits row by row.
const CHUNK: usize = 500;
/// How far back a tick catches up on months nobody planned.
const CATCH_UP_MONTHS: i64 = 24;
/// How long a claimed draw stays with the instance running it before another may take it.
const CLAIM_TTL: TimeDelta = TimeDelta::minutes(10);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanReport {
    pub created: usize,
    pub existing: usize,
}

/// Makes the missing draws of `month`; existing draws are left exactly as they are.
pub async fn plan_month(
    store: &Store,
    org: &Organisation,
    month: Month,
    clock: &Clock,
    actor: &str,
) -> Result<PlanReport, PlanError> {
    let now = clock.now();
    let today = local_date(now);
    if month > Month::of(today) {
        return Err(PlanError::FutureMonth { month, today });
    }
    let existing = store.draw_keys(month).await?;
    let mut pending = Vec::new();
    let mut report = PlanReport::default();
    for routine in org
        .routines
        .iter()
        .filter(|r| r.kind == RoutineKind::Stickprov && r.cadence.includes(month))
    {
        let params = DrawParams::of(routine);
        for unit in org.routine_units(routine) {
            let key = (routine.id.to_string(), unit.id.to_string());
            if existing.contains(&key) {
                report.existing += 1;
                continue;
            }
            let population = org.population(&unit.id, &routine.system);
            let seed = Seed::fresh().map_err(PlanError::Entropy)?;
            let outcome = draw::compute(&seed, month, &params, &population);
            pending.push(Draw {
                id: 0,
                routine: routine.id.clone(),
                unit: unit.id.clone(),
                system: routine.system.clone(),
                month,
                params,
                seed,
                population,
                execution_date: outcome.execution_date,
                window_end: outcome.window_end,
                selected: outcome.selected,
                status: DrawStatus::Planned,
                created_at: now,
                executed_at: None,
            });
        }
    }
    for chunk in pending.chunks(CHUNK) {
        let mut tx = store.begin_write(now, actor).await?;
        tx.extend_plan_start(month).await?;
        let ids = tx.insert_draws(chunk).await?;
        let mut created = Vec::new();
        for (d, id) in chunk.iter().zip(ids) {
            // None: another instance stored this draw since we looked; theirs stands.
            let Some(id) = id else {
                report.existing += 1;
                continue;
            };
            let details = json!({
                "routine": d.routine,
                "unit": d.unit,
                "system": d.system,
                "month": d.month.to_string(),
                "execution_date": d.execution_date,
                "population_size": d.population.len(),
                "sample_size": d.selected.len(),
                "digests": d.digests(),
            });
            created.push((draw_object(id), details));
        }
        report.created += created.len();
        tx.audit_many("draw.created", created).await?;
        crashpoint::pass("plan.before_commit");
        tx.commit().await?;
    }
    if pending.is_empty() {
        // Record the month as planned even when nothing was due, so catch-up starts here.
        let mut tx = store.begin_write(now, actor).await?;
        tx.extend_plan_start(month).await?;
        tx.commit().await?;
    }
    Ok(report)
}

pub fn draw_object(id: i64) -> String {
    format!("draw:{id}")
}

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Another instance was ticking; this one did nothing.
    pub skipped: bool,
    pub created: usize,
    pub done: Vec<i64>,
    pub late: Vec<i64>,
    pub missed: Vec<i64>,
    pub orders_created: usize,
    pub orders: OrderReport,
    pub review: ReviewReport,
}

/// One tick at the clock's time: make missing draws, then run what is due.
pub async fn tick(
    store: &Store,
    org: &Organisation,
    connectors: &Connectors,
    clock: &Clock,
    instance: &str,
) -> Result<TickReport, PlanError> {
    let Some(lease) = store.try_tick_lease().await? else {
        return Ok(TickReport {
            skipped: true,
            ..TickReport::default()
        });
    };
    let result = tick_holding_lease(store, org, connectors, clock, instance).await;
    lease.release().await;
    result
}

async fn tick_holding_lease(
    store: &Store,
    org: &Organisation,
    connectors: &Connectors,
    clock: &Clock,
    instance: &str,
) -> Result<TickReport, PlanError> {
    let actor = format!("scheduler:{instance}");
    let now = clock.now();
    let today = local_date(now);
    let current = Month::of(today);
    let earliest = (0..CATCH_UP_MONTHS).fold(current, |m, _| m.prev());
    let mut month = store.plan_start().await?.unwrap_or(current).max(earliest);
    let mut report = TickReport::default();
    while month <= current {
        report.created += plan_month(store, org, month, clock, &actor).await?.created;
        month = month.next();
    }
    loop {
        let claimed = store
            .claim_due(today, instance, now, now + CLAIM_TTL, 200)
            .await?;
        if claimed.is_empty() {
            break;
        }
        for id in claimed {
            crashpoint::pass("tick.after_claim");
            let (status, orders) = run_draw(store, org, connectors, id, today, now, &actor).await?;
            report.orders_created += orders;
            match status {
                DrawStatus::Done => report.done.push(id),
                DrawStatus::Late => report.late.push(id),
                DrawStatus::Missed => report.missed.push(id),
                DrawStatus::Planned | DrawStatus::Running => {}
            }
        }
    }
    report.orders = orders::process(store, org, connectors, clock, &actor).await?;
    let rules = Rules::for_org(org);
    let review = Review {
        store,
        org,
        rules: &rules,
        clock,
        actor: &actor,
    };
    report.review = review.tick(connectors).await?;
    Ok(report)
}

/// Runs one claimed draw: on its day it is done, later within its window it is late (its
/// planned day kept), after the window it is missed and stays visible as such. A draw that
/// runs creates its extract orders in the same transaction.
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
    tx.commit().await?;
    Ok((status, orders))
}

/// Why `draw verify` failed, or that it passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub draw_id: i64,
    pub audit_seq: Option<i64>,
    pub differences: Vec<String>,
}

/// Recomputes a stored draw from its seed and population and compares it, part by part,
/// with what the audit trail recorded when it was made.
pub async fn verify_draw(store: &Store, id: i64) -> Result<Option<Verification>, StoreError> {
    let Some(draw) = store.draw(id).await? else {
        return Ok(None);
    };
    let mut differences = draw.recompute_differences();
    let records = crate::audit::for_object(store, &draw_object(id)).await?;
    let created = records.iter().find(|r| r.action == "draw.created");
    match created {
        None => differences.push("no audit record of this draw's creation".into()),
        Some(record) => {
            let recorded: Option<draw::Digests> = record
                .details_json()
                .get("digests")
                .and_then(|d| serde_json::from_value(d.clone()).ok());
            match recorded {
                None => differences.push(format!(
                    "audit record #{} carries no digests of the draw",
                    record.seq
                )),
                Some(recorded) => {
                    let now = draw.digests();
                    for (part, then, again) in [
                        ("routine, unit, system or month", &recorded.key, &now.key),
                        ("parameters", &recorded.params, &now.params),
                        ("seed", &recorded.seed, &now.seed),
                        ("population snapshot", &recorded.population, &now.population),
                        (
                            "selection (day, people or periods)",
                            &recorded.selection,
                            &now.selection,
                        ),
                    ] {
                        if then != again {
                            differences.push(format!(
                                "{part} differs from what audit record #{} recorded when the draw was made",
                                record.seq
                            ));
                        }
                    }
                }
            }
        }
    }
    Ok(Some(Verification {
        draw_id: id,
        audit_seq: created.map(|r| r.seq),
        differences,
    }))
}
