//! Lifecare (Evolution): messages to the system administrators' mailbox, the
//! administrator's reply with the extract attached, and notes written back.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::http::{self, Sys, fel, fel_falt};
use crate::order::{OrderSpec, parse_order_text};
use crate::rng::Rng;
use crate::world::Kind;
use crate::{Note, Shared, extract, lock};

#[derive(Default)]
pub(crate) struct Mailbox {
    messages: Vec<Message>,
    next_id: u32,
    pub(crate) notes: Vec<Note>,
    /// Idempotency key → note id.
    note_keys: std::collections::HashMap<String, String>,
}

struct Message {
    id: String,
    key: String,
    created: Instant,
    till: String,
    amne: String,
    referens: String,
    spec: OrderSpec,
    stuck: bool,
    /// Written once, when the administrator gets to it.
    reply: Option<Value>,
}

impl Mailbox {
    fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{}", 1041 + self.next_id)
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    http::router(
        shared,
        Kind::Lifecare,
        Router::new()
            .route("/api/meddelanden", post(send).get(replies))
            .route("/api/anteckningar", post(note)),
    )
}

#[derive(Deserialize)]
struct NewMessage {
    till: Option<String>,
    fran: Option<String>,
    amne: Option<String>,
    text: Option<String>,
    referens: Option<String>,
    idempotensnyckel: Option<String>,
}

/// A JSON body or the `400`/`422` a client deserves for it.
fn json_body<T: for<'de> Deserialize<'de>>(sys: &Sys, body: &Bytes) -> Result<T, Response> {
    serde_json::from_slice(body)
        .map_err(|_| sys.refuse(fel(StatusCode::BAD_REQUEST, "Ogiltig JSON")))
}

fn required<'a>(sys: &Sys, v: &'a Option<String>, name: &str) -> Result<&'a str, Response> {
    match v.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(sys.refuse(fel_falt("Fältet måste fyllas i", name))),
    }
}

async fn send(State(sys): State<Sys>, body: Bytes) -> Response {
    let shared = &sys.shared;
    let m: NewMessage = match json_body(&sys, &body) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let fields = (|| {
        Ok::<_, Response>((
            required(&sys, &m.till, "till")?,
            required(&sys, &m.fran, "fran")?,
            required(&sys, &m.amne, "amne")?,
            required(&sys, &m.text, "text")?,
            required(&sys, &m.idempotensnyckel, "idempotensnyckel")?,
        ))
    })();
    let (till, fran, amne, text, key) = match fields {
        Ok(f) => f,
        Err(r) => return r,
    };
    let referens = m.referens.clone().unwrap_or_default();

    let mut state = lock(&shared.lifecare);
    if let Some(existing) = state.messages.iter().find(|x| x.key == key) {
        let id = existing.id.clone();
        drop(state);
        return shared.repeat_order(Kind::Lifecare, "id", id);
    }
    let known = |t: &str| shared.world.staff_of_kind(Kind::Lifecare, t).is_some();
    let spec = parse_order_text(text, &known);
    let id = state.new_id("M");
    let received = crate::ReceivedOrder {
        system: "lifecare".into(),
        external_ref: id.clone(),
        reference: m.referens.clone().unwrap_or_default(),
        idempotency_key: key.to_owned(),
        orderer: fran.to_owned(),
        orderer_username: None,
        text: Some(text.to_owned()),
    };
    shared.accept_order(Kind::Lifecare, &spec, received);
    state.messages.push(Message {
        id: id.clone(),
        key: key.to_owned(),
        created: Instant::now(),
        till: till.to_owned(),
        amne: amne.to_owned(),
        referens,
        spec,
        stuck: shared.faults(Kind::Lifecare).faults.never_deliver,
        reply: None,
    });
    drop(state);
    (StatusCode::CREATED, axum::Json(json!({ "id": id }))).into_response()
}

async fn replies(State(sys): State<Sys>, Query(q): Query<HashMap<String, String>>) -> Response {
    let shared = &sys.shared;
    let Some(svar_pa) = q.get("svar_pa").map(|s| s.trim().to_owned()) else {
        return sys.refuse(fel(StatusCode::BAD_REQUEST, "Ange svar_pa"));
    };
    let (spec, referens, till, amne) = {
        let state = lock(&shared.lifecare);
        let Some(m) = state.messages.iter().find(|m| m.id == svar_pa) else {
            drop(state);
            return sys.refuse(fel(StatusCode::NOT_FOUND, "Okänt meddelande"));
        };
        if let Some(r) = &m.reply {
            return (StatusCode::OK, axum::Json(json!([r]))).into_response();
        }
        let never = m.stuck || shared.faults(Kind::Lifecare).faults.never_deliver;
        if never || m.created.elapsed() < shared.delivery_delay {
            return (StatusCode::OK, axum::Json(json!([]))).into_response();
        }
        (
            m.spec.clone(),
            m.referens.clone(),
            m.till.clone(),
            m.amne.clone(),
        )
    };

    let mut reply = json!({
        "fran": till,
        "amne": format!("Sv: {amne}"),
    });
    if spec.is_empty() {
        // What an administrator answers to a message without usernames and a period.
        reply["text"] = json!(
            "Beställningen kunde inte tolkas. Ange användarnamn, namn och period för varje användare."
        );
    } else {
        let events = shared.world.order_events(Kind::Lifecare, &spec);
        let malformed = shared.faults(Kind::Lifecare).faults.malformed_rows;
        let mut rng = Rng::new(shared.world.seed(), &["felrader", &svar_pa]);
        let csv = extract::lifecare_csv(&events, malformed, &mut rng);
        reply["text"] = json!(format!("Hej! Här kommer loggutdraget för {referens}."));
        reply["bilaga"] = json!({
            "filnamn": "loggutdrag.csv",
            "innehall_base64": STANDARD.encode(csv),
        });
        tracing::info!(id = svar_pa, rows = events.len(), "lifecare: extract sent");
    }

    let mut state = lock(&shared.lifecare);
    let id = state.new_id("M");
    let reply = match state.messages.iter_mut().find(|m| m.id == svar_pa) {
        Some(m) => m
            .reply
            .get_or_insert_with(|| {
                reply["id"] = json!(id);
                reply
            })
            .clone(),
        None => Value::Null,
    };
    drop(state);
    (StatusCode::OK, axum::Json(json!([reply]))).into_response()
}

#[derive(Deserialize)]
struct NewNote {
    referens: Option<String>,
    text: Option<String>,
    #[serde(default)]
    anvandare: Vec<String>,
    /// Like a message's: a note with a key already seen is not written again.
    idempotensnyckel: Option<String>,
}

async fn note(State(sys): State<Sys>, body: Bytes) -> Response {
    let shared = &sys.shared;
    let n: NewNote = match json_body(&sys, &body) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let referens = match required(&sys, &n.referens, "referens") {
        Ok(r) => r.to_owned(),
        Err(r) => return r,
    };
    let text = match required(&sys, &n.text, "text") {
        Ok(t) => t.to_owned(),
        Err(r) => return r,
    };
    let mut state = lock(&shared.lifecare);
    if let Some(key) = n.idempotensnyckel.as_deref().filter(|k| !k.is_empty())
        && let Some(id) = state.note_keys.get(key)
    {
        return (StatusCode::OK, axum::Json(json!({ "id": id }))).into_response();
    }
    let duplicate = state
        .notes
        .iter()
        .any(|x| x.referens == referens && x.text == text && x.anvandare == n.anvandare);
    let id = state.new_id("A");
    if let Some(key) = n.idempotensnyckel.filter(|k| !k.is_empty()) {
        state.note_keys.insert(key, id.clone());
    }
    state.notes.push(Note {
        id: id.clone(),
        referens,
        text,
        anvandare: n.anvandare,
    });
    drop(state);
    if duplicate {
        // Evolution keeps both; someone has to notice the second one.
        shared.count(Kind::Lifecare, |s| s.duplicates += 1);
    }
    tracing::info!(id, "lifecare: note written");
    (StatusCode::CREATED, axum::Json(json!({ "id": id }))).into_response()
}
