//! The normalised CSV form of access events (DESIGN.md §6): what the file-drop import reads,
//! what exports write, and the lingua franca of plugins written in other languages.
//!
//! ```text
//! time,system,user_id,user_name,patient_id,patient_name,care_unit,action,event_text,system_part
//! 2023-10-13T08:24:56,sesam2,189986,,191212121212,,,read,Hjälper mottagare,Sesam
//! ```
//!
//! `time` is local Europe/Stockholm wall time to the second; an empty optional field is
//! `None`. The reader matches columns by name, so their order may vary; all ten must be
//! there (a missing optional column is more likely a misspelling than a choice), and extra
//! columns are ignored. `time`, `system`, `user_id`, `patient_id` and `action` must not be
//! empty; `event_text` may be, for sources that have no wording of their own.
//!
//! Every problem is reported with its file line and column. Error messages never repeat a
//! cell's value: a misplaced column can put a personnummer or a name anywhere.

use std::fmt;
use std::io;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::{AccessEvent, Action, ConnectorError, ImportLimits, ImportOutcome, Personnummer};
use column::{
    ACTION, CARE_UNIT, EVENT_TEXT, PATIENT_ID, PATIENT_NAME, SYSTEM, SYSTEM_PART, TIME, USER_ID,
    USER_NAME,
};

/// The header, in the order the writer uses.
pub const HEADER: [&str; 10] = [
    "time",
    "system",
    "user_id",
    "user_name",
    "patient_id",
    "patient_name",
    "care_unit",
    "action",
    "event_text",
    "system_part",
];

/// Each field's index in [`HEADER`].
pub mod column {
    pub const TIME: usize = 0;
    pub const SYSTEM: usize = 1;
    pub const USER_ID: usize = 2;
    pub const USER_NAME: usize = 3;
    pub const PATIENT_ID: usize = 4;
    pub const PATIENT_NAME: usize = 5;
    pub const CARE_UNIT: usize = 6;
    pub const ACTION: usize = 7;
    pub const EVENT_TEXT: usize = 8;
    pub const SYSTEM_PART: usize = 9;
}

/// The one time format of the CSV form.
pub const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S";

/// A row (or the header) that could not be read. Its text names the place and the problem,
/// never the offending value, so it can be logged and shown to anyone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RowError {
    /// 1-based line in the file where the row starts; the header is line 1.
    pub line: u64,
    /// The column at fault, when one is.
    pub field: Option<String>,
    pub reason: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "line {}, column {field}: {}", self.line, self.reason),
            None => write!(f, "line {}: {}", self.line, self.reason),
        }
    }
}

impl RowError {
    fn new(line: u64, field: Option<&str>, reason: impl Into<String>) -> Self {
        Self {
            line,
            field: field.map(str::to_owned),
            reason: reason.into(),
        }
    }
}

/// A file whose header is wrong cannot be imported at all.
impl From<RowError> for ConnectorError {
    fn from(e: RowError) -> Self {
        ConnectorError::malformed(e.to_string())
    }
}

/// Writes the header on creation (so an extract with no events is still a valid file), then
/// one row per event. Sub-second precision is dropped: the form is to the second.
pub struct Writer<W: io::Write> {
    inner: csv::Writer<W>,
}

impl<W: io::Write> Writer<W> {
    pub fn new(output: W) -> io::Result<Self> {
        let mut inner = csv::Writer::from_writer(output);
        inner.write_record(HEADER)?;
        Ok(Self { inner })
    }

    pub fn write(&mut self, event: &AccessEvent) -> io::Result<()> {
        let time = event.time.format(TIME_FORMAT).to_string();
        let opt = |o: &Option<String>| o.clone().unwrap_or_default();
        self.inner.write_record([
            time.as_str(),
            &event.system,
            &event.user_id,
            &opt(&event.user_name),
            event.patient_id.digits(),
            &opt(&event.patient_name),
            &opt(&event.care_unit),
            event.action.as_str(),
            &event.event_text,
            &opt(&event.system_part),
        ])?;
        Ok(())
    }

    /// Flushes and hands back the output.
    pub fn finish(self) -> io::Result<W> {
        self.inner
            .into_inner()
            .map_err(|e| io::Error::other(e.error().to_string()))
    }
}

/// Writes `events` as one complete CSV file.
pub fn write_all<'a, W: io::Write>(
    output: W,
    events: impl IntoIterator<Item = &'a AccessEvent>,
) -> io::Result<W> {
    let mut w = Writer::new(output)?;
    for e in events {
        w.write(e)?;
    }
    w.finish()
}

/// Where each column of [`HEADER`] sits in this file.
#[derive(Debug, Clone, Copy)]
struct Columns([usize; 10]);

/// Streams events from the CSV form; each item is one data row, with the file line it
/// started on. Rows that cannot be read are `Err` items and reading goes on, except after an
/// I/O error, which ends the iteration.
pub struct Reader<R: io::Read> {
    inner: csv::Reader<R>,
    columns: Columns,
    width: usize,
    record: csv::ByteRecord,
    keep_raw: bool,
    done: bool,
}

impl<R: io::Read> Reader<R> {
    /// Reads and checks the header; a missing or doubled column is an error at line 1.
    pub fn new(input: R) -> Result<Self, RowError> {
        let mut inner = csv::ReaderBuilder::new()
            .has_headers(false)
            // Row widths are checked here so the error names the line in our words.
            .flexible(true)
            .from_reader(input);
        let mut header = csv::ByteRecord::new();
        match inner.read_byte_record(&mut header) {
            Ok(true) => {}
            Ok(false) => {
                return Err(RowError::new(
                    1,
                    None,
                    format!(
                        "the file is empty; expected the header {}",
                        HEADER.join(",")
                    ),
                ));
            }
            Err(e) => return Err(RowError::new(1, None, csv_reason(&e))),
        }
        let mut found = [None::<usize>; 10];
        for (pos, name) in header.iter().enumerate() {
            let name = if pos == 0 {
                name.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(name)
            } else {
                name
            };
            let Some(col) = HEADER
                .iter()
                .position(|h| h.as_bytes() == name.trim_ascii())
            else {
                continue;
            };
            if found[col].replace(pos).is_some() {
                return Err(RowError::new(
                    1,
                    Some(HEADER[col]),
                    "the header names this column twice",
                ));
            }
        }
        let mut columns = [0; 10];
        for (col, pos) in found.iter().enumerate() {
            columns[col] = pos.ok_or_else(|| {
                RowError::new(1, Some(HEADER[col]), "the header has no such column")
            })?;
        }
        Ok(Self {
            inner,
            columns: Columns(columns),
            width: header.len(),
            record: csv::ByteRecord::new(),
            keep_raw: false,
            done: false,
        })
    }

    /// Keep each row, re-serialised as a CSV line, in [`AccessEvent::raw`]. Off by default,
    /// because for this form the row holds nothing the event does not, unless the file has
    /// extra columns worth keeping as evidence.
    pub fn keep_raw(mut self, keep: bool) -> Self {
        self.keep_raw = keep;
        self
    }

    fn parse_record(&self, line: u64) -> Result<AccessEvent, RowError> {
        let rec = &self.record;
        if rec.len() != self.width {
            return Err(RowError::new(
                line,
                None,
                format!("has {} fields, the header has {}", rec.len(), self.width),
            ));
        }
        let text = |col: usize| -> Result<&str, RowError> {
            let bytes = rec.get(self.columns.0[col]).unwrap_or_default();
            std::str::from_utf8(bytes)
                .map_err(|_| RowError::new(line, Some(HEADER[col]), "is not valid UTF-8"))
        };
        let required = |col: usize| -> Result<&str, RowError> {
            let t = text(col)?;
            if t.trim().is_empty() {
                Err(RowError::new(line, Some(HEADER[col]), "is empty"))
            } else {
                Ok(t)
            }
        };
        let optional = |col: usize| -> Result<Option<String>, RowError> {
            let t = text(col)?;
            Ok((!t.is_empty()).then(|| t.to_owned()))
        };

        let time = parse_time(required(TIME)?.trim()).map_err(|_| {
            RowError::new(
                line,
                Some("time"),
                "is not a local time of the form YYYY-MM-DDTHH:MM:SS",
            )
        })?;
        let patient_id = Personnummer::parse(required(PATIENT_ID)?)
            .map_err(|_| RowError::new(line, Some("patient_id"), "is not a valid personnummer"))?;
        let action = Action::parse(required(ACTION)?.trim()).ok_or_else(|| {
            let known: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
            RowError::new(
                line,
                Some("action"),
                format!("is not a known action (one of {})", known.join(", ")),
            )
        })?;
        let raw = if self.keep_raw {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_byte_record(rec)
                .and_then(|()| w.flush().map_err(Into::into))
                .map_err(|e| RowError::new(line, None, format!("cannot keep the row: {e}")))?;
            let bytes = w.into_inner().unwrap_or_default();
            Some(String::from_utf8_lossy(&bytes).trim_end().to_owned())
        } else {
            None
        };
        Ok(AccessEvent {
            time,
            system: required(SYSTEM)?.to_owned(),
            user_id: required(USER_ID)?.to_owned(),
            user_name: optional(USER_NAME)?,
            patient_id,
            patient_name: optional(PATIENT_NAME)?,
            care_unit: optional(CARE_UNIT)?,
            action,
            event_text: text(EVENT_TEXT)?.to_owned(),
            system_part: optional(SYSTEM_PART)?,
            raw,
            protected_identity: false,
            reference_number: None,
        })
    }
}

impl<R: io::Read> Iterator for Reader<R> {
    type Item = Result<(u64, AccessEvent), RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut record = std::mem::take(&mut self.record);
        let read = self.inner.read_byte_record(&mut record);
        self.record = record;
        match read {
            Ok(false) => {
                self.done = true;
                None
            }
            Ok(true) => {
                let line = self.record.position().map_or(0, |p| p.line());
                Some(self.parse_record(line).map(|e| (line, e)))
            }
            Err(e) => {
                let line = e
                    .position()
                    .map(|p| p.line())
                    .unwrap_or_else(|| self.inner.position().line());
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    self.done = true;
                }
                Some(Err(RowError::new(line, None, csv_reason(&e))))
            }
        }
    }
}

/// [`TIME_FORMAT`], read by hand when the text has exactly its shape (a third of the cost of
/// a row went to chrono's format interpreter), else by chrono, so that what is accepted and
/// refused stays chrono's.
fn parse_time(text: &str) -> chrono::ParseResult<NaiveDateTime> {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b[r].iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    if b.len() == 19
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(sec)) = (
            digits(0..4),
            digits(5..7),
            digits(8..10),
            digits(11..13),
            digits(14..16),
            digits(17..19),
        )
        && let (Some(date), Some(time)) = (
            chrono::NaiveDate::from_ymd_opt(y as i32, mo, d),
            chrono::NaiveTime::from_hms_opt(h, mi, sec),
        )
    {
        return Ok(date.and_time(time));
    }
    NaiveDateTime::parse_from_str(text, TIME_FORMAT)
}

/// csv's own messages are fine to show (they carry positions, not cell values), but ours are
/// shorter and say what to do.
fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Io(io) => format!("cannot read the file: {io}"),
        csv::ErrorKind::Utf8 { .. } => "is not valid UTF-8".to_owned(),
        _ => "is not valid CSV".to_owned(),
    }
}

/// Reads a whole file of the CSV form: good rows become events, bad rows are kept as
/// rejections. Only a bad header fails the whole read.
pub fn read_all<R: io::Read>(input: R) -> Result<ImportOutcome, RowError> {
    let mut outcome = ImportOutcome::default();
    for row in Reader::new(input)? {
        match row {
            Ok((line, e)) => {
                outcome.events.push(e);
                outcome.lines.push(line);
            }
            Err(e) => outcome.rejected.push(e),
        }
    }
    Ok(outcome)
}

/// [`read_all`] handed to `sink` in chunks as the rows are read (see
/// [`crate::Connector::import_stream`]): memory stays that of one chunk whatever the size of
/// the file, which is read through `limits` (its size is refused when passed, not up front).
pub fn import_stream(
    input: &mut dyn io::Read,
    limits: &ImportLimits,
    sink: &mut dyn FnMut(ImportOutcome) -> Result<(), ConnectorError>,
) -> Result<(), ConnectorError> {
    let mut reader = Reader::new(io::BufReader::with_capacity(1 << 16, limits.reader(input)))?;
    let mut chunk = ImportOutcome::default();
    while let Some(row) = reader.next() {
        match row {
            Ok((line, e)) => {
                chunk.events.push(e);
                chunk.lines.push(line);
            }
            // Past the limit, or the file could not be read on: no row after this one is
            // known, so the import fails rather than ending short.
            Err(e) if reader.done => {
                return Err(ConnectorError::permanent(e.reason));
            }
            Err(e) => chunk.rejected.push(e),
        }
        // Refused rows count too: a file of nothing but bad rows must not make one chunk of
        // its whole size (the plugin ABI refuses chunks past a size).
        if chunk.events.len() + chunk.rejected.len() == crate::IMPORT_CHUNK_EVENTS {
            sink(std::mem::take(&mut chunk))?;
        }
    }
    sink(chunk)
}

/// Inside an `impl Connector` block: `import` and `import_stream` of a connector whose
/// extracts come in this form, through [`crate::csv_form::import`] and
/// [`crate::csv_form::import_stream`] (row by row, so neither a plugin nor loggvakt holds the
/// whole file).
///
/// ```ignore
/// #[async_trait]
/// impl Connector for MyConnector {
///     // manifest, health, order, poll, …
///     loggvakt_connector::csv_form_imports!();
/// }
/// ```
#[macro_export]
macro_rules! csv_form_imports {
    () => {
        fn import(
            &self,
            input: &mut dyn ::std::io::Read,
            limits: &$crate::ImportLimits,
        ) -> ::std::result::Result<$crate::ImportOutcome, $crate::ConnectorError> {
            $crate::csv_form::import(input, limits)
        }

        fn import_stream(
            &self,
            input: &mut dyn ::std::io::Read,
            limits: &$crate::ImportLimits,
            sink: &mut dyn FnMut(
                $crate::ImportOutcome,
            ) -> ::std::result::Result<(), $crate::ConnectorError>,
        ) -> ::std::result::Result<(), $crate::ConnectorError> {
            $crate::csv_form::import_stream(input, limits, sink)
        }
    };
}

/// [`read_all`] within `limits`: the whole [`crate::Connector::import`] of a connector whose
/// extracts come in this form. The file is read in full first, so an oversized one is
/// refused before any row is parsed.
pub fn import(
    input: &mut dyn io::Read,
    limits: &ImportLimits,
) -> Result<ImportOutcome, ConnectorError> {
    let bytes = limits.read_all(input)?;
    Ok(read_all(bytes.as_slice())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hand_read_time_agrees_with_chrono() {
        for text in [
            "2027-03-28T02:30:00",
            "2027-12-31T23:59:59",
            "2024-02-29T00:00:00",
            "2027-02-29T00:00:00",
            "2027-13-01T00:00:00",
            "2027-01-01T24:00:00",
            "2027-06-30T23:59:60",
            "2027-1-01T00:00:00Z",
            "2027-01-01 00:00:00",
            "2027-01-01T00:00",
            "+2027-01-01T00:00:0",
            "２０２７-01-01T00:00:00",
        ] {
            assert_eq!(
                parse_time(text).ok(),
                NaiveDateTime::parse_from_str(text, TIME_FORMAT).ok(),
                "{text}"
            );
        }
    }
}
