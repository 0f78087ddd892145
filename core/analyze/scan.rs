//! The hot loop of `analyze`: splitting a chunk of the normalised CSV form into rows and
//! fields at the byte level, validating each row and running the row rules on it.
//!
//! The normalised form has one record per line. Quoted fields (with `,` and `""` inside)
//! are read; a quote left open at the end of a line is a malformed row, since a newline
//! inside a field would make line numbers, and chunking at newlines, meaningless.
//!
//! Nothing is allocated per row: fields are slices of the chunk (or of one reused buffer
//! for the rare line with escaped quotes), personnummer become integers, users are found in
//! a map keyed by their bytes, and output is written only for flagged rows.
//!
//! A flagged row's output is written here, whole and in line order, so that the thread that
//! writes stdout only copies each chunk's text once: what is the same for many rows (a user's
//! escaped ids, a set of codes, a day's text in reasons) is made once and copied, and
//! reasons go through one reused buffer. Where a fourth of the rows or more are flagged,
//! that is what decides the speed.

use std::borrow::Cow;

use chrono::NaiveDate;
use loggvakt_connector::csv_form::HEADER;
use loggvakt_connector::csv_form::column::{
    ACTION, CARE_UNIT, PATIENT_ID, PATIENT_NAME, SYSTEM, TIME, USER_ID,
};
use memchr::{memchr, memchr_iter};
use rustc_hash::FxHashMap;

use super::distinct::{Arena, Distinct};
use crate::model::rules::{Code, CodeSet, codes_of};
use crate::model::working_hours::DayKind;
use crate::rules::{DayText, RowFacts, Rules};

/// More columns than this in a header is not the normalised form.
pub const MAX_COLUMNS: usize = 64;

/// Where each column of [`HEADER`] sits in this file.
#[derive(Debug, Clone)]
pub struct Layout {
    columns: usize,
    at: [usize; 10],
}

impl Layout {
    /// Reads the header line; columns are matched by name, extra ones are ignored.
    pub fn from_header(line: &[u8]) -> Result<Layout, String> {
        let line = line.strip_prefix(b"\xef\xbb\xbf").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let text = std::str::from_utf8(line).map_err(|_| "the header is not UTF-8 text")?;
        let names: Vec<&str> = text
            .split(',')
            .map(|n| n.trim().trim_matches('"'))
            .collect();
        if names.len() > MAX_COLUMNS {
            return Err(format!("the header has more than {MAX_COLUMNS} columns"));
        }
        let mut at = [usize::MAX; 10];
        for (k, wanted) in HEADER.iter().enumerate() {
            let mut found = names.iter().enumerate().filter(|(_, n)| *n == wanted);
            match (found.next(), found.next()) {
                (Some((i, _)), None) => at[k] = i,
                (Some(_), Some(_)) => return Err(format!("column {wanted} appears twice")),
                (None, _) => {}
            }
        }
        let missing: Vec<&str> = HEADER
            .iter()
            .zip(at)
            .filter(|(_, i)| *i == usize::MAX)
            .map(|(n, _)| *n)
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "missing column(s) {}; the normalised form's header is {}",
                missing.join(", "),
                HEADER.join(",")
            ));
        }
        Ok(Layout {
            columns: names.len(),
            at,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

/// What is written about each flagged row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Codes and reasons (the default).
    Reasons,
    /// Codes only: what a first look at millions of flags needs, at a fraction of the bytes.
    Codes,
    /// Nothing: only the summary is written.
    None,
}

/// A row that could not be read: where, which column, why; never the value.
#[derive(Debug, Clone)]
pub struct Malformed {
    /// 0-based line within the chunk.
    pub line: u64,
    pub field: Option<&'static str>,
    pub reason: Cow<'static, str>,
}

/// What a worker hands back for one chunk.
#[derive(Debug, Default)]
pub struct ChunkOut {
    /// Lines in the chunk, blank ones included.
    pub lines: u64,
    pub rows: u64,
    pub flagged: u64,
    /// The flagged rows' output, line numbers included; in JSON each object is preceded by
    /// `,\n`, the writer drops the comma before the file's first.
    pub out: Vec<u8>,
    pub malformed: u64,
    /// The first few malformed rows, for messages.
    pub errors: Vec<Malformed>,
}

/// Malformed rows kept per chunk for messages; the caller caps the total it prints.
const ERRORS_PER_CHUNK: usize = 50;

/// Everything `analyze` keeps about one user: constant size whatever the file's size.
#[derive(Debug, Clone)]
pub struct UserState {
    pub system: Box<str>,
    pub user_id: Box<str>,
    pub staff: Option<u32>,
    pub rows: u64,
    pub flagged: u64,
    pub codes: [u64; Code::ALL.len()],
    pub distinct: Distinct,
}

/// What every row reads and writes of its user, kept small and in one array so that
/// 20 000 users' worth stays in the L2 cache; the rest of [`UserState`] is touched only by
/// flagged rows.
#[derive(Debug, Clone, Copy)]
struct Hot {
    /// Hash of the last care unit seen to match the user's units (0: none); users stay in
    /// one unit for long runs of rows, and comparing hashes needs no pointer chase.
    ok_unit: u64,
    /// Staff index, or `u32::MAX` for a user not in the staff list.
    staff: u32,
    rows: u32,
}

impl UserState {
    /// Adds another worker's state of the same user.
    pub fn merge(&mut self, other: UserState) {
        self.rows += other.rows;
        self.flagged += other.flagged;
        for (a, b) in self.codes.iter_mut().zip(other.codes) {
            *a += b;
        }
        self.distinct.merge(other.distinct);
    }
}

/// A parsed `time` field; its seconds are checked but no rule needs them.
#[derive(Debug, Clone, Copy)]
struct Time {
    date: u32,
    minute: u16,
}

/// A system's name and its users: ids packed into an integer, and the longer ones.
type SystemUsers = (Box<[u8]>, FxHashMap<u128, u32>, FxHashMap<Box<[u8]>, u32>);

/// A date's kinds for the rules and its text for reasons.
struct Day {
    today: DayKind,
    yesterday: DayKind,
    text: DayText,
}

/// One worker thread's state: its users and caches. Workers are merged at the end.
pub struct Worker<'a> {
    rules: &'a Rules,
    layout: Layout,
    format: Format,
    detail: Detail,
    /// For an extract read from a system's own export: the file's line of each data row.
    source_lines: Option<&'a [u64]>,
    /// File line of the current chunk's first line.
    first_line: u64,
    /// system → user id → index into `users`; ids of up to 15 bytes are packed into the
    /// key itself, so a lookup reads no other memory.
    systems: Vec<SystemUsers>,
    last_system: usize,
    hot: Vec<Hot>,
    cold: Vec<UserState>,
    /// Per user, the escaped text a flagged row of theirs repeats: JSON
    /// `,"system":…,"user_id":…`, CSV `,user_id`.
    user_text: Vec<Box<[u8]>>,
    distinct: Arena,
    /// `YYYYMMDD` → index into `day_list`.
    days: FxHashMap<u32, u32>,
    day_list: Vec<Day>,
    last_day: Option<(u32, u32)>,
    /// Per code set, its codes as written: JSON `"a","b"`, CSV `a;b`.
    codes_text: Vec<Box<[u8]>>,
    /// Unescaped copy of a line with `""` inside quoted fields.
    scratch: Vec<u8>,
    /// A flagged row's reasons before escaping.
    reasons: String,
}

impl<'a> Worker<'a> {
    pub fn new(
        rules: &'a Rules,
        layout: Layout,
        format: Format,
        detail: Detail,
        source_lines: Option<&'a [u64]>,
    ) -> Self {
        let codes_text = (0..1u32 << Code::ALL.len())
            .map(|set| {
                let mut text = Vec::new();
                for (i, code) in codes_of(set as CodeSet).enumerate() {
                    match format {
                        Format::Json => {
                            if i > 0 {
                                text.push(b',');
                            }
                            json_str(&mut text, code.as_str().as_bytes());
                        }
                        Format::Csv => {
                            if i > 0 {
                                text.push(b';');
                            }
                            text.extend_from_slice(code.as_str().as_bytes());
                        }
                    }
                }
                text.into_boxed_slice()
            })
            .collect();
        Self {
            rules,
            layout,
            format,
            detail,
            source_lines,
            first_line: 2,
            systems: Vec::new(),
            last_system: 0,
            hot: Vec::new(),
            cold: Vec::new(),
            user_text: Vec::new(),
            distinct: Arena::with_capacity(rules.staff_count() + 1024),
            days: FxHashMap::default(),
            day_list: Vec::new(),
            last_day: None,
            codes_text,
            scratch: Vec::new(),
            reasons: String::new(),
        }
    }

    /// The users seen, with their counters.
    pub fn into_users(self) -> Vec<UserState> {
        let Worker {
            hot,
            cold,
            distinct,
            ..
        } = self;
        cold.into_iter()
            .zip(hot)
            .enumerate()
            .map(|(i, (mut u, h))| {
                u.rows = u64::from(h.rows);
                u.distinct = distinct.get(i);
                u
            })
            .collect()
    }

    /// Processes whole lines (the chunk ends at a newline, or at the end of the file);
    /// `first_line` is the file line of the chunk's first.
    pub fn process(&mut self, chunk: &[u8], first_line: u64, out: &mut ChunkOut) {
        if chunk.is_empty() {
            return;
        }
        self.first_line = first_line;
        let utf8 = std::str::from_utf8(chunk).is_ok();
        let mut start = 0;
        let mut line_no = 0;
        for end in
            memchr_iter(b'\n', chunk).chain((chunk.last() != Some(&b'\n')).then_some(chunk.len()))
        {
            let line = &chunk[start..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if !line.is_empty() {
                self.line(line, line_no, utf8, out);
            }
            line_no += 1;
            start = end + 1;
        }
        out.lines = line_no;
    }

    fn line(&mut self, line: &[u8], line_no: u64, utf8: bool, out: &mut ChunkOut) {
        if !utf8 && std::str::from_utf8(line).is_err() {
            return malformed(out, line_no, None, "is not UTF-8 text".into());
        }
        if memchr(b'"', line).is_none() {
            let mut fields: [&[u8]; MAX_COLUMNS] = [&[]; MAX_COLUMNS];
            let n = split_plain(line, &mut fields);
            return self.row(&fields, n, line_no, out);
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut bounds = [(0, 0); MAX_COLUMNS];
        match split_quoted(line, &mut scratch, &mut bounds) {
            Ok(n) => {
                let mut fields: [&[u8]; MAX_COLUMNS] = [&[]; MAX_COLUMNS];
                for (field, &(s, e)) in fields.iter_mut().zip(&bounds[..n]) {
                    *field = &scratch[s..e];
                }
                self.row(&fields, n, line_no, out);
            }
            Err(reason) => malformed(out, line_no, None, reason.into()),
        }
        self.scratch = scratch;
    }

    fn row(&mut self, f: &[&[u8]; MAX_COLUMNS], n: usize, line_no: u64, out: &mut ChunkOut) {
        let (at, columns) = (self.layout.at, self.layout.columns);
        if n != columns {
            let reason = format!("has {n} fields; the header has {columns}");
            return malformed(out, line_no, None, reason.into());
        }
        let get = |k: usize| f[at[k]];
        let Some(time) = parse_time(get(TIME)) else {
            return malformed(out, line_no, Some("time"), NOT_A_TIME.into());
        };
        let (system, user) = (get(SYSTEM), get(USER_ID));
        for (k, name) in [(SYSTEM, "system"), (USER_ID, "user_id")] {
            if get(k).trim_ascii().is_empty() {
                return malformed(out, line_no, Some(name), "is empty".into());
            }
        }
        let Some(patient) = parse_personnummer(get(PATIENT_ID)) else {
            return malformed(out, line_no, Some("patient_id"), NOT_A_PNR.into());
        };
        if !is_action(get(ACTION)) {
            return malformed(out, line_no, Some("action"), NOT_AN_ACTION.into());
        }
        let Some(day) = self.day(time.date) else {
            return malformed(out, line_no, Some("time"), "is not a real date".into());
        };
        let (today, yesterday) = {
            let d = &self.day_list[day];
            (d.today, d.yesterday)
        };
        let (patient_name, care_unit) = (get(PATIENT_NAME), get(CARE_UNIT));
        let index = self.user(system, user) as usize;
        let rules = self.rules;
        self.distinct.insert(index, patient);
        let h = &mut self.hot[index];
        out.rows += 1;
        h.rows += 1;
        let staff = (h.staff != u32::MAX).then_some(h.staff);
        let unit_hash = if staff.is_some() && !care_unit.is_empty() {
            hash_bytes(care_unit)
        } else {
            0
        };
        let unit_checked = unit_hash != 0 && h.ok_unit == unit_hash;
        let facts = RowFacts {
            minute: time.minute,
            today,
            yesterday,
            patient,
            patient_name: text(patient_name),
            care_unit: if unit_checked { None } else { text(care_unit) },
            protected_flag: false,
        };
        let set = rules.row_codes(staff, &facts);
        if !unit_checked
            && unit_hash != 0
            && facts.care_unit.is_some()
            && set & Code::NoCareRelation.bit() == 0
        {
            h.ok_unit = unit_hash;
        }
        if set == 0 {
            return;
        }
        let u = &mut self.cold[index];
        u.flagged += 1;
        out.flagged += 1;
        for code in codes_of(set) {
            u.codes[code as usize] += 1;
        }
        if self.detail == Detail::None {
            return;
        }
        let line = self.first_line + line_no;
        let line = self
            .source_lines
            .map_or(line, |lines| super::export::source_line(lines, line));
        let o = &mut out.out;
        match self.format {
            Format::Json => {
                o.extend_from_slice(b",\n{\"line\":");
                push_u64(o, line, 1);
                o.extend_from_slice(b",\"time\":");
                json_str(o, get(TIME));
                o.extend_from_slice(&self.user_text[index]);
                o.extend_from_slice(b",\"patient_id\":\"");
                push_u64(o, patient, 12);
                o.extend_from_slice(b"\",\"codes\":[");
                o.extend_from_slice(&self.codes_text[set as usize]);
                if self.detail == Detail::Reasons {
                    o.extend_from_slice(b"],\"reasons\":[");
                    let text = &self.day_list[day].text;
                    for (i, code) in codes_of(set).enumerate() {
                        if i > 0 {
                            o.push(b',');
                        }
                        self.reasons.clear();
                        rules.write_reason(&mut self.reasons, code, staff, &facts, text);
                        json_str(o, self.reasons.as_bytes());
                    }
                }
                o.extend_from_slice(b"]}");
            }
            Format::Csv => {
                push_u64(o, line, 1);
                o.push(b',');
                o.extend_from_slice(get(TIME));
                o.extend_from_slice(&self.user_text[index]);
                o.push(b',');
                push_u64(o, patient, 12);
                o.push(b',');
                o.extend_from_slice(&self.codes_text[set as usize]);
                if self.detail == Detail::Reasons {
                    o.push(b',');
                    let text = &self.day_list[day].text;
                    self.reasons.clear();
                    for (i, code) in codes_of(set).enumerate() {
                        if i > 0 {
                            self.reasons.push_str("; ");
                        }
                        rules.write_reason(&mut self.reasons, code, staff, &facts, text);
                    }
                    csv_field(o, self.reasons.as_bytes());
                }
                o.push(b'\n');
            }
        }
    }

    /// The day of a date as `YYYYMMDD` (an index into `day_list`); None for no real date.
    fn day(&mut self, key: u32) -> Option<usize> {
        if let Some((k, i)) = self.last_day
            && k == key
        {
            return Some(i as usize);
        }
        let i = match self.days.get(&key) {
            Some(&i) => i,
            None => {
                let date =
                    NaiveDate::from_ymd_opt((key / 10_000) as i32, key / 100 % 100, key % 100)?;
                self.day_list.push(Day {
                    today: DayKind::of(date),
                    yesterday: DayKind::of(date.pred_opt().unwrap_or(date)),
                    text: DayText::of(date),
                });
                let i = (self.day_list.len() - 1) as u32;
                self.days.insert(key, i);
                i
            }
        };
        self.last_day = Some((key, i));
        Some(i as usize)
    }

    fn user(&mut self, system: &[u8], user: &[u8]) -> u32 {
        let s = match self.systems.get(self.last_system) {
            Some((s, _, _)) if **s == *system => self.last_system,
            _ => match self.systems.iter().position(|(s, _, _)| **s == *system) {
                Some(s) => s,
                None => {
                    self.systems
                        .push((system.into(), FxHashMap::default(), FxHashMap::default()));
                    self.systems.len() - 1
                }
            },
        };
        self.last_system = s;
        let packed = pack(user);
        let found = match packed {
            Some(key) => self.systems[s].1.get(&key),
            None => self.systems[s].2.get(user),
        };
        if let Some(&i) = found {
            return i;
        }
        let i = self.cold.len() as u32;
        let system_str = String::from_utf8_lossy(system);
        let user_str = String::from_utf8_lossy(user);
        let staff = self.rules.account(&system_str, &user_str);
        self.hot.push(Hot {
            ok_unit: 0,
            staff: staff.unwrap_or(u32::MAX),
            rows: 0,
        });
        self.distinct.push();
        let mut text = Vec::new();
        match self.format {
            Format::Json => {
                text.extend_from_slice(b",\"system\":");
                json_str(&mut text, system);
                text.extend_from_slice(b",\"user_id\":");
                json_str(&mut text, user);
            }
            Format::Csv => {
                text.push(b',');
                csv_field(&mut text, user);
            }
        }
        self.user_text.push(text.into_boxed_slice());
        self.cold.push(UserState {
            staff,
            system: system_str.into(),
            user_id: user_str.into(),
            rows: 0,
            flagged: 0,
            codes: [0; Code::ALL.len()],
            distinct: Distinct::default(),
        });
        match packed {
            Some(key) => self.systems[s].1.insert(key, i),
            None => self.systems[s].2.insert(user.into(), i),
        };
        i
    }
}

/// Up to 15 bytes and their length in one integer.
fn pack(b: &[u8]) -> Option<u128> {
    if b.len() > 15 {
        return None;
    }
    let mut bytes = [0u8; 16];
    bytes[..b.len()].copy_from_slice(b);
    bytes[15] = b.len() as u8;
    Some(u128::from_le_bytes(bytes))
}

/// A 64-bit hash that is never 0 (0 means "none" where it is kept).
fn hash_bytes(b: &[u8]) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = rustc_hash::FxBuildHasher.build_hasher();
    h.write(b);
    h.finish() | 1
}

/// A field as text, None when empty. Rows are UTF-8-checked before they are split at ASCII
/// commas, so the conversion cannot fail.
fn text(b: &[u8]) -> Option<&str> {
    let b = b.trim_ascii();
    (!b.is_empty()).then(|| std::str::from_utf8(b).unwrap_or_default())
}

const NOT_A_TIME: &str = "is not a time YYYY-MM-DDTHH:MM:SS";
const NOT_A_PNR: &str = "is not a valid personnummer (12 digits with a correct check digit)";
const NOT_AN_ACTION: &str =
    "is not one of read, write, create, sign, print, delete, emergency_open, other";

fn malformed(
    out: &mut ChunkOut,
    line: u64,
    field: Option<&'static str>,
    reason: Cow<'static, str>,
) {
    out.malformed += 1;
    if out.errors.len() < ERRORS_PER_CHUNK {
        out.errors.push(Malformed {
            line,
            field,
            reason,
        });
    }
}

/// Splits a line without quotes; returns the number of fields (more than
/// [`MAX_COLUMNS`] counts as `MAX_COLUMNS + 1`).
fn split_plain<'l>(line: &'l [u8], fields: &mut [&'l [u8]; MAX_COLUMNS]) -> usize {
    let mut n = 0;
    let mut start = 0;
    for comma in memchr_iter(b',', line) {
        if n + 1 >= MAX_COLUMNS {
            return MAX_COLUMNS + 1;
        }
        fields[n] = &line[start..comma];
        n += 1;
        start = comma + 1;
    }
    fields[n] = &line[start..];
    n + 1
}

/// Splits a line with quoted fields into `scratch` (unescaped, fields back to back), with
/// each field's range in `bounds`; returns the number of fields.
fn split_quoted(
    line: &[u8],
    scratch: &mut Vec<u8>,
    bounds: &mut [(usize, usize); MAX_COLUMNS],
) -> Result<usize, &'static str> {
    scratch.clear();
    let mut n = 0;
    let mut i = 0;
    loop {
        if n == MAX_COLUMNS {
            return Err("has more fields than the header");
        }
        let start = scratch.len();
        if line.get(i) == Some(&b'"') {
            i += 1;
            loop {
                let Some(q) = memchr(b'"', &line[i..]) else {
                    return Err(
                        "a quoted field is not closed on its line (the normalised form has one record per line)",
                    );
                };
                scratch.extend_from_slice(&line[i..i + q]);
                i += q + 1;
                if line.get(i) == Some(&b'"') {
                    scratch.push(b'"');
                    i += 1;
                } else {
                    break;
                }
            }
            match line.get(i) {
                None | Some(b',') => {}
                Some(_) => return Err("text follows a closing quote inside a field"),
            }
        } else {
            let end = memchr(b',', &line[i..]).map_or(line.len(), |c| i + c);
            if memchr(b'"', &line[i..end]).is_some() {
                return Err("a quote inside an unquoted field");
            }
            scratch.extend_from_slice(&line[i..end]);
            i = end;
        }
        bounds[n] = (start, scratch.len());
        n += 1;
        if i >= line.len() {
            break;
        }
        i += 1; // the comma
        if i == line.len() {
            if n == MAX_COLUMNS {
                return Err("has more fields than the header");
            }
            bounds[n] = (scratch.len(), scratch.len());
            n += 1;
            break;
        }
    }
    Ok(n)
}

fn digits<const N: usize>(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in &b[..N] {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + u32::from(d);
    }
    Some(v)
}

/// `YYYY-MM-DDTHH:MM:SS`; the date's reality is checked by [`Worker::day`].
fn parse_time(b: &[u8]) -> Option<Time> {
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d) = (
        digits::<4>(b)?,
        digits::<2>(&b[5..])?,
        digits::<2>(&b[8..])?,
    );
    let (h, mi, s) = (
        digits::<2>(&b[11..])?,
        digits::<2>(&b[14..])?,
        digits::<2>(&b[17..])?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    Some(Time {
        date: y * 10_000 + mo * 100 + d,
        minute: (h * 60 + mi) as u16,
    })
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}

/// A patient id as the SDK's `Personnummer::parse` accepts it, as its
/// [`crate::model::rules::pnr_key`]. The common forms, `YYYYMMDDNNNN` and `YYYYMMDD-NNNN`,
/// are checked here without allocating (real date, samordningsnummer day + 60, birth number
/// not 000, Luhn check digit); the rare others (ten digits, `+`, interim numbers) go through
/// the SDK.
pub fn parse_personnummer(b: &[u8]) -> Option<u64> {
    let b = b.trim_ascii();
    let mut d = [0u8; 12];
    match b.len() {
        12 => d.copy_from_slice(b),
        13 if b[8] == b'-' => {
            d[..8].copy_from_slice(&b[..8]);
            d[8..].copy_from_slice(&b[9..]);
        }
        _ => return parse_other_form(b),
    }
    let mut key = 0u64;
    for c in &mut d {
        *c = c.wrapping_sub(b'0');
        if *c > 9 {
            return parse_other_form(b);
        }
        key = key * 10 + u64::from(*c);
    }
    if d[8..11] == [0, 0, 0] {
        return None;
    }
    let year =
        u32::from(d[0]) * 1000 + u32::from(d[1]) * 100 + u32::from(d[2]) * 10 + u32::from(d[3]);
    let month = u32::from(d[4]) * 10 + u32::from(d[5]);
    let mut day = u32::from(d[6]) * 10 + u32::from(d[7]);
    if day > 60 {
        day -= 60;
    }
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let sum: u32 = d[2..11]
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let p = u32::from(c) * if i % 2 == 0 { 2 } else { 1 };
            p / 10 + p % 10
        })
        .sum();
    ((10 - sum % 10) % 10 == u32::from(d[11])).then_some(key)
}

fn parse_other_form(b: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(b).ok()?;
    let p = loggvakt_connector::Personnummer::parse(text).ok()?;
    Some(crate::model::rules::pnr_key(&p))
}

fn is_action(b: &[u8]) -> bool {
    matches!(
        b,
        b"read"
            | b"write"
            | b"create"
            | b"sign"
            | b"print"
            | b"delete"
            | b"emergency_open"
            | b"other"
    )
}

/// `n` in decimal, zero-padded to at least `width` digits.
fn push_u64(out: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i.min(buf.len() - width)..]);
}

/// Whether any byte is one of `special`'s: without early exit, so the loop is vectorised;
/// the texts are short and almost never have one.
fn any_of(s: &[u8], special: impl Fn(u8) -> bool) -> bool {
    s.iter().fold(false, |found, &c| found | special(c))
}

/// A JSON string, escaped.
pub fn json_str(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    if !any_of(s, |c| c < 0x20 || c == b'"' || c == b'\\') {
        out.extend_from_slice(s);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &c) in s.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..0x20 => {
                out.extend_from_slice(&s[start..i]);
                out.extend_from_slice(format!("\\u{c:04x}").as_bytes());
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&s[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
    out.push(b'"');
}

/// A CSV field, quoted when it has to be.
pub fn csv_field(out: &mut Vec<u8>, s: &[u8]) {
    // A spreadsheet runs a cell starting with one of these as a formula (a user id like
    // `=HYPERLINK(…)` in an extract): a leading `'` makes it text, as the report's CSV does.
    let formula = matches!(s.first(), Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r'));
    if any_of(s, |c| matches!(c, b',' | b'"' | b'\n' | b'\r')) {
        out.push(b'"');
        if formula {
            out.push(b'\'');
        }
        let mut start = 0;
        for q in memchr_iter(b'"', s) {
            out.extend_from_slice(&s[start..=q]);
            out.push(b'"');
            start = q + 1;
        }
        out.extend_from_slice(&s[start..]);
        out.push(b'"');
    } else {
        if formula {
            out.push(b'\'');
        }
        out.extend_from_slice(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_that_a_spreadsheet_would_run_are_made_text() {
        let cell = |s: &str| {
            let mut out = Vec::new();
            csv_field(&mut out, s.as_bytes());
            String::from_utf8(out).unwrap()
        };
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("-1+2"), "'-1+2");
        assert_eq!(cell("C800001"), "C800001");
        assert_eq!(cell("a, b"), "\"a, b\"");
    }

    #[test]
    fn numbers_and_json_strings_as_format_writes_them() {
        for (n, width) in [(0, 1), (7, 1), (1234, 1), (191_212_121_212, 12), (42, 12)] {
            let mut out = Vec::new();
            push_u64(&mut out, n, width);
            assert_eq!(out, format!("{n:0width$}").into_bytes());
        }
        for s in [
            "plain",
            "a \"quote\"",
            "back\\slash",
            "tab\tand\nnew\u{1}line",
            "åäö",
        ] {
            let mut out = Vec::new();
            json_str(&mut out, s.as_bytes());
            assert_eq!(out, serde_json::to_string(s).unwrap().into_bytes(), "{s}");
        }
    }

    #[test]
    fn personnummer_like_the_sdk() {
        for (raw, ok) in [
            ("191212121212", true),
            ("19121212-1212", true),
            ("191212121213", false),
            ("19121312-1212", false),
            ("1212121212", true),
            ("20000101-T220", true),
            ("20000101-E221", false),
            ("201509160006", false),
            ("19121272-1213", false),
            ("19800414-9988", true),
            ("2001111298881", false),
        ] {
            let sdk = loggvakt_connector::Personnummer::parse(raw).is_ok();
            assert_eq!(sdk, ok, "{raw} per the SDK");
            assert_eq!(parse_personnummer(raw.as_bytes()).is_some(), ok, "{raw}");
        }
        assert_eq!(parse_personnummer(b"19121212-1212"), Some(191_212_121_212));
    }

    #[test]
    fn quoted_fields_and_escapes() {
        let mut scratch = Vec::new();
        let mut bounds = [(0, 0); MAX_COLUMNS];
        let n = split_quoted(b"a,\"b, c\",\"say \"\"hi\"\"\",", &mut scratch, &mut bounds).unwrap();
        let got: Vec<&[u8]> = bounds[..n].iter().map(|&(s, e)| &scratch[s..e]).collect();
        let want: Vec<&[u8]> = vec![b"a", b"b, c", b"say \"hi\"", b""];
        assert_eq!(got, want);
        assert!(split_quoted(b"a,\"open", &mut scratch, &mut bounds).is_err());
        assert!(split_quoted(b"a,\"x\"y,b", &mut scratch, &mut bounds).is_err());
    }

    #[test]
    fn times_are_strict() {
        assert!(parse_time(b"2027-05-04T07:00:00").is_some());
        for bad in [
            "2027-05-04 07:00:00",
            "2027-13-04T07:00:00",
            "2027-05-04T24:00:00",
            "2027-05-04T07:00",
            "2027-05-0xT07:00:00",
        ] {
            assert!(parse_time(bad.as_bytes()).is_none(), "{bad}");
        }
    }
}
