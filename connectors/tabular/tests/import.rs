//! The shared extract reader, through a small column list like the connectors' own.

use std::io::Read;

use loggvakt_connector::{AccessEvent, Action, ErrorKind, ImportLimits, ImportOutcome, RowError};
use loggvakt_tabular::{Column, Row, action_by_prefix, import};

const TIME: usize = 0;
const USER: usize = 1;
const PATIENT: usize = 2;
const UNIT: usize = 3;
const EVENT: usize = 4;

const COLUMNS: [Column; 5] = [
    Column::required("Tidpunkt", &["Datum/tid", "time"]),
    Column::required("Användarnamn", &["Användare"]),
    Column::required("Personnummer", &["Patient-ID"]),
    Column::optional("Vårdenhet", &["Enhet"]),
    Column::required("Händelse", &["Aktivitet"]),
];

fn event(row: &Row) -> Result<AccessEvent, RowError> {
    let text = row.required(EVENT)?.to_owned();
    let action = action_by_prefix(&text, &[("Läst", Action::Read), ("Ändrat", Action::Write)]);
    // In the order the fields were always read, so a row with several bad ones names the same.
    let (time, user, patient) = (
        row.time(TIME)?,
        row.required(USER)?,
        row.personnummer(PATIENT)?,
    );
    Ok(AccessEvent {
        care_unit: row.optional(UNIT),
        raw: Some(row.raw()),
        ..AccessEvent::new("test", user, time, patient, action, &text)
    })
}

const LIMITS: ImportLimits = ImportLimits { max_bytes: 1 << 20 };

fn read(bytes: &[u8]) -> Result<ImportOutcome, loggvakt_connector::ConnectorError> {
    import(&mut &bytes[..], &LIMITS, &COLUMNS, event)
}

#[test]
fn semicolons_bom_aliases_and_any_column_order() {
    let file = "\u{FEFF}Aktivitet; patient-id ;ENHET;Användare;Datum/tid;Extra\n\
                Läst journal;191212121212;Vård Norr;C821234;2027-04-12 08:15:00;x\n\
                Ändrat anteckning;19500101-2383;;C821235;2027-04-12T09:00;y\n";
    let out = read(file.as_bytes()).unwrap();
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
    assert_eq!(out.events.len(), 2);
    let a = &out.events[0];
    assert_eq!(a.user_id, "C821234");
    assert_eq!(a.patient_id.digits(), "191212121212");
    assert_eq!(a.care_unit.as_deref(), Some("Vård Norr"));
    assert_eq!(a.action, Action::Read);
    assert_eq!(a.time.to_string(), "2027-04-12 08:15:00");
    assert_eq!(
        a.raw.as_deref(),
        Some("Läst journal;191212121212;Vård Norr;C821234;2027-04-12 08:15:00;x")
    );
    let b = &out.events[1];
    assert_eq!(b.patient_id.digits(), "195001012383");
    assert_eq!(b.care_unit, None);
    assert_eq!(b.action, Action::Write);
    assert_eq!(b.time.to_string(), "2027-04-12 09:00:00");
}

#[test]
fn commas_with_quoted_fields() {
    let file = "time,Användarnamn,Personnummer,Händelse\r\n\
                2027-04-12 08:15:00,C821234,191212121212,\"Läst; journal, del 1\"\r\n";
    let out = read(file.as_bytes()).unwrap();
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
    assert_eq!(out.events[0].event_text, "Läst; journal, del 1");
    assert_eq!(
        out.events[0].care_unit, None,
        "an absent optional column is None"
    );
}

#[test]
fn bad_rows_are_rejected_with_line_and_column_and_never_echo_values() {
    let file = "Tidpunkt;Användare;Personnummer;Händelse\n\
                2027-04-12 08:15:00;C1;191212121213;Läst\n\
                \n\
                12/04/2027 08:15;C2;191212121212;Läst\n\
                2027-04-12 08:15:00;C3;198005159127;Läst\n\
                2027-04-12 08:15:00;C4;200102034568\n\
                2027-04-12 08:15:00;;200102034568;Läst\n";
    let out = read(file.as_bytes()).unwrap();
    assert_eq!(out.events.len(), 1);
    assert_eq!(out.events[0].user_id, "C3");
    let got: Vec<(u64, Option<&str>)> = out
        .rejected
        .iter()
        .map(|r| (r.line, r.field.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (2, Some("Personnummer")),
            (4, Some("Tidpunkt")),
            (6, None),
            (7, Some("Användarnamn"))
        ]
    );
    for r in &out.rejected {
        let text = r.to_string();
        for secret in ["1912", "2001020", "12/04/2027"] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}

#[test]
fn invalid_utf8_is_a_rejected_row_naming_the_column() {
    let mut file = b"Tidpunkt;Anv\xC3\xA4ndare;Personnummer;H\xC3\xA4ndelse\n".to_vec();
    file.extend_from_slice(b"2027-04-12 08:15:00;C1;191212121212;L\xE4st\n");
    let out = read(&file).unwrap();
    assert_eq!(out.rejected.len(), 1);
    assert_eq!(out.rejected[0].line, 2);
    assert_eq!(out.rejected[0].field.as_deref(), Some("Händelse"));
}

#[test]
fn a_missing_required_column_fails_the_file_naming_it() {
    let file = "Tidpunkt;Användare;Händelse\n2027-04-12 08:15:00;C1;Läst\n";
    let err = read(file.as_bytes()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Malformed);
    assert!(err.message.contains("Personnummer"), "{err}");

    let file = "Tidpunkt;Användare;Användarnamn;Personnummer;Händelse\n";
    let err = read(file.as_bytes()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Malformed);
    assert!(err.message.contains("twice"), "{err}");
}

#[test]
fn empty_files_are_malformed_and_a_header_alone_is_no_events() {
    for file in [&b""[..], b"\xEF\xBB\xBF", b"\n\n  \r\n"] {
        let err = read(file).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Malformed);
        assert!(err.message.contains("empty"), "{err}");
    }
    let out =
        read(b"\n\xEF\xBB\xBFTidpunkt;Anv\xC3\xA4ndare;Personnummer;H\xC3\xA4ndelse\n").unwrap();
    assert_eq!(
        out,
        ImportOutcome::default(),
        "a BOM after a blank line is still a BOM"
    );
    let out = read("Tidpunkt;Användare;Personnummer;Händelse\n".as_bytes()).unwrap();
    assert_eq!(out, ImportOutcome::default());
    let out = read("\u{FEFF}\r\nTidpunkt;Användare;Personnummer;Händelse\r\n".as_bytes()).unwrap();
    assert_eq!(out, ImportOutcome::default());
}

/// Counts what the importer pulled from its input.
struct Counting<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

#[test]
fn an_oversize_file_is_refused_after_reading_just_past_the_limit() {
    let header = "Tidpunkt;Användare;Personnummer;Händelse\n";
    let row = "2027-04-12 08:15:00;C1;191212121212;Läst\n";
    let endless = header.as_bytes().chain(std::io::repeat(0).take(u64::MAX));
    let mut endless = Counting {
        inner: endless.chain(row.as_bytes()),
        read: 0,
    };
    let limits = ImportLimits { max_bytes: 4096 };
    let err = import(&mut endless, &limits, &COLUMNS, event).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent);
    assert!(err.message.contains("4096 bytes"), "{err}");
    assert!(
        endless.read <= 4096 + 64 * 1024,
        "read {} bytes",
        endless.read
    );

    let file = format!("{header}{}", row.repeat(3));
    let exact = ImportLimits {
        max_bytes: file.len() as u64,
    };
    assert_eq!(
        import(&mut file.as_bytes(), &exact, &COLUMNS, event)
            .unwrap()
            .events
            .len(),
        3
    );
    let short = ImportLimits {
        max_bytes: file.len() as u64 - 1,
    };
    assert!(import(&mut file.as_bytes(), &short, &COLUMNS, event).is_err());

    let mut zip = b"PK\x03\x04".chain(std::io::repeat(0).take(1 << 30));
    let err = import(&mut zip, &limits, &COLUMNS, event).unwrap_err();
    assert!(err.message.contains("4096 bytes"), "{err}");
}

#[test]
fn xlsx_first_sheet_with_typed_cells() {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};

    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let when = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    for (c, h) in ["Händelse", "Patient-ID", "Användare", "Datum/tid"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    sheet.write_string(1, 0, "Läst journal").unwrap();
    sheet.write_string(1, 1, "19121212-1212").unwrap();
    sheet.write_string(1, 2, "C821234").unwrap();
    sheet.write_string(1, 3, "2027-04-12 08:15:00").unwrap();
    // Typed as Excel does when someone pastes them: a number and a date-time.
    sheet.write_string(2, 0, "Ändrat").unwrap();
    sheet.write_number(2, 1, 198005159127.0).unwrap();
    sheet.write_string(2, 2, "C821235").unwrap();
    let t = ExcelDateTime::parse_from_str("2027-04-13 17:45:30").unwrap();
    sheet.write_datetime_with_format(2, 3, &t, &when).unwrap();
    sheet.write_string(3, 0, "Läst").unwrap();
    sheet.write_string(3, 1, "195001012384").unwrap();
    sheet.write_string(3, 2, "C821236").unwrap();
    sheet.write_string(3, 3, "2027-04-13 17:45").unwrap();
    let bytes = book.save_to_buffer().unwrap();

    let out = read(&bytes).unwrap();
    assert_eq!(out.events.len(), 2, "{:?}", out.rejected);
    assert_eq!(out.events[0].patient_id.digits(), "191212121212");
    assert_eq!(out.events[1].patient_id.digits(), "198005159127");
    assert_eq!(out.events[1].time.to_string(), "2027-04-13 17:45:30");
    assert_eq!(out.events[1].action, Action::Write);
    assert_eq!(out.rejected.len(), 1);
    assert_eq!(out.rejected[0].line, 4);
    assert_eq!(out.rejected[0].field.as_deref(), Some("Personnummer"));
    assert!(!out.rejected[0].to_string().contains("1950"));

    let mut book = Workbook::new();
    book.add_worksheet().write_string(0, 0, "Tidpunkt").unwrap();
    let err = read(&book.save_to_buffer().unwrap()).unwrap_err();
    assert!(err.message.contains("Personnummer"), "{err}");

    let err = read(b"PK\x03\x04 not really a zip").unwrap_err();
    assert_eq!(err.kind, ErrorKind::Malformed);
}

#[test]
fn line_numbers_count_blank_lines_and_line_breaks_inside_quotes() {
    let file = "Tidpunkt;Användare;Personnummer;Händelse\r\n\
                \r\n\
                2027-04-12 08:15:00;C1;191212121212;\"Läst\r\n\r\nflera rader\"\r\n\
                ;;;\r\n\
                \r\n\
                2027-04-12 08:15:00;C2;19121212;Läst\r\n\
                \n\
                2027-04-12 08:15:00;C3;191212121212;\"Läst \"\"x\"\"\"\n\
                2027-04-12 08:15:00;C4;19121212;Läst";
    let out = read(file.as_bytes()).unwrap();
    assert_eq!(out.events.len(), 2, "{:?}", out.rejected);
    assert_eq!(out.events[0].event_text, "Läst\r\n\r\nflera rader");
    assert_eq!(out.events[1].event_text, "Läst \"x\"");
    let lines: Vec<u64> = out.rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, [8, 11]);
}

/// The process's peak resident memory so far, in MB (Linux).
fn peak_rss_mb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

/// The extract's header on the sheet's first row.
fn write_header(sheet: &mut rust_xlsxwriter::Worksheet) {
    for (c, h) in ["Händelse", "Patient-ID", "Användare", "Datum/tid"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
}

#[test]
fn a_crafted_sparse_workbook_is_refused_in_one_line_without_growing() {
    use rust_xlsxwriter::Workbook;

    // A header and one cell at XFD1048576: read as a rectangle, that is 17 billion cells
    // (calamine asked for 549 GB and the process aborted).
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    write_header(sheet);
    sheet.write_string(1_048_575, 16_383, "x").unwrap();
    let bytes = book.save_to_buffer().unwrap();
    assert!(bytes.len() < 16 * 1024, "{} bytes", bytes.len());
    let err = read(&bytes).unwrap_err();
    assert_eq!(err.message.lines().count(), 1, "{err}");
    assert!(
        err.message.contains("column 16384") && err.message.contains("at most 256 columns"),
        "{err}"
    );
    if let Some(mb) = peak_rss_mb() {
        assert!(mb < 300, "peak RSS {mb} MB");
    }

    // Far down but within the width (Z1000000, which grew the server by 794 MB): the row is
    // read as one more row, with nothing made for the rows in between, and refused with its
    // line.
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    write_header(sheet);
    sheet.write_string(999_999, 25, "x").unwrap();
    let out = read(&book.save_to_buffer().unwrap()).unwrap();
    assert_eq!(out.events.len(), 0);
    assert_eq!(
        out.rejected.len(),
        1,
        "the one far row is refused with its line"
    );
    assert_eq!(out.rejected[0].line, 1_000_000);
    if let Some(mb) = peak_rss_mb() {
        assert!(mb < 300, "peak RSS {mb} MB");
    }
}

/// A workbook that unpacks to far more than its size (a zip bomb: 80 MB of sheet in a file of
/// about 80 KB) is refused in one line before any cell is read.
#[test]
fn a_workbook_that_unpacks_to_a_hundred_times_its_size_is_refused() {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("xl/worksheets/sheet1.xml", deflated)
        .unwrap();
    let row = "<row><c t=\"inlineStr\"><is><t>x</t></is></c></row>".repeat(1000);
    for _ in 0..(80_000_000 / row.len()) {
        zip.write_all(row.as_bytes()).unwrap();
    }
    let bytes = zip.finish().unwrap().into_inner();
    assert!(bytes.len() < 2_000_000, "{} bytes", bytes.len());
    let err = read(&bytes).unwrap_err();
    assert_eq!(err.message.lines().count(), 1, "{err}");
    assert!(err.message.contains("the workbook unpacks to"), "{err}");
    assert!(err.message.contains("100 times the file's size"), "{err}");
}
