//! Sesam 2's Administration › Loggning › Loggöversikt: a paged, synchronous log search.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use loggvakt_connector::Personnummer;
use serde_json::json;

use crate::http::{self, Sys, fel};
use crate::order::parse_dt;
use crate::rng::Rng;
use crate::world::Kind;
use crate::{Shared, extract};

/// The most rows the view shows on one page, whatever is asked.
const MAX_PER_PAGE: u64 = 500;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    http::router(
        shared,
        Kind::Sesam2,
        Router::new().route("/administration/loggning/loggoversikt", get(overview)),
    )
}

async fn overview(State(sys): State<Sys>, Query(q): Query<HashMap<String, String>>) -> Response {
    let shared = &sys.shared;
    let param = |name: &str| q.get(name).map(|s| s.trim()).filter(|s| !s.is_empty());
    let bad = |msg: &str| sys.refuse(fel(StatusCode::BAD_REQUEST, msg));

    let (Some(fran), Some(till)) = (
        param("fran").and_then(parse_dt),
        param("till").and_then(parse_dt),
    ) else {
        return bad("Ange fran och till som ÅÅÅÅ-MM-DDTTT:MM:SS");
    };
    if fran >= till {
        return bad("Perioden slutar innan den börjar");
    }
    let page_no = |name: &str, default: u64| match param(name) {
        None => Some(default),
        Some(v) => v.parse::<u64>().ok().filter(|n| *n >= 1),
    };
    let (Some(sida), Some(per_sida)) = (page_no("sida", 1), page_no("per_sida", 100)) else {
        return bad("sida och per_sida ska vara positiva heltal");
    };
    let per_sida = per_sida.min(MAX_PER_PAGE);

    let anvandare = param("anvandare");
    let mottagare = match param("mottagare").map(Personnummer::parse) {
        None => None,
        Some(Ok(p)) => Some(p),
        Some(Err(_)) => return bad("Mottagaren ska anges med ett giltigt personnummer"),
    };
    let mut events = match (anvandare, &mottagare) {
        (None, None) => return bad("Ange användare eller mottagare"),
        (Some(u), _) => match shared.world.staff_of_kind(Kind::Sesam2, u) {
            Some(s) => shared.world.events(s, fran, till),
            None => Vec::new(),
        },
        (None, Some(p)) => shared.world.patient_events(Kind::Sesam2, p, fran, till),
    };
    if let Some(p) = &mottagare {
        events.retain(|g| &g.event.patient_id == p);
    }
    let eq = |a: &str, b: Option<&str>| b.is_none_or(|b| a.eq_ignore_ascii_case(b));
    events.retain(|g| {
        eq(&g.event.event_text, param("handelse"))
            && eq(&g.reference, param("referensnummer"))
            && eq(
                g.event.system_part.as_deref().unwrap_or(""),
                param("applikation"),
            )
    });

    let malformed = shared.faults(Kind::Sesam2).faults.malformed_rows;
    // Seeded by the query, so the malformed rows sit at the same places on every page.
    let fran_s = fran.to_string();
    let till_s = till.to_string();
    let mut rng = Rng::new(
        shared.world.seed(),
        &[
            "felrader",
            anvandare.unwrap_or(""),
            mottagare.as_ref().map_or("", |p| p.digits()),
            &fran_s,
            &till_s,
        ],
    );
    let rows = extract::sesam_rows(&events, malformed, &mut rng);
    let totalt = rows.len() as u64;
    let antal_sidor = totalt.div_ceil(per_sida).max(1);
    let start = ((sida - 1) * per_sida).min(totalt) as usize;
    let end = (sida * per_sida).min(totalt) as usize;
    let rader = &rows[start..end];
    tracing::debug!(sida, antal_sidor, totalt, "sesam2: log overview page");
    (
        StatusCode::OK,
        axum::Json(json!({
            "rader": rader,
            "sida": sida,
            "antal_sidor": antal_sidor,
            "totalt": totalt,
        })),
    )
        .into_response()
}
