//! The exports people really have (issue 10 part 8): Sesam 2's Loggöversikt list (CSV and
//! XLSX) and Treserva's extract with H-Typ and "Ej tillämplig på enhet", read by their
//! connectors through `extract import` and `analyze`; reserve numbers are patients of their
//! own kind, broken rows are refused with file, line and field.

use std::path::PathBuf;

use loggvakt::model::order::OrderState;
use loggvakt::store::orders::{NewOrder, OrderUpdate};
use loggvakt_connector::{OrderRequest, Period, Subject, UserRef};

use crate::support::{ConfigDir, TestDb, instant, run, run_on};

const ORG: &str = r#"
[organisation]
name = "Testregionen"

[[unit]]
id = "hjalpmedel"
name = "Hjälpmedel Syd"
manager = { name = "Vera Chef", email = "vera@example.se" }
escalate_to = { name = "Förvaltningschef", email = "fc@example.se" }

[[system]]
id = "sesam2"
connector = "sesam2"
settings = { base_url = "http://127.0.0.1:9", token = "t" }

[[system]]
id = "treserva"
connector = "treserva"
settings = { portal_url = "http://127.0.0.1:9", requester_email = "vera@example.se" }
"#;

fn fixture(connector: &str, name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("connectors")
        .join(connector)
        .join("tests/data")
        .join(name)
}

fn t(s: &str) -> chrono::NaiveDateTime {
    s.parse().unwrap()
}

/// An order for `user` over `day`, awaiting a delivery that comes as a file (an upload).
async fn awaiting_file(db: &TestDb, system: &str, user: &str, day: &str) -> i64 {
    let store = db.open().await;
    let period = Period {
        from: t(&format!("{day}T00:00:00")),
        to: t(&format!("{day}T00:00:00")) + chrono::TimeDelta::days(1),
    };
    let request = OrderRequest {
        idempotency_key: format!("lv-test-{system}"),
        reference: format!("LV-TEST-{system}"),
        subject: Subject::Users(vec![UserRef {
            username: user.into(),
            name: None,
            period: Some(period),
        }]),
        period,
        orderer: None,
    };
    let mut tx = store
        .begin_write(instant("2027-05-03T08:00:00+02:00"), "test")
        .await
        .unwrap();
    let id = tx
        .insert_order(&NewOrder {
            draw_id: None,
            check_id: None,
            part: 1,
            system_id: system,
            request: &request,
        })
        .await
        .unwrap()
        .unwrap();
    assert!(
        tx.transition(
            id,
            OrderState::Pending,
            &OrderUpdate::to(OrderState::AwaitingDelivery)
        )
        .await
        .unwrap()
    );
    tx.commit().await.unwrap();
    id
}

/// `extract import --order` of the connector's fixture `file` for an order of `user`'s
/// `day`; the events stored, the order's state after, and the stored reference numbers.
async fn imported(
    system: &str,
    user: &str,
    day: &str,
    file: &str,
) -> (i64, OrderState, Vec<String>) {
    let cfg = ConfigDir::new(ORG, None);
    let db = TestDb::sqlite();
    let order = awaiting_file(&db, system, user, day).await;
    let path = fixture(system, file);
    let r = run_on(
        &cfg.arg(),
        &db.url,
        Some("2027-05-03T09:00:00+02:00"),
        &[
            "extract",
            "import",
            "--order",
            &order.to_string(),
            path.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{file}: {}\n{}", r.stdout, r.stderr);
    let store = db.open().await;
    let state = store.order(order).await.unwrap().unwrap().state;
    let references: Vec<(String,)> = sqlx::query_as(
        "SELECT reference_number FROM access_events WHERE reference_number IS NOT NULL \
         ORDER BY reference_number",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    (
        store.event_count(Some(order)).await.unwrap(),
        state,
        references.into_iter().map(|(r,)| r).collect(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn sesam2_loggoversikt_exports_import_through_the_cli() {
    for file in ["loggoversikt.csv", "loggoversikt.xlsx"] {
        let (events, state, references) = imported("sesam2", "189986", "2023-10-13", file).await;
        assert_eq!((events, state), (4, OrderState::Imported), "{file}");
        // Referensnummer is kept as a column of its own.
        assert!(
            references.contains(&"HM-2023-00417".to_owned()),
            "{file}: {references:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn treserva_extract_with_h_typ_and_no_unit_imports_through_the_cli() {
    let (events, state, _) = imported("treserva", "elind", "2027-04-12", "loggutdrag.csv").await;
    assert_eq!((events, state), (4, OrderState::Imported));
}

/// `analyze` reads both exports as they are, names the original line of a flag, and
/// refuses a broken row naming file, line and column.
#[test]
fn analyze_reads_the_exports_and_names_broken_rows() {
    for (connector, file) in [
        ("sesam2", "loggoversikt.csv"),
        ("sesam2", "loggoversikt.xlsx"),
        ("treserva", "loggutdrag.csv"),
    ] {
        let path = fixture(connector, file);
        let r = run(&["analyze", path.to_str().unwrap(), "--format", "json"]);
        assert_eq!(r.code, 0, "{file}: {}", r.stderr);
        let out: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(out["summary"]["rows"], 4, "{file}: {}", r.stdout);
    }

    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("loggoversikt.csv");
    let text = std::fs::read_to_string(fixture("sesam2", "loggoversikt.csv")).unwrap();
    std::fs::write(&broken, text.replace("199001019802", "199001019803")).unwrap();
    let r = run(&["analyze", broken.to_str().unwrap(), "--format", "json"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("loggoversikt.csv: line 3, column Mottagare"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("199001019803"),
        "no personnummer in messages"
    );
}
