//! Treserva's self-service portal: the e-service form for a log extract, the ticket whose
//! status user support moves along, and the delivered file.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{Datelike, NaiveDateTime};
use loggvakt_connector::Personnummer;
use serde_json::json;
use tokio::time::Instant;

use crate::http::{self, Sys, fel, fel_falt};
use crate::order::{OrderSpec, parse_dt};
use crate::rng::Rng;
use crate::world::Kind;
use crate::{Shared, extract, lock};

#[derive(Default)]
pub(crate) struct Portal {
    tickets: Vec<Ticket>,
    next: u32,
}

struct Ticket {
    arende: String,
    key: String,
    created: Instant,
    spec: OrderSpec,
    ip_and_workstation: bool,
    /// User support turned the order down, and why.
    avslagen: Option<String>,
    /// Ordered while `never_deliver` was on: stuck for good.
    stuck: bool,
    /// Made on the first download, so every later download is the same file.
    file: Option<Vec<u8>>,
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    http::router(
        shared,
        Kind::Treserva,
        Router::new()
            .route("/e-tjanst/loggutdrag", post(order))
            .route("/e-tjanst/loggutdrag/{arende}", get(status))
            .route("/e-tjanst/loggutdrag/{arende}/fil", get(file)),
    )
}

const DELIVERY: [&str; 2] = ["krypterad_epost", "post"];

fn field<'a>(form: &'a HashMap<String, String>, name: &str) -> &'a str {
    form.get(name).map(|s| s.trim()).unwrap_or("")
}

/// The form's fields, checked as the e-service checks them; `Err` is the 422 to send.
fn read_form(form: &HashMap<String, String>) -> Result<(OrderSpec, bool), Response> {
    for name in ["idempotensnyckel", "referens"] {
        if field(form, name).is_empty() {
            return Err(fel_falt("Fältet måste fyllas i", name));
        }
    }
    let bestallare = field(form, "bestallare");
    if !bestallare.contains('@') || bestallare.starts_with('@') || bestallare.ends_with('@') {
        return Err(fel_falt(
            "Beställaren anges med sin e-postadress",
            "bestallare",
        ));
    }
    let leverans = field(form, "leveranssatt");
    if !leverans.is_empty() && !DELIVERY.contains(&leverans) {
        return Err(fel_falt(
            "Leveranssättet ska vara krypterad_epost eller post",
            "leveranssatt",
        ));
    }
    let time = |name: &str| -> Result<NaiveDateTime, Response> {
        parse_dt(field(form, name))
            .ok_or_else(|| fel_falt("Tiden ska skrivas ÅÅÅÅ-MM-DD TT:MM", name))
    };
    let (fran, till) = (time("fran")?, time("till")?);
    if fran >= till {
        return Err(fel_falt("Perioden slutar innan den börjar", "till"));
    }
    let anvandare: Vec<String> = field(form, "anvandare")
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .fold(Vec::new(), |mut v, u| {
            if !v.iter().any(|w: &String| w.eq_ignore_ascii_case(u)) {
                v.push(u.to_owned());
            }
            v
        });
    let pnr = field(form, "personnummer");
    let spec = match (anvandare.is_empty(), pnr.is_empty()) {
        (true, true) | (false, false) => {
            return Err(fel_falt(
                "Ange antingen användare eller personnummer",
                "anvandare",
            ));
        }
        (true, false) => {
            let p = Personnummer::parse(pnr)
                .map_err(|_| fel_falt("Personnumret är ogiltigt", "personnummer"))?;
            OrderSpec {
                users: Vec::new(),
                patient: Some((p, fran, till)),
            }
        }
        (false, true) => {
            let mut own: HashMap<String, (NaiveDateTime, NaiveDateTime)> = HashMap::new();
            for pair in field(form, "perioder")
                .split(';')
                .map(str::trim)
                .filter(|p| !p.is_empty())
            {
                let bad = || fel_falt("Perioderna ska skrivas användare=från/till", "perioder");
                let (user, span) = pair.split_once('=').ok_or_else(bad)?;
                let (from, to) = span.split_once('/').ok_or_else(bad)?;
                let (from, to) = (
                    parse_dt(from).ok_or_else(bad)?,
                    parse_dt(to).ok_or_else(bad)?,
                );
                let user = user.trim();
                if from >= to || !anvandare.iter().any(|u| u.eq_ignore_ascii_case(user)) {
                    return Err(bad());
                }
                own.insert(user.to_ascii_lowercase(), (from, to));
            }
            OrderSpec {
                users: anvandare
                    .into_iter()
                    .map(|u| {
                        let (f, t) = own
                            .get(&u.to_ascii_lowercase())
                            .copied()
                            .unwrap_or((fran, till));
                        (u, f, t)
                    })
                    .collect(),
                patient: None,
            }
        }
    };
    let ip = matches!(
        field(form, "ip_och_arbetsstation")
            .to_ascii_lowercase()
            .as_str(),
        "ja" | "true" | "1"
    );
    Ok((spec, ip))
}

async fn order(
    State(sys): State<Sys>,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let Form(form) = match form {
        Ok(f) => f,
        Err(e) => return sys.refuse(fel(e.status(), "Formuläret kunde inte läsas")),
    };
    let (spec, ip) = match read_form(&form) {
        Ok(x) => x,
        Err(r) => return sys.refuse(r),
    };
    let shared = &sys.shared;
    let bestallare = field(&form, "bestallare");
    // User support checks the orderer's username when the form gives one, else the address.
    let anvandarnamn = field(&form, "bestallare_anvandarnamn");
    let checked = if anvandarnamn.is_empty() {
        bestallare
    } else {
        anvandarnamn
    };
    if !shared.verksamhetschefer.is_empty()
        && !shared
            .verksamhetschefer
            .iter()
            .any(|v| v.trim().eq_ignore_ascii_case(checked))
    {
        return sys.refuse(fel(
            StatusCode::FORBIDDEN,
            "Beställaren är inte verksamhetschef enligt behörigheterna i Treserva",
        ));
    }
    let key = field(&form, "idempotensnyckel");
    let mut state = lock(&shared.treserva);
    if let Some(t) = state.tickets.iter().find(|t| t.key == key) {
        let arende = t.arende.clone();
        drop(state);
        return shared.repeat_order(Kind::Treserva, "arende", arende);
    }
    state.next += 1;
    let arende = format!("TS-{}-{:06}", chrono::Local::now().year(), 120 + state.next);
    let unknown = spec
        .users
        .iter()
        .find(|(u, _, _)| shared.world.staff_of_kind(Kind::Treserva, u).is_none());
    let avslagen = unknown.map(|(u, _, _)| format!("Användaren {u} finns inte i Treserva"));
    let stuck = shared.faults(Kind::Treserva).faults.never_deliver;
    let received = crate::ReceivedOrder {
        system: "treserva".into(),
        external_ref: arende.clone(),
        reference: field(&form, "referens").to_owned(),
        idempotency_key: key.to_owned(),
        orderer: bestallare.to_owned(),
        orderer_username: Some(anvandarnamn.to_owned()).filter(|u| !u.is_empty()),
        text: None,
    };
    shared.accept_order(Kind::Treserva, &spec, received);
    state.tickets.push(Ticket {
        arende: arende.clone(),
        key: key.to_owned(),
        created: Instant::now(),
        spec,
        ip_and_workstation: ip,
        avslagen,
        stuck,
        file: None,
    });
    drop(state);
    (StatusCode::CREATED, axum::Json(json!({ "arende": arende }))).into_response()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Mottagen,
    Behandlas,
    Levererad,
    Avslagen,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Mottagen => "mottagen",
            Status::Behandlas => "behandlas",
            Status::Levererad => "levererad",
            Status::Avslagen => "avslagen",
        }
    }
}

fn status_of(shared: &Shared, t: &Ticket) -> Status {
    if t.avslagen.is_some() {
        return Status::Avslagen;
    }
    let delay = shared.delivery_delay;
    let elapsed = t.created.elapsed();
    let never = t.stuck || shared.faults(Kind::Treserva).faults.never_deliver;
    if elapsed >= delay && !never {
        Status::Levererad
    } else if elapsed >= delay / 2 || never {
        Status::Behandlas
    } else {
        Status::Mottagen
    }
}

async fn status(State(sys): State<Sys>, Path(arende): Path<String>) -> Response {
    let state = lock(&sys.shared.treserva);
    let Some(t) = state.tickets.iter().find(|t| t.arende == arende) else {
        drop(state);
        return sys.refuse(fel(StatusCode::NOT_FOUND, "Okänt ärende"));
    };
    let st = status_of(&sys.shared, t);
    let body = match &t.avslagen {
        Some(orsak) => json!({ "status": st.as_str(), "orsak": orsak }),
        None => json!({ "status": st.as_str() }),
    };
    (StatusCode::OK, axum::Json(body)).into_response()
}

async fn file(State(sys): State<Sys>, Path(arende): Path<String>) -> Response {
    let shared = &sys.shared;
    let (spec, ip) = {
        let state = lock(&shared.treserva);
        let Some(t) = state.tickets.iter().find(|t| t.arende == arende) else {
            drop(state);
            return sys.refuse(fel(StatusCode::NOT_FOUND, "Okänt ärende"));
        };
        if status_of(shared, t) != Status::Levererad {
            drop(state);
            return sys.refuse(fel(StatusCode::CONFLICT, "Utdraget är inte levererat"));
        }
        if let Some(f) = &t.file {
            return csv_response(&arende, f.clone());
        }
        (t.spec.clone(), t.ip_and_workstation)
    };
    let events = shared.world.order_events(Kind::Treserva, &spec);
    let malformed = shared.faults(Kind::Treserva).faults.malformed_rows;
    let mut rng = Rng::new(shared.world.seed(), &["felrader", &arende]);
    let bytes = extract::treserva_csv(&events, malformed, ip, shared.world.seed(), &mut rng);
    let mut state = lock(&shared.treserva);
    let bytes = match state.tickets.iter_mut().find(|t| t.arende == arende) {
        Some(t) => t.file.get_or_insert(bytes).clone(),
        None => bytes,
    };
    drop(state);
    tracing::info!(arende, rows = events.len(), "treserva: extract delivered");
    csv_response(&arende, bytes)
}

fn csv_response(arende: &str, bytes: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"loggutdrag-{arende}.csv\""),
            ),
        ],
        bytes,
    )
        .into_response()
}
