//! The reviewer's pages: "Mina granskningar", a task with its rows, flags, filters,
//! checklist and outcome form, and the upload of a delivered extract.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use loggvakt_connector::ReviewOutcome;
use serde::Deserialize;
use serde_json::json;

use super::{Session, Shared, WebError};
use crate::model::task::{
    CHECKLIST, ReviewedPeriod, Task, TaskEvent, TaskState, outcome_str, period_of,
};
use crate::model::user::{Role, User};
use crate::review::{Review, ReviewError};

use crate::calendar::local_minute as local;

/// The tasks this user may see: all for an administrator, their units' for a reviewer.
pub(super) async fn visible_tasks(state: &Shared, user: &User) -> Result<Vec<Task>, WebError> {
    Ok(match user.role {
        Role::Admin => state.store.tasks(None).await?,
        Role::Reviewer => {
            state
                .store
                .tasks_for_reviewer(&user.reviewer_units(&state.org), &user.email)
                .await?
        }
        Role::Executive | Role::Auditor => Vec::new(),
    })
}

pub(super) fn task_summary(state: &Shared, t: &Task) -> serde_json::Value {
    let now = state.clock.now();
    let status = match (t.state, t.outcome) {
        (TaskState::Closed, Some(ReviewOutcome::UtanAnmarkning)) => "Utan anmärkning",
        (TaskState::Closed, Some(ReviewOutcome::MedAnmarkning)) => "Med anmärkning",
        (TaskState::Closed, None) => "Avslutad",
        _ if now > t.deadline => "Försenad",
        _ => "Att granska",
    };
    json!({
        "id": t.id,
        "reference": t.reference(),
        "kind": t.kind.label_sv(),
        "unit": state.org.unit(t.unit.as_str()).map_or_else(|| t.unit.to_string(), |u| u.name.clone()),
        "system": t.system,
        "month": t.month,
        "deadline": local(t.deadline),
        "overdue": t.state == TaskState::Open && now > t.deadline,
        "open": t.state == TaskState::Open,
        "status": status,
        "users": t.users,
        "events": t.events,
        "flagged": t.flagged_events,
    })
}

pub async fn tasks(State(state): State<Shared>, session: Session) -> Result<Response, WebError> {
    session.require(&[Role::Reviewer, Role::Admin])?;
    let tasks = visible_tasks(&state, &session.user).await?;
    let (open, closed): (Vec<&Task>, Vec<&Task>) =
        tasks.iter().partition(|t| t.state == TaskState::Open);
    // A reviewer's own open tasks (assigned to them, or of a unit given to them as a
    // deputy) first; those of the units below them, or delegated away, apart: a delegated
    // task is no longer shown as theirs.
    let user = &session.user;
    let (mine, others): (Vec<&Task>, Vec<&Task>) = open.into_iter().partition(|t| {
        user.role == Role::Admin
            || t.is_reviewer(&user.email)
            || user.units.iter().any(|u| u == t.unit.as_str())
    });
    let open: Vec<_> = mine.iter().map(|t| task_summary(&state, t)).collect();
    let others: Vec<_> = others
        .iter()
        .map(|t| {
            let mut s = task_summary(&state, t);
            s["reviewer"] = json!(format!("{} ({})", t.reviewer_name, t.reviewer_email));
            s
        })
        .collect();
    let closed: Vec<_> = closed
        .iter()
        .rev()
        .map(|t| task_summary(&state, t))
        .collect();
    let title = if session.user.role == Role::Admin {
        "Alla granskningar"
    } else {
        "Mina granskningar"
    };
    Ok(state.page(
        Some(&session),
        title,
        "tasks",
        json!({"title": title, "open": open, "others": others, "closed": closed}),
    ))
}

#[derive(Deserialize, Default)]
pub struct TaskFilter {
    /// Only this user's rows.
    user: Option<String>,
    /// Only rows with this flag code, or `alla` for any flag.
    flagga: Option<String>,
    /// Open this row in full (its id).
    rad: Option<i64>,
    /// Open this user's rows in full (their username).
    hela: Option<String>,
}

impl TaskFilter {
    /// What the reviewer asked to see in full, if anything (seed 003: by default only what
    /// is enough to judge; the rest on request, and every request is in the audit trail).
    fn full(&self) -> Option<Full> {
        match (&self.rad, self.hela.as_deref().map(str::trim)) {
            (Some(id), _) => Some(Full::Row(*id)),
            (None, Some(user)) if !user.is_empty() => Some(Full::User(user.to_owned())),
            _ => None,
        }
    }

    /// The filter as the start of a query string (`user=…&`), for links that keep it.
    fn query(&self) -> String {
        let mut q = String::new();
        for (key, value) in [("user", &self.user), ("flagga", &self.flagga)] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                q.push_str(key);
                q.push('=');
                html::url_encode(&mut q, v);
                q.push('&');
            }
        }
        q
    }
}

/// Rows opened in full on the task page (and in the API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Full {
    Row(i64),
    User(String),
}

impl Full {
    pub(super) fn covers(&self, e: &TaskEvent) -> bool {
        match self {
            Self::Row(id) => e.id == *id,
            Self::User(u) => e.event.user_id.eq_ignore_ascii_case(u),
        }
    }
}

/// Loads a task the session may review, or says why not.
pub(super) async fn reviewable(
    state: &Shared,
    session: &Session,
    id: i64,
) -> Result<std::sync::Arc<super::cache::TaskData>, WebError> {
    let data = state.task_data(id).await?;
    if !session.user.may_review(&data.task, &state.org) {
        tracing::warn!(
            user = session.user.id,
            task = id,
            "refused: not this user's task"
        );
        return Err(WebError::Forbidden);
    }
    Ok(data)
}

/// Records the first showing of a task's rows to a session in the audit trail.
pub(super) async fn record_shown(
    state: &Shared,
    session: &Session,
    task: i64,
    rows: usize,
) -> Result<(), WebError> {
    let first = state
        .shown
        .lock()
        .map(|mut s| s.insert((session.token_hash.clone(), task)))
        .unwrap_or(true);
    if first {
        let tx = state
            .store
            .begin_write(state.clock.now(), &session.actor())
            .await?;
        tx.commit_audited(
            "review.rows_shown",
            &crate::model::task::task_object(task),
            json!({"rows": rows}),
        )
        .await?;
    }
    Ok(())
}

pub async fn task(
    State(state): State<Shared>,
    session: Session,
    Path(id): Path<i64>,
    Query(filter): Query<TaskFilter>,
) -> Result<Response, WebError> {
    session.require(&[Role::Reviewer, Role::Admin])?;
    let data = reviewable(&state, &session, id).await?;
    let (task, users) = (&data.task, &data.users);
    record_shown(&state, &session, id, data.events.len()).await?;
    let full = filter.full();
    let (sections, shown) = match &full {
        None => rows_html(&state, &data, &filter),
        Some(f) => full_rows_html(&state, &session, &data, &filter, f).await?,
    };
    let codes: Vec<_> = crate::model::rules::Code::ALL
        .iter()
        .map(|c| json!({"code": c.as_str(), "label": c.label_sv(), "selected": filter.flagga.as_deref() == Some(c.as_str())}))
        .collect();
    let case = data.case;
    Ok(state.page(
        Some(&session),
        &format!("Granskning {}", task.reference()),
        "task",
        json!({
            "task": task_summary(&state, task),
            "reviews_month": task.month.map(|m| m.prev().to_string()),
            "reviewer": task.reviewer_name,
            "outcome": task.outcome.map(outcome_str),
            "comment": task.comment,
            "closed_by": task.closed_by,
            "closed_at": task.closed_at.map(local),
            "purged": task.rows_purged_at.is_some(),
            "case": case,
            "sections_html": sections.as_str(),
            "shown": shown,
            "codes": codes,
            "filter_user": filter.user,
            "only_flagged": filter.flagga.as_deref() == Some("alla"),
            "users": users.iter().map(|u| json!({"username": u.username, "selected": filter.user.as_deref() == Some(u.username.as_str())})).collect::<Vec<_>>(),
            "checklist": CHECKLIST,
            "delivery": super::delivery::view(&data),
            "delegation": super::delegation::task_view(&state, &session, task).await?,
            "csrf": session.csrf,
        }),
    ))
}

/// The rows of a task as the filter selects them, per sampled user, and how many rows that
/// is. Written straight into HTML rather than through a template: a task of 500 rows took
/// most of its page's time building and rendering a JSON value per row. The HTML is kept
/// with the task's cached data (same version of the store) per filter, so a reviewer paging
/// through a large task costs the session lookup and one small query.
fn rows_html(
    state: &Shared,
    data: &super::cache::TaskData,
    filter: &TaskFilter,
) -> (std::sync::Arc<String>, usize) {
    let key = (filter.user.clone(), filter.flagga.clone());
    if let Some(hit) = data.rows_html(&key) {
        return hit;
    }
    let (html, shown) = render_rows(state, data, filter, &html::Opened::default());
    let html = std::sync::Arc::new(html);
    data.keep_rows_html(key, html.clone(), shown);
    (html, shown)
}

/// The rows with some opened in full: never cached, and each request recorded in the audit
/// trail with how many rows it opened (a row's id, or the user whose rows they are).
async fn full_rows_html(
    state: &Shared,
    session: &Session,
    data: &super::cache::TaskData,
    filter: &TaskFilter,
    full: &Full,
) -> Result<(std::sync::Arc<String>, usize), WebError> {
    let ids: Vec<i64> = data
        .events
        .iter()
        .filter(|e| full.covers(e))
        .map(|e| e.id)
        .collect();
    if ids.is_empty() {
        return Err(WebError::NotFound);
    }
    let raw = state.store.events_raw(&ids).await?;
    record_full_shown(state, session, data.task.id, full, ids.len()).await?;
    let opened = html::Opened {
        full: Some(full),
        raw: Some(&raw),
    };
    let (html, shown) = render_rows(state, data, filter, &opened);
    Ok((std::sync::Arc::new(html), shown))
}

/// Records in the audit trail that `rows` rows of a task were opened in full.
pub(super) async fn record_full_shown(
    state: &Shared,
    session: &Session,
    task: i64,
    full: &Full,
    rows: usize,
) -> Result<(), WebError> {
    let details = match full {
        Full::Row(row) => json!({"row": row, "rows": rows}),
        Full::User(user) => json!({"user": user, "rows": rows}),
    };
    let tx = state
        .store
        .begin_write(state.clock.now(), &session.actor())
        .await?;
    tx.commit_audited(
        "review.full_rows_shown",
        &crate::model::task::task_object(task),
        details,
    )
    .await?;
    Ok(())
}

/// The rows of a task as the filter selects them, per sampled user, with those `opened`
/// asks for in full; and how many rows that is.
fn render_rows(
    state: &Shared,
    data: &super::cache::TaskData,
    filter: &TaskFilter,
    opened: &html::Opened,
) -> (String, usize) {
    let shown: Vec<&TaskEvent> = data
        .events
        .iter()
        .filter(|e| {
            filter
                .user
                .as_deref()
                .is_none_or(|u| u.is_empty() || e.event.user_id.eq_ignore_ascii_case(u))
        })
        .filter(|e| match filter.flagga.as_deref() {
            None | Some("") => true,
            Some("alla") => !e.flags.is_empty(),
            Some(code) => e.flags.iter().any(|f| f.code.as_str() == code),
        })
        .collect();
    let mut by_user: BTreeMap<&str, Vec<&TaskEvent>> = BTreeMap::new();
    for e in &shown {
        by_user.entry(e.event.user_id.as_str()).or_default().push(e);
    }
    let only_flagged = filter.flagga.as_deref() == Some("alla");
    let query = filter.query();
    let mut out = String::with_capacity(300 * shown.len() + 1024);
    for u in data.users.iter().filter(|u| {
        filter
            .user
            .as_deref()
            .is_none_or(|f| f.is_empty() || u.username.eq_ignore_ascii_case(f))
    }) {
        let name = u
            .staff_id
            .as_deref()
            .and_then(|s| state.org.staff_member(s))
            .map(|s| s.name.as_str());
        let rows = by_user
            .remove(u.username.as_str())
            .or_else(|| by_user.remove(u.username.to_lowercase().as_str()))
            .unwrap_or_default();
        html::section(
            &mut out,
            &html::Section {
                username: &u.username,
                name,
                period: period_of(&data.periods, &u.username).map(ReviewedPeriod::describe_sv),
                events: u.events,
                distinct_patients: u.distinct_patients,
                flags: &u.flags,
                query: &query,
            },
            &rows,
            only_flagged,
            opened,
        );
    }
    (out, shown.len())
}

/// The task page's rows in the markup its template had (`templates/web/task.hbs` keeps the
/// rest of the page), escaped as handlebars escapes.
mod html {
    use std::fmt::Write;

    use loggvakt_connector::IdKind;

    use crate::model::task::{StoredFlag, TaskEvent};

    pub(super) struct Section<'a> {
        pub username: &'a str,
        pub name: Option<&'a str>,
        pub period: Option<String>,
        pub events: i64,
        pub distinct_patients: i64,
        pub flags: &'a [StoredFlag],
        /// The page's filter as `key=value&…`, kept by the links that open rows in full.
        pub query: &'a str,
    }

    /// The rows a request opened in full, and their source rows.
    #[derive(Default)]
    pub(super) struct Opened<'a> {
        pub full: Option<&'a super::Full>,
        pub raw: Option<&'a std::collections::HashMap<i64, String>>,
    }

    /// Percent-encodes a query value (everything but unreserved ASCII).
    pub(super) fn url_encode(out: &mut String, s: &str) {
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                out.push(b as char);
            } else {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }

    /// Handlebars' own escaping (`handlebars::html_escape`), without a string per value.
    pub(super) fn esc(out: &mut String, s: &str) {
        let mut last = 0;
        for (i, c) in s.char_indices() {
            let rep = match c {
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '&' => "&amp;",
                '\'' => "&#x27;",
                '`' => "&#x60;",
                '=' => "&#x3D;",
                _ => continue,
            };
            out.push_str(&s[last..i]);
            out.push_str(rep);
            last = i + c.len_utf8();
        }
        out.push_str(&s[last..]);
    }

    /// A value as the template showed it: a string as is, nothing for none.
    fn value(out: &mut String, v: &impl serde::Serialize) {
        match serde_json::to_value(v) {
            Ok(serde_json::Value::String(s)) => esc(out, &s),
            Ok(serde_json::Value::Null) | Err(_) => {}
            Ok(other) => esc(out, &other.to_string()),
        }
    }

    pub(super) fn section(
        out: &mut String,
        s: &Section,
        rows: &[&TaskEvent],
        only_flagged: bool,
        opened: &Opened,
    ) {
        out.push_str("<h2>");
        esc(out, s.username);
        if let Some(name) = s.name.filter(|n| !n.is_empty()) {
            out.push_str(" – ");
            esc(out, name);
        }
        out.push_str("</h2>\n<p>");
        if let Some(period) = s.period.as_deref().filter(|p| !p.is_empty()) {
            out.push_str("Granskad period: <strong class=\"period\">");
            esc(out, period);
            out.push_str("</strong>. ");
        }
        let _ = write!(
            out,
            "{} loggrader, {} olika patienter.\n  ",
            s.events, s.distinct_patients
        );
        for f in s.flags {
            out.push_str("<span class=\"flag\" title=\"");
            esc(out, &f.reason);
            out.push_str("\">");
            esc(out, f.code.label_sv());
            out.push_str("</span><span class=\"reason\">");
            esc(out, &f.reason);
            out.push_str("</span>");
        }
        if !rows.is_empty() {
            out.push_str(" <a class=\"full-user\" href=\"?");
            esc(out, s.query);
            out.push_str("hela=");
            let mut user = String::new();
            url_encode(&mut user, s.username);
            esc(out, &user);
            out.push_str("\">Visa hela raderna för användaren</a>");
        }
        out.push_str("</p>\n");
        if rows.is_empty() {
            out.push_str(if only_flagged {
                "<p>Inga rader med flaggor.</p>\n"
            } else {
                "<p>Inga rader.</p>\n"
            });
            return;
        }
        // By default what is enough to judge (seed 003): time, patient, unit, action, flags.
        out.push_str("<table class=\"rows\">\n  <caption>Loggrader för ");
        esc(out, s.username);
        out.push_str(
            "</caption>\n  <tr><th scope=\"col\">Tid</th><th scope=\"col\">Patient</th>\
             <th scope=\"col\">Vårdenhet</th><th scope=\"col\">Åtgärd</th>\
             <th scope=\"col\">Flaggor</th><th scope=\"col\">Hela raden</th></tr>\n",
        );
        for e in rows {
            let ev = &e.event;
            let _ = write!(
                out,
                "  <tr id=\"r-{}\" class=\"{}\"><td>",
                e.id,
                if e.flags.is_empty() { "" } else { "flagged" }
            );
            let _ = write!(out, "{}", ev.time.format("%Y-%m-%d %H:%M:%S"));
            out.push_str("</td><td>");
            value(out, &ev.patient_id);
            if ev.patient_id.kind() == IdKind::Interim {
                out.push_str(" <small>(reservnummer)</small>");
            }
            out.push_str("</td><td>");
            let unit = ev.care_unit.as_deref().unwrap_or_default();
            if ev
                .care_unit
                .as_deref()
                .is_some_and(crate::rules::is_unknown_unit)
            {
                out.push_str("<em title=\"Källsystemet anger ingen enhet för raden\">");
                esc(out, unit);
                out.push_str("</em>");
            } else {
                esc(out, unit);
            }
            out.push_str("</td><td>");
            value(out, &ev.action);
            out.push_str("</td>\n    <td>");
            for f in &e.flags {
                out.push_str("<span class=\"flag\" data-code=\"");
                esc(out, f.code.as_str());
                out.push_str("\">");
                esc(out, f.code.label_sv());
                out.push_str("</span> <span class=\"reason\">");
                esc(out, &f.reason);
                out.push_str("</span><br>");
            }
            let open = opened.full.is_some_and(|f| f.covers(e));
            if open {
                out.push_str("</td><td>Visas nedan</td></tr>\n");
                full_row(out, e, opened.raw.and_then(|r| r.get(&e.id)));
            } else {
                out.push_str("</td><td><a class=\"full-row\" href=\"?");
                esc(out, s.query);
                let _ = writeln!(out, "rad={0}#r-{0}\">Visa</a></td></tr>", e.id);
            }
        }
        out.push_str("</table>\n");
    }

    /// The rest of a row, opened on request: the patient's name, the source's wording, the
    /// part of the system, its reference and the source row itself.
    fn full_row(out: &mut String, e: &TaskEvent, raw: Option<&String>) {
        let ev = &e.event;
        out.push_str("  <tr class=\"full\"><td colspan=\"6\"><dl>");
        for (label, text) in [
            ("Patientens namn", ev.patient_name.as_deref()),
            ("Händelse", Some(ev.event_text.as_str())),
            ("Del av systemet", ev.system_part.as_deref()),
            ("Referensnummer", ev.reference_number.as_deref()),
            ("Källrad", raw.map(String::as_str)),
        ] {
            out.push_str("<dt>");
            out.push_str(label);
            out.push_str("</dt><dd>");
            esc(out, text.unwrap_or("–"));
            out.push_str("</dd>");
        }
        out.push_str("</dl></td></tr>\n");
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn escapes_as_handlebars_does() {
            let raw = "a<b>\"c\"&'d'`e`=f åäö";
            let mut out = String::new();
            super::esc(&mut out, raw);
            assert_eq!(out, handlebars::html_escape(raw));
        }
    }
}

#[derive(Deserialize)]
pub struct OutcomeForm {
    csrf: String,
    outcome: String,
    #[serde(default)]
    comment: String,
}

pub(super) fn parse_outcome(raw: &str) -> Result<ReviewOutcome, WebError> {
    crate::model::task::parse_outcome(raw).ok_or_else(|| {
        WebError::BadRequest("Välj utfall: utan anmärkning eller med anmärkning.".into())
    })
}

pub(super) fn review_error(e: ReviewError) -> WebError {
    match e {
        ReviewError::NoSuchTask(_) => WebError::NotFound,
        ReviewError::NotReviewer { .. } => WebError::Forbidden,
        ReviewError::CommentRequired => WebError::BadRequest(
            "Med anmärkning kräver en kommentar som beskriver vad som hittades.".into(),
        ),
        ReviewError::Closed { .. } => {
            WebError::BadRequest("Granskningen är redan avslutad.".into())
        }
        ReviewError::Incomplete(users) => WebError::BadRequest(format!(
            "Alla utvalda användare är inte granskade än: {}. Ladda upp deras utdrag eller \
             registrera granskningen utanför loggvakt, eller avsluta med anmärkning.",
            users.join(", ")
        )),
        ReviewError::RemarkRecorded(users) => WebError::BadRequest(format!(
            "Granskningen utanför loggvakt av {} hittade något: avsluta med anmärkning.",
            users.join(", ")
        )),
        ReviewError::NotSampled { username, .. } => WebError::BadRequest(format!(
            "{username} är inte en utvald användare i granskningen."
        )),
        ReviewError::AlreadyRecorded { username, .. } => {
            WebError::BadRequest(format!("Granskningen av {username} är redan registrerad."))
        }
        ReviewError::BadRecord(why) => WebError::BadRequest(format!(
            "Registreringen kunde inte sparas: {}",
            bad_record_sv(&why)
        )),
        ReviewError::Store(e) => e.into(),
    }
}

/// The Swedish reason for a refused outside review (the library speaks English).
fn bad_record_sv(why: &str) -> &'static str {
    if why.contains("checklist") {
        "bekräfta att checklistan är genomgången."
    } else if why.contains("rows seen") {
        "antalet rader är orimligt."
    } else if why.contains("longer") {
        "anteckningen är för lång."
    } else {
        "en anmärkning kräver en anteckning om vad som hittades."
    }
}

pub async fn complete(
    State(state): State<Shared>,
    session: Session,
    Path(id): Path<i64>,
    Form(f): Form<OutcomeForm>,
) -> Result<Response, WebError> {
    session.require(&[Role::Reviewer, Role::Admin])?;
    session.check_csrf(&f.csrf)?;
    complete_task(&state, &session, id, &f.outcome, Some(f.comment.as_str())).await?;
    Ok(Redirect::to(&format!("/granskningar/{id}")).into_response())
}

/// Who acts on a task the session may review (for the audit trail), and whether as its
/// reviewer: a reviewer acts as themself, an administrator on the reviewer's behalf.
pub(super) async fn acting_on(
    state: &Shared,
    session: &Session,
    id: i64,
) -> Result<(String, bool), WebError> {
    let task = reviewable(state, session, id).await?.task.clone();
    let as_reviewer = session.user.role == Role::Reviewer && task.is_reviewer(&session.user.email);
    Ok((session.actor(), as_reviewer))
}

/// Closes a task the session may review, for the page and the API alike.
pub(super) async fn complete_task(
    state: &Shared,
    session: &Session,
    id: i64,
    outcome: &str,
    comment: Option<&str>,
) -> Result<crate::review::Completion, WebError> {
    let outcome = parse_outcome(outcome)?;
    let (actor, as_reviewer) = acting_on(state, session, id).await?;
    Review::new(state.stage(&actor), &state.rules)
        .complete(
            id,
            outcome,
            comment,
            &session.user.email,
            as_reviewer,
            &state.connectors,
        )
        .await
        .map_err(review_error)
}

/// Orders of the user's units still waiting for their extract: a draw's unit, or the unit
/// whose manager reviews a targeted check.
pub(super) async fn waiting_orders(
    state: &Shared,
    user: &User,
) -> Result<Vec<crate::model::order::Order>, WebError> {
    let units = user.reviewer_units(&state.org);
    let order_unit = state.store.awaiting_order_units().await?;
    Ok(state
        .store
        .orders_awaiting_file()
        .await?
        .into_iter()
        .filter(|o| {
            user.role == Role::Admin || order_unit.get(&o.id).is_some_and(|u| units.contains(u))
        })
        .collect())
}

pub async fn uploads(State(state): State<Shared>, session: Session) -> Result<Response, WebError> {
    session.require(&[Role::Reviewer, Role::Admin])?;
    let orders: Vec<_> = waiting_orders(&state, &session.user)
        .await?
        .iter()
        .map(|o| {
            json!({
                "id": o.id, "reference": o.reference, "system": o.system,
                "sent_at": o.sent_at.map(local), "deliver_by": o.deliver_by.map(local),
            })
        })
        .collect();
    Ok(state.page(
        Some(&session),
        "Väntande utdrag",
        "uploads",
        json!({"orders": orders, "csrf": session.csrf}),
    ))
}
