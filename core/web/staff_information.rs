//! The yearly staff information in the web (issue 11, seed 002): each chef sees their units'
//! record for the year, confirms when and how the staff were informed, and sees who joined
//! since the staff were last told.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Datelike;
use serde::Deserialize;
use serde_json::{Value, json};

use super::session::ApiSession;
use super::{ApiError, Session, SessionForm, Shared, WebError};
use crate::calendar::local_minute as local;
use crate::model::staff_information::StaffInformation;
use crate::model::user::Role;
use crate::staff_information::{self, StaffInformationError};

const CHEFS: &[Role] = &[Role::Reviewer, Role::Admin];

#[derive(Deserialize, Default)]
pub struct YearQuery {
    year: Option<i32>,
}

fn error(e: StaffInformationError) -> WebError {
    match e {
        StaffInformationError::NoSuchRecord(_) => WebError::NotFound,
        StaffInformationError::NotAllowed => WebError::Forbidden,
        StaffInformationError::Confirmed => {
            WebError::BadRequest("Informationen för året är redan bekräftad.".into())
        }
        StaffInformationError::How => WebError::BadRequest(format!(
            "Ange hur personalen informerades (högst {} tecken).",
            crate::model::staff_information::MAX_HOW_CHARS
        )),
        StaffInformationError::BadDay { year } => WebError::BadRequest(format!(
            "Dagen ska ligga under {year} och inte efter i dag."
        )),
        StaffInformationError::Store(e) => e.into(),
    }
}

/// The records of `year` the session's user may confirm.
async fn records(
    state: &Shared,
    session: &Session,
    year: i32,
) -> Result<Vec<StaffInformation>, WebError> {
    session.require(CHEFS)?;
    Ok(state
        .store
        .staff_information(year)
        .await?
        .into_iter()
        .filter(|r| staff_information::may_confirm(&session.user, r.unit.as_str(), &state.org))
        .collect())
}

fn year_of(state: &Shared, q: &YearQuery) -> i32 {
    q.year
        .unwrap_or_else(|| crate::calendar::local_date(state.clock.now()).year())
}

pub async fn page(
    State(state): State<Shared>,
    session: Session,
    Query(q): Query<YearQuery>,
) -> Result<Response, WebError> {
    let year = year_of(&state, &q);
    let mut units = Vec::new();
    for r in records(&state, &session, year).await? {
        let last = state.store.last_informed(r.unit.as_str()).await?;
        let newcomers: Vec<Value> = staff_information::new_since(&state.org, r.unit.as_str(), last)
            .iter()
            .map(|s| json!({"name": s.name, "from": s.active_from}))
            .collect();
        units.push(json!({
            "id": r.id,
            "unit": r.unit,
            "name": state.org.unit(r.unit.as_str()).map_or(r.unit.as_str(), |u| &u.name),
            "confirmation": r.confirmation.as_ref().map(|c| json!({
                "informed_on": c.informed_on, "how": c.how, "by": c.confirmed_by,
                "at": local(c.confirmed_at),
            })),
            "last": last,
            "newcomers": newcomers,
        }));
    }
    let today = crate::calendar::local_date(state.clock.now());
    Ok(state.page(
        Some(&session),
        "Information till personalen",
        "staff_information",
        json!({"year": year, "units": units, "today": today.to_string(), "csrf": session.csrf}),
    ))
}

#[derive(Deserialize)]
pub struct ConfirmBody {
    #[serde(default)]
    informed_on: String,
    #[serde(default)]
    how: String,
}

async fn confirm(
    state: &Shared,
    session: &Session,
    id: i64,
    body: &ConfirmBody,
) -> Result<(), WebError> {
    session.require(CHEFS)?;
    let on = body
        .informed_on
        .trim()
        .parse()
        .map_err(|_| WebError::BadRequest("Dag: ange ett datum som ÅÅÅÅ-MM-DD.".into()))?;
    let actor = session.actor();
    staff_information::confirm(&state.stage(&actor), &session.user, id, on, &body.how)
        .await
        .map_err(error)
}

pub async fn confirm_form(
    State(state): State<Shared>,
    Path(id): Path<i64>,
    SessionForm(session, f): SessionForm<ConfirmBody>,
) -> Result<Response, WebError> {
    confirm(&state, &session, id, &f).await?;
    Ok(Redirect::to("/personalinformation").into_response())
}

pub async fn api_list(
    State(state): State<Shared>,
    ApiSession(s): ApiSession,
    Query(q): Query<YearQuery>,
) -> Result<Json<Value>, ApiError> {
    let year = year_of(&state, &q);
    Ok(Json(json!(records(&state, &s, year).await?)))
}

pub async fn api_confirm(
    State(state): State<Shared>,
    ApiSession(s): ApiSession,
    Path(id): Path<i64>,
    Json(body): Json<ConfirmBody>,
) -> Result<Json<Value>, ApiError> {
    confirm(&state, &s, id, &body).await?;
    let record = state.store.staff_information_by_id(id).await?;
    Ok(Json(json!(record)))
}
