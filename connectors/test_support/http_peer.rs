//! What the integration tests of the HTTP connectors (Lifecare, Sesam 2, Treserva) share:
//! the peer's usual answers and the checks every connector must pass alike. Each test crate
//! includes this file with `#[path]`, so it needs no crate of its own, and not every crate
//! uses every helper.
#![allow(dead_code)]

use loggvakt_connector::{
    Connector, ConnectorError, ErrorKind, ImportLimits, ImportOutcome, OrderReceipt, OrderRequest,
    Period, PollOutcome, UserRef,
};
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const LIMITS: ImportLimits = ImportLimits { max_bytes: 1 << 20 };

pub fn at(s: &str) -> chrono::NaiveDateTime {
    s.parse().unwrap()
}

pub fn period(from: &str, to: &str) -> Period {
    Period {
        from: at(from),
        to: at(to),
    }
}

pub fn april() -> Period {
    period("2027-04-01T00:00:00", "2027-05-01T00:00:00")
}

/// A user to order for: named when `name` is given, over their own `(from, to)` when that
/// is given, else over the order's period.
pub fn user(username: &str, name: Option<&str>, own: Option<(&str, &str)>) -> UserRef {
    UserRef {
        username: username.into(),
        name: name.map(Into::into),
        period: own.map(|(from, to)| period(from, to)),
    }
}

/// `order` placed by Britt Beställare of Särskilt boende Björken, with `username` (her own
/// in the system) when given.
pub fn ordered_by(order: OrderRequest, username: Option<&str>) -> OrderRequest {
    OrderRequest {
        orderer: Some(loggvakt_connector::Orderer {
            name: "Britt Beställare".into(),
            email: "britt@kommun.example".into(),
            username: username.map(str::to_owned),
            phone: None,
            unit: "Särskilt boende Björken".into(),
        }),
        ..order
    }
}

pub fn receipt(external_ref: &str) -> OrderReceipt {
    OrderReceipt {
        external_ref: Some(external_ref.into()),
        note: None,
    }
}

/// An address where nothing listens: a port the system handed out and took back at once.
pub fn unreachable_url() -> String {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    format!("http://127.0.0.1:{port}")
}

/// `settings` with a timeout short enough that a delayed answer times out.
pub fn impatient(mut settings: Value) -> Value {
    settings["timeout_secs"] = json!(0.3);
    settings
}

/// A peer that answers every `verb` request with `response`.
pub async fn answering(verb: &str, response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method(verb))
        .respond_with(response)
        .mount(&server)
        .await;
    server
}

/// A peer that takes the first order (201) and answers every later one with the same `body`
/// (200), as a peer does with an idempotency key it has seen.
pub async fn accepting_once(body: Value) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(&body))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&body))
        .mount(&server)
        .await;
    server
}

/// An order placed again gets the first one's reference, and a note that says so.
pub fn assert_same_order(first: &OrderReceipt, again: OrderReceipt) {
    assert_eq!(first.external_ref, again.external_ref);
    assert!(again.note.unwrap().contains("already"));
}

/// Polling `req` with each of `refs` finds its extract not ready yet.
pub async fn assert_pending(c: &impl Connector, req: &OrderRequest, refs: &[&str]) {
    for r in refs {
        let outcome = c.poll(req, &receipt(r)).await.unwrap();
        assert_eq!(outcome, PollOutcome::Pending, "{r}");
    }
}

/// The refused rows of an import: each one's line and the field named as wrong.
pub fn rejected_fields(outcome: &ImportOutcome) -> Vec<(u64, Option<&str>)> {
    outcome
        .rejected
        .iter()
        .map(|r| (r.line, r.field.as_deref()))
        .collect()
}

pub fn assert_error(err: &ConnectorError, kind: ErrorKind, words: &str) {
    assert_eq!(err.kind, kind, "{err}");
    assert!(err.message.contains(words), "{err}");
}

/// A peer that cannot be reached fails `call` and the health check alike, both worth a retry.
pub async fn assert_unreachable<T>(c: &impl Connector, call: Result<T, ConnectorError>) {
    let Err(err) = call else {
        panic!("an unreachable peer answered");
    };
    assert_eq!(err.kind, ErrorKind::Retryable, "{err}");
    assert_eq!(c.health().await.unwrap_err().kind, ErrorKind::Retryable);
}

/// `good` with each of `cases` set in turn fails `build` with a configuration error that
/// names the setting.
pub fn assert_bad_settings_named<C: std::fmt::Debug>(
    good: &Value,
    cases: &[(&str, Value)],
    build: impl Fn(&Value) -> Result<C, ConnectorError>,
) {
    for (setting, value) in cases {
        let mut s = good.clone();
        s[setting] = value.clone();
        let err = build(&s).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Config, "{setting}: {err}");
        assert!(err.message.contains(setting), "{setting}: {err}");
    }
}
