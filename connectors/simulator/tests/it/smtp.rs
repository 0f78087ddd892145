use std::time::Duration;

use lettre::message::Body;
use lettre::message::header::{
    ContentTransferEncoding, ContentType, Header, HeaderName, HeaderValue,
};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use loggvakt_simulator::{SimConfig, Simulator};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::common::{Csv, config, dt, ground_truth, set_faults, start, start_with};

#[derive(Clone)]
struct OrderKey(String);

impl Header for OrderKey {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Loggvakt-Order")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(OrderKey(s.to_owned()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

type Mailer = AsyncSmtpTransport<Tokio1Executor>;

/// A simulator of [`config`] as `change` leaves it, and a mail client to its SMTP port.
async fn start_mailing(change: impl FnOnce(&mut SimConfig)) -> (Simulator, Mailer) {
    let sim = start_with(change).await;
    let smtp = Mailer::builder_dangerous("127.0.0.1")
        .port(sim.smtp_addr().port())
        .timeout(Some(Duration::from_secs(5)))
        .build();
    (sim, smtp)
}

fn order_body(lines: &[&str]) -> String {
    format!(
        "Hej!\n\nVi beställer loggutdrag ur Cosmic för följande användare och perioder:\n\n{}\n\n\
         Mottagare: Eva Chef, telefon 070-123 45 67 (för filens lösenord),\n\
         e-post eva.chef@kommun.example. Skicka rapporten krypterad (Cryptshare).\n",
        lines.join("\n")
    )
}

fn order_mail(key: &str, reference: &str, body: Body) -> Message {
    Message::builder()
        .from("Eva Chef <eva.chef@kommun.example>".parse().unwrap())
        .to("journalenheten@region.example".parse().unwrap())
        .subject(format!("Beställning av loggutdrag {reference}"))
        .message_id(Some(format!("<{key}@loggvakt>")))
        .header(OrderKey(key.to_owned()))
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .unwrap()
}

/// The Cosmic extract's rows as (time, user, personnummer, event text), checked against
/// the ground truth of each (user, from, to).
fn assert_extract_matches(sim: &Simulator, csv: &[u8], orders: &[(&str, &str, &str)]) {
    assert!(
        csv.starts_with("\u{feff}".as_bytes()),
        "Cosmic's export has a BOM"
    );
    let csv = Csv::parse(csv);
    let (t, u, p, h, n) = (
        csv.col("Tidpunkt"),
        csv.col("Användarnamn"),
        csv.col("Personnummer"),
        csv.col("Händelse"),
        csv.col("Patientnamn"),
    );
    let truth: Vec<_> = ground_truth(sim, "cosmic", orders)
        .into_iter()
        .map(|e| {
            (
                e.time.format("%Y-%m-%d %H:%M:%S").to_string(),
                e.user_id,
                e.patient_id.digits().to_owned(),
                e.event_text,
                e.patient_name.unwrap(),
            )
        })
        .collect();
    let got: Vec<_> = csv
        .rows
        .iter()
        .map(|r| {
            (
                r[t].clone(),
                r[u].clone(),
                r[p].clone(),
                r[h].clone(),
                r[n].clone(),
            )
        })
        .collect();
    assert!(!truth.is_empty());
    assert_eq!(got, truth);
}

#[tokio::test]
async fn an_order_mail_is_received_decoded_and_answered_with_the_ordered_extract() {
    let (sim, smtp) = start_mailing(|_| {}).await;
    let body = order_body(&[
        "- C821234: 2027-04-12 00:00 – 2027-04-13 00:00",
        "- C900001: 2027-04-13 00:00 – 2027-04-14 00:00",
    ]);
    // lettre picks quoted-printable or base64 for UTF-8 text by itself; force each once.
    let encode = |encoding| Body::new_with_encoding(body.clone(), encoding).unwrap();
    for (key, reference, encoded) in [
        (
            "key-qp",
            "LV-2027-04-1",
            encode(ContentTransferEncoding::QuotedPrintable),
        ),
        (
            "key-b64",
            "LV-2027-04-2",
            encode(ContentTransferEncoding::Base64),
        ),
        ("key-auto", "LV-2027-04-3", Body::new(body.clone())),
    ] {
        smtp.send(order_mail(key, reference, encoded))
            .await
            .unwrap();
    }

    let mails = sim.mails();
    assert_eq!(mails.len(), 3);
    for (m, key) in mails.iter().zip(["key-qp", "key-b64", "key-auto"]) {
        assert_eq!(m.from, "eva.chef@kommun.example");
        assert_eq!(m.to, vec!["journalenheten@region.example".to_owned()]);
        assert!(
            m.subject
                .starts_with("Beställning av loggutdrag LV-2027-04-"),
            "{}",
            m.subject
        );
        assert_eq!(m.order_key.as_deref(), Some(key));
        assert_eq!(
            m.message_id.as_deref(),
            Some(format!("<{key}@loggvakt>").as_str())
        );
        assert_eq!(m.body.trim_end(), body.trim_end());
        assert!(
            m.headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("X-Loggvakt-Order"))
        );
    }
    let stats = sim.stats();
    assert_eq!(stats.mails_received, 3);
    assert_eq!(stats.cosmic.orders_accepted, 3);
    assert_eq!(stats.cosmic.duplicates, 0);

    let orders = [
        ("C821234", "2027-04-12 00:00", "2027-04-13 00:00"),
        ("C900001", "2027-04-13 00:00", "2027-04-14 00:00"),
    ];
    // By key, by reference, by Message-ID: the same order, the same file.
    let by_key = sim.cosmic_extract("key-qp").unwrap();
    assert_extract_matches(&sim, &by_key, &orders);
    assert_eq!(sim.cosmic_extract("LV-2027-04-1").unwrap(), by_key);
    assert_eq!(sim.cosmic_extract("key-qp@loggvakt").unwrap(), by_key);
    assert_extract_matches(&sim, &sim.cosmic_extract("key-b64").unwrap(), &orders);
    assert!(sim.cosmic_extract("no-such-order").is_none());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_resent_order_is_a_duplicate_and_the_per_unit_limit_is_enforced() {
    let (sim, smtp) = start_mailing(|_| {}).await;
    let one = order_body(&["C821234: 2027-04-12 00:00 – 2027-04-13 00:00"]);
    for _ in 0..2 {
        smtp.send(order_mail("k1", "LV-1", Body::new(one.clone())))
            .await
            .unwrap();
    }
    // Four users of Hemtjänst Norr: the journal unit takes at most three.
    let four = order_body(&[
        "C821234: 2027-04-12 00:00 – 2027-04-13 00:00",
        "C821235: 2027-04-12 00:00 – 2027-04-13 00:00",
        "C821236: 2027-04-12 00:00 – 2027-04-13 00:00",
        "C821237: 2027-04-12 00:00 – 2027-04-13 00:00",
    ]);
    smtp.send(order_mail("k2", "LV-2", Body::new(four)))
        .await
        .unwrap();
    // A patient's accesses (a patient's request): every Cosmic user who read the record.
    let patient = sim.patients("Hemtjänst Norr")[0].personnummer.clone();
    let text = format!(
        "Patient: {}\nPeriod: 2027-01-01 00:00 – 2027-04-01 00:00\n",
        patient.digits()
    );
    smtp.send(order_mail("k3", "LV-3", Body::new(text)))
        .await
        .unwrap();

    let stats = sim.stats();
    assert_eq!(stats.cosmic.duplicates, 1);
    assert_eq!(stats.cosmic.orders_accepted, 3);
    assert_eq!(stats.cosmic.rejected, 1);
    assert_eq!(stats.total_duplicates(), 1);
    assert!(sim.cosmic_extract("k1").is_some());
    assert!(
        sim.cosmic_extract("k2").is_none(),
        "over the limit: sent back"
    );

    let csv = Csv::parse(&sim.cosmic_extract("k3").unwrap());
    let truth = sim.events_for_patient(
        "cosmic",
        &patient,
        dt("2027-01-01 00:00"),
        dt("2027-04-01 00:00"),
    );
    assert!(!truth.is_empty());
    assert_eq!(csv.rows.len(), truth.len());
    let p = csv.col("Personnummer");
    assert!(csv.rows.iter().all(|r| r[p] == patient.digits()));
    sim.shutdown().await;
}

#[tokio::test]
async fn injected_451_then_success_and_a_hang_times_the_client_out() {
    let (sim, smtp) = start_mailing(|c| c.faults.cosmic.fail_next = 1).await;
    let body = order_body(&["C821234: 2027-04-12 00:00 – 2027-04-13 00:00"]);
    let err = smtp
        .send(order_mail("k", "LV-1", Body::new(body.clone())))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "451 is transient: {err}");
    smtp.send(order_mail("k", "LV-1", Body::new(body.clone())))
        .await
        .unwrap();
    let stats = sim.stats();
    assert_eq!(stats.cosmic.errors_injected, 1);
    assert_eq!(stats.cosmic.orders_accepted, 1);
    assert_eq!(stats.cosmic.duplicates, 0, "a refused mail is not an order");

    set_faults(&sim, "cosmic", |f| f.hang = true);
    // lettre's own timeout covers only the TCP connect, and the connection is accepted: the
    // client's timeout has to be around the whole send (as the Cosmic connector's must be).
    let hung = tokio::time::timeout(
        Duration::from_millis(200),
        smtp.send(order_mail("k2", "LV-2", Body::new(body))),
    )
    .await;
    assert!(hung.is_err(), "no greeting, no answer");
    assert_eq!(sim.stats().cosmic.hung, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn malformed_rows_and_a_delivery_that_never_comes() {
    let (sim, smtp) = start_mailing(|c| c.faults.cosmic.malformed_rows = 5).await;
    let body = order_body(&["C821234: 2027-04-12 00:00 – 2027-04-19 00:00"]);
    smtp.send(order_mail("k", "LV-1", Body::new(body)))
        .await
        .unwrap();
    let truth = sim.events_for(
        "cosmic",
        "C821234",
        dt("2027-04-12 00:00"),
        dt("2027-04-19 00:00"),
    );
    let csv = Csv::parse(&sim.cosmic_extract("k").unwrap());
    assert_eq!(csv.rows.len(), truth.len() + 5);
    assert_eq!(csv.malformed(&["Tidpunkt"]), 5);

    set_faults(&sim, "cosmic", |f| f.never_deliver = true);
    assert!(sim.cosmic_extract("k").is_none());
    sim.shutdown().await;
}

async fn expect(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>, code: &str) -> String {
    let mut last = String::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        assert!(line.starts_with(code), "expected {code}, got {line:?}");
        // Multi-line replies continue with `250-`.
        if line.as_bytes().get(3) != Some(&b'-') {
            last = line;
            break;
        }
        last.push_str(&line);
    }
    last
}

#[tokio::test]
async fn a_raw_session_sequence_errors_dot_stuffing_and_rset() {
    let sim = start(config()).await;
    let stream = TcpStream::connect(sim.smtp_addr()).await.unwrap();
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    expect(&mut r, "220").await;
    // Each command and the reply it gets: out of sequence 503, in sequence 250.
    for (command, code) in [
        ("MAIL FROM:<a@b>", "503"),
        ("HELO test", "250"),
        ("RCPT TO:<j@region>", "503"),
        ("EHLO test", "250"),
        ("MAIL FROM:<a@b> BODY=8BITMIME", "250"),
        ("DATA", "503"),
    ] {
        w.write_all(format!("{command}\r\n").as_bytes())
            .await
            .unwrap();
        expect(&mut r, code).await;
    }
    w.write_all(b"RSET\r\nNOOP\r\nMAIL FROM:<a@b>\r\nRCPT TO:<j@region>\r\nDATA\r\n")
        .await
        .unwrap();
    for code in ["250", "250", "250", "250", "354"] {
        expect(&mut r, code).await;
    }
    w.write_all(
        b"Subject: =?utf-8?q?Best=C3=A4llning_av_loggutdrag?= LV-9\r\n\
          X-Loggvakt-Order: raw-1\r\n\r\n\
          ..dot first\r\nC821234: 2027-04-12 00:00 - 2027-04-13 00:00\r\n.\r\n",
    )
    .await
    .unwrap();
    expect(&mut r, "250").await;
    w.write_all(b"FOO\r\nQUIT\r\n").await.unwrap();
    expect(&mut r, "500").await;
    expect(&mut r, "221").await;

    let mails = sim.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].subject, "Beställning av loggutdrag LV-9");
    assert_eq!(
        mails[0].body,
        ".dot first\nC821234: 2027-04-12 00:00 - 2027-04-13 00:00\n"
    );
    assert!(sim.cosmic_extract("LV-9").is_some());
    sim.shutdown().await;
}
