//! Targeted checks and patient requests in the web (issue 11; seeds 002, 003): a chef orders
//! the log of a user or a patient over a period for the units they are chief over (an
//! administrator for any), or registers a patient's own request with its identity check;
//! the extract comes in through the order pipeline, the task goes to the unit's chef, and a
//! patient's request ends with a printable letter that shows the time and the unit of each
//! access (seed 003: "I loggen syns vilken enhet och tidpunkt"), never a staff name, and the
//! registered mail's number and receipt.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Value, json};

use super::session::ApiSession;
use super::{ApiError, Session, SessionForm, Shared, WebError};
use crate::calendar::local_minute as local;
use crate::checks::{self, CheckError};
use crate::model::check::{Check, CheckKind, NewCheck};
use crate::model::user::{Role, User};

const CHEFS: &[Role] = &[Role::Reviewer, Role::Admin];

/// The units a user may order checks for: those they see as chef (and the units below), or
/// every unit for an administrator.
fn units_of(state: &Shared, user: &User) -> Vec<String> {
    match user.role {
        Role::Admin => state.org.units.iter().map(|u| u.id.to_string()).collect(),
        _ => user.reviewer_units(&state.org),
    }
}

/// Whether a user whose units are `units` ([`units_of`]) may follow `check`.
fn may_follow(user: &User, units: &[String], check: &Check) -> bool {
    user.role == Role::Admin
        || (user.role == Role::Reviewer && units.iter().any(|u| u == check.unit.as_str()))
}

/// The checks `user` may follow, the units they are chef over worked out once.
async fn followed_checks(state: &Shared, user: &User) -> Result<Vec<Check>, WebError> {
    let units = units_of(state, user);
    Ok(state
        .store
        .checks()
        .await?
        .into_iter()
        .filter(|c| may_follow(user, &units, c))
        .collect())
}

async fn followed(state: &Shared, session: &Session, id: i64) -> Result<Check, WebError> {
    session.require(CHEFS)?;
    let check = state.store.check(id).await?.ok_or(WebError::NotFound)?;
    if !may_follow(&session.user, &units_of(state, &session.user), &check) {
        return Err(WebError::Forbidden);
    }
    Ok(check)
}

fn check_error(e: CheckError) -> WebError {
    match e {
        CheckError::Store(e) => e.into(),
        CheckError::NoSuchCheck(_) => WebError::NotFound,
        // The library names the CLI's options; the page says it in Swedish.
        CheckError::NoSuchSystem(s, _) => {
            WebError::BadRequest(format!("Systemet {s} finns inte i konfigurationen."))
        }
        CheckError::NoSuchUnit(u) => WebError::BadRequest(format!("Enheten {u} finns inte.")),
        CheckError::UnknownUser(u, s) => {
            WebError::BadRequest(format!("Ingen i personalen har användarnamnet {u} i {s}."))
        }
        CheckError::UnitRequired => WebError::BadRequest("Välj enhet.".into()),
        CheckError::BadPersonnummer(_) => WebError::BadRequest(
            "Personnumret är inte giltigt (ÅÅÅÅMMDD-NNNN med rätt kontrollsiffra).".into(),
        ),
        CheckError::EmptyPeriod { .. } => {
            WebError::BadRequest("Perioden är tom: från-datumet är efter till-datumet.".into())
        }
        CheckError::FuturePeriod { today, .. } => WebError::BadRequest(format!(
            "Perioden slutar i framtiden; loggen kan begäras till och med i dag ({today})."
        )),
        CheckError::Empty(what) => WebError::BadRequest(format!(
            "Ett obligatoriskt fält är tomt: {}.",
            match what {
                "--identity-document" => "id-handling",
                "--identity-checked-by" => "identiteten kontrollerad av",
                "--reason" => "skäl",
                "--registered-mail" => "det rekommenderade brevets nummer",
                "the username" => "användarnamn",
                other => other.trim_start_matches("--"),
            }
        )),
        CheckError::NotARequest(_) => {
            WebError::BadRequest("Kontrollen är inte en begäran från en patient.".into())
        }
        CheckError::Order(m) => WebError::BadRequest(m),
    }
}

fn date(raw: &str, field: &str) -> Result<NaiveDate, WebError> {
    raw.trim()
        .parse()
        .map_err(|_| WebError::BadRequest(format!("{field}: ange ett datum som ÅÅÅÅ-MM-DD.")))
}

fn kind_sv(kind: CheckKind) -> &'static str {
    match kind {
        CheckKind::User => "Riktad kontroll av användare",
        CheckKind::Patient => "Riktad kontroll av patient",
        CheckKind::PatientRequest => "Patientens begäran om loggutdrag",
    }
}

pub async fn list(State(state): State<Shared>, session: Session) -> Result<Response, WebError> {
    session.require(CHEFS)?;
    let checks: Vec<Value> = followed_checks(&state, &session.user)
        .await?
        .iter()
        .rev()
        .map(|c| {
            json!({
                "id": c.id, "reference": c.reference(), "kind": kind_sv(c.kind),
                "unit": state.org.unit(c.unit.as_str()).map_or(c.unit.as_str(), |u| &u.name),
                "system": c.system, "from": c.from.date(), "to": (c.to - chrono::TimeDelta::seconds(1)).date(),
                "created": local(c.created_at),
            })
        })
        .collect();
    let units: Vec<Value> = units_of(&state, &session.user)
        .iter()
        .filter_map(|u| state.org.unit(u))
        .map(|u| json!({"id": u.id, "name": u.name}))
        .collect();
    let systems: Vec<&str> = state.org.systems.iter().map(|s| s.id.as_str()).collect();
    let today = crate::calendar::local_date(state.clock.now());
    Ok(state.page(
        Some(&session),
        "Riktade kontroller",
        "checks",
        json!({
            "checks": checks, "units": units, "systems": systems,
            "today": today.to_string(), "me": session.user.name, "csrf": session.csrf,
        }),
    ))
}

#[derive(Deserialize)]
pub struct CheckBody {
    /// `user`, `patient` or `patient_request`.
    #[serde(default)]
    kind: String,
    #[serde(default)]
    system: String,
    #[serde(default)]
    unit: String,
    /// A username or a personnummer.
    #[serde(default)]
    subject: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    reason: String,
    // A patient's request.
    #[serde(default)]
    received: String,
    #[serde(default)]
    identity_document: String,
    #[serde(default)]
    identity_checked_by: String,
}

/// Makes the check (or the patient's request) and its order; returns the check's id.
async fn create_check(state: &Shared, session: &Session, f: &CheckBody) -> Result<i64, WebError> {
    session.require(CHEFS)?;
    let kind = CheckKind::parse(f.kind.trim())
        .ok_or_else(|| WebError::BadRequest("Välj vilken sorts kontroll.".into()))?;
    let unit = f.unit.trim();
    if unit.is_empty() && kind != CheckKind::User {
        return Err(WebError::BadRequest("Välj enhet.".into()));
    }
    let units = units_of(state, &session.user);
    if !unit.is_empty() && !units.iter().any(|u| u == unit) {
        return Err(WebError::Forbidden);
    }
    let request = if kind == CheckKind::PatientRequest {
        Some((
            date(&f.received, "Mottagen")?,
            f.identity_document.clone(),
            f.identity_checked_by.clone(),
        ))
    } else {
        None
    };
    let reason = if kind == CheckKind::PatientRequest && f.reason.trim().is_empty() {
        "patientens begäran om loggutdrag".to_owned()
    } else {
        f.reason.clone()
    };
    let new = NewCheck {
        kind,
        system: f.system.trim().to_owned(),
        unit: (!unit.is_empty()).then(|| unit.to_owned()),
        subject: f.subject.clone(),
        from: date(&f.from, "Från")?,
        to: date(&f.to, "Till och med")?,
        reason,
        request,
    };
    // A user check without a unit goes to the user's own unit: that must be one of the
    // chef's too.
    if new.unit.is_none()
        && let Some(staff) = checks::staff_with_username(&state.org, &new.system, &new.subject)
        && !units.iter().any(|u| u == staff.unit.as_str())
    {
        return Err(WebError::Forbidden);
    }
    let actor = session.actor();
    let (id, _order) = checks::create(&state.store, &state.org, &state.clock, &actor, new)
        .await
        .map_err(check_error)?;
    Ok(id)
}

pub async fn create(
    State(state): State<Shared>,
    SessionForm(session, f): SessionForm<CheckBody>,
) -> Result<Response, WebError> {
    let id = create_check(&state, &session, &f).await?;
    Ok(Redirect::to(&format!("/kontroller/{id}")).into_response())
}

pub async fn show(
    State(state): State<Shared>,
    session: Session,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let check = followed(&state, &session, id).await?;
    let orders = state.store.orders_of_check(id).await?;
    let mut order_rows = Vec::new();
    for o in orders {
        if let Some(order) = state.store.order(o).await? {
            order_rows.push(json!({
                "id": order.id, "reference": order.request.reference,
                "state": order.state.label_sv(),
            }));
        }
    }
    let task = state.store.task_of_check(id).await?;
    let by_patient = check.kind != CheckKind::User;
    Ok(state.page(
        Some(&session),
        &format!("Kontroll {}", check.reference()),
        "check",
        json!({
            "id": check.id,
            "reference": check.reference(),
            "kind": kind_sv(check.kind),
            "unit": state.org.unit(check.unit.as_str()).map_or(check.unit.as_str(), |u| &u.name),
            "system": check.system,
            "subject": check.subject,
            "from": check.from.date(),
            "to": (check.to - chrono::TimeDelta::seconds(1)).date(),
            "reason": check.reason,
            "requested_by": check.requested_by,
            "orders": order_rows,
            "task": task.map(|t| json!({"id": t.id, "reference": t.reference(), "reviewer": t.reviewer_name})),
            "letter": by_patient,
            "request": check.request.as_ref().map(|r| json!({
                "received_on": r.received_on, "identity_document": r.identity_document,
                "identity_checked_by": r.identity_checked_by,
                "registered_mail": r.registered_mail, "dispatched_at": r.dispatched_at.map(local),
                "receipt_at": r.receipt_at,
            })),
            "today": crate::calendar::local_date(state.clock.now()).to_string(),
            "csrf": session.csrf,
        }),
    ))
}

/// The patient's extract: the time and the care unit of each access in the period, nothing
/// about who. Reading it is recorded in the audit trail.
async fn extract(state: &Shared, session: &Session, id: i64) -> Result<Value, WebError> {
    let check = followed(state, session, id).await?;
    if check.kind == CheckKind::User {
        return Err(WebError::NotFound);
    }
    let events = state.store.events_of(None, Some(id)).await?;
    let tx = state
        .store
        .begin_write(state.clock.now(), &session.actor())
        .await?;
    tx.commit_audited(
        "request.extract_shown",
        &crate::model::check::check_object(id),
        json!({"rows": events.len()}),
    )
    .await?;
    let rows: Vec<Value> = events
        .iter()
        .map(|e| {
            json!({
                "time": e.event.time.format("%Y-%m-%d %H:%M").to_string(),
                "unit": e.event.care_unit.as_deref().filter(|u| !crate::rules::is_unknown_unit(u)).unwrap_or("Enhet anges inte i loggen"),
            })
        })
        .collect();
    let patient = match check.subject.len() {
        12 => format!("{}-{}", &check.subject[..8], &check.subject[8..]),
        _ => check.subject.clone(),
    };
    Ok(json!({
        "organisation": state.org.name,
        "patient": patient,
        "system": check.system,
        "from": check.from.date(),
        "to": (check.to - chrono::TimeDelta::seconds(1)).date(),
        "rows": rows,
        "request": check.request.as_ref().map(|r| json!({"received_on": r.received_on})),
        "signer": session.user.name,
        "today": crate::calendar::local_date(state.clock.now()).to_string(),
    }))
}

/// The patient's extract as a printable letter.
pub async fn letter(
    State(state): State<Shared>,
    session: Session,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let data = extract(&state, &session, id).await?;
    Ok(state.page(Some(&session), "Loggutdrag till patient", "letter", data))
}

#[derive(Deserialize)]
pub struct DispatchBody {
    #[serde(default)]
    registered_mail: String,
}

async fn record_dispatch(
    state: &Shared,
    session: &Session,
    id: i64,
    b: &DispatchBody,
) -> Result<(), WebError> {
    followed(state, session, id).await?;
    let actor = session.actor();
    checks::record_dispatch(&state.store, &state.clock, &actor, id, &b.registered_mail)
        .await
        .map_err(check_error)
}

pub async fn dispatch(
    State(state): State<Shared>,
    Path(id): Path<i64>,
    SessionForm(session, f): SessionForm<DispatchBody>,
) -> Result<Response, WebError> {
    record_dispatch(&state, &session, id, &f).await?;
    Ok(Redirect::to(&format!("/kontroller/{id}")).into_response())
}

#[derive(Deserialize)]
pub struct ReceiptBody {
    #[serde(default)]
    on: String,
}

async fn record_receipt(
    state: &Shared,
    session: &Session,
    id: i64,
    b: &ReceiptBody,
) -> Result<(), WebError> {
    followed(state, session, id).await?;
    let on = date(&b.on, "Mottagningsbevis")?;
    let actor = session.actor();
    checks::record_receipt(&state.store, &state.clock, &actor, id, on)
        .await
        .map_err(check_error)
}

pub async fn receipt(
    State(state): State<Shared>,
    Path(id): Path<i64>,
    SessionForm(session, f): SessionForm<ReceiptBody>,
) -> Result<Response, WebError> {
    record_receipt(&state, &session, id, &f).await?;
    Ok(Redirect::to(&format!("/kontroller/{id}")).into_response())
}

type ApiResult = Result<axum::Json<Value>, ApiError>;

pub async fn api_list(State(state): State<Shared>, ApiSession(s): ApiSession) -> ApiResult {
    s.require(CHEFS)?;
    Ok(axum::Json(json!(followed_checks(&state, &s.user).await?)))
}

pub async fn api_create(
    State(state): State<Shared>,
    ApiSession(s): ApiSession,
    axum::Json(body): axum::Json<CheckBody>,
) -> ApiResult {
    let id = create_check(&state, &s, &body).await?;
    let check = state.store.check(id).await?;
    let orders = state.store.orders_of_check(id).await?;
    Ok(axum::Json(json!({"check": check, "orders": orders})))
}

pub async fn api_show(
    State(state): State<Shared>,
    ApiSession(s): ApiSession,
    Path(id): Path<i64>,
) -> ApiResult {
    let check = followed(&state, &s, id).await?;
    let orders = state.store.orders_of_check(id).await?;
    let task = state.store.task_of_check(id).await?.map(|t| t.id);
    // The subject (a username or a personnummer) is kept out of the check's JSON; the one
    // who follows the check may read it here.
    Ok(axum::Json(
        json!({"check": check, "subject": check.subject, "orders": orders, "task": task}),
    ))
}

pub async fn api_letter(
    State(state): State<Shared>,
    ApiSession(s): ApiSession,
    Path(id): Path<i64>,
) -> ApiResult {
    Ok(axum::Json(extract(&state, &s, id).await?))
}

pub async fn api_dispatch(
    State(state): State<Shared>,
    ApiSession(s): ApiSession,
    Path(id): Path<i64>,
    axum::Json(body): axum::Json<DispatchBody>,
) -> ApiResult {
    record_dispatch(&state, &s, id, &body).await?;
    Ok(axum::Json(json!(state.store.check(id).await?)))
}

pub async fn api_receipt(
    State(state): State<Shared>,
    ApiSession(s): ApiSession,
    Path(id): Path<i64>,
    axum::Json(body): axum::Json<ReceiptBody>,
) -> ApiResult {
    record_receipt(&state, &s, id, &body).await?;
    Ok(axum::Json(json!(state.store.check(id).await?)))
}
