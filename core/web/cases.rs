//! Cases in the web (issue 11): a review closed *med anmärkning* followed to a decision by
//! named people. The reviewer records the steps and the loggavvikelse; informing the chief
//! notifies the chiefs above the unit; a breach (labour-law measures, police report) is
//! decided only by a chief above the unit by the unit tree. Every change is attributed to
//! the logged-in person. The pages and the JSON API share the handlers below.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::session::ApiSession;
use super::{ApiError, Session, SessionForm, Shared, WebError};
use crate::calendar::local_minute as local;
use crate::cases::{self, CaseError};
use crate::model::case::{Case, Decision, Deviation, Step};
use crate::model::user::Role;

/// The roles that follow cases; the executive and the auditor see counts in the report.
const FOLLOWERS: &[Role] = &[Role::Reviewer, Role::Admin];

/// The cases this user may follow: all for an administrator; for a reviewer those of the
/// tasks they see (their units and the units below them, and tasks assigned to them).
async fn visible_cases(state: &Shared, session: &Session) -> Result<Vec<Case>, WebError> {
    let all = state.store.cases().await?;
    if session.user.role == Role::Admin {
        return Ok(all);
    }
    let tasks: std::collections::HashSet<i64> =
        super::reviewer::visible_tasks(state, &session.user)
            .await?
            .iter()
            .map(|t| t.id)
            .collect();
    Ok(all
        .into_iter()
        .filter(|c| tasks.contains(&c.task_id))
        .collect())
}

/// A case the session may follow, or why not.
async fn followed(state: &Shared, session: &Session, id: i64) -> Result<Case, WebError> {
    session.require(FOLLOWERS)?;
    let case = state.store.case(id).await?.ok_or(WebError::NotFound)?;
    // The task's own check (its reviewer, the unit's chiefs, an administrator), on the task
    // row alone: a case page needs none of the task's rows.
    let task = state
        .store
        .task(case.task_id)
        .await?
        .ok_or(WebError::NotFound)?;
    if !session.user.may_review(&task, &state.org) {
        tracing::warn!(
            user = session.user.id,
            case = id,
            "refused: not this user's case"
        );
        return Err(WebError::Forbidden);
    }
    Ok(case)
}

/// May the session decide `decision` on `case`? A breach is decided by a chief above the
/// unit (seeds 002, 003, 004); a case found to be no breach by whoever follows it.
fn may_decide(state: &Shared, session: &Session, case: &Case, decision: Decision) -> bool {
    if decision.needs_chief() {
        session.user.is_chief_above(case.unit.as_str(), &state.org)
    } else {
        session.user.role == Role::Reviewer
    }
}

fn case_error(e: CaseError) -> WebError {
    match e {
        CaseError::NoSuchCase(_) => WebError::NotFound,
        CaseError::Decided(_) => {
            WebError::BadRequest("Ärendet är beslutat och kan inte längre ändras.".into())
        }
        CaseError::StepDone { .. } => {
            WebError::BadRequest("Steget är redan registrerat i ärendet.".into())
        }
        CaseError::StepsMissing { missing, .. } => {
            let labels: Vec<&str> = missing
                .split(", ")
                .filter_map(Step::parse)
                .map(Step::label_sv)
                .collect();
            WebError::BadRequest(format!(
                "Ärendet kan inte beslutas förrän dessa steg är registrerade: {}.",
                labels.join("; ")
            ))
        }
        CaseError::NoteRequired => {
            WebError::BadRequest("Skriv en anteckning om vad som gjordes eller beslutades.".into())
        }
        CaseError::NoteTooLong => WebError::BadRequest(format!(
            "Anteckningen är längre än {} tecken.",
            crate::model::case::MAX_FIELD_CHARS
        )),
        CaseError::BadDeviation(problems) => WebError::BadRequest(format!(
            "Loggavvikelsen är inte komplett: {}.",
            problems.join("; ")
        )),
        CaseError::Store(e) => e.into(),
    }
}

fn parse_step(raw: &str) -> Result<Step, WebError> {
    Step::parse(raw).ok_or_else(|| WebError::BadRequest("Välj ett steg i uppföljningen.".into()))
}

fn parse_decision(raw: &str) -> Result<Decision, WebError> {
    Decision::parse(raw).ok_or_else(|| WebError::BadRequest("Välj ett beslut.".into()))
}

async fn record_step(
    state: &Shared,
    session: &Session,
    id: i64,
    step: &str,
    note: &str,
) -> Result<(), WebError> {
    let step = parse_step(step)?;
    followed(state, session, id).await?;
    let actor = session.actor();
    cases::record_step(&state.stage(&actor), id, step, note)
        .await
        .map_err(case_error)
}

async fn record_deviation(
    state: &Shared,
    session: &Session,
    id: i64,
    deviation: Deviation,
) -> Result<(), WebError> {
    followed(state, session, id).await?;
    let actor = session.actor();
    cases::record_deviation(&state.stage(&actor), id, deviation)
        .await
        .map_err(case_error)
}

async fn decide(
    state: &Shared,
    session: &Session,
    id: i64,
    decision: &str,
    note: &str,
) -> Result<Value, WebError> {
    let decision = parse_decision(decision)?;
    let case = followed(state, session, id).await?;
    if !may_decide(state, session, &case, decision) {
        tracing::warn!(
            user = session.user.id,
            case = id,
            decision = decision.as_str(),
            "refused: not a chief above the unit"
        );
        return Err(WebError::Forbidden);
    }
    let actor = session.actor();
    let until = cases::decide(&state.stage(&actor), id, decision, note)
        .await
        .map_err(case_error)?;
    Ok(json!({"case": id, "decision": decision.as_str(), "retain_until": until}))
}

/// The unit's name as configured, else its id (a unit removed since).
fn unit_name(state: &Shared, case: &Case) -> String {
    state
        .org
        .unit(case.unit.as_str())
        .map_or_else(|| case.unit.to_string(), |u| u.name.clone())
}

fn summary(state: &Shared, c: &Case) -> Value {
    json!({
        "id": c.id,
        "reference": format!("Ä-{}", c.id),
        "task": c.task_id,
        "unit": unit_name(state, c),
        "system": c.system,
        "opened": local(c.opened_at),
        "open": c.decision.is_none(),
        "steps": c.steps.len(),
        "decision": c.decision.map(Decision::label_sv),
    })
}

pub async fn list(State(state): State<Shared>, session: Session) -> Result<Response, WebError> {
    session.require(FOLLOWERS)?;
    let cases: Vec<Value> = visible_cases(&state, &session)
        .await?
        .iter()
        .map(|c| summary(&state, c))
        .collect();
    Ok(state.page(Some(&session), "Ärenden", "cases", json!({"cases": cases})))
}

pub async fn show(
    State(state): State<Shared>,
    session: Session,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let case = followed(&state, &session, id).await?;
    let open = case.decision.is_none();
    let steps: Vec<Value> = Step::ALL
        .iter()
        .map(|&step| {
            let done = case.steps.iter().find(|s| s.step == step);
            json!({
                "step": step.as_str(),
                "label": step.label_sv(),
                "done": done.map(|s| json!({"by": s.by, "at": local(s.at), "note": s.note})),
                "form": open && done.is_none(),
            })
        })
        .collect();
    let decisions: Vec<Value> = Decision::ALL
        .iter()
        .map(|&d| {
            json!({
                "value": d.as_str(),
                "label": d.label_sv(),
                "allowed": may_decide(&state, &session, &case, d),
            })
        })
        .collect();
    let chiefs: Vec<String> = state
        .org
        .chiefs_above(case.unit.as_str())
        .iter()
        .map(|c| c.name.clone())
        .collect();
    let deviation = case.deviation.as_ref();
    Ok(state.page(
        Some(&session),
        &format!("Ärende Ä-{id}"),
        "case",
        json!({
            "case": summary(&state, &case),
            "remark": case.summary,
            "opened_by": case.opened_by,
            "steps": steps,
            "deviation": deviation.map(|d| &d.text),
            "deviation_by": deviation.map(|d| &d.by),
            "deviation_at": deviation.map(|d| local(d.at)),
            "decisions": decisions,
            "chiefs": chiefs.join(", "),
            "decided": case.decision.map(|d| json!({
                "label": d.label_sv(),
                "by": case.decided_by,
                "at": case.decided_at.map(local),
                "note": case.decision_note,
                "retain_until": case.retain_until.map(local),
            })),
            "csrf": session.csrf,
        }),
    ))
}

fn back_to(id: i64) -> Response {
    Redirect::to(&format!("/arenden/{id}")).into_response()
}

pub async fn step_form(
    State(state): State<Shared>,
    Path(id): Path<i64>,
    SessionForm(session, f): SessionForm<StepBody>,
) -> Result<Response, WebError> {
    record_step(&state, &session, id, &f.step, &f.note).await?;
    Ok(back_to(id))
}

pub async fn deviation_form(
    State(state): State<Shared>,
    Path(id): Path<i64>,
    SessionForm(session, f): SessionForm<Deviation>,
) -> Result<Response, WebError> {
    record_deviation(&state, &session, id, f).await?;
    Ok(back_to(id))
}

pub async fn decision_form(
    State(state): State<Shared>,
    Path(id): Path<i64>,
    SessionForm(session, f): SessionForm<DecisionBody>,
) -> Result<Response, WebError> {
    decide(&state, &session, id, &f.decision, &f.note).await?;
    Ok(back_to(id))
}

type ApiResult = Result<Json<Value>, ApiError>;

pub async fn api_list(State(state): State<Shared>, ApiSession(s): ApiSession) -> ApiResult {
    s.require(FOLLOWERS)?;
    Ok(Json(json!(visible_cases(&state, &s).await?)))
}

pub async fn api_show(
    State(state): State<Shared>,
    ApiSession(s): ApiSession,
    Path(id): Path<i64>,
) -> ApiResult {
    Ok(Json(json!(followed(&state, &s, id).await?)))
}

#[derive(Deserialize)]
pub struct StepBody {
    #[serde(default)]
    step: String,
    #[serde(default)]
    note: String,
}

pub async fn api_step(
    State(state): State<Shared>,
    ApiSession(s): ApiSession,
    Path(id): Path<i64>,
    Json(body): Json<StepBody>,
) -> ApiResult {
    record_step(&state, &s, id, &body.step, &body.note).await?;
    Ok(Json(json!(followed(&state, &s, id).await?)))
}

pub async fn api_deviation(
    State(state): State<Shared>,
    ApiSession(s): ApiSession,
    Path(id): Path<i64>,
    Json(body): Json<Deviation>,
) -> ApiResult {
    record_deviation(&state, &s, id, body).await?;
    Ok(Json(json!(followed(&state, &s, id).await?)))
}

#[derive(Deserialize)]
pub struct DecisionBody {
    #[serde(default)]
    decision: String,
    #[serde(default)]
    note: String,
}

pub async fn api_decision(
    State(state): State<Shared>,
    ApiSession(s): ApiSession,
    Path(id): Path<i64>,
    Json(body): Json<DecisionBody>,
) -> ApiResult {
    Ok(Json(
        decide(&state, &s, id, &body.decision, &body.note).await?,
    ))
}
