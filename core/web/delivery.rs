//! The task page's delivery part (issue 10): where each sampled user stands, the work
//! instruction for parts taken out by hand, a review made outside loggvakt recorded, and an
//! order marked as delivered by post, Cryptshare, a message or on screen.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::cache::TaskData;
use super::reviewer::{acting_on, review_error, waiting_orders};
use super::{Session, Shared, WebError};
use crate::model::order::{DeliveryVia, OrderState};
use crate::model::task::Coverage;
use crate::model::user::Role;
use crate::orders::{OutsideError, Pipeline};
use crate::review::{OutsideRecord, Review};

/// The delivery section of the task page: one line per sampled user, with the forms that
/// make a missing user reviewable.
pub(super) fn view(data: &TaskData) -> serde_json::Value {
    let vias: Vec<_> = DeliveryVia::ALL
        .iter()
        .map(|v| json!({"value": v.as_str(), "label": v.label_sv()}))
        .collect();
    let users: Vec<_> = data
        .coverage
        .iter()
        .map(|u| {
            let (order, order_state) = match &u.coverage {
                Coverage::Waiting { order, order_state } => (*order, *order_state),
                _ => (None, None),
            };
            let outside = match &u.coverage {
                Coverage::Outside(r) => Some(json!({
                    "rows_seen": r.rows_seen, "remark": r.remark, "by": r.recorded_by,
                })),
                _ => None,
            };
            json!({
                "username": u.username,
                "part": u.part,
                "label": u.coverage.label_sv(),
                "missing": !u.coverage.is_reviewable(),
                "outside": outside,
                "order": order,
                // A file can be uploaded for an order that is asked for; one already
                // delivered outside loggvakt needs no second mark.
                "can_upload": order_state.is_some_and(OrderState::awaits_file),
                "can_mark": order_state.is_some_and(|s| s != OrderState::Delivered),
            })
        })
        .collect();
    let missing = data
        .coverage
        .iter()
        .filter(|u| !u.coverage.is_reviewable())
        .count();
    json!({
        "shown": data.coverage.iter().any(|u| !matches!(u.coverage, Coverage::Rows)),
        "users": users,
        "missing": missing,
        "instruction": data.instruction,
        "vias": vias,
    })
}

#[derive(Deserialize)]
pub struct OutsideForm {
    csrf: String,
    username: String,
    via: String,
    rows: String,
    #[serde(default)]
    checklist: Option<String>,
    #[serde(default)]
    remark: Option<String>,
    #[serde(default)]
    note: String,
}

fn parse_via(raw: &str) -> Result<DeliveryVia, WebError> {
    DeliveryVia::parse(raw)
        .ok_or_else(|| WebError::BadRequest("Välj hur loggen kom till dig.".into()))
}

/// Records a review made outside loggvakt, for the task's reviewer (or an administrator).
pub async fn record_outside(
    State(state): State<Shared>,
    session: Session,
    Path(id): Path<i64>,
    Form(f): Form<OutsideForm>,
) -> Result<Response, WebError> {
    session.require(&[Role::Reviewer, Role::Admin])?;
    session.check_csrf(&f.csrf)?;
    let rows_seen = f.rows.trim().parse::<i64>().map_err(|_| {
        WebError::BadRequest("Ange antalet loggrader du gick igenom, som ett heltal.".into())
    })?;
    let record = OutsideRecord {
        username: f.username,
        via: parse_via(&f.via)?,
        rows_seen,
        checklist_done: f.checklist.is_some(),
        remark: f.remark.is_some(),
        note: f.note,
    };
    let (actor, as_reviewer) = acting_on(&state, &session, id).await?;
    Review::new(state.stage(&actor), &state.rules)
        .record_outside(id, record, &session.user.email, as_reviewer)
        .await
        .map_err(review_error)?;
    Ok(Redirect::to(&format!("/granskningar/{id}#leverans")).into_response())
}

#[derive(Deserialize)]
pub struct DeliveredForm {
    csrf: String,
    via: String,
    /// The task page to go back to.
    #[serde(default)]
    task: Option<i64>,
}

/// Marks an order of the user's units as delivered outside loggvakt.
pub async fn mark_delivered(
    State(state): State<Shared>,
    session: Session,
    Path(id): Path<i64>,
    Form(f): Form<DeliveredForm>,
) -> Result<Response, WebError> {
    session.require(&[Role::Reviewer, Role::Admin])?;
    session.check_csrf(&f.csrf)?;
    if !waiting_orders(&state, &session.user)
        .await?
        .iter()
        .any(|o| o.id == id)
    {
        return Err(WebError::Forbidden);
    }
    let via = parse_via(&f.via)?;
    let actor = session.actor();
    Pipeline::new(state.stage(&actor), &state.connectors)
        .mark_delivered(id, via)
        .await
        .map_err(|e| match e {
            OutsideError::Store(e) => e.into(),
            OutsideError::NoSuchOrder(_) => WebError::NotFound,
            OutsideError::NotAwaited { .. } | OutsideError::Changed { .. } => WebError::BadRequest(
                "Beställningen väntar inte längre på leverans; ladda om sidan.".into(),
            ),
        })?;
    let back = f.task.map_or("/utdrag".to_owned(), |t| {
        format!("/granskningar/{t}#leverans")
    });
    Ok(Redirect::to(&back).into_response())
}
