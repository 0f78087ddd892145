use loggvakt_connector::{AccessEvent, Personnummer};
use loggvakt_simulator::Simulator;
use serde_json::Value;

use crate::common::{SESAM_TOKEN, call, client, config, dt, start, start_with};

const PATH: &str = "/administration/loggning/loggoversikt";

async fn get(sim: &Simulator, query: &[(&str, &str)], token: Option<&str>) -> (u16, Value) {
    let request = client()
        .get(format!("{}{PATH}", sim.sesam2_url()))
        .query(query);
    call(request, token).await
}

/// A search as Loggöversikt's query string has it: by one key, `from` to `to`.
type Search<'a> = [(&'static str, &'a str); 3];

/// Whose accesses a search is about.
enum Key<'a> {
    User(&'a str),
    Patient(&'a Personnummer),
}

/// The search by `key` over `[from, to)`, and the ground truth it must add up to.
fn search<'a>(
    sim: &Simulator,
    key: Key<'a>,
    from: &'a str,
    to: &'a str,
) -> (Search<'a>, Vec<AccessEvent>) {
    let (from_t, to_t) = (dt(from), dt(to));
    let (param, truth) = match key {
        Key::User(u) => (("anvandare", u), sim.events_for("sesam2", u, from_t, to_t)),
        Key::Patient(p) => {
            let truth = sim.events_for_patient("sesam2", p, from_t, to_t);
            (("mottagare", p.digits()), truth)
        }
    };
    ([param, ("fran", from), ("till", to)], truth)
}

/// Follows the pages as the connector does, until `sida == antal_sidor`.
async fn all_pages(sim: &Simulator, query: &[(&str, &str)], per_sida: u64) -> (u64, Vec<Value>) {
    let mut rows = Vec::new();
    let mut sida = 1u64;
    loop {
        let (s, k) = (sida.to_string(), per_sida.to_string());
        let mut q = query.to_vec();
        q.push(("sida", &s));
        q.push(("per_sida", &k));
        let (code, body) = get(sim, &q, Some(SESAM_TOKEN)).await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["sida"], sida);
        let page = body["rader"].as_array().unwrap();
        assert!(page.len() as u64 <= per_sida);
        rows.extend(page.iter().cloned());
        if body["sida"] == body["antal_sidor"] {
            let totalt = body["totalt"].as_u64().unwrap();
            assert_eq!(
                body["antal_sidor"].as_u64().unwrap(),
                totalt.div_ceil(per_sida).max(1)
            );
            return (totalt, rows);
        }
        sida += 1;
    }
}

#[tokio::test]
async fn paging_by_user_adds_up_to_the_ground_truth() {
    let sim = start(config()).await;
    let (q, truth) = search(
        &sim,
        Key::User("189986"),
        "2027-04-01T00:00:00",
        "2027-04-15T00:00:00",
    );
    let (totalt, rows) = all_pages(&sim, &q, 7).await;
    assert!(truth.len() > 14, "several pages");
    assert_eq!(totalt as usize, truth.len());
    assert_eq!(rows.len(), truth.len());
    for (row, e) in rows.iter().zip(&truth) {
        assert_eq!(row["anvandare"], "189986");
        assert_eq!(row["datum"], e.time.format("%Y-%m-%d %H:%M:%S").to_string());
        assert_eq!(row["handelse"], e.event_text.as_str());
        assert_eq!(row["mottagare"], e.patient_id.digits());
        assert_eq!(row["applikation"].as_str(), e.system_part.as_deref());
        assert!(row["referensnummer"].is_string());
    }
    // "Hjälper mottagare" is referenced by the recipient, as in the seed's example.
    let helps = rows
        .iter()
        .find(|r| r["handelse"] == "Hjälper mottagare")
        .unwrap();
    assert_eq!(helps["referensnummer"], helps["mottagare"]);

    // A page past the end is empty, not an error.
    let (code, body) = get(
        &sim,
        &[q[0], q[1], q[2], ("sida", "999")],
        Some(SESAM_TOKEN),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(body["rader"].as_array().unwrap().len(), 0);
    // An event filter narrows the count.
    let (_, body) = get(
        &sim,
        &[q[0], q[1], q[2], ("handelse", "Skapar order")],
        Some(SESAM_TOKEN),
    )
    .await;
    let creates = truth
        .iter()
        .filter(|e| e.event_text == "Skapar order")
        .count();
    assert_eq!(body["totalt"].as_u64().unwrap() as usize, creates);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_targeted_check_by_recipient() {
    let sim = start(config()).await;
    let patient = sim.patients("Hjälpmedel Syd")[5].personnummer.clone();
    let (q, truth) = search(
        &sim,
        Key::Patient(&patient),
        "2027-01-01T00:00:00",
        "2027-07-01T00:00:00",
    );
    let (totalt, rows) = all_pages(&sim, &q, 100).await;
    assert!(!truth.is_empty());
    assert_eq!(totalt as usize, truth.len());
    let users: std::collections::HashSet<_> = rows
        .iter()
        .map(|r| r["anvandare"].as_str().unwrap())
        .collect();
    assert_eq!(users.len(), 2, "both Sesam users read this record");
    assert!(rows.iter().all(|r| r["mottagare"] == patient.digits()));
    sim.shutdown().await;
}

#[tokio::test]
async fn bearer_token_and_bad_queries_are_refused() {
    let sim = start(config()).await;
    let q = [
        ("anvandare", "189986"),
        ("fran", "2027-04-01T00:00:00"),
        ("till", "2027-04-02T00:00:00"),
    ];
    assert_eq!(get(&sim, &q, None).await.0, 401);
    assert_eq!(get(&sim, &q, Some("fel-token")).await.0, 401);
    assert_eq!(get(&sim, &q, Some(SESAM_TOKEN)).await.0, 200);
    for bad in [
        vec![
            ("fran", "2027-04-01T00:00:00"),
            ("till", "2027-04-02T00:00:00"),
        ],
        vec![
            ("anvandare", "189986"),
            ("fran", "igår"),
            ("till", "2027-04-02T00:00:00"),
        ],
        vec![
            ("anvandare", "189986"),
            ("fran", "2027-04-02T00:00:00"),
            ("till", "2027-04-01T00:00:00"),
        ],
        vec![q[0], q[1], q[2], ("per_sida", "0")],
        vec![("mottagare", "191212121213"), q[1], q[2]],
    ] {
        let (code, body) = get(&sim, &bad, Some(SESAM_TOKEN)).await;
        assert_eq!(code, 400, "{bad:?}");
        assert!(body["fel"].is_string());
    }
    let stats = sim.stats().sesam2;
    assert_eq!((stats.requests, stats.rejected), (8, 7));
    sim.shutdown().await;
}

#[tokio::test]
async fn malformed_rows_are_mixed_in_at_stable_places() {
    let sim = start_with(|c| c.faults.sesam2.malformed_rows = 4).await;
    let (q, truth) = search(
        &sim,
        Key::User("189987"),
        "2027-04-01T00:00:00",
        "2027-04-08T00:00:00",
    );
    let (totalt, rows) = all_pages(&sim, &q, 10).await;
    assert_eq!(totalt as usize, truth.len() + 4);
    let bad = rows
        .iter()
        .filter(|r| {
            r.get("handelse").is_none()
                || Personnummer::parse(r["mottagare"].as_str().unwrap()).is_err()
                || chrono::NaiveDateTime::parse_from_str(
                    r["datum"].as_str().unwrap(),
                    "%Y-%m-%d %H:%M:%S",
                )
                .is_err()
        })
        .count();
    assert_eq!(bad, 4);
    // Paged differently, the same rows in the same order.
    let (_, again) = all_pages(&sim, &q, 25).await;
    assert_eq!(again, rows);
    sim.shutdown().await;
}
