use std::time::Duration;

use loggvakt_simulator::{Simulator, SystemFaults};
use serde_json::Value;

use crate::common::{
    CHEF, Csv, call, client, config, dt, ground_truth, set_faults, start, start_with,
};

fn form<'a>(key: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut f = vec![
        ("referens", "LV-2027-04-1"),
        ("bestallare", CHEF),
        ("anvandare", "T10452,T10453"),
        ("fran", "2027-04-12 00:00"),
        ("till", "2027-04-15 00:00"),
        ("leveranssatt", "krypterad_epost"),
        ("idempotensnyckel", key),
    ];
    for (k, v) in extra {
        match f.iter_mut().find(|(n, _)| n == k) {
            Some(slot) => slot.1 = v,
            None => f.push((k, v)),
        }
    }
    f
}

fn assert_content_type(r: &reqwest::Response, mime: &str) {
    let content_type = r.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with(mime), "{content_type}");
}

async fn post(sim: &Simulator, form: &[(&str, &str)]) -> (u16, Value) {
    let request = client()
        .post(format!("{}/e-tjanst/loggutdrag", sim.treserva_url()))
        .form(form);
    call(request, None).await
}

async fn status(sim: &Simulator, arende: &str) -> Value {
    client()
        .get(format!(
            "{}/e-tjanst/loggutdrag/{arende}",
            sim.treserva_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn file(sim: &Simulator, arende: &str) -> reqwest::Response {
    client()
        .get(format!(
            "{}/e-tjanst/loggutdrag/{arende}/fil",
            sim.treserva_url()
        ))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn order_status_progression_delivery_and_idempotency() {
    let sim = start_with(|c| c.delivery_delay = Duration::from_millis(300)).await;
    let f = form(
        "key-1",
        &[("perioder", "T10452=2027-04-12 00:00/2027-04-13 00:00")],
    );
    let (code, body) = post(&sim, &f).await;
    assert_eq!(code, 201, "{body}");
    let arende = body["arende"].as_str().unwrap().to_owned();
    assert!(
        arende.starts_with("TS-") && arende.len() == "TS-2027-000123".len(),
        "{arende}"
    );

    let (code, again) = post(&sim, &f).await;
    assert_eq!(code, 200);
    assert_eq!(again["arende"], arende.as_str());
    assert_eq!(sim.stats().treserva.duplicates, 1);
    assert_eq!(sim.stats().treserva.orders_accepted, 1);

    assert_eq!(file(&sim, &arende).await.status().as_u16(), 409);
    // Poll as a connector does; each phase lasts 150 ms, far longer than a poll.
    let mut seen: Vec<String> = Vec::new();
    loop {
        let st = status(&sim, &arende).await["status"]
            .as_str()
            .unwrap()
            .to_owned();
        if seen.last() != Some(&st) {
            seen.push(st.clone());
        }
        if st == "levererad" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen, ["mottagen", "behandlas", "levererad"]);

    let r = file(&sim, &arende).await;
    assert_eq!(r.status().as_u16(), 200);
    assert_content_type(&r, "text/csv");
    let bytes = r.bytes().await.unwrap();
    let csv = Csv::parse(&bytes);
    assert_eq!(
        csv.header,
        [
            "Datum",
            "Tid",
            "Personnummer",
            "Namn",
            "Enhet",
            "H-Typ",
            "Systemdel",
            "Användare"
        ]
    );
    // T10452 in its own day, T10453 in the form's whole period.
    let truth = ground_truth(
        &sim,
        "treserva",
        &[
            ("T10452", "2027-04-12 00:00", "2027-04-13 00:00"),
            ("T10453", "2027-04-12 00:00", "2027-04-15 00:00"),
        ],
    );
    assert!(!truth.is_empty());
    assert_eq!(csv.rows.len(), truth.len());
    let (d, t, p, e, h, u) = (
        csv.col("Datum"),
        csv.col("Tid"),
        csv.col("Personnummer"),
        csv.col("Enhet"),
        csv.col("H-Typ"),
        csv.col("Användare"),
    );
    for (row, ev) in csv.rows.iter().zip(&truth) {
        assert_eq!(
            format!("{} {}", row[d], row[t]),
            ev.time.format("%Y-%m-%d %H:%M:%S").to_string()
        );
        assert_eq!(row[p], ev.patient_id.digits());
        assert_eq!(row[h], ev.event_text);
        assert_eq!(row[u], ev.user_id);
        match &ev.care_unit {
            Some(unit) => assert_eq!(&row[e], unit),
            None => assert_eq!(row[e], "Ej tillämplig på enhet"),
        }
    }
    // The same file every time.
    assert_eq!(file(&sim, &arende).await.bytes().await.unwrap(), bytes);
    assert_eq!(file(&sim, "TS-1999-000001").await.status().as_u16(), 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn refusals_403_422_and_avslagen() {
    let sim = start(config()).await;
    let (code, body) = post(
        &sim,
        &form("k", &[("bestallare", "nagon.annan@kommun.example")]),
    )
    .await;
    assert_eq!(code, 403);
    assert!(body["fel"].is_string());

    for (field, value, falt) in [
        ("idempotensnyckel", "", "idempotensnyckel"),
        ("bestallare", "inte-en-adress", "bestallare"),
        ("fran", "12/4 2027", "fran"),
        ("till", "2027-04-01 00:00", "till"),
        ("personnummer", "19121212-1212", "anvandare"),
        ("leveranssatt", "brevduva", "leveranssatt"),
        ("perioder", "T10452=2027-04-12", "perioder"),
        (
            "perioder",
            "T99999=2027-04-12 00:00/2027-04-13 00:00",
            "perioder",
        ),
    ] {
        let (code, body) = post(&sim, &form("k", &[(field, value)])).await;
        assert_eq!(code, 422, "{field}={value}: {body}");
        assert_eq!(body["falt"], falt, "{field}={value}");
    }
    let (code, body) = post(
        &sim,
        &form("k", &[("anvandare", ""), ("personnummer", "19121212-1213")]),
    )
    .await;
    assert_eq!((code, body["falt"].as_str()), (422, Some("personnummer")));
    assert_eq!(sim.stats().treserva.rejected, 10);
    assert_eq!(sim.stats().treserva.orders_accepted, 0);

    // A username Treserva does not know: accepted, then turned down by user support.
    let (code, body) = post(&sim, &form("k2", &[("anvandare", "T10452,X1")])).await;
    assert_eq!(code, 201);
    let st = status(&sim, body["arende"].as_str().unwrap()).await;
    assert_eq!(st["status"], "avslagen");
    assert!(st["orsak"].as_str().unwrap().contains("X1"));
    assert_eq!(
        client()
            .get(format!("{}/e-tjanst/loggutdrag/TS-0-0", sim.treserva_url()))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_patient_order_with_ip_columns_and_malformed_rows() {
    let sim = start_with(|c| c.faults.treserva.malformed_rows = 3).await;
    let (from, to) = ("2027-01-01 00:00", "2027-07-01 00:00");
    let patient = sim.patients("IFO Barn och unga")[3].personnummer.clone();
    let f = form(
        "k",
        &[
            ("anvandare", ""),
            ("personnummer", patient.digits()),
            ("fran", from),
            ("till", to),
            ("ip_och_arbetsstation", "ja"),
        ],
    );
    let (code, body) = post(&sim, &f).await;
    assert_eq!(code, 201, "{body}");
    let arende = body["arende"].as_str().unwrap();
    assert_eq!(
        status(&sim, arende).await["status"],
        "levererad",
        "no delay configured"
    );
    let csv = Csv::parse(&file(&sim, arende).await.bytes().await.unwrap());
    assert_eq!(&csv.header[8..], ["IP-adress", "Arbetsstation"]);
    let truth = sim.events_for_patient("treserva", &patient, dt(from), dt(to));
    assert!(!truth.is_empty());
    assert_eq!(csv.rows.len(), truth.len() + 3);
    assert_eq!(csv.malformed(&["Datum", "Tid"]), 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn never_deliver_keeps_the_ticket_in_behandlas() {
    let sim = start_with(|c| c.faults.treserva.never_deliver = true).await;
    let (code, body) = post(&sim, &form("k", &[])).await;
    assert_eq!(code, 201);
    let arende = body["arende"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(status(&sim, arende).await["status"], "behandlas");
    // Lifting the fault later does not free a ticket that was stuck when ordered.
    sim.set_faults("treserva", SystemFaults::default());
    assert_eq!(status(&sim, arende).await["status"], "behandlas");
    assert_eq!(file(&sim, arende).await.status().as_u16(), 409);
    sim.shutdown().await;
}

#[tokio::test]
async fn fail_next_latency_rate_limit_and_hang() {
    let sim = start_with(|c| c.faults.treserva.fail_next = 2).await;
    for _ in 0..2 {
        let r = client()
            .post(format!("{}/e-tjanst/loggutdrag", sim.treserva_url()))
            .form(&form("k", &[]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 503);
        assert_content_type(&r, "text/html");
    }
    assert_eq!(post(&sim, &form("k", &[])).await.0, 201);
    let stats = sim.stats().treserva;
    assert_eq!(
        (
            stats.errors_injected,
            stats.orders_accepted,
            stats.duplicates
        ),
        (2, 1, 0)
    );

    set_faults(&sim, "treserva", |f| f.latency = Duration::from_millis(100));
    let started = std::time::Instant::now();
    assert_eq!(post(&sim, &form("k", &[])).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(100));

    set_faults(&sim, "treserva", |f| f.rate_limit_per_sec = Some(2));
    let mut codes = Vec::new();
    let mut retry_after = None;
    for _ in 0..4 {
        let r = client()
            .get(format!("{}/e-tjanst/loggutdrag/TS-0-0", sim.treserva_url()))
            .send()
            .await
            .unwrap();
        codes.push(r.status().as_u16());
        if r.status().as_u16() == 429 {
            retry_after = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
        }
    }
    assert_eq!(codes, [404, 404, 429, 429]);
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert_eq!(sim.stats().treserva.rate_limited, 2);

    set_faults(&sim, "treserva", |f| f.hang = true);
    let err = reqwest::Client::builder()
        .timeout(Duration::from_millis(150))
        .build()
        .unwrap()
        .get(format!("{}/e-tjanst/loggutdrag/TS-0-0", sim.treserva_url()))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(sim.stats().treserva.hung, 1);
    // Shutting down answers the hung request's connection instead of waiting forever.
    tokio::time::timeout(Duration::from_secs(3), sim.shutdown())
        .await
        .unwrap();
}

/// User support checks the orderer's username when the form gives one, and the simulator
/// records who placed each order it accepted.
#[tokio::test]
async fn the_orderers_username_is_checked_and_recorded() {
    let mut cfg = config();
    cfg.treserva_verksamhetschefer.push("vchef1".into());
    let sim = start(cfg).await;
    let (code, _) = post(
        &sim,
        &form("k1", &[("bestallare_anvandarnamn", "inte.chef")]),
    )
    .await;
    assert_eq!(
        code, 403,
        "a verksamhetschef's address with another's username"
    );
    let (code, body) = post(&sim, &form("k2", &[("bestallare_anvandarnamn", "vchef1")])).await;
    assert_eq!(code, 201, "{body}");
    let received = sim.received_orders();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].system, "treserva");
    assert_eq!(received[0].orderer, CHEF);
    assert_eq!(received[0].orderer_username.as_deref(), Some("vchef1"));
    assert_eq!(received[0].idempotency_key, "k2");
    assert_eq!(
        Some(&received[0].external_ref),
        body["arende"].as_str().map(str::to_owned).as_ref()
    );
    sim.shutdown().await;
}
