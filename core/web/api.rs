//! The JSON API under `/api`: the same rights as the pages, 401/403 as JSON, and the CSRF
//! token in `X-CSRF-Token` on every call that changes something (see `/api/me`).

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::admin::orders_json;
use super::auditor::{verdict_json, verification_json};
use super::executive::YearQuery;
use super::reviewer::{
    Full, complete_task, record_full_shown, record_shown, reviewable, visible_tasks,
};
use super::session::ApiSession;
use super::{ApiError, Shared, WebError};
use crate::model::user::Role;
use crate::store::audit;

type ApiResult = Result<Json<Value>, ApiError>;

/// The API's OpenAPI 3.1 description, kept beside the routes (a test checks that every
/// `/api` route is described and every described route answers).
const OPENAPI: &str = include_str!("openapi.json");

pub async fn openapi() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
}

pub async fn me(ApiSession(s): ApiSession) -> ApiResult {
    Ok(Json(json!({"user": s.user, "csrf_token": s.csrf})))
}

pub async fn tasks(State(state): State<Shared>, ApiSession(s): ApiSession) -> ApiResult {
    s.require(&[Role::Reviewer, Role::Admin])?;
    Ok(Json(json!(visible_tasks(&state, &s.user).await?)))
}

#[derive(Deserialize, Default)]
pub struct RowsQuery {
    /// Open this row in full (its id).
    row: Option<i64>,
    /// Open this user's rows in full (their username).
    user: Option<String>,
}

/// A task and its rows. As on the page (seed 003), each row shows what is enough to judge
/// (time, user, patient, unit, action, flags) unless `?row=` or `?user=` opens it in full,
/// which the audit trail records.
pub async fn task(
    State(state): State<Shared>,
    ApiSession(s): ApiSession,
    Path(id): Path<i64>,
    Query(q): Query<RowsQuery>,
) -> ApiResult {
    s.require(&[Role::Reviewer, Role::Admin])?;
    let d = reviewable(&state, &s, id).await?;
    let (task, users, events, case) = (&d.task, &d.users, &d.events, d.case);
    let periods = &d.periods;
    record_shown(&state, &s, id, events.len()).await?;
    let full = match (q.row, q.user.as_deref().map(str::trim)) {
        (Some(row), _) => Some(Full::Row(row)),
        (None, Some(u)) if !u.is_empty() => Some(Full::User(u.to_owned())),
        _ => None,
    };
    let opened: Vec<i64> = full.as_ref().map_or_else(Vec::new, |f| {
        events
            .iter()
            .filter(|e| f.covers(e))
            .map(|e| e.id)
            .collect()
    });
    let raw = match &full {
        Some(f) if !opened.is_empty() => {
            record_full_shown(&state, &s, id, f, opened.len()).await?;
            state.store.events_raw(&opened).await?
        }
        Some(_) => return Err(WebError::NotFound.into()),
        None => Default::default(),
    };
    let rows: Vec<Value> = events
        .iter()
        .map(|e| {
            if opened.contains(&e.id) {
                let mut v = json!(e);
                v["raw"] = json!(raw.get(&e.id));
                v["full"] = json!(true);
                v
            } else {
                json!({
                    "id": e.id, "time": e.event.time, "user_id": e.event.user_id,
                    "patient_id": e.event.patient_id, "care_unit": e.event.care_unit,
                    "action": e.event.action, "flags": e.flags, "full": false,
                })
            }
        })
        .collect();
    Ok(Json(
        json!({"task": task, "users": users, "periods": periods, "events": rows, "case": case, "checklist": crate::model::task::CHECKLIST}),
    ))
}

#[derive(Deserialize)]
pub struct Outcome {
    outcome: String,
    comment: Option<String>,
}

pub async fn complete(
    State(state): State<Shared>,
    ApiSession(s): ApiSession,
    Path(id): Path<i64>,
    Json(body): Json<Outcome>,
) -> ApiResult {
    s.require(&[Role::Reviewer, Role::Admin])?;
    let done = complete_task(&state, &s, id, &body.outcome, body.comment.as_deref()).await?;
    Ok(Json(json!(done)))
}

pub async fn draws(State(state): State<Shared>, ApiSession(s): ApiSession) -> ApiResult {
    s.require(&[Role::Admin, Role::Auditor])?;
    let today = crate::calendar::local_date(state.clock.now());
    let mut out = Vec::new();
    for id in state.store.draw_ids().await? {
        if let Some(d) = state.store.draw(id).await? {
            let known = today >= d.execution_date;
            out.push(json!({
                "id": d.id, "routine": d.routine, "unit": d.unit, "system": d.system,
                "month": d.month.to_string(), "status": d.status.as_str(),
                "population_size": d.population.len(), "sample_size": d.selected.len(),
                "execution_date": known.then_some(d.execution_date),
            }));
        }
    }
    Ok(Json(json!(out)))
}

pub async fn verify(
    State(state): State<Shared>,
    ApiSession(s): ApiSession,
    Path(id): Path<i64>,
) -> ApiResult {
    s.require(&[Role::Admin, Role::Auditor])?;
    Ok(Json(verification_json(&state, id).await?))
}

pub async fn orders(State(state): State<Shared>, ApiSession(s): ApiSession) -> ApiResult {
    s.require(&[Role::Admin])?;
    Ok(Json(json!(orders_json(&state, |t| json!(t)).await?)))
}

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    before: Option<i64>,
    limit: Option<i64>,
}

pub async fn audit(
    State(state): State<Shared>,
    ApiSession(s): ApiSession,
    Query(q): Query<AuditQuery>,
) -> ApiResult {
    s.require(&[Role::Auditor, Role::Admin])?;
    let records = audit::page(
        &state.store,
        q.before,
        q.limit.unwrap_or(100).clamp(1, 1000),
    )
    .await?;
    let verdict = verdict_json(&state.chain_verdict().await?);
    Ok(Json(json!({"chain": verdict, "records": records})))
}

pub async fn report(
    State(state): State<Shared>,
    ApiSession(s): ApiSession,
    Query(q): Query<YearQuery>,
) -> ApiResult {
    let c = super::executive::compliance(&state, &s, &q).await?;
    Ok(Json(json!(c.compliance)))
}
