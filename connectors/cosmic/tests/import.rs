//! The journal unit's extract, as `loggvakt extract import` hands it to the connector.

use loggvakt_connector::{Action, Connector, ErrorKind, FromSettings, ImportLimits};
use loggvakt_cosmic::CosmicConnector;
use serde_json::json;

fn connector() -> CosmicConnector {
    CosmicConnector::from_settings(
        "cosmic-region",
        &json!({
            "from": "a@kommun.example",
            "order_to": "j@region.example",
            "recipient_name": "A",
            "recipient_phone": "1",
            "recipient_address": "Box 1",
        }),
    )
    .unwrap()
}

const LIMITS: ImportLimits = ImportLimits { max_bytes: 1 << 20 };

#[test]
fn swedish_headers_every_action_and_the_raw_row() {
    let file = "\u{FEFF}Datum och tid;Användare;Namn på användare;Patient-ID;Patient;Enhet;Aktivitet;Modul\n\
        2027-04-12 08:00:00;C821234;Eva Lind;191212121212;Tolvan Tolvansson;Vårdcentral Norr;Läst journalanteckning;Journal\n\
        2027-04-12 08:01:00;C821234;;191212121212;;;Visa provsvar;\n\
        2027-04-12 08:02:00;C821234;;191212121212;;;Ändrat anteckning;\n\
        2027-04-12 08:03:00;C821234;;191212121212;;;Skapat remiss;\n\
        2027-04-12 08:04:00;C821234;;191212121212;;;Signerat;\n\
        2027-04-12 08:05:00;C821234;;191212121212;;;Utskrift;\n\
        2027-04-12 08:06:00;C821234;;191212121212;;;Raderat utkast;\n\
        2027-04-12 08:07:00;C821234;;191212121212;;;Nödöppning av spärrad journal;\n\
        2027-04-12 08:08:00;C821234;;191212121212;;;Inloggning;\n";
    let out = connector().import(&mut file.as_bytes(), &LIMITS).unwrap();
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
    let actions: Vec<Action> = out.events.iter().map(|e| e.action).collect();
    // After the first row's reading, one row for every action in turn.
    assert_eq!(actions[0], Action::Read);
    assert_eq!(actions[1..], Action::ALL);
    let e = &out.events[0];
    assert_eq!(e.system, "cosmic-region");
    assert_eq!(e.user_name.as_deref(), Some("Eva Lind"));
    assert_eq!(e.patient_name.as_deref(), Some("Tolvan Tolvansson"));
    assert_eq!(e.care_unit.as_deref(), Some("Vårdcentral Norr"));
    assert_eq!(e.system_part.as_deref(), Some("Journal"));
    assert_eq!(e.event_text, "Läst journalanteckning");
    assert!(
        e.raw
            .as_deref()
            .unwrap()
            .starts_with("2027-04-12 08:00:00;C821234;Eva Lind;")
    );
    assert_eq!(out.events[1].user_name, None);
}

#[test]
fn english_keys_with_commas_and_only_the_required_columns() {
    let file = "event_text,patient_id,user_id,time\n\
                Läst,19121212-1212,C821234,2027-04-12T08:00:00\n\
                Läst,19121212-1213,C821234,2027-04-12T08:00:00\n";
    let out = connector().import(&mut file.as_bytes(), &LIMITS).unwrap();
    assert_eq!(out.events.len(), 1);
    assert_eq!(out.rejected.len(), 1);
    assert_eq!(out.rejected[0].line, 3);
    assert_eq!(out.rejected[0].field.as_deref(), Some("Personnummer"));
}

#[test]
fn missing_column_empty_and_oversize_files_fail_the_import() {
    let c = connector();
    let err = c
        .import(&mut "Tidpunkt;Användare;Personnummer\n".as_bytes(), &LIMITS)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Malformed);
    assert!(err.message.contains("Händelse"), "{err}");
    let err = c.import(&mut &b""[..], &LIMITS).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Malformed);
    assert!(err.message.contains("empty"), "{err}");
    let big = format!(
        "Tidpunkt;Användare;Personnummer;Händelse\n{}",
        "x".repeat(100)
    );
    let err = c
        .import(&mut big.as_bytes(), &ImportLimits { max_bytes: 64 })
        .unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.message.contains("64 bytes"), "{err}");
}

#[test]
fn xlsx_extract() {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let rows = [
        ["Tidpunkt", "Användarnamn", "Personnummer", "Händelse"],
        ["2027-04-12 08:00:00", "C821234", "191212121212", "Läst"],
        ["2027-04-12 25:00:00", "C821234", "191212121212", "Läst"],
    ];
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            sheet.write_string(r as u32, c as u16, *cell).unwrap();
        }
    }
    let bytes = book.save_to_buffer().unwrap();
    let out = connector().import(&mut bytes.as_slice(), &LIMITS).unwrap();
    assert_eq!(out.events.len(), 1);
    assert_eq!(out.events[0].user_id, "C821234");
    assert_eq!(out.rejected.len(), 1);
    assert_eq!(out.rejected[0].line, 3);
    assert_eq!(out.rejected[0].field.as_deref(), Some("Tidpunkt"));
}
