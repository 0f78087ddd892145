//! Management's compliance report: counts only, as a print-friendly page, CSV and JSON.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::{Session, Shared, WebError};
use crate::model::user::Role;
use std::sync::Arc;

use super::cache::ReportData;
use crate::report;

#[derive(Deserialize, Default)]
pub struct YearQuery {
    year: Option<String>,
}

/// Everyone but a reviewer may see the counts; a reviewer has their own tasks.
pub(super) async fn compliance(
    state: &Shared,
    session: &Session,
    q: &YearQuery,
) -> Result<Arc<ReportData>, WebError> {
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
    let key = (
        crate::store::audit::head_seq(&state.store).await?,
        state.clock.now().timestamp() / 60,
    );
    if let Some(r) = state.cache.reports.get(&year, &key) {
        return Ok(r);
    }
    let compliance = report::compliance(&state.store, &state.org, year, &state.clock).await?;
    let html = report::to_html(&compliance);
    let data = Arc::new(ReportData { compliance, html });
    state.cache.reports.put(year, key, data.clone());
    Ok(data)
}

pub async fn report(
    State(state): State<Shared>,
    session: Session,
    Query(q): Query<YearQuery>,
) -> Result<Response, WebError> {
    let c = compliance(&state, &session, &q).await?;
    // The printable page as the command line makes it, with the web's links on top (hidden
    // when printed).
    let year = c.compliance.year;
    let next = if year < report::current_year(&state.clock) {
        format!(" · <a href=\"/rapport?year={0}\">{0}</a>", year + 1)
    } else {
        String::new()
    };
    let nav = format!(
        "<body>\n<nav class=\"lv-web\" style=\"font-family:sans-serif;padding:.5em 0\">\
         <style>@media print {{ .lv-web {{ display: none }} }}</style>\
         <a href=\"/\">loggvakt</a> · <a href=\"/rapport?year={prev}\">{prev}</a>{next} · \
         <a href=\"/rapport.xlsx?year={year}\">Ladda ner Excel</a> · \
         <a href=\"/rapport-excel.csv?year={year}\">CSV för Excel</a> · \
         <a href=\"/rapport.csv?year={year}\">CSV</a> · <a href=\"/rapport.json?year={year}\">JSON</a></nav>",
        prev = year - 1,
    );
    Ok(Html(c.html.replacen("<body>", &nav, 1)).into_response())
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
        report::to_csv(&c.compliance),
    )
        .into_response())
}

/// The CSV as Swedish Excel opens it: `;` and a byte-order mark.
pub async fn report_excel_csv(
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
                "attachment; filename=\"loggkontroller-excel.csv\"",
            ),
        ],
        report::to_excel_csv(&c.compliance),
    )
        .into_response())
}

pub async fn report_xlsx(
    State(state): State<Shared>,
    session: Session,
    Query(q): Query<YearQuery>,
) -> Result<Response, WebError> {
    let c = compliance(&state, &session, &q).await?;
    let bytes = report::to_xlsx(&c.compliance).map_err(|e| {
        tracing::error!("report workbook: {e}");
        WebError::Internal
    })?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"loggkontroller.xlsx\"",
            ),
        ],
        bytes,
    )
        .into_response())
}

pub async fn report_json(
    State(state): State<Shared>,
    session: Session,
    Query(q): Query<YearQuery>,
) -> Result<Response, WebError> {
    let c = compliance(&state, &session, &q).await?;
    Ok(axum::Json(&c.compliance).into_response())
}
