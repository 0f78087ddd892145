//! The Lifecare connector against a wiremock Lifecare API.

#[path = "../../test_support/http_peer.rs"]
mod http_peer;

use std::time::Duration;

use base64::Engine;
use http_peer::{
    LIMITS, answering, april, assert_bad_settings_named, assert_error, assert_pending,
    assert_same_order, impatient, ordered_by, receipt, user,
};
use loggvakt_connector::{
    Action, Connector, ErrorKind, FromSettings, OrderRequest, Personnummer, PollOutcome,
    ReviewOutcome, Subject, WriteBack,
};
use loggvakt_lifecare::LifecareConnector;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

fn settings(url: &str) -> Value {
    json!({"base_url": url, "token": "hemligt", "sender": "anna.berg", "timeout_secs": 2})
}

fn connector(url: &str) -> LifecareConnector {
    LifecareConnector::from_settings("lifecare", &settings(url)).unwrap()
}

/// A `verb` request to `api_path` that carries the token.
fn authorized(verb: &str, api_path: &str) -> MockBuilder {
    Mock::given(method(verb))
        .and(path(api_path))
        .and(header("authorization", "Bearer hemligt"))
}

fn users() -> Subject {
    let day = ("2027-04-12T00:00:00", "2027-04-13T00:00:00");
    Subject::Users(vec![
        user("elind", Some("Eva Lind"), Some(day)),
        user("pers", None, None),
    ])
}

fn order() -> OrderRequest {
    OrderRequest {
        idempotency_key: "key-9".into(),
        reference: "LV-2027-05-04-7".into(),
        subject: users(),
        period: april(),
        orderer: None,
    }
}

#[tokio::test]
async fn an_order_is_a_message_to_the_administrators() {
    let server = MockServer::start().await;
    authorized("POST", "/api/meddelanden")
        .and(body_partial_json(json!({
            "till": "systemforvaltare",
            "fran": "anna.berg",
            "amne": "Loggutdrag LV-2027-05-04-7",
            "referens": "LV-2027-05-04-7",
            "idempotensnyckel": "key-9",
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "M-1042"})))
        .expect(1)
        .mount(&server)
        .await;
    let c = connector(&server.uri());
    let receipt = c.order(&order()).await.unwrap();
    assert_eq!(receipt.external_ref.as_deref(), Some("M-1042"));

    let sent: Value = server.received_requests().await.unwrap()[0]
        .body_json()
        .unwrap();
    let text = sent["text"].as_str().unwrap();
    for line in [
        "Eva Lind (elind): 2027-04-12 00:00 – 2027-04-13 00:00",
        "pers: 2027-04-01 00:00 – 2027-05-01 00:00",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
    }
    let m = c.manifest();
    let caps = m.capabilities;
    assert!(caps.order && caps.poll && caps.import && caps.write_back && !caps.fetch);
}

#[tokio::test]
async fn a_repeated_order_gets_the_same_message_id() {
    let server = http_peer::accepting_once(json!({"id": "M-1"})).await;
    let c = connector(&server.uri());
    let a = c.order(&order()).await.unwrap();
    assert_same_order(&a, c.order(&order()).await.unwrap());
}

#[tokio::test]
async fn an_order_by_patient_is_refused_without_naming_them() {
    let mut req = order();
    req.subject = Subject::Patient(Personnummer::parse("191212121212").unwrap());
    let err = connector("http://127.0.0.1:1")
        .order(&req)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent);
    assert!(!err.message.contains("1912"), "{err}");
}

const EXTRACT: &str = "Tidpunkt;Användare;Namn;Personnummer;Brukare;Enhet;Aktivitet\n\
2027-04-12 08:15:00;elind;Eva Lind;191212121212;Tolvan Tolvansson;Hemtjänst Norr;Läst journal\n\
2027-04-12 08:30:00;elind;Eva Lind;198005159127;Anna Svensson;Hemtjänst Norr;Dokumenterat\n\
2027-04-12 08:45:00;elind;Eva Lind;198005159127;Anna Svensson;Hemtjänst Norr;Utskrift\n\
2027-04-12 8.45;elind;Eva Lind;198005159127;Anna Svensson;Hemtjänst Norr;Utskrift\n";

#[tokio::test]
async fn poll_waits_for_the_reply_with_the_extract() {
    let server = MockServer::start().await;
    let encoded = base64::engine::general_purpose::STANDARD.encode(EXTRACT);
    let replies = [
        ("M-0", json!([])),
        (
            "M-1",
            json!([{"id": "M-2", "fran": "systemforvaltare", "amne": "Sv: Loggutdrag", "text": "Vi återkommer."}]),
        ),
        (
            "M-3",
            json!([
                {"id": "M-4", "fran": "systemforvaltare", "amne": "Sv", "text": "Vi återkommer.", "bilaga": null},
                {"id": "M-5", "fran": "systemforvaltare", "amne": "Sv", "text": "Här kommer utdraget.",
                 "bilaga": {"filnamn": "loggutdrag.csv", "innehall_base64": encoded}},
            ]),
        ),
        (
            "M-6",
            json!([{"id": "M-7", "fran": "s", "amne": "Sv", "text": "",
             "bilaga": {"filnamn": "x.csv", "innehall_base64": "!!!"}}]),
        ),
        ("M-8", json!({"fel": "oväntat"})),
    ];
    for (id, body) in replies {
        authorized("GET", "/api/meddelanden")
            .and(query_param("svar_pa", id))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&server)
            .await;
    }
    let c = connector(&server.uri());
    let req = order();
    assert_pending(&c, &req, &["M-0", "M-1"]).await;
    assert_eq!(
        c.poll(&req, &receipt("M-6")).await.unwrap_err().kind,
        ErrorKind::Malformed
    );
    assert_eq!(
        c.poll(&req, &receipt("M-8")).await.unwrap_err().kind,
        ErrorKind::Malformed
    );
    let PollOutcome::Delivered(extract) = c.poll(&req, &receipt("M-3")).await.unwrap() else {
        panic!("not delivered");
    };
    assert_eq!(extract.file_name.as_deref(), Some("loggutdrag.csv"));
    let out = c.import(&mut extract.bytes.as_slice(), &LIMITS).unwrap();
    assert_eq!(out.events.len(), 3);
    let e = &out.events[0];
    assert_eq!(e.system, "lifecare");
    assert_eq!(e.user_id, "elind");
    assert_eq!(e.user_name.as_deref(), Some("Eva Lind"));
    assert_eq!(e.patient_name.as_deref(), Some("Tolvan Tolvansson"));
    assert_eq!(e.care_unit.as_deref(), Some("Hemtjänst Norr"));
    let actions: Vec<Action> = out.events.iter().map(|e| e.action).collect();
    assert_eq!(actions, [Action::Read, Action::Write, Action::Other]);
    assert_eq!(out.rejected.len(), 1);
    assert_eq!(out.rejected[0].line, 5);
    assert_eq!(out.rejected[0].field.as_deref(), Some("Tidpunkt"));
}

#[tokio::test]
async fn write_back_posts_the_outcome_as_a_note() {
    let server = MockServer::start().await;
    authorized("POST", "/api/anteckningar")
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "A-1"})))
        .expect(2)
        .mount(&server)
        .await;
    let c = connector(&server.uri());
    let mut wb = WriteBack {
        idempotency_key: "lv-wb-7-abc".into(),
        reference: "LV-2027-05-04-7".into(),
        subject: users(),
        period: april(),
        outcome: ReviewOutcome::UtanAnmarkning,
        comment: Some("Samtal med Tolvan Tolvansson".into()),
    };
    c.write_back(&wb).await.unwrap();
    wb.outcome = ReviewOutcome::MedAnmarkning;
    c.write_back(&wb).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    let bodies: Vec<Value> = requests.iter().map(|r| r.body_json().unwrap()).collect();
    assert_eq!(
        bodies[0],
        json!({
            "referens": "LV-2027-05-04-7",
            "text": "Loggkontroll 2027-04-01 00:00 – 2027-05-01 00:00: utan anmärkning",
            "anvandare": ["elind", "pers"],
            "idempotensnyckel": "lv-wb-7-abc",
        })
    );
    assert_eq!(
        bodies[1]["text"],
        "Loggkontroll 2027-04-01 00:00 – 2027-05-01 00:00: med anmärkning"
    );
}

#[tokio::test]
async fn failures_say_whether_a_retry_helps() {
    let cases = [
        (ResponseTemplate::new(403), ErrorKind::Permanent),
        (
            ResponseTemplate::new(422)
                .set_body_json(json!({"fel": "okänd mottagare", "falt": "till"})),
            ErrorKind::Permanent,
        ),
        (ResponseTemplate::new(401), ErrorKind::Permanent),
        (
            ResponseTemplate::new(429).insert_header("Retry-After", "5"),
            ErrorKind::Retryable,
        ),
        (ResponseTemplate::new(500), ErrorKind::Retryable),
        (
            ResponseTemplate::new(201).set_body_string("ok"),
            ErrorKind::Malformed,
        ),
        (
            ResponseTemplate::new(201).set_body_json(json!({"id": null})),
            ErrorKind::Malformed,
        ),
        (
            ResponseTemplate::new(201)
                .set_body_json(json!({"id": "M-1"}))
                .set_delay(Duration::from_secs(3)),
            ErrorKind::Retryable,
        ),
    ];
    for (response, kind) in cases {
        let server = answering("POST", response).await;
        let s = impatient(settings(&server.uri()));
        let c = LifecareConnector::from_settings("lifecare", &s).unwrap();
        let err = c.order(&order()).await.unwrap_err();
        assert_eq!(err.kind, kind, "{err}");
        let wb = WriteBack {
            idempotency_key: String::new(),
            reference: "r".into(),
            subject: users(),
            period: april(),
            outcome: ReviewOutcome::UtanAnmarkning,
            comment: None,
        };
        // A note's answer body is not read, so only the status decides.
        if let Err(e) = c.write_back(&wb).await {
            assert_ne!(e.kind, ErrorKind::Malformed);
        }
    }
}

#[test]
fn an_imported_file_needs_lifecares_columns() {
    let c = connector("http://127.0.0.1:1");
    let file = "Tidpunkt;Användare;Namn;Personnummer;Enhet;Aktivitet\n";
    let err = c.import(&mut file.as_bytes(), &LIMITS).unwrap_err();
    assert_error(&err, ErrorKind::Malformed, "Brukare");
}

#[test]
fn bad_settings_name_the_setting() {
    let cases = [
        ("base_url", json!("lifecare")),
        ("token", json!(" ")),
        ("sender", json!("")),
        ("admin_mailbox", json!("")),
        ("timeout_secs", json!("lång")),
        ("mailbox", json!("x")),
    ];
    assert_bad_settings_named(&settings("http://lifecare.example"), &cases, |s| {
        LifecareConnector::from_settings("lifecare", s)
    });
    let c = connector("http://lifecare.example");
    assert!(!format!("{c:?}").contains("hemligt"));
}

/// The administrator answers the enhetschef who asked: a message is sent by the unit's
/// orderer and signed by them for their unit; `sender` is the shared fallback.
#[test]
fn a_message_is_sent_in_the_orderers_name() {
    let c = connector("http://127.0.0.1:9");
    let req = ordered_by(order(), Some("britt.bestallare"));
    assert_eq!(c.sender_of(&req).unwrap(), "britt.bestallare");
    let text = c.message_text(&req).unwrap();
    assert!(
        text.ends_with("Med vänliga hälsningar\nBritt Beställare\nSärskilt boende Björken\n"),
        "{text}"
    );
    // Without a Lifecare username of their own, the shared user sends it in their name.
    assert_eq!(
        c.sender_of(&ordered_by(order(), None)).unwrap(),
        "anna.berg"
    );

    let mut s = settings("http://127.0.0.1:9");
    s["orderer"] = json!("shared");
    let shared = LifecareConnector::from_settings("lifecare", &s).unwrap();
    assert_eq!(shared.sender_of(&req).unwrap(), "anna.berg");

    s.as_object_mut().unwrap().remove("sender");
    assert!(LifecareConnector::from_settings("lifecare", &s).is_err());
    s["orderer"] = json!("unit");
    let none = LifecareConnector::from_settings("lifecare", &s).unwrap();
    assert_eq!(none.sender_of(&req).unwrap(), "britt.bestallare");
    let err = none.sender_of(&order()).unwrap_err();
    assert!(err.message.contains("sender"), "{err}");
}
