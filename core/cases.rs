//! Cases: a review closed `med_anmarkning` followed to a decision (DOMAIN.md "Outcome and
//! follow-up"): talk to the employee, verify with a targeted check, inform the
//! förvaltningschef, decide. A decided case and its evidence are kept ten years.

use chrono::{DateTime, Months, Utc};
use serde::Serialize;
use serde_json::json;

use crate::clock::Clock;
use crate::review::{Task, task_object};
use crate::store::{Store, StoreError, WriteTx};

/// How long a case and its evidence are kept after its decision (Treserva routine, 002).
pub const RETENTION_YEARS: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The manager has talked to the employee.
    ContactEmployee,
    /// The suspicion was verified with a further (targeted) log check.
    TargetedCheck,
    /// The förvaltningschef / verksamhetschef has been informed.
    InformChief,
}

impl Step {
    pub const ALL: [Step; 3] = [
        Self::ContactEmployee,
        Self::TargetedCheck,
        Self::InformChief,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ContactEmployee => "contact_employee",
            Self::TargetedCheck => "targeted_check",
            Self::InformChief => "inform_chief",
        }
    }
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
    pub fn label_sv(self) -> &'static str {
        match self {
            Self::ContactEmployee => "Samtal med medarbetaren",
            Self::TargetedCheck => "Riktad loggkontroll för att verifiera",
            Self::InformChief => "Förvaltningschef/verksamhetschef informerad",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Investigated: no breach.
    NoBreach,
    /// A breach: labour-law measures.
    BreachLabourLaw,
    /// A breach reported to the police (by the förvaltningschef/verksamhetschef).
    PoliceReport,
}

impl Decision {
    pub const ALL: [Decision; 3] = [Self::NoBreach, Self::BreachLabourLaw, Self::PoliceReport];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoBreach => "no_breach",
            Self::BreachLabourLaw => "breach_labour_law",
            Self::PoliceReport => "police_report",
        }
    }
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseStep {
    pub step: Step,
    pub at: DateTime<Utc>,
    pub by: String,
    pub note: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Case {
    pub id: i64,
    pub task_id: i64,
    pub unit: String,
    pub system: String,
    pub opened_at: DateTime<Utc>,
    pub opened_by: String,
    pub summary: String,
    pub state: String,
    pub decision: Option<Decision>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: Option<String>,
    pub decision_note: Option<String>,
    pub retain_until: Option<DateTime<Utc>>,
    pub steps: Vec<CaseStep>,
}

pub fn case_object(id: i64) -> String {
    format!("case:{id}")
}

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

/// Records one follow-up step.
pub async fn record_step(
    store: &Store,
    clock: &Clock,
    actor: &str,
    id: i64,
    step: Step,
    note: &str,
) -> Result<(), CaseError> {
    let note = note.trim();
    if note.is_empty() {
        return Err(CaseError::NoteRequired);
    }
    let case = store.case(id).await?.ok_or(CaseError::NoSuchCase(id))?;
    if case.decision.is_some() {
        return Err(CaseError::Decided(id));
    }
    if case.steps.iter().any(|s| s.step == step) {
        return Err(CaseError::StepDone {
            id,
            step: step.as_str(),
        });
    }
    let now = clock.now();
    let mut tx = store.begin_write(now, actor).await?;
    tx.insert_case_step(id, step, note, now).await?;
    tx.audit(
        "case.step",
        &case_object(id),
        json!({"step": step.as_str()}),
    )
    .await?;
    tx.commit().await?;
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
    let note = note.trim();
    if note.is_empty() {
        return Err(CaseError::NoteRequired);
    }
    let case = store.case(id).await?.ok_or(CaseError::NoSuchCase(id))?;
    if case.decision.is_some() {
        return Err(CaseError::Decided(id));
    }
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
    tx.audit(
        "review.retention_set",
        &task_object(case.task_id),
        json!({"retain_until": crate::store::ts(until), "case": id}),
    )
    .await?;
    tx.commit().await?;
    Ok(until)
}
