//! Delegation in the web (issue 11): a manager hands a task, or a unit's loggkontroll for a
//! period, to another named chef, with the reason in writing; the escalation target
//! reassigns an overdue task the same way. The rules are `crate::delegation`'s.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Value, json};

use super::session::ApiSession;
use super::{ApiError, Session, SessionForm, Shared, WebError};
use crate::calendar::local_minute as local;
use crate::delegation::{self, DelegationError};
use crate::model::delegation::{Delegation, MAX_UNIT_DAYS, Scope};
use crate::model::task::Task;
use crate::model::user::{Role, User};

const DELEGATORS: &[Role] = &[Role::Reviewer, Role::Admin];

fn delegation_error(e: DelegationError) -> WebError {
    match e {
        DelegationError::NoSuchTask(_) => WebError::NotFound,
        DelegationError::NotAllowed => WebError::Forbidden,
        DelegationError::Closed(_) => WebError::BadRequest(
            "Granskningen är avslutad; bara pågående arbete kan delegeras.".into(),
        ),
        DelegationError::NoSuchUnit(u) => {
            WebError::BadRequest(format!("Enheten {u} finns inte i konfigurationen."))
        }
        DelegationError::NotAChief(u) => WebError::BadRequest(format!(
            "{u} är inte en aktiv användare med rollen granskare."
        )),
        DelegationError::Same(u) => WebError::BadRequest(format!("{u} har redan arbetet.")),
        DelegationError::ReasonRequired => {
            WebError::BadRequest("Skriv skälet till delegeringen: den ska vara skriftlig.".into())
        }
        DelegationError::ReasonTooLong => WebError::BadRequest(format!(
            "Skälet är längre än {} tecken.",
            crate::model::delegation::MAX_REASON_CHARS
        )),
        DelegationError::BadPeriod => WebError::BadRequest(format!(
            "Perioden måste börja senast på sin sista dag, sluta i dag eller senare och vara \
             högst {MAX_UNIT_DAYS} dagar."
        )),
        DelegationError::Store(e) => e.into(),
    }
}

/// The chefs work may be delegated to: active reviewers, by username.
async fn chefs(state: &Shared) -> Result<Vec<User>, WebError> {
    Ok(state
        .store
        .users()
        .await?
        .into_iter()
        .filter(|u| u.role == Role::Reviewer && !u.disabled)
        .collect())
}

async fn chef_named(state: &Shared, username: &str) -> Result<User, WebError> {
    chefs(state)
        .await?
        .into_iter()
        .find(|u| u.username.eq_ignore_ascii_case(username.trim()))
        .ok_or_else(|| {
            WebError::BadRequest(format!(
                "{} är inte en aktiv användare med rollen granskare.",
                username.trim()
            ))
        })
}

/// Whether the session may hand this task on: its reviewer, a chief above its unit, an
/// administrator (the same rule `crate::delegation` enforces).
pub(super) fn may_delegate_task(state: &Shared, user: &User, task: &Task) -> bool {
    user.role == Role::Admin
        || (user.role == Role::Reviewer && task.is_reviewer(&user.email))
        || user.is_chief_above(task.unit.as_str(), &state.org)
}

/// What the task page shows of delegation: the history, and the form when allowed.
pub(super) async fn task_view(
    state: &Shared,
    session: &Session,
    task: &Task,
) -> Result<Value, WebError> {
    let history: Vec<Value> = state
        .store
        .delegations_of_task(task.id)
        .await?
        .iter()
        .map(|d| {
            json!({
                "from": d.from_email, "to": d.to.name, "to_email": d.to.email,
                "at": local(d.created_at), "by": d.created_by, "reason": d.reason,
            })
        })
        .collect();
    let form = task.state == crate::model::task::TaskState::Open
        && may_delegate_task(state, &session.user, task);
    let chefs: Vec<Value> = if form {
        chefs(state)
            .await?
            .iter()
            .filter(|u| !task.is_reviewer(&u.email))
            .map(|u| json!({"username": u.username, "name": u.name}))
            .collect()
    } else {
        Vec::new()
    };
    Ok(json!({"history": history, "form": form && !chefs.is_empty(), "chefs": chefs}))
}

async fn delegate_task(
    state: &Shared,
    session: &Session,
    id: i64,
    to: &str,
    reason: &str,
) -> Result<i64, WebError> {
    session.require(DELEGATORS)?;
    let to = chef_named(state, to).await?;
    let actor = session.actor();
    delegation::delegate_task(&state.stage(&actor), &session.user, id, &to, reason)
        .await
        .map_err(delegation_error)
}

pub async fn task_form(
    State(state): State<Shared>,
    Path(id): Path<i64>,
    SessionForm(session, f): SessionForm<TaskBody>,
) -> Result<Response, WebError> {
    delegate_task(&state, &session, id, &f.to, &f.reason).await?;
    Ok(Redirect::to("/granskningar").into_response())
}

#[derive(Deserialize)]
pub struct TaskBody {
    #[serde(default)]
    to: String,
    #[serde(default)]
    reason: String,
}

pub async fn api_task(
    State(state): State<Shared>,
    ApiSession(s): ApiSession,
    Path(id): Path<i64>,
    Json(body): Json<TaskBody>,
) -> Result<Json<Value>, ApiError> {
    let delegation = delegate_task(&state, &s, id, &body.to, &body.reason).await?;
    Ok(Json(json!({"delegation": delegation, "task": id})))
}

/// The units whose work this user may delegate: those they manage, those they are a chief
/// above, every unit for an administrator.
fn delegable_units(state: &Shared, user: &User) -> Vec<(String, String)> {
    state
        .org
        .units
        .iter()
        .filter(|u| {
            user.role == Role::Admin
                || (user.role == Role::Reviewer
                    && u.manager.email.eq_ignore_ascii_case(&user.email))
                || user.is_chief_above(u.id.as_str(), &state.org)
        })
        .map(|u| (u.id.to_string(), u.name.clone()))
        .collect()
}

/// The delegations this user may see: all for an administrator; for a reviewer those to or
/// from them and those of the units they see.
async fn visible(state: &Shared, user: &User) -> Result<Vec<Delegation>, WebError> {
    let all = state.store.delegations().await?;
    if user.role == Role::Admin {
        return Ok(all);
    }
    let units = user.reviewer_units(&state.org);
    let tasks: std::collections::HashSet<i64> = super::reviewer::visible_tasks(state, user)
        .await?
        .iter()
        .map(|t| t.id)
        .collect();
    let me = |email: &str| email.eq_ignore_ascii_case(&user.email);
    Ok(all
        .into_iter()
        .filter(|d| {
            me(&d.from_email)
                || me(&d.to.email)
                || match &d.scope {
                    Scope::Task { task } => tasks.contains(task),
                    Scope::Unit { unit, .. } => units.iter().any(|u| u == unit.as_str()),
                }
        })
        .collect())
}

pub async fn list(State(state): State<Shared>, session: Session) -> Result<Response, WebError> {
    session.require(DELEGATORS)?;
    let rows: Vec<Value> = visible(&state, &session.user)
        .await?
        .iter()
        .map(|d| {
            let what = match &d.scope {
                Scope::Task { task } => format!("Granskning G-{task}"),
                Scope::Unit { unit, from, until } => {
                    let name = state
                        .org
                        .unit(unit.as_str())
                        .map_or(unit.as_str(), |u| &u.name);
                    format!("{name}, {from} – {until}")
                }
            };
            json!({
                "what": what, "from": d.from_email, "to": d.to.name, "to_email": d.to.email,
                "at": local(d.created_at), "by": d.created_by, "reason": d.reason,
            })
        })
        .collect();
    let units: Vec<Value> = delegable_units(&state, &session.user)
        .into_iter()
        .map(|(id, name)| json!({"id": id, "name": name}))
        .collect();
    let chefs: Vec<Value> = chefs(&state)
        .await?
        .iter()
        .map(|u| json!({"username": u.username, "name": u.name}))
        .collect();
    let today = crate::calendar::local_date(state.clock.now());
    Ok(state.page(
        Some(&session),
        "Delegeringar",
        "delegations",
        json!({
            "delegations": rows, "units": units, "chefs": chefs,
            "today": today.to_string(), "csrf": session.csrf,
        }),
    ))
}

fn date(raw: &str, field: &str) -> Result<NaiveDate, WebError> {
    raw.trim()
        .parse()
        .map_err(|_| WebError::BadRequest(format!("{field}: ange ett datum som ÅÅÅÅ-MM-DD.")))
}

#[derive(Deserialize)]
pub struct UnitBody {
    #[serde(default)]
    unit: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    reason: String,
}

async fn delegate_unit(state: &Shared, session: &Session, f: &UnitBody) -> Result<Value, WebError> {
    session.require(DELEGATORS)?;
    let period = (date(&f.from, "Från")?, date(&f.until, "Till och med")?);
    let to = chef_named(state, &f.to).await?;
    let actor = session.actor();
    let (id, moved) = delegation::delegate_unit(
        &state.stage(&actor),
        &session.user,
        f.unit.trim(),
        period,
        &to,
        &f.reason,
    )
    .await
    .map_err(delegation_error)?;
    Ok(json!({"delegation": id, "tasks_moved": moved}))
}

pub async fn unit_form(
    State(state): State<Shared>,
    SessionForm(session, f): SessionForm<UnitBody>,
) -> Result<Response, WebError> {
    delegate_unit(&state, &session, &f).await?;
    Ok(Redirect::to("/delegeringar").into_response())
}

pub async fn api_list(
    State(state): State<Shared>,
    ApiSession(s): ApiSession,
) -> Result<Json<Value>, ApiError> {
    s.require(DELEGATORS)?;
    Ok(Json(json!(visible(&state, &s.user).await?)))
}

pub async fn api_unit(
    State(state): State<Shared>,
    ApiSession(s): ApiSession,
    Json(body): Json<UnitBody>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(delegate_unit(&state, &s, &body).await?))
}
