//! Treserva's extract as user support sends it by post or encrypted mail (seed 002):
//! `H-Typ` for the event, "Ej tillämplig på enhet" where an access has no unit.

use loggvakt_connector::{Action, Connector, FromSettings, IdKind, ImportLimits};
use loggvakt_treserva::{NO_UNIT, TreservaConnector};
use serde_json::json;

#[test]
fn the_extract_imports_with_h_typ_no_unit_and_a_reserve_number() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/loggutdrag.csv");
    let bytes = std::fs::read(path).unwrap();
    let settings = json!({"portal_url": "http://127.0.0.1:9"});
    let c = TreservaConnector::from_settings("treserva", &settings).unwrap();
    let out = c
        .import(&mut bytes.as_slice(), &ImportLimits { max_bytes: 1 << 20 })
        .unwrap();
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
    let actions: Vec<Action> = out.events.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        [Action::Read, Action::Write, Action::Create, Action::Print]
    );
    let units: Vec<Option<&str>> = out.events.iter().map(|e| e.care_unit.as_deref()).collect();
    assert_eq!(
        units,
        [
            Some("Hemtjänst Norr"),
            Some(NO_UNIT),
            Some(NO_UNIT),
            Some("Hemtjänst Norr")
        ]
    );
    assert_eq!(out.events[2].patient_id.kind(), IdKind::Interim);
    assert_eq!(out.events[0].event_text, "Läsa anteckning");
    assert_eq!(out.lines, [2, 3, 4, 5]);
}
