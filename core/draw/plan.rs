//! Making a month's draws: one per stickprov routine, unit and month, each from a fresh seed
//! and a snapshot of the unit's population, stored with digests in the audit trail.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use super::{Seeds, compute};
use crate::calendar::{Month, local_date};
use crate::clock::Clock;
use crate::crashpoint;
use crate::ident::StaffId;
use crate::model::draw::{CycleState, Draw, DrawParams, DrawStatus, draw_object};
use crate::model::open_work::{OpenWork, Owner};
use crate::model::org::{Organisation, RoutineKind};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(
        "{month} has not begun (the clock says {today}); a month is drawn only once it has started, so nobody knows its days in advance"
    )]
    FutureMonth { month: Month, today: NaiveDate },
    #[error("the operating system gave no randomness for the seed: {0}")]
    Entropy(getrandom::Error),
    #[error("no draws are made while the configuration leaves open work behind:\n{}", .0.join("\n"))]
    OrphanedWork(Vec<String>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Draws are stored in transactions of this many, so a huge organisation neither holds one
/// enormous transaction nor commits row by row.
const CHUNK: usize = 500;

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
    seeds: &Seeds,
) -> Result<PlanReport, PlanError> {
    let today = local_date(clock.now());
    if month > Month::of(today) {
        return Err(PlanError::FutureMonth { month, today });
    }
    let orphans = orphaned_work(store, org).await?;
    if !orphans.is_empty() {
        return Err(PlanError::OrphanedWork(orphans));
    }
    plan_checked_month(store, org, month, clock.now(), actor, seeds).await
}

/// [`plan_month`] once the configuration is known to leave no open work behind, at `now`.
async fn plan_checked_month(
    store: &Store,
    org: &Organisation,
    month: Month,
    now: DateTime<Utc>,
    actor: &str,
    seeds: &Seeds,
) -> Result<PlanReport, PlanError> {
    let existing = store.draw_keys(month).await?;
    let cycles = store.cycle_states(month).await?;
    let mut report = PlanReport::default();
    let pending = new_draws(org, month, &existing, &cycles, seeds, now, &mut report)?;
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
                "due_size": d.population.len() - d.checked.len(),
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

/// The draws of `month` not yet stored (`existing` holds their routine and unit ids), each
/// from a fresh seed; those already stored are counted in `report.existing`.
fn new_draws(
    org: &Organisation,
    month: Month,
    existing: &HashSet<(String, String)>,
    cycles: &HashMap<(String, String), CycleState>,
    seeds: &Seeds,
    now: DateTime<Utc>,
    report: &mut PlanReport,
) -> Result<Vec<Draw>, PlanError> {
    let mut pending = Vec::new();
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
            // Who is on the staff when the month begins: leavers drop out, joiners wait.
            let population = org.population_on(&unit.id, &routine.system, month.first_day());
            // Joiners are due; leavers are not in the population and drop out of the cycle.
            let checked: Vec<StaffId> = match cycles.get(&key) {
                Some(cycle) => {
                    let after = cycle.checked_after();
                    population
                        .iter()
                        .filter(|m| after.contains(&m.staff_id))
                        .map(|m| m.staff_id.clone())
                        .collect()
                }
                None => Vec::new(),
            };
            let seed = seeds.next().map_err(PlanError::Entropy)?;
            let outcome = compute(&seed, month, &params, &population, &checked);
            pending.push(Draw {
                id: 0,
                routine: routine.id.clone(),
                unit: unit.id.clone(),
                system: routine.system.clone(),
                month,
                params,
                seed,
                population,
                checked,
                execution_date: outcome.execution_date,
                window_end: outcome.window_end,
                selected: outcome.selected,
                status: DrawStatus::Planned,
                created_at: now,
                executed_at: None,
            });
        }
    }
    Ok(pending)
}

/// The tick's planning: the draws of every month from the first planned one up to the
/// current one, so a month that began while no instance ran is still drawn (and its lapsed
/// work shows as missed), however long the outage was: a month is never dropped. Returns
/// how many draws were made.
pub async fn plan_due(
    store: &Store,
    org: &Organisation,
    clock: &Clock,
    actor: &str,
    seeds: &Seeds,
) -> Result<usize, PlanError> {
    let current = Month::of(local_date(clock.now()));
    // A unit renamed with work still open would be drawn again under its new id: no draws
    // are made until the configuration and the database agree (the rest of the tick goes on).
    let orphans = orphaned_work(store, org).await?;
    if !orphans.is_empty() {
        for line in &orphans {
            tracing::error!("{line}; no draws are made until this is resolved");
        }
        return Ok(0);
    }
    let mut month = store.plan_start().await?.unwrap_or(current);
    let mut created = 0;
    while month <= current {
        created += plan_checked_month(store, org, month, clock.now(), actor, seeds)
            .await?
            .created;
        month = month.next();
    }
    Ok(created)
}

/// The units and systems with open work in the database that the configuration no longer
/// has (removed, or renamed: a new id is a new unit to the plan, which would draw its staff
/// again).
pub async fn orphans(store: &Store, org: &Organisation) -> Result<Vec<OpenWork>, StoreError> {
    let mut work = store.open_work().await?;
    work.retain(|w| match w.owner {
        Owner::Unit => org.unit(&w.id).is_none(),
        Owner::System => org.system(&w.id).is_none(),
    });
    Ok(work)
}

/// [`orphans`], one line each, naming the work.
pub async fn orphaned_work(store: &Store, org: &Organisation) -> Result<Vec<String>, StoreError> {
    Ok(orphans(store, org)
        .await?
        .iter()
        .map(|w| {
            format!(
                "{} '{}' is not in the configuration but has open work in the database ({}); \
                 if it was renamed, give it back its id, or finish that work first",
                w.owner.as_str(),
                w.id,
                w.describe()
            )
        })
        .collect())
}
