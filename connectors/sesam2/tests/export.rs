//! Sesam 2's Loggöversikt list as a reviewer exports it, CSV and XLSX (seed 004's columns).

#[path = "../../test_support/http_peer.rs"]
mod http_peer;

use std::path::{Path, PathBuf};

use http_peer::rejected_fields;
use loggvakt_connector::{Action, Connector, FromSettings, IdKind, ImportLimits, ImportOutcome};
use loggvakt_sesam2::Sesam2Connector;
use serde_json::json;

const LIMITS: ImportLimits = ImportLimits { max_bytes: 1 << 20 };

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn connector() -> Sesam2Connector {
    let settings = json!({"base_url": "http://127.0.0.1:9", "token": "t"});
    Sesam2Connector::from_settings("sesam2", &settings).unwrap()
}

fn import(bytes: &[u8]) -> ImportOutcome {
    connector().import(&mut &bytes[..], &LIMITS).unwrap()
}

/// What an event says, to compare two imports of one list.
fn key(o: &ImportOutcome) -> Vec<(chrono::NaiveDateTime, String, String, Option<String>)> {
    o.events
        .iter()
        .map(|e| {
            let patient = e.patient_id.digits().to_owned();
            (
                e.time,
                e.user_id.clone(),
                patient,
                e.reference_number.clone(),
            )
        })
        .collect()
}

fn at(s: &str) -> chrono::NaiveDateTime {
    s.parse().unwrap()
}

#[test]
fn the_exported_list_imports_as_csv_and_as_xlsx_alike() {
    let csv = import(&std::fs::read(data("loggoversikt.csv")).unwrap());
    let xlsx = import(&std::fs::read(data("loggoversikt.xlsx")).unwrap());
    for outcome in [&csv, &xlsx] {
        assert!(outcome.rejected.is_empty(), "{:?}", outcome.rejected);
        assert_eq!(outcome.events.len(), 4);
        // Seed 004's example row.
        let e = &outcome.events[0];
        assert_eq!(e.user_id, "189986");
        assert_eq!(e.time, at("2023-10-13T08:24:56"));
        assert_eq!(e.event_text, "Hjälper mottagare");
        assert_eq!(e.action, Action::Read);
        assert_eq!(e.reference_number.as_deref(), Some("191212121212"));
        assert_eq!(e.patient_id.digits(), "191212121212");
        assert_eq!(e.system_part.as_deref(), Some("Sesam"));
        assert_eq!(e.system, "sesam2");

        let refs: Vec<Option<&str>> = outcome
            .events
            .iter()
            .map(|e| e.reference_number.as_deref())
            .collect();
        assert_eq!(
            refs,
            [
                Some("191212121212"),
                Some("HM-2023-00417"),
                Some("ORD-88213"),
                None
            ]
        );
        // A reserve number is a patient of its own kind, not a malformed row.
        assert_eq!(outcome.events[2].patient_id.kind(), IdKind::Interim);
        assert_eq!(outcome.events[2].action, Action::Write);
        assert_eq!(outcome.events[3].action, Action::Print);
    }
    assert_eq!(key(&csv), key(&xlsx));
}

#[test]
fn malformed_rows_are_refused_with_line_and_field() {
    let file = "Användare,Datum,Menyval / händelse,Referensnummer,Mottagare,Applikation\n\
                189986,2023-10-13 08:24:56,Hjälper mottagare,R1,191212121212,Sesam\n\
                189986,13/10/2023 08:24,Hjälper mottagare,R2,191212121212,Sesam\n\
                189986,2023-10-13 08:25:00,Hjälper mottagare,R3,191212121213,Sesam\n";
    let outcome = import(file.as_bytes());
    assert_eq!(outcome.events.len(), 1);
    assert_eq!(
        rejected_fields(&outcome),
        [(3, Some("Datum")), (4, Some("Mottagare"))]
    );
    for r in &outcome.rejected {
        assert!(!r.reason.contains("1912"), "no personnummer in {r:?}");
    }

    let err = connector()
        .import(&mut "Användare;Datum;Referensnummer\n".as_bytes(), &LIMITS)
        .unwrap_err();
    assert!(err.message.contains("Menyval / händelse"), "{err}");
}
