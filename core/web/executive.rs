//! Management's compliance report: counts only, as a print-friendly page, CSV and JSON.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::{Session, Shared, WebError};
use crate::auth::Role;
use crate::report::{self, Compliance};

#[derive(Deserialize, Default)]
pub struct YearQuery {
    year: Option<String>,
}

/// Everyone but a reviewer may see the counts; a reviewer has their own tasks.
pub(super) async fn compliance(
    state: &Shared,
    session: &Session,
    q: &YearQuery,
) -> Result<Compliance, WebError> {
    session.require(&[Role::Executive, Role::Admin, Role::Auditor])?;
    let year = match q.year.as_deref().filter(|y| !y.is_empty()) {
        None => report::current_year(&state.clock),
        Some(y) => y
            .parse::<i32>()
            .ok()
            .and_then(|y| report::check_year(y, &state.clock).ok())
            .ok_or_else(|| {
                WebError::BadRequest(format!("'{y}' är inget år med loggkontroller."))
            })?,
    };
    Ok(report::compliance(&state.store, &state.org, year, &state.clock).await?)
}

pub async fn report(
    State(state): State<Shared>,
    session: Session,
    Query(q): Query<YearQuery>,
) -> Result<Response, WebError> {
    let c = compliance(&state, &session, &q).await?;
    Ok(Html(report::to_html(&c)).into_response())
}

pub async fn report_csv(
    State(state): State<Shared>,
    session: Session,
    Query(q): Query<YearQuery>,
) -> Result<Response, WebError> {
    let c = compliance(&state, &session, &q).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"loggkontroller.csv\"",
            ),
        ],
        report::to_csv(&c),
    )
        .into_response())
}

pub async fn report_json(
    State(state): State<Shared>,
    session: Session,
    Query(q): Query<YearQuery>,
) -> Result<Response, WebError> {
    let c = compliance(&state, &session, &q).await?;
    Ok(axum::Json(c).into_response())
}
