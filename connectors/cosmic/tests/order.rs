//! Cosmic orders against a minimal SMTP listener on loopback.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use loggvakt_connector::{
    Connector, ErrorKind, FromSettings, OrderRequest, Period, Personnummer, Subject, UserRef,
};
use loggvakt_cosmic::CosmicConnector;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Speaks just enough SMTP to take mails; `mail_from_reply` answers MAIL FROM, so a test can
/// make the server refuse.
struct Smtp {
    addr: SocketAddr,
    mails: Arc<Mutex<Vec<String>>>,
}

async fn smtp(mail_from_reply: &'static str) -> Smtp {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mails = Arc::new(Mutex::new(Vec::new()));
    let store = mails.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read);
            write.write_all(b"220 test.local ESMTP\r\n").await.unwrap();
            let mut line = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                    break;
                }
                let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                let reply = match verb.as_str() {
                    "EHLO" | "HELO" => "250 test.local\r\n".to_owned(),
                    "MAIL" => format!("{mail_from_reply}\r\n"),
                    "DATA" => {
                        write.write_all(b"354 go ahead\r\n").await.unwrap();
                        let mut data = String::new();
                        loop {
                            line.clear();
                            lines.read_line(&mut line).await.unwrap();
                            if line == ".\r\n" {
                                break;
                            }
                            data.push_str(line.strip_prefix('.').unwrap_or(&line));
                        }
                        store.lock().unwrap().push(data);
                        "250 2.0.0 queued as 42\r\n".to_owned()
                    }
                    "QUIT" => {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        break;
                    }
                    _ => "250 OK\r\n".to_owned(),
                };
                if write.write_all(reply.as_bytes()).await.is_err() {
                    break;
                }
            }
        }
    });
    Smtp { addr, mails }
}

fn settings(port: u16) -> Value {
    json!({
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "from": "Anna Berg <anna.berg@kommun.example>",
        "order_to": "journalenheten@region.example",
        "recipient_name": "Anna Berg",
        "recipient_phone": "070-123 45 67",
        "recipient_email": "anna.berg@kommun.example",
        "timeout_secs": 5,
    })
}

fn connector(settings: &Value) -> CosmicConnector {
    CosmicConnector::from_settings("cosmic", settings).unwrap()
}

fn at(s: &str) -> chrono::NaiveDateTime {
    s.parse().unwrap()
}

fn day(d: &str) -> Period {
    Period {
        from: at(&format!("{d}T00:00:00")),
        to: at(&format!("{d}T00:00:00")) + chrono::Duration::days(1),
    }
}

fn order(users: &[(&str, &str)]) -> OrderRequest {
    OrderRequest {
        idempotency_key: "lv-2027-05-03-hemtjanst-norr-1".into(),
        reference: "LV-2027-05-03-1".into(),
        subject: Subject::Users(
            users
                .iter()
                .map(|(u, d)| UserRef {
                    username: (*u).into(),
                    name: Some("Eva Lind".into()),
                    period: Some(day(d)),
                })
                .collect(),
        ),
        period: Period {
            from: at("2027-04-01T00:00:00"),
            to: at("2027-05-01T00:00:00"),
        },
        orderer: None,
    }
}

/// The mail as the journal unit reads it: unfolded headers, decoded subject and body.
struct Mail {
    headers: Vec<(String, String)>,
    body: String,
}

impl Mail {
    fn parse(data: &str) -> Mail {
        let (head, body) = data.split_once("\r\n\r\n").unwrap();
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                headers.last_mut().unwrap().1.push_str(line);
            } else {
                let (name, value) = line.split_once(':').unwrap();
                headers.push((name.to_owned(), value.trim().to_owned()));
            }
        }
        let body = quoted_printable::decode(body, quoted_printable::ParseMode::Robust).unwrap();
        Mail {
            headers,
            body: String::from_utf8(body).unwrap(),
        }
    }

    fn header(&self, name: &str) -> Option<String> {
        let value = &self
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))?
            .1;
        Some(decode_words(value))
    }
}

/// RFC 2047 encoded words, as lettre writes a non-ASCII subject.
fn decode_words(value: &str) -> String {
    value
        .split_whitespace()
        .map(|word| {
            match word
                .strip_prefix("=?utf-8?b?")
                .or_else(|| word.strip_prefix("=?UTF-8?B?"))
                .and_then(|w| w.strip_suffix("?="))
            {
                Some(b64) => (
                    true,
                    String::from_utf8(
                        base64::engine::general_purpose::STANDARD
                            .decode(b64)
                            .unwrap(),
                    )
                    .unwrap(),
                ),
                None => (false, word.to_owned()),
            }
        })
        .fold(
            (String::new(), false),
            |(mut acc, prev_encoded), (enc, text)| {
                // Whitespace between two encoded words is folding, not text.
                if !(acc.is_empty() || (enc && prev_encoded)) {
                    acc.push(' ');
                }
                acc.push_str(&text);
                (acc, enc)
            },
        )
        .0
}

#[tokio::test]
async fn one_order_is_one_mail_with_every_user_and_their_own_period() {
    let server = smtp("250 OK").await;
    let c = connector(&settings(server.addr.port()));
    let manifest = c.manifest();
    assert_eq!(manifest.max_users_per_order, Some(3));
    assert!(manifest.capabilities.order && manifest.capabilities.import);
    assert!(!manifest.capabilities.poll && !manifest.capabilities.fetch);

    let req = order(&[
        ("C821234", "2027-04-12"),
        ("C821235", "2027-04-03"),
        ("C821236", "2027-04-27"),
    ]);
    let receipt = c.order(&req).await.unwrap();
    assert_eq!(
        receipt.external_ref.as_deref(),
        Some("<lv-2027-05-03-hemtjanst-norr-1@loggvakt>")
    );
    let mails = server.mails.lock().unwrap().clone();
    assert_eq!(mails.len(), 1);
    let mail = Mail::parse(&mails[0]);
    for (name, value) in [
        ("Subject", "Beställning av loggutdrag LV-2027-05-03-1"),
        ("Message-ID", "<lv-2027-05-03-hemtjanst-norr-1@loggvakt>"),
        ("X-Loggvakt-Order", "lv-2027-05-03-hemtjanst-norr-1"),
        ("To", "journalenheten@region.example"),
    ] {
        assert_eq!(mail.header(name).as_deref(), Some(value), "{name}");
    }
    assert!(
        mail.header("From")
            .unwrap()
            .contains("anna.berg@kommun.example")
    );
    let body = &mail.body;
    for line in [
        "C821234: 2027-04-12 00:00 – 2027-04-13 00:00",
        "C821235: 2027-04-03 00:00 – 2027-04-04 00:00",
        "C821236: 2027-04-27 00:00 – 2027-04-28 00:00",
    ] {
        assert!(body.lines().any(|l| l == line), "{line} missing in\n{body}");
    }
    for part in [
        "LV-2027-05-03-1",
        "Anna Berg",
        "070-123 45 67",
        "E-post: anna.berg@kommun.example",
        "Cryptshare",
    ] {
        assert!(body.contains(part), "{part} missing in\n{body}");
    }
    assert!(!body.contains("Postadress"), "{body}");
    assert!(!body.contains("\n\n\n"), "stray blank lines in\n{body}");
}

#[tokio::test]
async fn more_users_than_the_limit_are_refused_without_a_mail() {
    let server = smtp("250 OK").await;
    let c = connector(&settings(server.addr.port()));
    let req = order(&[
        ("C1", "2027-04-01"),
        ("C2", "2027-04-02"),
        ("C3", "2027-04-03"),
        ("C4", "2027-04-04"),
    ]);
    let err = c.order(&req).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent);
    assert!(err.message.contains("at most 3"), "{err}");
    assert!(server.mails.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_limit_and_a_postal_address_come_from_the_settings() {
    let server = smtp("250 OK").await;
    let mut s = settings(server.addr.port());
    s["max_users_per_order"] = json!(4);
    s.as_object_mut().unwrap().remove("recipient_email");
    s["recipient_address"] = json!("Hemtjänst Norr, Box 12, 123 45 Exempelby");
    let c = connector(&s);
    assert_eq!(c.manifest().max_users_per_order, Some(4));
    let req = order(&[
        ("C1", "2027-04-01"),
        ("C2", "2027-04-02"),
        ("C3", "2027-04-03"),
        ("C4", "2027-04-04"),
    ]);
    c.order(&req).await.unwrap();
    let body = Mail::parse(&server.mails.lock().unwrap()[0]).body;
    let address = "Postadress: Hemtjänst Norr, Box 12, 123 45 Exempelby";
    assert!(body.contains(address), "{address} missing in\n{body}");
    assert!(!body.contains("E-post:"), "{body}");
}

#[tokio::test]
async fn smtp_4xx_is_retryable_and_5xx_permanent() {
    for (reply, kind) in [
        ("451 4.3.0 try again later", ErrorKind::Retryable),
        ("550 5.7.1 relaying denied", ErrorKind::Permanent),
    ] {
        let server = smtp(reply).await;
        let c = connector(&settings(server.addr.port()));
        let err = c.order(&order(&[("C1", "2027-04-01")])).await.unwrap_err();
        assert_eq!(err.kind, kind, "{reply}: {err}");
        assert!(server.mails.lock().unwrap().is_empty());
    }
}

#[tokio::test]
async fn an_unreachable_server_is_retryable() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = connector(&settings(port));
    let err = c.order(&order(&[("C1", "2027-04-01")])).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Retryable, "{err}");
    assert_eq!(c.health().await.unwrap_err().kind, ErrorKind::Retryable);
}

#[tokio::test]
async fn health_reaches_the_server_without_sending() {
    let server = smtp("250 OK").await;
    connector(&settings(server.addr.port()))
        .health()
        .await
        .unwrap();
    assert!(server.mails.lock().unwrap().is_empty());
}

#[tokio::test]
async fn orders_by_patient_and_empty_orders_are_refused() {
    let c = connector(&settings(25));
    let mut req = order(&[]);
    assert_eq!(c.order(&req).await.unwrap_err().kind, ErrorKind::Permanent);
    req.subject = Subject::Patient(Personnummer::parse("191212121212").unwrap());
    let err = c.order(&req).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent);
    assert!(!err.message.contains("1912"), "{err}");
    let mut req = order(&[("C1", "2027-04-01")]);
    req.idempotency_key = "a b>".into();
    assert_eq!(c.order(&req).await.unwrap_err().kind, ErrorKind::Permanent);
}

#[test]
fn bad_settings_are_config_errors_naming_the_setting() {
    // `None` removes the setting.
    let cases = [
        ("order_to", None),
        ("order_to", Some(json!("not an address"))),
        ("from", Some(json!(""))),
        ("smtp_port", Some(json!("twenty-five"))),
        ("smtp_tls", Some(json!("ssl"))),
        ("max_users_per_order", Some(json!(0))),
        ("recipient_phone", Some(json!(" "))),
        ("recipient_email", None),
        ("timeout_secs", Some(json!(0))),
        ("smtp_pasword", Some(json!("x"))),
    ];
    for (setting, value) in cases {
        let mut s = settings(25);
        match value {
            Some(v) => s[setting] = v,
            None => drop(s.as_object_mut().unwrap().remove(setting)),
        }
        let err = CosmicConnector::from_settings("cosmic", &s).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Config, "{setting}: {err}");
        assert!(err.message.contains(setting), "{setting}: {err}");
    }
    let err = CosmicConnector::from_settings("cosmic", &Value::Null).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Config);
    let mut s = settings(25);
    s["smtp_tls"] = json!("starttls");
    CosmicConnector::from_settings("cosmic", &s).unwrap();
}

fn ordered_by_unit() -> OrderRequest {
    OrderRequest {
        orderer: Some(loggvakt_connector::Orderer {
            name: "Britt Beställare".into(),
            email: "britt.bestallare@kommun.example".into(),
            username: None,
            phone: Some("070-555 12 34".into()),
            unit: "Särskilt boende Björken".into(),
        }),
        ..order(&[("C821234", "2027-04-12")])
    }
}

fn rendered(c: &CosmicConnector, req: &OrderRequest) -> Mail {
    let message = c.render(req).unwrap();
    Mail::parse(&String::from_utf8(message.formatted()).unwrap())
}

/// The journal unit checks who orders and answers them: the mail is the unit's orderer's,
/// names the unit, and is signed by them; loggvakt's mailbox is only its `Sender`.
#[test]
fn an_order_is_from_its_units_orderer_and_names_the_unit() {
    let c = connector(&settings(25));
    let mail = rendered(&c, &ordered_by_unit());
    for name in ["From", "Reply-To"] {
        let value = mail.header(name).unwrap();
        assert!(
            value.contains("britt.bestallare@kommun.example") && value.contains("Britt"),
            "{name}: {value}"
        );
    }
    assert!(
        mail.header("Sender")
            .unwrap()
            .contains("anna.berg@kommun.example")
    );
    let body = &mail.body;
    for line in [
        "Verksamhet: Särskilt boende Björken",
        "Beställare: Britt Beställare, britt.bestallare@kommun.example, telefon 070-555 12 34",
    ] {
        assert!(body.lines().any(|l| l == line), "{line} missing in\n{body}");
    }
    let signature: Vec<&str> = body
        .lines()
        .skip_while(|l| *l != "Med vänliga hälsningar")
        .take(3)
        .collect();
    assert_eq!(
        signature,
        [
            "Med vänliga hälsningar",
            "Britt Beställare",
            "Särskilt boende Björken"
        ]
    );
}

/// `orderer = "shared"` keeps a functional mailbox as the author of every order.
#[test]
fn a_shared_mailbox_is_an_explicit_setting() {
    let mut s = settings(25);
    s["orderer"] = json!("shared");
    let mail = rendered(&connector(&s), &ordered_by_unit());
    for name in ["From", "Reply-To"] {
        assert!(
            mail.header(name)
                .unwrap()
                .contains("anna.berg@kommun.example"),
            "{name}"
        );
    }
    assert_eq!(mail.header("Sender"), None);
    assert!(mail.body.contains("Verksamhet: Särskilt boende Björken"));
    s["orderer"] = json!("somebody");
    let err = CosmicConnector::from_settings("cosmic", &s).unwrap_err();
    assert!(err.message.contains("`orderer`"), "{err}");
}
