//! Cases: a review closed `med_anmarkning` followed to a decision (DOMAIN.md "Outcome and
//! follow-up"): talk to the employee, verify with a targeted check, inform the
//! förvaltningschef, decide. A decided case and its evidence are kept ten years.

use chrono::{DateTime, Months, Utc};
use serde_json::json;

use crate::model::case::{Case, Decision, Deviation, RETENTION_YEARS, Step, case_object};
use crate::model::notice::NoticeKind;
use crate::model::org::Contact;
use crate::model::task::{Task, task_object};
use crate::stage::Stage;
use crate::store::review::NoticeAbout;
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
    #[error(
        "the note is longer than {} characters",
        crate::model::case::MAX_FIELD_CHARS
    )]
    NoteTooLong,
    #[error("the loggavvikelse is incomplete: {}", .0.join("; "))]
    BadDeviation(Vec<String>),
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
    if note.chars().count() > crate::model::case::MAX_FIELD_CHARS {
        return Err(CaseError::NoteTooLong);
    }
    let case = store.case(id).await?.ok_or(CaseError::NoSuchCase(id))?;
    if case.decision.is_some() {
        return Err(CaseError::Decided(id));
    }
    Ok((case, note))
}

/// Records one follow-up step. Informing the chief sends them a notice (the chiefs above the
/// unit: verksamhetschef, förvaltningschef) in the same transaction.
pub async fn record_step(cx: &Stage<'_>, id: i64, step: Step, note: &str) -> Result<(), CaseError> {
    let (store, clock, actor) = (cx.store, cx.clock, cx.actor);
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
    let told = if step == Step::InformChief {
        let what = "En granskning i loggkontrollen avslutades med anmärkning och följs upp i \
                    ett ärende. Du informeras som chef ovanför enheten; beslut om \
                    arbetsrättsliga åtgärder och polisanmälan fattas av dig eller den \
                    förvaltningschef eller verksamhetschef som har ansvaret.";
        notify(cx, &mut tx, &case, NoticeKind::CaseChiefInformed, what).await?
    } else {
        Vec::new()
    };
    tx.commit_audited(
        "case.step",
        &case_object(id),
        json!({"step": step.as_str(), "notified": told}),
    )
    .await?;
    Ok(())
}

/// Saves the case's loggavvikelse (seed 003); a later save replaces what the case shows,
/// and every save is kept.
pub async fn record_deviation(
    cx: &Stage<'_>,
    id: i64,
    deviation: Deviation,
) -> Result<(), CaseError> {
    let deviation = deviation.checked().map_err(CaseError::BadDeviation)?;
    let case = cx.store.case(id).await?.ok_or(CaseError::NoSuchCase(id))?;
    if case.decision.is_some() {
        return Err(CaseError::Decided(id));
    }
    let mut tx = cx.store.begin_write(cx.clock.now(), cx.actor).await?;
    tx.insert_case_deviation(id, &deviation).await?;
    tx.commit_audited(
        "case.deviation",
        &case_object(id),
        json!({"explanation_given": !deviation.explanation.is_empty()}),
    )
    .await?;
    Ok(())
}

/// Queues a notice about `case` to each chief above its unit (a chief who decided gets it
/// as a receipt); returns their addresses. Notices carry no patient data, only a link.
async fn notify(
    cx: &Stage<'_>,
    tx: &mut WriteTx,
    case: &Case,
    kind: NoticeKind,
    what: &str,
) -> Result<Vec<String>, StoreError> {
    let org = cx.org;
    let unit = org.unit(case.unit.as_str());
    let chiefs: Vec<&Contact> = match unit {
        Some(_) => org.chiefs_above(case.unit.as_str()),
        None => org.fallback_escalation().into_iter().collect(),
    };
    let reference = format!("Ä-{}", case.id);
    let subject = match kind {
        NoticeKind::CaseDecided => format!("Ärende {reference} i loggkontrollen är beslutat"),
        _ => format!("Ärende {reference} i loggkontrollen: du informeras"),
    };
    let mut told = Vec::new();
    for chief in chiefs {
        if chief.email.is_empty() {
            continue;
        }
        let body = crate::notify::render(
            crate::notify::CASE,
            &json!({
                "recipient": chief.name,
                "what": what,
                "case_ref": reference,
                "task_ref": format!("G-{}", case.task_id),
                "unit": unit.map_or(case.unit.as_str(), |u| u.name.as_str()),
                "system": case.system,
                "by": cx.actor,
                "link": format!("{}/arenden/{}", org.notify.base_url, case.id),
                "organisation": org.name,
            }),
        );
        if tx
            .insert_notice(
                NoticeAbout::Task(case.task_id),
                kind,
                &chief.email,
                &subject,
                &body,
            )
            .await?
        {
            told.push(chief.email.clone());
        }
    }
    Ok(told)
}

/// Decides a case. Every step must be recorded first, except that a case found to be no
/// breach after talking to the employee needs neither the targeted check nor the chief.
///
/// Who may decide is the caller's to check (`User::is_chief_above` for a breach): the web
/// enforces the unit tree, the CLI is the operator's.
pub async fn decide(
    cx: &Stage<'_>,
    id: i64,
    decision: Decision,
    note: &str,
) -> Result<DateTime<Utc>, CaseError> {
    let (store, clock, actor) = (cx.store, cx.clock, cx.actor);
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
    let told = if decision.needs_chief() {
        let what = format!("Ärendet är beslutat: {}.", decision.label_sv());
        notify(cx, &mut tx, &case, NoticeKind::CaseDecided, &what).await?
    } else {
        Vec::new()
    };
    tx.audit(
        "case.decided",
        &case_object(id),
        json!({"decision": decision.as_str(), "retain_until": crate::store::ts(until), "task": case.task_id, "notified": told}),
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
