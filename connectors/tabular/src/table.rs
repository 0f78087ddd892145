use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Cursor, Read};
use std::rc::Rc;

use calamine::{Data, Reader as _, Xlsx};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use loggvakt_connector::{
    AccessEvent, Action, ConnectorError, ImportLimits, ImportOutcome, Personnummer, RowError,
};

const XLSX_MAGIC: &[u8; 4] = b"PK\x03\x04";
const BOM: &[u8] = b"\xEF\xBB\xBF";
/// A header line longer than this is not a header; it bounds what is read to find one.
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// A column an extract may have: its name as the source system writes it, the other names
/// accepted for it, and whether a file without it can be imported at all.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Used in error messages and in [`RowError::field`].
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub required: bool,
}

impl Column {
    pub const fn required(name: &'static str, aliases: &'static [&'static str]) -> Self {
        Self {
            name,
            aliases,
            required: true,
        }
    }

    pub const fn optional(name: &'static str, aliases: &'static [&'static str]) -> Self {
        Self {
            name,
            aliases,
            required: false,
        }
    }

    fn matches(&self, header: &str) -> bool {
        let header = header.trim().to_lowercase();
        std::iter::once(&self.name)
            .chain(self.aliases)
            .any(|n| n.to_lowercase() == header)
    }
}

/// One data row, seen through the connector's column list: `col` arguments are indices into
/// the `columns` slice passed to [`import`].
pub struct Row<'a> {
    line: u64,
    cells: &'a [String],
    positions: &'a [Option<usize>],
    columns: &'a [Column],
    delimiter: u8,
}

impl Row<'_> {
    /// 1-based line of the file (or row of the sheet) the row starts on.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The trimmed cell, or `None` when it is empty or the file has no such column.
    pub fn get(&self, col: usize) -> Option<&str> {
        let pos = self.positions[col]?;
        let text = self.cells.get(pos)?.trim();
        (!text.is_empty()).then_some(text)
    }

    pub fn required(&self, col: usize) -> Result<&str, RowError> {
        self.get(col).ok_or_else(|| self.error(col, "is empty"))
    }

    pub fn optional(&self, col: usize) -> Option<String> {
        self.get(col).map(str::to_owned)
    }

    pub fn personnummer(&self, col: usize) -> Result<Personnummer, RowError> {
        Personnummer::parse(self.required(col)?)
            .map_err(|_| self.error(col, "is not a valid personnummer"))
    }

    /// A date and time in one cell, in the forms of [`parse_time`].
    pub fn time(&self, col: usize) -> Result<NaiveDateTime, RowError> {
        parse_time(self.required(col)?)
            .ok_or_else(|| self.error(col, "is not a time of the form YYYY-MM-DD HH:MM:SS"))
    }

    /// A date and a time of day in two cells (Treserva's `Datum` and `Tid`).
    pub fn date_and_time(
        &self,
        date_col: usize,
        time_col: usize,
    ) -> Result<NaiveDateTime, RowError> {
        let date = NaiveDate::parse_from_str(self.required(date_col)?, "%Y-%m-%d")
            .map_err(|_| self.error(date_col, "is not a date of the form YYYY-MM-DD"))?;
        let text = self.required(time_col)?;
        let time = NaiveTime::parse_from_str(text, "%H:%M:%S")
            .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M"))
            .map_err(|_| self.error(time_col, "is not a time of day of the form HH:MM:SS"))?;
        Ok(date.and_time(time))
    }

    /// A rejection of this row, blaming column `col`.
    pub fn error(&self, col: usize, reason: impl Into<String>) -> RowError {
        RowError {
            line: self.line,
            field: Some(self.columns[col].name.to_owned()),
            reason: reason.into(),
        }
    }

    /// The whole row as a line of the file's own separator, kept as evidence in
    /// [`AccessEvent::raw`]; it holds every column, also those no event field takes.
    pub fn raw(&self) -> String {
        let mut w = csv::WriterBuilder::new()
            .delimiter(self.delimiter)
            .from_writer(Vec::new());
        // Writing to a Vec cannot fail.
        let _ = w.write_record(self.cells);
        let bytes = w.into_inner().unwrap_or_default();
        String::from_utf8_lossy(&bytes).trim_end().to_owned()
    }
}

/// Where the fields of an [`AccessEvent`] stand in a system's extract, as indices into its
/// [`Column`] list, and how the system words its actions. This is what the built-in
/// connectors' extracts differ in, so one mapping serves them all.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub columns: &'static [Column],
    pub time: TimeColumns,
    pub user_id: usize,
    pub user_name: Option<usize>,
    pub patient_id: usize,
    pub patient_name: Option<usize>,
    pub care_unit: Option<usize>,
    pub event_text: usize,
    pub system_part: Option<usize>,
    /// For [`action_by_prefix`].
    pub actions: &'static [(&'static str, Action)],
}

/// Where an event's time stands.
#[derive(Debug, Clone, Copy)]
pub enum TimeColumns {
    /// Date and time in one cell (see [`Row::time`]).
    One(usize),
    /// A date cell and a time-of-day cell (see [`Row::date_and_time`]).
    DateAndTime(usize, usize),
}

impl Layout {
    /// The layout of an extract whose first seven columns hold the event's fields in the
    /// event's own order: time, user id, user name, patient id, patient name, care unit and
    /// event text.
    pub const fn in_event_order(
        columns: &'static [Column],
        system_part: Option<usize>,
        actions: &'static [(&'static str, Action)],
    ) -> Layout {
        Layout {
            columns,
            time: TimeColumns::One(0),
            user_id: 1,
            user_name: Some(2),
            patient_id: 3,
            patient_name: Some(4),
            care_unit: Some(5),
            event_text: 6,
            system_part,
            actions,
        }
    }

    /// [`import`] with this layout's columns, every row made an event of `system_id`.
    pub fn import(
        &self,
        system_id: &str,
        input: &mut dyn Read,
        limits: &ImportLimits,
    ) -> Result<ImportOutcome, ConnectorError> {
        self.import_with(system_id, input, limits, |_, _| {})
    }

    /// [`Layout::import`], each event then finished by `finish`: for a column no field of
    /// the layout takes, or a source's own wording to keep in one spelling.
    pub fn import_with(
        &self,
        system_id: &str,
        input: &mut dyn Read,
        limits: &ImportLimits,
        finish: impl Fn(&Row, &mut AccessEvent),
    ) -> Result<ImportOutcome, ConnectorError> {
        import(input, limits, self.columns, |row| {
            let mut event = self.event(system_id, row)?;
            finish(row, &mut event);
            Ok(event)
        })
    }

    /// One row as an event of `system_id`, the whole row kept as its `raw` evidence.
    pub fn event(&self, system_id: &str, row: &Row) -> Result<AccessEvent, RowError> {
        // The fields are checked in this order so that a row with several faults is
        // rejected for the same one whichever system it came from.
        let event_text = row.required(self.event_text)?.to_owned();
        let time = match self.time {
            TimeColumns::One(col) => row.time(col)?,
            TimeColumns::DateAndTime(date, time) => row.date_and_time(date, time)?,
        };
        let optional = |col: Option<usize>| col.and_then(|c| row.optional(c));
        Ok(AccessEvent {
            time,
            system: system_id.to_owned(),
            user_id: row.required(self.user_id)?.to_owned(),
            user_name: optional(self.user_name),
            patient_id: row.personnummer(self.patient_id)?,
            patient_name: optional(self.patient_name),
            care_unit: optional(self.care_unit),
            action: action_by_prefix(&event_text, self.actions),
            event_text,
            system_part: optional(self.system_part),
            raw: Some(row.raw()),
            protected_identity: false,
            reference_number: None,
        })
    }
}

/// Parses the date-time forms the extracts use: `YYYY-MM-DD HH:MM[:SS]`, also with a `T`.
pub fn parse_time(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
}

/// Maps a source's event wording to an [`Action`] by its first word(s), case-insensitively:
/// the systems add objects to their verbs (`Läst journalanteckning`, `Visar hjälpmedel`).
pub fn action_by_prefix(text: &str, table: &[(&str, Action)]) -> Action {
    let text = text.trim().to_lowercase();
    table
        .iter()
        .find(|(prefix, _)| text.starts_with(&prefix.to_lowercase()))
        .map_or(Action::Other, |&(_, a)| a)
}

/// Reads an extract from `input`, refusing it as soon as it passes `limits.max_bytes`: a CSV
/// file is streamed, an XLSX file (a zip, which needs to seek) is read whole.
///
/// `map` turns each data row into an event; its `Err` rejects the row. A file that is empty
/// or lacks a required column is a [`loggvakt_connector::ErrorKind::Malformed`] error.
pub fn import(
    input: &mut dyn Read,
    limits: &ImportLimits,
    columns: &[Column],
    map: impl FnMut(&Row) -> Result<AccessEvent, RowError>,
) -> Result<ImportOutcome, ConnectorError> {
    let table = read_table(input, limits, columns, map)?;
    Ok(ImportOutcome {
        events: table.items,
        rejected: table.rejected,
        lines: table.lines,
    })
}

/// The rows of a table that [`read_table`] read: what `map` made of each, the line each
/// came from (parallel to `items`), and the rows that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table<T> {
    pub items: Vec<T>,
    pub lines: Vec<u64>,
    pub rejected: Vec<RowError>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            lines: Vec::new(),
            rejected: Vec::new(),
        }
    }
}

/// [`import`] for any kind of row, not only access events (a system's exported user list,
/// an HR export): the same limits, separator detection, line numbers and XLSX caps.
pub fn read_table<T>(
    input: &mut dyn Read,
    limits: &ImportLimits,
    columns: &[Column],
    map: impl FnMut(&Row) -> Result<T, RowError>,
) -> Result<Table<T>, ConnectorError> {
    let mut head = Vec::with_capacity(4);
    (&mut *input)
        .take(4)
        .read_to_end(&mut head)
        .map_err(read_error)?;
    if head.as_slice() == XLSX_MAGIC {
        let bytes = limits.read_all(&mut head.as_slice().chain(input))?;
        check_expansion(&bytes, limits.max_bytes)?;
        return import_xlsx(&bytes, columns, map);
    }
    let limited = Limited {
        inner: head.as_slice().chain(input),
        left: limits.max_bytes,
        max: limits.max_bytes,
    };
    import_csv(limited, columns, map)
}

fn read_error(e: io::Error) -> ConnectorError {
    if let Some(Oversize(max)) = e.get_ref().and_then(|i| i.downcast_ref::<Oversize>()) {
        // The same words as the SDK's `ImportLimits::read_all`, so both paths read alike.
        ConnectorError::permanent(format!(
            "the file is larger than the import limit of {max} bytes"
        ))
    } else {
        ConnectorError::permanent(format!("cannot read the file: {e}"))
    }
}

#[derive(Debug)]
struct Oversize(u64);

impl std::fmt::Display for Oversize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the file is larger than {} bytes", self.0)
    }
}

impl std::error::Error for Oversize {}

/// Fails the read once more than `max` bytes came through, so a huge file is refused after
/// reading just past the limit rather than after reading it all.
struct Limited<R> {
    inner: R,
    left: u64,
    max: u64,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.left.saturating_add(1)).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > self.left {
            return Err(io::Error::other(Oversize(self.max)));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn empty_file() -> ConnectorError {
    ConnectorError::malformed("the file is empty: no header line and no rows")
}

/// Where each of `columns` sits in the file's header; a required column that is missing or
/// a column named twice fails the file.
fn locate(
    header: &[String],
    columns: &[Column],
    line: u64,
) -> Result<Vec<Option<usize>>, ConnectorError> {
    let mut positions = vec![None; columns.len()];
    for (pos, name) in header.iter().enumerate() {
        let name = name.strip_prefix('\u{FEFF}').unwrap_or(name);
        if let Some(col) = columns.iter().position(|c| c.matches(name))
            && positions[col].replace(pos).is_some()
        {
            return Err(ConnectorError::malformed(format!(
                "line {line}: the header names the column {} twice",
                columns[col].name
            )));
        }
    }
    let missing: Vec<&str> = columns
        .iter()
        .zip(&positions)
        .filter(|(c, p)| c.required && p.is_none())
        .map(|(c, _)| c.name)
        .collect();
    if !missing.is_empty() {
        return Err(ConnectorError::malformed(format!(
            "line {line}: the header lacks the required column{} {}",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", ")
        )));
    }
    Ok(positions)
}

/// Picks the separator the header line uses most; Swedish spreadsheet exports use `;`
/// because `,` is the decimal sign.
fn detect_delimiter(header_line: &[u8]) -> u8 {
    let count = |d: u8| header_line.iter().filter(|&&b| b == d).count();
    if count(b';') > count(b',') {
        b';'
    } else {
        b','
    }
}

fn import_csv<T>(
    mut input: impl Read,
    columns: &[Column],
    map: impl FnMut(&Row) -> Result<T, RowError>,
) -> Result<Table<T>, ConnectorError> {
    // The header line is read ahead to choose the separator, then handed to csv again.
    let mut first = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match input.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => {
                first.push(byte[0]);
                let content = first.strip_prefix(BOM).unwrap_or(&first);
                let non_blank = content.iter().any(|b| !b.is_ascii_whitespace());
                if byte[0] == b'\n' && non_blank || first.len() > MAX_HEADER_BYTES {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_error(e)),
        }
    }
    let content = first.strip_prefix(BOM).unwrap_or(&first);
    if content.iter().all(u8::is_ascii_whitespace) {
        return Err(empty_file());
    }
    let delimiter = detect_delimiter(content);
    let (lines, starts) = Lines::new(first.as_slice().chain(input), delimiter);
    let next_line = || starts.borrow_mut().pop_front().unwrap_or(0);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(delimiter)
        // Widths are checked per row so the rejection names the line in our words.
        .flexible(true)
        .from_reader(lines);

    let mut record = csv::ByteRecord::new();
    let header_line = loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {
                let line = next_line();
                if !is_blank(&record) {
                    break line;
                }
            }
            Ok(false) => return Err(empty_file()),
            Err(e) => return Err(csv_fatal(e)),
        }
    };
    let header: Vec<String> = record
        .iter()
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let mut rows = Rows::new(
        locate(&header, columns, header_line)?,
        columns,
        delimiter,
        map,
    );
    let mut cells: Vec<String> = Vec::with_capacity(header.len());
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = next_line();
                if is_blank(&record) {
                    continue;
                }
                if record.len() != header.len() {
                    let reason = format!(
                        "has {} fields, the header has {}",
                        record.len(),
                        header.len()
                    );
                    rows.reject(line, None, reason);
                    continue;
                }
                cells.clear();
                let mut bad_utf8 = None;
                for (pos, cell) in record.iter().enumerate() {
                    match std::str::from_utf8(cell) {
                        Ok(s) => cells.push(s.to_owned()),
                        Err(_) => {
                            bad_utf8.get_or_insert(pos);
                            cells.push(String::new());
                        }
                    }
                }
                match bad_utf8 {
                    Some(pos) => rows.reject(line, rows.column_at(pos), "is not valid UTF-8"),
                    None => rows.add(line, &cells),
                }
            }
            Err(e) => {
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    return Err(csv_fatal(e));
                }
                rows.reject(next_line(), None, "is not valid CSV");
            }
        }
    }
    Ok(rows.outcome)
}

/// The data rows of a file whose header is located: each is mapped, and the outcome
/// collects the events with their lines and the rejections.
struct Rows<'a, F, T> {
    positions: Vec<Option<usize>>,
    columns: &'a [Column],
    delimiter: u8,
    map: F,
    outcome: Table<T>,
}

impl<'a, T, F: FnMut(&Row) -> Result<T, RowError>> Rows<'a, F, T> {
    fn new(positions: Vec<Option<usize>>, columns: &'a [Column], delimiter: u8, map: F) -> Self {
        Self {
            positions,
            columns,
            delimiter,
            map,
            outcome: Table::default(),
        }
    }

    fn add(&mut self, line: u64, cells: &[String]) {
        let row = Row {
            line,
            cells,
            positions: &self.positions,
            columns: self.columns,
            delimiter: self.delimiter,
        };
        match (self.map)(&row) {
            Ok(e) => {
                self.outcome.items.push(e);
                self.outcome.lines.push(line);
            }
            Err(e) => self.outcome.rejected.push(e),
        }
    }

    fn reject(&mut self, line: u64, field: Option<String>, reason: impl Into<String>) {
        self.outcome.rejected.push(RowError {
            line,
            field,
            reason: reason.into(),
        });
    }

    /// The name of the column at position `pos` of the file, if it is one of ours.
    fn column_at(&self, pos: usize) -> Option<String> {
        let col = self.positions.iter().position(|p| *p == Some(pos))?;
        Some(self.columns[col].name.to_owned())
    }
}

/// A blank line, or one of separators only, as spreadsheets write below a table.
fn is_blank(record: &csv::ByteRecord) -> bool {
    record
        .iter()
        .all(|c| c.strip_prefix(BOM).unwrap_or(c).trim_ascii().is_empty())
}

/// Where the CSV lexer stands, as far as telling a blank line apart from a line break
/// inside a quoted field needs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lex {
    FieldStart,
    Unquoted,
    Quoted,
    QuoteInQuoted,
}

/// Sits between the file and csv to number its records. csv's own record positions are off
/// by one after a `\r\n` line end and after a blank line (which it skips but dates the next
/// record to), so this reader counts lines itself and queues the line each record starts on.
/// It also turns each blank line into a line of one separator, a record of empty fields
/// that [`is_blank`] skips, so that records and queued lines stay one to one.
struct Lines<R> {
    inner: R,
    delimiter: u8,
    lex: Lex,
    line: u64,
    line_empty: bool,
    at_record_start: bool,
    starts: Rc<RefCell<VecDeque<u64>>>,
    chunk: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
}

impl<R: Read> Lines<R> {
    fn new(inner: R, delimiter: u8) -> (Self, Rc<RefCell<VecDeque<u64>>>) {
        let starts = Rc::new(RefCell::new(VecDeque::new()));
        let lines = Self {
            inner,
            delimiter,
            lex: Lex::FieldStart,
            line: 1,
            line_empty: true,
            at_record_start: true,
            starts: starts.clone(),
            chunk: vec![0; 8192],
            out: Vec::with_capacity(8192),
            pos: 0,
        };
        (lines, starts)
    }

    fn emit(&mut self, b: u8) {
        if self.at_record_start {
            self.starts.borrow_mut().push_back(self.line);
            self.at_record_start = false;
        }
        self.out.push(b);
    }

    fn push(&mut self, b: u8) {
        let newline = b == b'\n' || b == b'\r';
        if newline && self.lex != Lex::Quoted {
            if self.line_empty {
                self.emit(self.delimiter);
                // The `\n` of a `\r\n` must not add a second separator.
                self.line_empty = false;
            }
            if b == b'\n' {
                self.line_empty = true;
                self.line += 1;
            }
            self.lex = Lex::FieldStart;
            self.at_record_start = true;
            self.out.push(b);
            return;
        }
        self.line_empty = false;
        self.lex = match (self.lex, b) {
            (Lex::FieldStart, b'"') => Lex::Quoted,
            (Lex::FieldStart | Lex::Unquoted | Lex::QuoteInQuoted, d) if d == self.delimiter => {
                Lex::FieldStart
            }
            (Lex::Quoted, b'"') => Lex::QuoteInQuoted,
            (Lex::QuoteInQuoted, b'"') | (Lex::Quoted, _) => Lex::Quoted,
            _ => Lex::Unquoted,
        };
        self.emit(b);
        if b == b'\n' {
            self.line += 1;
        }
    }
}

impl<R: Read> Read for Lines<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.out.len() {
            self.out.clear();
            self.pos = 0;
            let n = self.inner.read(&mut self.chunk)?;
            if n == 0 {
                return Ok(0);
            }
            for i in 0..n {
                self.push(self.chunk[i]);
            }
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn csv_fatal(e: csv::Error) -> ConnectorError {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => read_error(io),
        _ => ConnectorError::malformed("the header line is not valid CSV"),
    }
}

/// How many times its own size a workbook may unpack to. Exported sheets compress about ten
/// to one; a crafted one (a 927 KB file of 3 million identical rows, 266 MB of XML) far more.
pub const MAX_XLSX_EXPANSION: u64 = 100;
/// Below this a workbook is never refused for its expansion: small files compress oddly.
const EXPANSION_FLOOR: u64 = 64 << 20;

/// Refuses, before a cell is read, a workbook whose parts unpack to more than the system's
/// size limit or to more than [`MAX_XLSX_EXPANSION`] times the file: its size is counted as
/// what it unpacks to. The sizes are those the zip's directory declares; a part that unpacks
/// to more than it declared is an error in the zip reader.
fn check_expansion(bytes: &[u8], max_bytes: u64) -> Result<(), ConnectorError> {
    // An unreadable zip is calamine's to describe.
    let Ok(mut zip) = zip::ZipArchive::new(Cursor::new(bytes)) else {
        return Ok(());
    };
    let unpacked = (0..zip.len())
        .filter_map(|i| zip.by_index_raw(i).ok().map(|f| f.size()))
        .fold(0u64, u64::saturating_add);
    let cap = max_bytes.min((bytes.len() as u64 * MAX_XLSX_EXPANSION).max(EXPANSION_FLOOR));
    if unpacked > cap {
        return Err(ConnectorError::malformed(format!(
            "the workbook unpacks to {} MB, more than the {} MB it may (its system's limit, or \
             {MAX_XLSX_EXPANSION} times the file's size)",
            unpacked >> 20,
            cap >> 20
        )));
    }
    Ok(())
}

/// The widest sheet read: an extract has a dozen columns, and a crafted workbook with one
/// cell far to the right must not make a row of thousands of cells.
pub const MAX_XLSX_COLUMNS: u32 = 256;
/// Excel's own row limit; a sheet claiming more rows is not an export of anything.
pub const MAX_XLSX_ROWS: u32 = 1_048_576;

/// Reads the first sheet cell by cell (never the whole sheet as a rectangle, which a single
/// cell at `XFD1048576` would make 17 billion cells large), one row at a time, refusing a
/// cell beyond the column or row cap with one line that names the cap.
fn import_xlsx<T>(
    bytes: &[u8],
    columns: &[Column],
    map: impl FnMut(&Row) -> Result<T, RowError>,
) -> Result<Table<T>, ConnectorError> {
    // calamine's errors describe the workbook's structure, never cell values.
    let unreadable = |e: calamine::XlsxError| {
        ConnectorError::malformed(format!(
            "the first sheet of the workbook cannot be read: {e}"
        ))
    };
    let mut book = Xlsx::new(Cursor::new(bytes)).map_err(|e| {
        ConnectorError::malformed(format!("the file is not a readable XLSX workbook: {e}"))
    })?;
    let Some(first) = book.sheet_names().first().cloned() else {
        return Err(empty_file());
    };
    let mut cells = book.worksheet_cells_reader(&first).map_err(unreadable)?;
    let mut sheet = SheetRows::new(columns, map);
    let mut row: Vec<String> = Vec::new();
    let mut row_index = None;
    while let Some(cell) = cells.next_cell().map_err(unreadable)? {
        let (r, c) = cell.get_position();
        if c >= MAX_XLSX_COLUMNS {
            return Err(ConnectorError::malformed(format!(
                "the sheet has a cell in column {} (row {}); at most {MAX_XLSX_COLUMNS} columns are read",
                c + 1,
                r + 1
            )));
        }
        if r >= MAX_XLSX_ROWS {
            return Err(ConnectorError::malformed(format!(
                "the sheet has a cell in row {}; a sheet has at most {MAX_XLSX_ROWS} rows",
                r + 1
            )));
        }
        if row_index != Some(r) {
            if let Some(done) = row_index {
                sheet.add(u64::from(done) + 1, &row)?;
            }
            row.clear();
            row_index = Some(r);
        }
        let c = c as usize;
        if row.len() <= c {
            row.resize(c + 1, String::new());
        }
        row[c] = cell_text(&cell.get_value().clone().into());
    }
    if let Some(done) = row_index {
        sheet.add(u64::from(done) + 1, &row)?;
    }
    sheet.finish()
}

/// The rows of a sheet as they come: the first non-empty one is the header, the rest are
/// mapped; empty rows are skipped, as csv skips blank lines.
struct SheetRows<'c, F, T> {
    columns: &'c [Column],
    map: Option<F>,
    rows: Option<Rows<'c, F, T>>,
}

impl<'c, T, F: FnMut(&Row) -> Result<T, RowError>> SheetRows<'c, F, T> {
    fn new(columns: &'c [Column], map: F) -> Self {
        Self {
            columns,
            map: Some(map),
            rows: None,
        }
    }

    fn add(&mut self, line: u64, cells: &[String]) -> Result<(), ConnectorError> {
        if cells.iter().all(|c| c.trim().is_empty()) {
            return Ok(());
        }
        match (&mut self.rows, self.map.take()) {
            (Some(rows), _) => rows.add(line, cells),
            (None, Some(map)) => {
                // A sheet has no separator; its `raw` rows are written with `;`, as Swedish
                // spreadsheet exports are.
                let layout = locate(cells, self.columns, line)?;
                self.rows = Some(Rows::new(layout, self.columns, b';', map));
            }
            (None, None) => unreachable!("the header takes the mapping"),
        }
        Ok(())
    }

    fn finish(self) -> Result<Table<T>, ConnectorError> {
        self.rows.map(|r| r.outcome).ok_or_else(empty_file)
    }
}

/// A cell as the text a CSV export of it would hold, so one row mapping serves both formats.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        // Personnummer typed into Excel become numbers; print them without a fraction.
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(dt) => match dt.as_datetime() {
            Some(t) if dt.as_f64() < 1.0 => t.format("%H:%M:%S").to_string(),
            Some(t) if dt.as_f64().fract() == 0.0 => t.format("%Y-%m-%d").to_string(),
            Some(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
            None => String::new(),
        },
        // An error cell is no value; a required column then reports it as empty.
        Data::Error(_) => String::new(),
    }
}
