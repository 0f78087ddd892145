//! The Sesam 2 connector against a wiremock Loggöversikt.

#[path = "../../test_support/http_peer.rs"]
mod http_peer;

use std::time::Duration;

use http_peer::{
    answering, april, assert_bad_settings_named, assert_error, assert_unreachable, at, impatient,
};
use loggvakt_connector::{
    Action, Connector, ErrorKind, FetchQuery, FromSettings, Period, Personnummer, Subject, UserRef,
};
use loggvakt_sesam2::Sesam2Connector;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const OVERVIEW: &str = "/administration/loggning/loggoversikt";

fn settings(url: &str) -> Value {
    json!({"base_url": url, "token": "hemligt", "page_size": 2, "timeout_secs": 2})
}

fn connector(url: &str) -> Sesam2Connector {
    Sesam2Connector::from_settings("sesam2", &settings(url)).unwrap()
}

fn by_user(user: &str, from: &str, to: &str) -> FetchQuery {
    FetchQuery {
        subject: Subject::Users(vec![http_peer::user(user, None, Some((from, to)))]),
        period: april(),
    }
}

fn row(user: &str, time: &str, event: &str, patient: &str) -> Value {
    json!({"anvandare": user, "datum": time, "handelse": event, "referensnummer": "R-77",
           "mottagare": patient, "applikation": "Sesam"})
}

fn page(rows: Vec<Value>, sida: u32, sidor: u32) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"rader": rows, "sida": sida, "antal_sidor": sidor, "totalt": 5}))
}

#[tokio::test]
async fn a_search_by_user_follows_every_page() {
    let server = MockServer::start().await;
    let pages = [
        vec![
            row(
                "189986",
                "2023-10-13 08:24:56",
                "Hjälper mottagare",
                "191212121212",
            ),
            row(
                "189986",
                "2023-10-13 08:30:00",
                "Visar hjälpmedel",
                "198005159127",
            ),
        ],
        vec![
            row(
                "189986",
                "2023-10-13 09:00:00",
                "Ändrar order",
                "198005159127",
            ),
            row(
                "189986",
                "2023-10-13 09:10:00",
                "Skapar order",
                "191212121212",
            ),
        ],
        vec![row(
            "189986",
            "2023-10-13 10:00:00",
            "Inloggning",
            "191212121212",
        )],
    ];
    for (i, rows) in pages.into_iter().enumerate() {
        let n = i as u32 + 1;
        Mock::given(method("GET"))
            .and(path(OVERVIEW))
            .and(header("authorization", "Bearer hemligt"))
            .and(query_param("anvandare", "189986"))
            .and(query_param_is_missing("mottagare"))
            .and(query_param("fran", "2023-10-13T00:00:00"))
            .and(query_param("till", "2023-10-14T00:00:00"))
            .and(query_param("per_sida", "2"))
            .and(query_param("sida", n.to_string()))
            .respond_with(page(rows, n, 3))
            .expect(1)
            .mount(&server)
            .await;
    }
    let c = connector(&server.uri());
    let events = c
        .fetch(&by_user(
            "189986",
            "2023-10-13T00:00:00",
            "2023-10-14T00:00:00",
        ))
        .await
        .unwrap();
    assert_eq!(events.len(), 5);
    let actions: Vec<Action> = events.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        [
            Action::Read,
            Action::Read,
            Action::Write,
            Action::Create,
            Action::Other
        ]
    );
    let e = &events[0];
    assert_eq!(e.system, "sesam2");
    assert_eq!(e.user_id, "189986");
    assert_eq!(e.time, at("2023-10-13T08:24:56"));
    assert_eq!(e.patient_id.digits(), "191212121212");
    assert_eq!(e.event_text, "Hjälper mottagare");
    assert_eq!(e.system_part.as_deref(), Some("Sesam"));
    assert!(e.raw.as_deref().unwrap().contains("R-77"));
    let m = c.manifest();
    assert!(m.capabilities.fetch);
    assert!(
        m.capabilities.import,
        "a Loggöversikt list exported by hand is imported"
    );
    assert!(!m.capabilities.order && !m.capabilities.poll);
}

#[tokio::test]
async fn each_user_is_searched_over_their_own_period() {
    let server = MockServer::start().await;
    for (user, from) in [("u1", "2027-04-03T00:00:00"), ("u2", "2027-04-20T00:00:00")] {
        Mock::given(method("GET"))
            .and(query_param("anvandare", user))
            .and(query_param("fran", from))
            .respond_with(page(
                vec![row(user, "2027-04-20 10:00:00", "Visar", "191212121212")],
                1,
                1,
            ))
            .expect(1)
            .mount(&server)
            .await;
    }
    let q = FetchQuery {
        subject: Subject::Users(
            [("u1", "2027-04-03"), ("u2", "2027-04-20")]
                .iter()
                .map(|(u, d)| UserRef {
                    username: (*u).into(),
                    name: None,
                    period: Some(Period {
                        from: at(&format!("{d}T00:00:00")),
                        to: at(&format!("{d}T00:00:00")) + chrono::Duration::days(1),
                    }),
                })
                .collect(),
        ),
        period: april(),
    };
    let events = connector(&server.uri()).fetch(&q).await.unwrap();
    let users: Vec<&str> = events.iter().map(|e| e.user_id.as_str()).collect();
    assert_eq!(users, ["u1", "u2"]);
}

#[tokio::test]
async fn a_targeted_search_by_recipient() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(query_param("mottagare", "191212121212"))
        .and(query_param_is_missing("anvandare"))
        .and(query_param("fran", "2027-04-01T00:00:00"))
        .and(query_param("till", "2027-05-01T00:00:00"))
        .respond_with(page(
            vec![row(
                "189986",
                "2027-04-20 10:00:00",
                "Visar",
                "191212121212",
            )],
            1,
            1,
        ))
        .expect(1)
        .mount(&server)
        .await;
    let q = FetchQuery {
        subject: Subject::Patient(Personnummer::parse("19121212-1212").unwrap()),
        period: april(),
    };
    let events = connector(&server.uri()).fetch(&q).await.unwrap();
    assert_eq!(events.len(), 1);
}

#[tokio::test]
async fn an_empty_result_is_one_page_with_no_rows() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"rader": [], "sida": 1, "antal_sidor": 0, "totalt": 0})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let events = connector(&server.uri())
        .fetch(&by_user("u", "2027-04-01T00:00:00", "2027-04-02T00:00:00"))
        .await
        .unwrap();
    assert!(events.is_empty());
}

#[tokio::test]
async fn failures_say_whether_a_retry_helps_and_never_name_the_patient() {
    let patient = FetchQuery {
        subject: Subject::Patient(Personnummer::parse("19121212-1212").unwrap()),
        period: april(),
    };
    let cases = [
        (ResponseTemplate::new(401), ErrorKind::Permanent, "token"),
        (ResponseTemplate::new(403), ErrorKind::Permanent, "403"),
        (
            ResponseTemplate::new(429).insert_header("Retry-After", "12"),
            ErrorKind::Retryable,
            "retry after 12 seconds",
        ),
        (ResponseTemplate::new(502), ErrorKind::Retryable, "502"),
        (
            ResponseTemplate::new(200).set_body_string("{\"rader\": [}"),
            ErrorKind::Malformed,
            "JSON",
        ),
        (
            page(vec![], 1, 1).set_delay(Duration::from_secs(3)),
            ErrorKind::Retryable,
            "timed out",
        ),
        (
            page(
                vec![
                    row("u", "2027-04-20 10:00:00", "Visar", "191212121212"),
                    row("u", "2027-04-20 10:00:00", "Visar", "191212121213"),
                ],
                1,
                1,
            ),
            ErrorKind::Malformed,
            "row 2: field mottagare",
        ),
        (
            page(vec![row("u", "20/4 10:00", "Visar", "191212121212")], 1, 1),
            ErrorKind::Malformed,
            "field datum",
        ),
        (page(vec![], 2, 3), ErrorKind::Malformed, "page 2 instead"),
    ];
    for (response, kind, words) in cases {
        let server = answering("GET", response).await;
        let s = impatient(settings(&server.uri()));
        let c = Sesam2Connector::from_settings("sesam2", &s).unwrap();
        let err = c.fetch(&patient).await.unwrap_err();
        assert_error(&err, kind, words);
        assert!(!err.message.contains("1212"), "{err}");
    }
}

#[tokio::test]
async fn an_unreachable_server_is_retryable() {
    let c = connector(&http_peer::unreachable_url());
    let q = by_user("u", "2027-04-01T00:00:00", "2027-04-02T00:00:00");
    assert_unreachable(&c, c.fetch(&q).await).await;
}

#[test]
fn bad_settings_name_the_setting_and_the_token_is_not_shown() {
    let cases = [
        ("base_url", json!("not a url")),
        ("token", json!("")),
        ("page_size", json!(0)),
        ("page_size", json!("hundra")),
        ("timeout_secs", json!(0)),
        ("tokn", json!("x")),
    ];
    assert_bad_settings_named(&settings("http://sesam.example"), &cases, |s| {
        Sesam2Connector::from_settings("sesam2", s)
    });
    let c = connector("http://sesam.example");
    assert!(!format!("{c:?}").contains("hemligt"));
}
