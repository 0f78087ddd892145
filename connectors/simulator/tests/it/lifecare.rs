use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use loggvakt_simulator::{Note, Simulator};
use serde_json::{Value, json};

use crate::common::{Csv, LIFECARE_TOKEN, call, client, config, ground_truth, start, start_with};

async fn send(sim: &Simulator, path: &str, body: &Value, token: Option<&str>) -> (u16, Value) {
    let request = client()
        .post(format!("{}{path}", sim.lifecare_url()))
        .json(body);
    call(request, token).await
}

/// An order message as the connector sends it.
async fn order(sim: &Simulator, key: &str, text: &str) -> (u16, Value) {
    let body = message(key, text);
    send(sim, "/api/meddelanden", &body, Some(LIFECARE_TOKEN)).await
}

async fn replies(sim: &Simulator, id: &str) -> (u16, Value) {
    let request = client()
        .get(format!("{}/api/meddelanden", sim.lifecare_url()))
        .query(&[("svar_pa", id)]);
    call(request, Some(LIFECARE_TOKEN)).await
}

fn message(key: &str, text: &str) -> Value {
    json!({
        "till": "systemforvaltare",
        "fran": "eva.chef",
        "amne": "Loggutdrag LV-2027-04-7",
        "text": text,
        "referens": "LV-2027-04-7",
        "idempotensnyckel": key,
    })
}

const ORDER_TEXT: &str = "Hej! Stickprov för loggkontroll, ta ut aktivitetsloggen för:\n\
    Eva Ek (L4711): 2027-04-12 00:00 – 2027-04-13 00:00\n\
    Maria Sjö (L4712): 2027-04-12 00:00 – 2027-04-14 00:00\n";
/// What [`ORDER_TEXT`] asks for, as [`ground_truth`] takes it.
const ORDERED: [(&str, &str, &str); 2] = [
    ("L4711", "2027-04-12 00:00", "2027-04-13 00:00"),
    ("L4712", "2027-04-12 00:00", "2027-04-14 00:00"),
];

#[tokio::test]
async fn an_order_message_is_answered_with_the_extract_after_the_delay() {
    let sim = start_with(|c| c.delivery_delay = Duration::from_millis(250)).await;
    let (code, body) = order(&sim, "k1", ORDER_TEXT).await;
    assert_eq!(code, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("M-"));
    let (code, again) = order(&sim, "k1", ORDER_TEXT).await;
    assert_eq!((code, again["id"].as_str()), (200, Some(id.as_str())));
    assert_eq!(sim.stats().lifecare.duplicates, 1);

    assert_eq!(replies(&sim, &id).await, (200, json!([])));
    tokio::time::sleep(Duration::from_millis(260)).await;
    let (code, list) = replies(&sim, &id).await;
    assert_eq!(code, 200);
    let reply = &list[0];
    assert!(reply["id"].as_str().unwrap().starts_with("M-"));
    assert_ne!(reply["id"], id.as_str());
    assert_eq!(reply["fran"], "systemforvaltare");
    assert_eq!(reply["amne"], "Sv: Loggutdrag LV-2027-04-7");
    assert_eq!(reply["bilaga"]["filnamn"], "loggutdrag.csv");
    let bytes = STANDARD
        .decode(reply["bilaga"]["innehall_base64"].as_str().unwrap())
        .unwrap();
    let csv = Csv::parse(&bytes);
    assert_eq!(
        csv.header,
        [
            "Tidpunkt",
            "Användare",
            "Namn",
            "Personnummer",
            "Brukare",
            "Enhet",
            "Aktivitet"
        ]
    );
    let truth = ground_truth(&sim, "lifecare", &ORDERED);
    assert!(!truth.is_empty());
    assert_eq!(csv.rows.len(), truth.len());
    let (t, u, p, a, b) = (
        csv.col("Tidpunkt"),
        csv.col("Användare"),
        csv.col("Personnummer"),
        csv.col("Aktivitet"),
        csv.col("Brukare"),
    );
    for (row, e) in csv.rows.iter().zip(&truth) {
        assert_eq!(row[t], e.time.format("%Y-%m-%d %H:%M:%S").to_string());
        assert_eq!(row[u], e.user_id);
        assert_eq!(row[p], e.patient_id.digits());
        assert_eq!(row[a], e.event_text);
        assert_eq!(Some(&row[b]), e.patient_name.as_ref());
    }
    assert!(csv.rows.iter().any(|r| r[a] == "Läst journal"));
    // The reply is one message: polling again shows the same.
    assert_eq!(replies(&sim, &id).await.1, list);
    sim.shutdown().await;
}

#[tokio::test]
async fn never_deliver_unreadable_orders_and_refusals() {
    let sim = start_with(|c| c.faults.lifecare.never_deliver = true).await;
    let (_, body) = order(&sim, "k1", ORDER_TEXT).await;
    let stuck = body["id"].as_str().unwrap().to_owned();
    assert_eq!(replies(&sim, &stuck).await.1, json!([]));

    sim.set_faults("lifecare", Default::default());
    let (_, body) = order(&sim, "k2", "Hej, kan ni skicka loggen?").await;
    let (_, list) = replies(&sim, body["id"].as_str().unwrap()).await;
    assert!(
        list[0]["bilaga"].is_null(),
        "nothing to extract, no attachment"
    );
    assert!(
        list[0]["text"]
            .as_str()
            .unwrap()
            .contains("kunde inte tolkas")
    );
    assert_eq!(
        replies(&sim, &stuck).await.1,
        json!([]),
        "stuck when ordered"
    );

    assert_eq!(
        send(&sim, "/api/meddelanden", &message("k3", ORDER_TEXT), None)
            .await
            .0,
        401
    );
    let mut no_key = message("k4", ORDER_TEXT);
    no_key.as_object_mut().unwrap().remove("idempotensnyckel");
    let (code, body) = send(&sim, "/api/meddelanden", &no_key, Some(LIFECARE_TOKEN)).await;
    assert_eq!(
        (code, body["falt"].as_str()),
        (422, Some("idempotensnyckel"))
    );
    assert_eq!(replies(&sim, "M-9999").await.0, 404);
    let stats = sim.stats().lifecare;
    assert_eq!(
        (stats.orders_accepted, stats.duplicates, stats.rejected),
        (2, 0, 3)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn notes_are_written_back_and_a_repeated_note_is_counted() {
    let sim = start(config()).await;
    let note = json!({
        "referens": "LV-2027-04-7",
        "text": "Loggkontroll 2027-04-12 – 2027-04-13: utan anmärkning",
        "anvandare": ["L4711"],
    });
    let (code, body) = send(&sim, "/api/anteckningar", &note, Some(LIFECARE_TOKEN)).await;
    assert_eq!(code, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        sim.notes(),
        vec![Note {
            id,
            referens: "LV-2027-04-7".into(),
            text: "Loggkontroll 2027-04-12 – 2027-04-13: utan anmärkning".into(),
            anvandare: vec!["L4711".into()],
        }]
    );
    assert_eq!(sim.stats().lifecare.duplicates, 0);
    assert_eq!(
        send(&sim, "/api/anteckningar", &note, Some(LIFECARE_TOKEN))
            .await
            .0,
        201
    );
    assert_eq!(sim.notes().len(), 2);
    assert_eq!(sim.stats().lifecare.duplicates, 1);
    assert_eq!(
        send(&sim, "/api/anteckningar", &note, Some("x")).await.0,
        401
    );
    let (code, body) = send(
        &sim,
        "/api/anteckningar",
        &json!({"referens": "x"}),
        Some(LIFECARE_TOKEN),
    )
    .await;
    assert_eq!((code, body["falt"].as_str()), (422, Some("text")));
    // With an idempotency key, a retry is answered with the first note and nothing is added.
    let keyed = json!({
        "referens": "LV-2027-04-8",
        "text": "Loggkontroll 2027-04-12 – 2027-04-13: med anmärkning",
        "anvandare": ["L4711"],
        "idempotensnyckel": "lv-wb-8-abc",
    });
    let (code, first) = send(&sim, "/api/anteckningar", &keyed, Some(LIFECARE_TOKEN)).await;
    assert_eq!(code, 201);
    let (code, again) = send(&sim, "/api/anteckningar", &keyed, Some(LIFECARE_TOKEN)).await;
    assert_eq!((code, &again["id"]), (200, &first["id"]));
    assert_eq!(sim.notes().len(), 3);
    assert_eq!(sim.stats().lifecare.duplicates, 1);
    sim.shutdown().await;
}
