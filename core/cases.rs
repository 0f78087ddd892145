//! Cases: a review closed `med_anmarkning` followed to a decision (DOMAIN.md "Outcome and
//! follow-up"): talk to the employee, verify with a targeted check, inform the
//! förvaltningschef, decide. A decided case and its evidence are kept ten years.

use chrono::{DateTime, Months, Utc};
use serde_json::json;

use crate::clock::Clock;
use crate::model::case::{Case, Decision, RETENTION_YEARS, Step, case_object};
use crate::model::task::{Task, task_object};
use crate::store::{Store, StoreError, WriteTx};

#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    #[error("there is no case {0}")]
    NoSuchCase(i64),
    #[error("case {0} is decided; its record can no longer change")]
    Decided(i64),
    #[error("case {id}: step {step} is already recorded")]
    StepDone { id: i64, step: &'static str },
    #[error(
        "case {id} cannot be decided before these steps are recorded: {missing} (`loggvakt case step {id} STEP --note ...`)"
    )]
    StepsMissing { id: i64, missing: String },
    #[error("a note is needed: say what was done or decided (--note \"...\")")]
    NoteRequired,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Opens the case of a task closed with a remark, in the caller's transaction.
pub async fn open_in(
    tx: &mut WriteTx,
    task: &Task,
    summary: &str,
    by: &str,
    at: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let id = tx.insert_case(task, summary, by, at).await?;
    tx.audit(
        "case.opened",
        &case_object(id),
        json!({"task": task.id, "unit": task.unit, "system": task.system, "by": by}),
    )
    .await?;
    Ok(id)
}

/// The case, if it may still change, and the trimmed note that every change needs.
async fn undecided<'n>(
    store: &Store,
    id: i64,
    note: &'n str,
) -> Result<(Case, &'n str), CaseError> {
    let note = note.trim();
    if note.is_empty() {
        return Err(CaseError::NoteRequired);
    }
    let case = store.case(id).await?.ok_or(CaseError::NoSuchCase(id))?;
    if case.decision.is_some() {
        return Err(CaseError::Decided(id));
    }
    Ok((case, note))
}

/// Records one follow-up step.
pub async fn record_step(
    store: &Store,
    clock: &Clock,
    actor: &str,
    id: i64,
    step: Step,
    note: &str,
) -> Result<(), CaseError> {
    let (case, note) = undecided(store, id, note).await?;
    if case.steps.iter().any(|s| s.step == step) {
        return Err(CaseError::StepDone {
            id,
            step: step.as_str(),
        });
    }
    let now = clock.now();
    let mut tx = store.begin_write(now, actor).await?;
    tx.insert_case_step(id, step, note, now).await?;
    tx.commit_audited(
        "case.step",
        &case_object(id),
        json!({"step": step.as_str()}),
    )
    .await?;
    Ok(())
}

/// Decides a case. Every step must be recorded first, except that a case found to be no
/// breach after talking to the employee needs neither the targeted check nor the chief.
pub async fn decide(
    store: &Store,
    clock: &Clock,
    actor: &str,
    id: i64,
    decision: Decision,
    note: &str,
) -> Result<DateTime<Utc>, CaseError> {
    let (case, note) = undecided(store, id, note).await?;
    let needed: &[Step] = match decision {
        Decision::NoBreach => &[Step::ContactEmployee],
        Decision::BreachLabourLaw | Decision::PoliceReport => &Step::ALL,
    };
    let missing: Vec<&str> = needed
        .iter()
        .filter(|s| !case.steps.iter().any(|d| d.step == **s))
        .map(|s| s.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(CaseError::StepsMissing {
            id,
            missing: missing.join(", "),
        });
    }
    let now = clock.now();
    let until = now + Months::new(12 * RETENTION_YEARS);
    let mut tx = store.begin_write(now, actor).await?;
    tx.decide_case(id, decision, note, now, until).await?;
    tx.set_retain_until(case.task_id, until).await?;
    tx.audit(
        "case.decided",
        &case_object(id),
        json!({"decision": decision.as_str(), "retain_until": crate::store::ts(until), "task": case.task_id}),
    )
    .await?;
    tx.commit_audited(
        "review.retention_set",
        &task_object(case.task_id),
        json!({"retain_until": crate::store::ts(until), "case": id}),
    )
    .await?;
    Ok(until)
}
