//! The Treserva connector against a wiremock portal.

#[path = "../../test_support/http_peer.rs"]
mod http_peer;

use std::collections::HashMap;
use std::time::Duration;

use http_peer::{
    LIMITS, answering, assert_bad_settings_named, assert_error, assert_pending, assert_same_order,
    assert_unreachable, at, impatient, ordered_by, period, receipt, rejected_fields, user,
};
use loggvakt_connector::{
    Action, Connector, ErrorKind, FromSettings, ImportLimits, OrderReceipt, OrderRequest,
    Personnummer, PollOutcome, Subject,
};
use loggvakt_treserva::TreservaConnector;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn settings(url: &str) -> Value {
    json!({
        "portal_url": url,
        "requester_email": "vc@kommun.example",
        "timeout_secs": 2,
    })
}

fn connector(url: &str) -> TreservaConnector {
    TreservaConnector::from_settings("treserva", &settings(url)).unwrap()
}

fn users_order() -> OrderRequest {
    OrderRequest {
        idempotency_key: "key-1".into(),
        reference: "LV-2027-05-03-2".into(),
        subject: Subject::Users(vec![
            user(
                "elind",
                Some("Eva Lind"),
                Some(("2027-04-12T00:00:00", "2027-04-13T00:00:00")),
            ),
            user(
                "pers",
                None,
                Some(("2027-04-20T00:00:00", "2027-04-21T00:00:00")),
            ),
        ]),
        period: period("2027-04-12T00:00:00", "2027-04-21T00:00:00"),
        orderer: None,
    }
}

async fn form_of(server: &MockServer, n: usize) -> HashMap<String, String> {
    let requests = server.received_requests().await.unwrap();
    let req = &requests[n];
    assert_eq!(
        req.headers.get("content-type").unwrap(),
        "application/x-www-form-urlencoded"
    );
    serde_urlencoded::from_bytes(&req.body).unwrap()
}

#[tokio::test]
async fn an_order_by_users_posts_the_form_and_keeps_the_ticket() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/e-tjanst/loggutdrag"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"arende": "TS-2027-000123"})))
        .mount(&server)
        .await;
    let c = connector(&server.uri());
    let receipt = c.order(&users_order()).await.unwrap();
    assert_eq!(receipt.external_ref.as_deref(), Some("TS-2027-000123"));

    let form = form_of(&server, 0).await;
    let expect = [
        ("referens", "LV-2027-05-03-2"),
        ("bestallare", "vc@kommun.example"),
        ("anvandare", "elind,pers"),
        (
            "perioder",
            "elind=2027-04-12 00:00/2027-04-13 00:00;pers=2027-04-20 00:00/2027-04-21 00:00",
        ),
        ("fran", "2027-04-12 00:00"),
        ("till", "2027-04-21 00:00"),
        ("leveranssatt", "krypterad_epost"),
        ("idempotensnyckel", "key-1"),
    ];
    for (k, v) in expect {
        assert_eq!(form.get(k).map(String::as_str), Some(v), "{k}");
    }
    assert!(!form.contains_key("personnummer"));
    let m = c.manifest();
    assert!(m.capabilities.order && m.capabilities.poll && m.capabilities.import);
    assert!(!m.capabilities.fetch && !m.capabilities.write_back);
    assert_eq!(m.max_users_per_order, None);
}

#[tokio::test]
async fn a_resubmitted_order_gets_the_same_ticket() {
    let server = http_peer::accepting_once(json!({"arende": "TS-1"})).await;
    let c = connector(&server.uri());
    let first = c.order(&users_order()).await.unwrap();
    assert_same_order(&first, c.order(&users_order()).await.unwrap());
    let a = form_of(&server, 0).await;
    let b = form_of(&server, 1).await;
    assert_eq!(a.get("idempotensnyckel"), b.get("idempotensnyckel"));
}

#[tokio::test]
async fn an_order_by_patient_sends_the_personnummer_and_post_delivery() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"arende": "TS-2"})))
        .mount(&server)
        .await;
    let mut s = settings(&server.uri());
    s["delivery"] = json!("post");
    let c = TreservaConnector::from_settings("treserva", &s).unwrap();
    let mut req = users_order();
    req.subject = Subject::Patient(Personnummer::parse("19121212-1212").unwrap());
    c.order(&req).await.unwrap();
    let form = form_of(&server, 0).await;
    assert_eq!(form["personnummer"], "191212121212");
    assert_eq!(form["leveranssatt"], "post");
    assert!(!form.contains_key("anvandare") && !form.contains_key("perioder"));
}

#[tokio::test]
async fn refusals_are_permanent_and_busy_portals_retryable() {
    let cases = [
        (
            ResponseTemplate::new(403).set_body_json(json!({"fel": "inte verksamhetschef"})),
            ErrorKind::Permanent,
            "inte verksamhetschef",
        ),
        (
            ResponseTemplate::new(422).set_body_json(
                json!({"fel": "ogiltigt personnummer 191212121212", "falt": "personnummer"}),
            ),
            ErrorKind::Permanent,
            "fält personnummer",
        ),
        (ResponseTemplate::new(401), ErrorKind::Permanent, "401"),
        (
            ResponseTemplate::new(429).insert_header("Retry-After", "30"),
            ErrorKind::Retryable,
            "retry after 30 seconds",
        ),
        (ResponseTemplate::new(503), ErrorKind::Retryable, "503"),
        (
            ResponseTemplate::new(201).set_body_string("<html>inloggning</html>"),
            ErrorKind::Malformed,
            "JSON",
        ),
        (
            ResponseTemplate::new(201)
                .set_body_json(json!({"arende": "TS-3"}))
                .set_delay(Duration::from_secs(3)),
            ErrorKind::Retryable,
            "timed out",
        ),
    ];
    for (response, kind, words) in cases {
        let server = answering("POST", response).await;
        let s = impatient(settings(&server.uri()));
        let c = TreservaConnector::from_settings("treserva", &s).unwrap();
        let err = c.order(&users_order()).await.unwrap_err();
        assert_error(&err, kind, words);
        assert!(!err.message.contains("1912"), "{err}");
    }
}

#[tokio::test]
async fn an_unreachable_portal_is_retryable() {
    let c = connector(&http_peer::unreachable_url());
    assert_unreachable(&c, c.order(&users_order()).await).await;
}

const EXTRACT: &str = "Datum;Tid;Personnummer;Namn;Enhet;H-Typ;Systemdel;Användare;IP-adress;Arbetsstation\n\
2027-04-12;08:15:00;191212121212;Tolvan Tolvansson;Hemtjänst Norr;Läsa anteckning;Social dokumentation;elind;10.0.0.5;WS-12\n\
2027-04-12;08:20;191212121212;Tolvan Tolvansson;Ej tillämplig på enhet;Ändra;Social dokumentation;elind;10.0.0.5;WS-12\n\
2027-04-12;09:00:00;198005159127;Anna Svensson;Hemtjänst Norr;Skapa;Ekonomi;elind;;\n\
2027-04-12;09:10:00;198005159127;Anna Svensson;Hemtjänst Norr;Skriva ut;Ekonomi;elind;;\n\
2027-04-12;09:20:00;198005159127;Anna Svensson;Hemtjänst Norr;Sök;Ekonomi;elind;;\n\
2027-13-12;09:20:00;198005159127;Anna Svensson;Hemtjänst Norr;Sök;Ekonomi;elind;;\n\
2027-04-12;09:20:00;19800515912;Anna Svensson;Hemtjänst Norr;Sök;Ekonomi;elind;;\n";

#[tokio::test]
async fn poll_follows_the_ticket_to_the_delivered_file() {
    let server = MockServer::start().await;
    for (status, body) in [
        ("TS-P", json!({"status": "behandlas"})),
        ("TS-M", json!({"status": "mottagen"})),
        (
            "TS-A",
            json!({"status": "avslagen", "orsak": "beställaren saknar behörighet"}),
        ),
        ("TS-L", json!({"status": "levererad"})),
        ("TS-X", json!({"status": "borttappad"})),
    ] {
        Mock::given(method("GET"))
            .and(path(format!("/e-tjanst/loggutdrag/{status}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/e-tjanst/loggutdrag/TS-L/fil"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(EXTRACT, "text/csv"))
        .mount(&server)
        .await;
    let c = connector(&server.uri());
    let req = users_order();
    assert_pending(&c, &req, &["TS-P", "TS-M"]).await;
    match c.poll(&req, &receipt("TS-A")).await.unwrap() {
        PollOutcome::NeverComing { reason } => assert!(reason.contains("behörighet"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        c.poll(&req, &receipt("TS-X")).await.unwrap_err().kind,
        ErrorKind::Malformed
    );
    let err = c.poll(&req, &receipt("TS-404")).await.unwrap_err();
    assert_error(&err, ErrorKind::Permanent, "TS-404");
    assert_eq!(
        c.poll(&req, &OrderReceipt::default())
            .await
            .unwrap_err()
            .kind,
        ErrorKind::Permanent
    );

    let PollOutcome::Delivered(extract) = c.poll(&req, &receipt("TS-L")).await.unwrap() else {
        panic!("not delivered");
    };
    assert_eq!(extract.content_type.as_deref(), Some("text/csv"));
    let out = c.import(&mut extract.bytes.as_slice(), &LIMITS).unwrap();
    assert_eq!(out.events.len(), 5, "{:?}", out.rejected);
    let first = &out.events[0];
    assert_eq!(first.time, at("2027-04-12T08:15:00"));
    assert_eq!(first.user_id, "elind");
    assert_eq!(first.patient_name.as_deref(), Some("Tolvan Tolvansson"));
    assert_eq!(first.care_unit.as_deref(), Some("Hemtjänst Norr"));
    assert_eq!(first.system_part.as_deref(), Some("Social dokumentation"));
    assert!(first.raw.as_deref().unwrap().ends_with(";10.0.0.5;WS-12"));
    assert_eq!(
        out.events[1].care_unit.as_deref(),
        Some(loggvakt_treserva::NO_UNIT),
        "shown as such, not as a unit name"
    );
    assert_eq!(out.events[1].time, at("2027-04-12T08:20:00"));
    let actions: Vec<Action> = out.events.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        [
            Action::Read,
            Action::Write,
            Action::Create,
            Action::Print,
            Action::Other
        ]
    );
    assert_eq!(
        rejected_fields(&out),
        [(7, Some("Datum")), (8, Some("Personnummer"))]
    );
    assert!(!format!("{:?}", out.rejected).contains("1980"));
}

#[test]
fn an_imported_file_needs_treservas_columns() {
    let c = connector("http://127.0.0.1:1");
    let file = "Datum;Tid;Personnummer;Namn;Enhet;Systemdel;Användare\n";
    let err = c.import(&mut file.as_bytes(), &LIMITS).unwrap_err();
    assert_error(&err, ErrorKind::Malformed, "H-Typ");
    let err = c.import(&mut &b""[..], &LIMITS).unwrap_err();
    assert!(err.message.contains("empty"), "{err}");
    let err = c
        .import(&mut EXTRACT.as_bytes(), &ImportLimits { max_bytes: 100 })
        .unwrap_err();
    assert!(err.message.contains("100 bytes"), "{err}");
}

#[test]
fn bad_settings_name_the_setting() {
    let cases = [
        ("portal_url", json!("portal.example")),
        ("portal_url", json!("ftp://portal.example")),
        ("requester_email", json!("vc")),
        ("delivery", json!("brevduva")),
        ("timeout_secs", json!(-1)),
        ("portalurl", json!("x")),
    ];
    assert_bad_settings_named(&settings("http://portal.example"), &cases, |s| {
        TreservaConnector::from_settings("treserva", s)
    });
    let err = TreservaConnector::from_settings("treserva", &json!({})).unwrap_err();
    assert!(err.message.contains("portal_url"), "{err}");
}

/// The form Britt Beställare's order (with `username`) fills in on `c`.
fn britts_form(c: &TreservaConnector, username: Option<&str>) -> HashMap<&'static str, String> {
    c.form(&ordered_by(users_order(), username))
        .unwrap()
        .into_iter()
        .collect()
}

/// User support checks that the orderer's username belongs to a verksamhetschef: the form
/// carries the unit's orderer, not one requester for all units.
#[test]
fn the_form_carries_the_units_orderer_and_their_username() {
    let c = connector("http://127.0.0.1:9");
    let form = britts_form(&c, Some("bbest"));
    assert_eq!(form["bestallare"], "britt@kommun.example");
    assert_eq!(form["bestallare_anvandarnamn"], "bbest");
    let form = britts_form(&c, None);
    assert!(!form.contains_key("bestallare_anvandarnamn"));

    // Shared: the settings' requester for every order, explicitly.
    let mut s = settings("http://127.0.0.1:9");
    s["orderer"] = json!("shared");
    s["requester_username"] = json!("vc1");
    let shared = TreservaConnector::from_settings("treserva", &s).unwrap();
    let form = britts_form(&shared, Some("bbest"));
    assert_eq!(form["bestallare"], "vc@kommun.example");
    assert_eq!(form["bestallare_anvandarnamn"], "vc1");

    // Neither an orderer nor a shared requester: nobody to place the order.
    let mut s = settings("http://127.0.0.1:9");
    s.as_object_mut().unwrap().remove("requester_email");
    let none = TreservaConnector::from_settings("treserva", &s).unwrap();
    assert!(none.form(&ordered_by(users_order(), None)).is_ok());
    let err = none.form(&users_order()).unwrap_err();
    assert!(err.message.contains("requester_email"), "{err}");
    s["orderer"] = json!("shared");
    let err = TreservaConnector::from_settings("treserva", &s).unwrap_err();
    assert!(err.message.contains("requester_email"), "{err}");
}
