//! The normalised CSV form: what the writer writes, the reader reads back, and how bad rows
//! are reported (by line and column, never by value).

use loggvakt_connector::csv_form::{self, HEADER, Reader, RowError};
use loggvakt_connector::{AccessEvent, Action, Personnummer};

const HEADER_LINE: &str =
    "time,system,user_id,user_name,patient_id,patient_name,care_unit,action,event_text,system_part";

fn pnr(s: &str) -> Personnummer {
    Personnummer::parse(s).unwrap_or_else(|_| panic!("test number {s} is not valid"))
}

fn events() -> Vec<AccessEvent> {
    let at = |t: &str| t.parse().unwrap();
    vec![
        AccessEvent {
            system_part: Some("Sesam".into()),
            ..AccessEvent::new(
                "sesam2",
                "189986",
                at("2023-10-13T08:24:56"),
                pnr("19121212-1212"),
                Action::Read,
                "Hjälper mottagare",
            )
        },
        AccessEvent {
            user_name: Some("Anna Andersson".into()),
            patient_name: Some("Tolvan \"Tolle\" Tolvansson, jr".into()),
            care_unit: Some("Ej tillämplig på enhet".into()),
            ..AccessEvent::new(
                "treserva",
                "anna.a",
                at("2027-05-17T23:59:59"),
                pnr("20101010-1010"),
                Action::EmergencyOpen,
                "Läst anteckning\nflera rader",
            )
        },
        AccessEvent {
            care_unit: Some("Hemtjänst Norr".into()),
            ..AccessEvent::new(
                "cosmic",
                "C821234",
                at("2027-01-01T00:00:00"),
                pnr("19121272-1219"),
                Action::Other,
                "",
            )
        },
    ]
}

fn write(events: &[AccessEvent]) -> String {
    String::from_utf8(csv_form::write_all(Vec::new(), events).unwrap()).unwrap()
}

fn read(text: &str) -> Vec<Result<(u64, AccessEvent), RowError>> {
    Reader::new(text.as_bytes()).unwrap().collect()
}

fn only_error(text: &str) -> RowError {
    let mut rows = read(text);
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows.pop().unwrap().unwrap_err()
}

const SECRETS: [&str; 4] = ["1212", "191212", "Tolvan", "20101010"];

fn assert_no_secrets(e: &RowError) {
    let shown = format!("{e} {e:?}");
    for s in SECRETS {
        assert!(!shown.contains(s), "{s} leaked in {shown}");
    }
}

#[test]
fn header_is_exactly_the_documented_one() {
    assert_eq!(HEADER.join(","), HEADER_LINE);
    let text = write(&[]);
    assert_eq!(text, format!("{HEADER_LINE}\n"));
    assert!(Reader::new(text.as_bytes()).unwrap().next().is_none());
}

#[test]
fn write_then_read_gives_the_same_events_with_file_lines() {
    let text = write(&events());
    assert!(
        text.starts_with(&format!(
            "{HEADER_LINE}\n2023-10-13T08:24:56,sesam2,189986,,191212121212,,,read,Hjälper mottagare,Sesam\n"
        )),
        "{text}"
    );
    let rows: Vec<(u64, AccessEvent)> = read(&text).into_iter().map(Result::unwrap).collect();
    let lines: Vec<u64> = rows.iter().map(|(l, _)| *l).collect();
    // The second event's text spans two lines, so the third starts on line 5.
    assert_eq!(lines, [2, 3, 5]);
    let back: Vec<AccessEvent> = rows.into_iter().map(|(_, e)| e).collect();
    assert_eq!(back, events());
}

#[test]
fn sub_seconds_are_dropped_on_write() {
    let mut e = events().remove(0);
    e.time = "2023-10-13T08:24:56.789".parse().unwrap();
    let text = write(&[e]);
    assert!(text.contains("2023-10-13T08:24:56,"), "{text}");
}

#[test]
fn columns_are_matched_by_name_in_any_order_and_extra_columns_are_ignored() {
    let text = "\u{feff}action,patient_id,time,ip,system,user_id,event_text,system_part,care_unit,patient_name,user_name\n\
                print,191212121212,2027-05-17T10:00:00,10.0.0.1,lifecare,u1,Utskrift,,Bo,,\n";
    let rows = read(text);
    let (line, e) = rows.into_iter().next().unwrap().unwrap();
    assert_eq!(line, 2);
    assert_eq!(e.action, Action::Print);
    assert_eq!(e.patient_id, pnr("19121212-1212"));
    assert_eq!(e.system, "lifecare");
    assert_eq!(e.care_unit.as_deref(), Some("Bo"));
    assert_eq!(e.user_name, None);
    assert_eq!(e.patient_name, None);
    assert_eq!(e.system_part, None);
    assert_eq!(e.raw, None);
}

#[test]
fn keep_raw_keeps_the_whole_row_including_extra_columns() {
    let text =
        format!("{HEADER_LINE},ip\n2027-05-17T10:00:00,s,u,,191212121212,,,read,x,,10.0.0.1\n");
    let (_, e) = Reader::new(text.as_bytes())
        .unwrap()
        .keep_raw(true)
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(
        e.raw.as_deref(),
        Some("2027-05-17T10:00:00,s,u,,191212121212,,,read,x,,10.0.0.1")
    );
}

#[test]
fn a_missing_column_is_an_error_at_line_1_naming_it() {
    let header = HEADER_LINE.replace(",patient_id", "");
    let err = Reader::new(format!("{header}\n").as_bytes()).err().unwrap();
    assert_eq!(err.line, 1);
    assert_eq!(err.field.as_deref(), Some("patient_id"));
    assert_eq!(
        err.to_string(),
        "line 1, column patient_id: the header has no such column"
    );
}

#[test]
fn a_doubled_column_and_an_empty_file_are_header_errors() {
    let err = Reader::new(format!("{HEADER_LINE},action\n").as_bytes())
        .err()
        .unwrap();
    assert_eq!((err.line, err.field.as_deref()), (1, Some("action")));
    let err = Reader::new(&b""[..]).err().unwrap();
    assert_eq!((err.line, err.field.as_deref()), (1, None));
    assert!(err.reason.contains("empty"), "{err}");
}

#[test]
fn a_bad_timestamp_is_reported_with_line_and_column() {
    let err = only_error(&format!(
        "{HEADER_LINE}\n2027-05-17 10:00:00,s,u,,191212121212,Tolvan,,read,x,\n"
    ));
    assert_eq!((err.line, err.field.as_deref()), (2, Some("time")));
    assert_no_secrets(&err);
}

#[test]
fn a_bad_personnummer_is_reported_without_echoing_it() {
    let text = format!(
        "{HEADER_LINE}\n\
         2027-05-17T10:00:00,s,u,,191212121212,,,read,x,\n\
         2027-05-17T10:00:01,s,u,,191212121213,Tolvan,,read,x,\n"
    );
    let rows = read(&text);
    assert!(rows[0].is_ok());
    let err = rows[1].clone().unwrap_err();
    assert_eq!((err.line, err.field.as_deref()), (3, Some("patient_id")));
    assert_eq!(err.reason, "is not a valid personnummer");
    assert_no_secrets(&err);
}

#[test]
fn an_unknown_action_is_reported_with_the_known_ones() {
    let err = only_error(&format!(
        "{HEADER_LINE}\n2027-05-17T10:00:00,s,u,,191212121212,,,Tolvan,x,\n"
    ));
    assert_eq!((err.line, err.field.as_deref()), (2, Some("action")));
    assert!(err.reason.contains("emergency_open"), "{err}");
    assert_no_secrets(&err);
}

#[test]
fn empty_required_fields_and_wrong_widths_are_row_errors() {
    let err = only_error(&format!(
        "{HEADER_LINE}\n2027-05-17T10:00:00,s,,,191212121212,,,read,x,\n"
    ));
    assert_eq!(
        (err.line, err.field.as_deref(), err.reason.as_str()),
        (2, Some("user_id"), "is empty")
    );

    let err = only_error(&format!(
        "{HEADER_LINE}\n2027-05-17T10:00:00,s,u,,191212121212\n"
    ));
    assert_eq!((err.line, err.field.as_deref()), (2, None));
    assert!(
        err.reason.contains("has 5 fields, the header has 10"),
        "{err}"
    );
}

#[test]
fn invalid_utf8_names_the_column_and_reading_goes_on() {
    let mut text = format!("{HEADER_LINE}\n2027-05-17T10:00:00,s,u,").into_bytes();
    text.extend_from_slice(b"J\xF6rgen,191212121212,,,read,x,\n");
    text.extend_from_slice(b"2027-05-17T10:00:01,s,u,,191212121212,,,read,x,\n");
    let rows: Vec<_> = Reader::new(text.as_slice()).unwrap().collect();
    assert_eq!(rows.len(), 2);
    let err = rows[0].clone().unwrap_err();
    assert_eq!((err.line, err.field.as_deref()), (2, Some("user_name")));
    assert_eq!(rows[1].as_ref().unwrap().0, 3);
}

#[test]
fn read_all_keeps_good_rows_and_rejects_bad_ones() {
    let text = format!(
        "{HEADER_LINE}\n\
         2027-05-17T10:00:00,s,u,,191212121212,,,read,x,\n\
         2027-05-17T10:00:01,s,u,,191212121213,,,read,x,\n\
         2027-05-17T10:00:02,s,u,,199001010116,,,write,x,\n"
    );
    let out = csv_form::read_all(text.as_bytes()).unwrap();
    assert_eq!(out.events.len(), 2);
    assert_eq!(out.rejected.len(), 1);
    assert_eq!(out.rejected[0].line, 3);
    let header_err = csv_form::read_all(&b"time,system\n"[..]).unwrap_err();
    assert_eq!(header_err.line, 1);
}

#[test]
fn a_header_error_becomes_a_malformed_connector_error() {
    let err = csv_form::read_all(&b"time\n"[..]).unwrap_err();
    let ce: loggvakt_connector::ConnectorError = err.into();
    assert_eq!(ce.kind, loggvakt_connector::ErrorKind::Malformed);
    assert!(ce.message.starts_with("line 1, column system:"), "{ce}");
}
