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
    /// A unit to drill down to: it and the units below it.
    enhet: Option<String>,
}

/// Units a report page shows the tables of; beyond, it shows the totals and the drill-down
/// (the downloads always hold every unit).
const WEB_REPORT_UNITS: usize = 100;

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
    if let Some(unit) = q.enhet.as_deref().filter(|u| !u.is_empty()) {
        // A drill-down is asked for now and then: made each time, not cached.
        let unit = state
            .org
            .unit(unit)
            .ok_or_else(|| WebError::BadRequest(format!("Enheten '{unit}' finns inte.")))?;
        let compliance = report::compliance_of(
            &state.store,
            &state.org,
            year,
            &state.clock,
            Some(unit.id.as_str()),
        )
        .await?;
        let html = report::to_html_bounded(&compliance, WEB_REPORT_UNITS).replacen(
            "</h1>",
            &format!(
                "</h1>\n<p id=\"within\">Avser {} och enheterna under.</p>",
                super::html_escape(&unit.name)
            ),
            1,
        );
        return Ok(Arc::new(ReportData { compliance, html }));
    }
    let key = (
        crate::store::audit::head_seq(&state.store).await?,
        state.clock.now().timestamp() / 60,
    );
    if let Some(r) = state.cache.reports.get(&year, &key) {
        return Ok(r);
    }
    let _building = match state.cache.report_build.try_lock() {
        Ok(guard) => guard,
        Err(_) => {
            // Being computed. Nothing stored has changed since the kept copy, only the
            // minute: readers get that copy meanwhile rather than queueing a second behind it.
            if let Some(((seq, _), r)) = state.cache.reports.latest(&year)
                && seq == key.0
            {
                return Ok(r);
            }
            state.cache.report_build.lock().await
        }
    };
    if let Some(r) = state.cache.reports.get(&year, &key) {
        return Ok(r);
    }
    let compliance = report::compliance(&state.store, &state.org, year, &state.clock).await?;
    let html = report::to_html_bounded(&compliance, WEB_REPORT_UNITS);
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
    // A drill-down's downloads are of the same part.
    let within = q
        .enhet
        .as_deref()
        .filter(|u| state.org.unit(u).is_some())
        .map(|u| format!("&amp;enhet={u}"))
        .unwrap_or_default();
    // The drill-down to a förvaltning or verksamhet (the printed page has no links).
    let drill: String = c
        .compliance
        .totals
        .by_parent
        .iter()
        .map(|u| {
            format!(
                " · <a class=\"drill\" href=\"/rapport?year={year}&amp;enhet={}\">{}</a>",
                super::html_escape(&u.unit),
                super::html_escape(&u.unit_name)
            )
        })
        .collect();
    let nav = format!(
        "<body>\n<nav class=\"lv-web\" style=\"font-family:sans-serif;padding:.5em 0\">\
         <style>@media print {{ .lv-web {{ display: none }} }}</style>\
         <a href=\"/\">loggvakt</a> · <a href=\"/rapport?year={prev}\">{prev}</a>{next} · \
         <a href=\"/rapport?year={year}\">Hela organisationen</a>{drill} · \
         <a href=\"/rapport.xlsx?year={year}{within}\">Ladda ner Excel</a> · \
         <a href=\"/rapport-excel.csv?year={year}{within}\">CSV för Excel</a> · \
         <a href=\"/rapport.csv?year={year}{within}\">CSV</a> · <a href=\"/rapport.json?year={year}{within}\">JSON</a></nav>",
        prev = year - 1,
    );
    Ok(Html(c.html.replacen("<body>", &nav, 1)).into_response())
}

/// The report as a file to download, in one of its forms.
#[derive(Clone, Copy)]
enum Download {
    /// RFC 4180, for programs.
    Csv,
    /// `;` and a byte-order mark, as Swedish Excel opens a CSV file.
    ExcelCsv,
    Xlsx,
}

async fn download(
    state: &Shared,
    session: &Session,
    q: &YearQuery,
    form: Download,
) -> Result<Response, WebError> {
    let c = compliance(state, session, q).await?;
    let (content_type, file, body) = match form {
        Download::Csv => (
            "text/csv; charset=utf-8",
            "loggkontroller.csv",
            report::to_csv(&c.compliance).into_bytes(),
        ),
        Download::ExcelCsv => (
            "text/csv; charset=utf-8",
            "loggkontroller-excel.csv",
            report::to_excel_csv(&c.compliance).into_bytes(),
        ),
        Download::Xlsx => (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "loggkontroller.xlsx",
            report::to_xlsx(&c.compliance).map_err(|e| {
                tracing::error!("report workbook: {e}");
                WebError::Internal
            })?,
        ),
    };
    let disposition = format!("attachment; filename=\"{file}\"");
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

pub async fn report_csv(
    State(state): State<Shared>,
    session: Session,
    Query(q): Query<YearQuery>,
) -> Result<Response, WebError> {
    download(&state, &session, &q, Download::Csv).await
}

pub async fn report_excel_csv(
    State(state): State<Shared>,
    session: Session,
    Query(q): Query<YearQuery>,
) -> Result<Response, WebError> {
    download(&state, &session, &q, Download::ExcelCsv).await
}

pub async fn report_xlsx(
    State(state): State<Shared>,
    session: Session,
    Query(q): Query<YearQuery>,
) -> Result<Response, WebError> {
    download(&state, &session, &q, Download::Xlsx).await
}

pub async fn report_json(
    State(state): State<Shared>,
    session: Session,
    Query(q): Query<YearQuery>,
) -> Result<Response, WebError> {
    let c = compliance(&state, &session, &q).await?;
    Ok(axum::Json(&c.compliance).into_response())
}

/// One check as a region's statistics form registers it (seed 004): unit, system, date,
/// kind, number of users, outcome. Counts and names of units only, no person.
#[derive(serde::Serialize)]
pub struct Registration {
    pub task: i64,
    pub unit: String,
    pub unit_name: String,
    pub system: String,
    /// The day the review was handed to the chef (local date).
    pub date: chrono::NaiveDate,
    pub kind: &'static str,
    pub users: i64,
    /// `utan_anmarkning`, `med_anmarkning`, or `pågår` while open.
    pub outcome: &'static str,
}

async fn registrations(
    state: &Shared,
    session: &Session,
    q: &YearQuery,
) -> Result<(i32, Vec<Registration>), WebError> {
    let year = compliance(state, session, q).await?.compliance.year;
    let mut out = Vec::new();
    for t in state.store.tasks(None).await? {
        let date = crate::calendar::local_date(t.created_at);
        if chrono::Datelike::year(&date) != year {
            continue;
        }
        out.push(Registration {
            task: t.id,
            unit_name: state
                .org
                .unit(t.unit.as_str())
                .map_or_else(|| t.unit.to_string(), |u| u.name.clone()),
            unit: t.unit.to_string(),
            system: t.system.to_string(),
            date,
            kind: t.kind.label_sv(),
            users: t.users,
            outcome: t.outcome.map_or("pågår", crate::model::task::outcome_str),
        });
    }
    Ok((year, out))
}

pub async fn registration_page(
    State(state): State<Shared>,
    session: Session,
    Query(q): Query<YearQuery>,
) -> Result<Response, WebError> {
    let (year, rows) = registrations(&state, &session, &q).await?;
    Ok(state.page(
        Some(&session),
        "Registrering av loggkontroller",
        "registrations",
        serde_json::json!({"year": year, "rows": rows}),
    ))
}

pub async fn registration_json(
    State(state): State<Shared>,
    super::session::ApiSession(s): super::session::ApiSession,
    Query(q): Query<YearQuery>,
) -> Result<axum::Json<serde_json::Value>, super::ApiError> {
    let (year, rows) = registrations(&state, &s, &q).await?;
    Ok(axum::Json(
        serde_json::json!({"year": year, "checks": rows}),
    ))
}
