//! `loggvakt analyze`: the anomaly rules over a normalised CSV extract of any size.
//!
//! The file is read in large chunks cut at newlines; worker threads (one per core) split,
//! validate and check the rows of a chunk while the main thread reads the next one and
//! writes finished chunks' flags in file order. Memory holds a few chunks and a constant
//! amount per user (counters and a distinct-patient sketch), never the rows.
//!
//! Output (stdout):
//! * `--format json` (default): `{"flags":[{"line","time","system","user_id","patient_id",
//!   "codes","reasons"}…],"summary":{…},"user_flags":[…]}`; flags come first so they can
//!   stream. `line` is the file line (the header is line 1).
//! * `--format csv`: `line,time,user_id,patient_id,codes,reasons`, one row per flagged line,
//!   codes separated by `;`, reasons by `; `; the summary goes to stderr.
//! * [`Detail::Codes`] (`--codes-only`): the same without `reasons`.
//! * [`Detail::None`] (`--summary`): no rows; JSON `{"summary":{…},"top_users":[…],
//!   "user_flags":[…]}` with the [`TOP_USERS`] users with most flagged rows; CSV one row per
//!   user (`system,user_id,staff_id,unit,rows,flagged_rows,distinct_patients`, a count per
//!   row code, `volume_spike` with its reason), most flagged rows first, the totals on stderr.
//!
//! Workers write each chunk's flagged rows whole, line numbers included (the reading thread
//! counts the lines of each chunk it hands out), so the output is written in file order one
//! chunk at a time.
//!
//! Malformed rows are reported on stderr with their line and column (at most
//! [`MAX_MESSAGES`]), the rest of the file is analysed, and the exit code is 1.

mod distinct;
mod export;
mod scan;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::config;
use crate::ident::UnitId;
use crate::model::org::{Contact, Organisation, Unit};
use crate::model::rules::Code;
use crate::rules::{Rules, median};
use scan::{ChunkOut, Layout, UserState, Worker};
pub use scan::{Detail, Format};

/// Bytes per chunk handed to a worker.
const CHUNK: usize = 1 << 20;
/// Malformed-row messages printed before the rest are only counted.
pub const MAX_MESSAGES: usize = 20;
/// Unit peers are the comparison group for volume_spike when the unit has at least this
/// many other active users in the file; else all users are.
const MIN_PEERS: usize = 4;
/// Users listed by `--summary` as those with most flagged rows.
pub const TOP_USERS: usize = 20;

pub struct Options {
    pub file: PathBuf,
    pub staff: Option<PathBuf>,
    pub protected: Option<PathBuf>,
    pub watchlist: Option<PathBuf>,
    pub format: Format,
    pub detail: Detail,
    /// An explicitly given configuration: its units, staff and rule settings are used.
    pub config: Option<PathBuf>,
}

/// Whether `--config` (or `LOGGVAKT_CONFIG`) was given, as opposed to the default folder,
/// which analyze must not depend on.
pub fn config_given() -> bool {
    std::env::var_os("LOGGVAKT_CONFIG").is_some()
        || std::env::args_os().any(|a| {
            let a = a.to_string_lossy();
            a == "--config" || a.starts_with("--config=")
        })
}

/// The organisation the rules run against: the configuration's, or one made of the staff
/// list (units named by their ids), or an empty one.
fn organisation(opts: &Options) -> Result<Organisation> {
    let base = match &opts.config {
        Some(path) => config::load(path)?,
        None => Organisation::new("analyze".into(), vec![], vec![], vec![], vec![]),
    };
    let mut org = match &opts.staff {
        None => base,
        Some(path) => {
            let staff = config::read_staff_csv(path)
                .map_err(|e| anyhow::anyhow!("{e}\nthe staff list has {} problem(s)", e.0.len()))?;
            let mut units = base.units.clone();
            let mut known: HashSet<UnitId> = units.iter().map(|u| u.id.clone()).collect();
            for s in &staff {
                if known.insert(s.unit.clone()) {
                    units.push(Unit {
                        id: s.unit.clone(),
                        name: s.unit.as_str().to_owned(),
                        parent: None,
                        manager: Contact {
                            name: String::new(),
                            email: String::new(),
                        },
                        escalate_to: None,
                        working_hours: None,
                        orderer: None,
                        orderer_by_system: Default::default(),
                    });
                }
            }
            let mut org = Organisation::new(
                base.name.clone(),
                units,
                base.systems.clone(),
                staff,
                base.routines.clone(),
            );
            org.rules = base.rules.clone();
            org
        }
    };
    for (path, protected) in [(&opts.protected, true), (&opts.watchlist, false)] {
        let Some(path) = path else { continue };
        let set = config::read_personnummer_csv(path).map_err(|e| {
            anyhow::anyhow!(
                "{}\nthe list has {} problem(s)",
                config::ConfigErrors(e.clone()),
                e.len()
            )
        })?;
        if protected {
            org.rules.protected.extend(set);
        } else {
            org.rules.watchlist.extend(set);
        }
    }
    Ok(org)
}

/// Runs the analysis, writing the result to `out`. Exit code 1 when rows were malformed.
pub fn run(opts: &Options, out: &mut dyn Write) -> Result<ExitCode> {
    let org = organisation(opts)?;
    let rules = Rules::for_org(&org);
    let path = &opts.file;
    let opened = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut size = opened.metadata().map(|m| m.len()).unwrap_or(0);
    let mut file: Box<dyn Read> = Box::new(opened);

    let mut first = Vec::with_capacity(CHUNK + (64 << 10));
    let mut header_end = first_line(&mut file, &mut first, path)?;
    let mut export = None;
    let layout = match Layout::from_header(&first[..header_end]) {
        Ok(layout) => layout,
        // Not the normalised form: perhaps a system's own export, which its connector reads.
        Err(e) => {
            let Some(normalised) = export::normalise(path)? else {
                bail!("{}:1: {e}", path.display());
            };
            size = normalised.csv.len() as u64;
            file = Box::new(std::io::Cursor::new(std::mem::take(
                &mut export.insert(normalised).csv,
            )));
            first.clear();
            header_end = first_line(&mut file, &mut first, path)?;
            Layout::from_header(&first[..header_end])
                .map_err(|e| anyhow::anyhow!("{}:1: {e}", path.display()))?
        }
    };
    first.drain(..(header_end + 1).min(first.len()));

    let progress = (std::io::stderr().is_terminal() && size > 64 << 20).then(|| {
        let bar = indicatif::ProgressBar::new(size);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} analysing {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });

    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 16);
    let source_lines = export.as_ref().map(|e| e.lines.as_slice());
    let mut writer = Output::new(
        opts.format,
        opts.detail,
        out,
        path.display().to_string(),
        source_lines,
    );
    if let Some(export) = &export {
        writer.refused(&export.rejected);
    }
    writer.start()?;

    let (work_tx, work_rx) = sync_channel::<(u64, u64, Vec<u8>)>(workers);
    let work_rx = Arc::new(Mutex::new(work_rx));
    let (done_tx, done_rx) = std::sync::mpsc::channel::<(u64, Vec<u8>, ChunkOut)>();
    let users: Vec<Vec<UserState>> = std::thread::scope(|scope| -> Result<_> {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let (rx, tx) = (Arc::clone(&work_rx), done_tx.clone());
                let (rules, layout) = (&rules, layout.clone());
                let (format, detail) = (opts.format, opts.detail);
                scope.spawn(move || {
                    let mut worker = Worker::new(rules, layout, format, detail, source_lines);
                    while let Some((seq, first_line, data)) = next(&rx) {
                        let mut result = ChunkOut::default();
                        worker.process(&data, first_line, &mut result);
                        if tx.send((seq, data, result)).is_err() {
                            break;
                        }
                    }
                    worker.into_users()
                })
            })
            .collect();
        drop(done_tx);

        let mut pool: Vec<Vec<u8>> = Vec::new();
        let mut carry = Vec::new();
        let mut buf = first;
        let mut seq = 0u64;
        // File line of the next chunk's first line: the header is line 1.
        let mut line = 2u64;
        let mut read_error = None;
        let mut want = CHUNK;
        loop {
            let eof = match read_up_to(&mut file, &mut buf, want) {
                Ok(_) => buf.len() < want,
                Err(e) => {
                    read_error = Some(e);
                    true
                }
            };
            if !eof {
                // Cut at the last newline; a line longer than a chunk makes the chunk bigger.
                match memchr::memrchr(b'\n', &buf) {
                    Some(i) => carry.extend_from_slice(&buf[i + 1..]),
                    None => {
                        want += CHUNK;
                        continue;
                    }
                }
                want = CHUNK;
                let keep = buf.len() - carry.len();
                buf.truncate(keep);
            }
            if let Some(bar) = &progress {
                bar.inc((buf.len() + if seq == 0 { header_end + 1 } else { 0 }) as u64);
            }
            let lines = memchr::memchr_iter(b'\n', &buf).count() as u64;
            if work_tx.send((seq, line, buf)).is_err() {
                break;
            }
            line += lines;
            seq += 1;
            while let Ok((s, data, result)) = done_rx.try_recv() {
                writer.finished(s, result)?;
                pool.push(data);
            }
            if eof {
                break;
            }
            buf = pool
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(CHUNK + (64 << 10)));
            buf.clear();
            buf.append(&mut carry);
        }
        drop(work_tx);
        for (s, _, result) in done_rx.iter() {
            writer.finished(s, result)?;
        }
        if let Some(e) = read_error {
            return Err(e).with_context(|| format!("cannot read {}", path.display()));
        }
        Ok(handles
            .into_iter()
            .map(|h| h.join().expect("analyze worker panicked"))
            .collect())
    })?;
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    let users = merge(users);
    writer.finish(&rules, users)
}

fn next(rx: &Mutex<Receiver<(u64, u64, Vec<u8>)>>) -> Option<(u64, u64, Vec<u8>)> {
    rx.lock().ok()?.recv().ok()
}

/// Reads the first chunk into `buf`; where its header line ends.
fn first_line(file: &mut dyn Read, buf: &mut Vec<u8>, path: &std::path::Path) -> Result<usize> {
    read_up_to(file, buf, CHUNK).with_context(|| format!("cannot read {}", path.display()))?;
    match memchr::memchr(b'\n', buf)
        .or_else(|| (buf.len() < CHUNK && !buf.is_empty()).then_some(buf.len()))
    {
        Some(end) => Ok(end),
        None => bail!("{}: empty file or no header line", path.display()),
    }
}

/// Reads until `buf` holds `want` bytes or the file ends; the number of bytes read.
fn read_up_to(file: &mut dyn Read, buf: &mut Vec<u8>, want: usize) -> std::io::Result<usize> {
    let missing = want.saturating_sub(buf.len());
    file.take(missing as u64).read_to_end(buf)
}

/// One user per (system, user id), workers' states added up, sorted for stable output.
fn merge(per_worker: Vec<Vec<UserState>>) -> Vec<UserState> {
    let mut by_key: BTreeMap<(Box<str>, Box<str>), UserState> = BTreeMap::new();
    for users in per_worker {
        for u in users {
            match by_key.entry((u.system.clone(), u.user_id.clone())) {
                std::collections::btree_map::Entry::Occupied(mut e) => e.get_mut().merge(u),
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(u);
                }
            }
        }
    }
    by_key.into_values().collect()
}

/// Writes finished chunks in file order, and the summary at the end.
struct Output<'w> {
    format: Format,
    detail: Detail,
    out: &'w mut dyn Write,
    file: String,
    pending: BTreeMap<u64, ChunkOut>,
    next: u64,
    /// File line of the next chunk's first line.
    line: u64,
    rows: u64,
    flagged: u64,
    malformed: u64,
    messages: usize,
    /// When the file was a system's export: the file's line of each normalised data row.
    source_lines: Option<&'w [u64]>,
}

impl<'w> Output<'w> {
    fn new(
        format: Format,
        detail: Detail,
        out: &'w mut dyn Write,
        file: String,
        source_lines: Option<&'w [u64]>,
    ) -> Self {
        Self {
            format,
            detail,
            out,
            file,
            pending: BTreeMap::new(),
            next: 0,
            line: 2,
            rows: 0,
            flagged: 0,
            malformed: 0,
            messages: 0,
            source_lines,
        }
    }

    /// The file's own line of line `n` of what the scan reads.
    fn source_line(&self, n: u64) -> u64 {
        self.source_lines
            .map_or(n, |lines| export::source_line(lines, n))
    }

    /// Rows a system's connector could not read, reported as the scan reports its own.
    fn refused(&mut self, rows: &[loggvakt_connector::RowError]) {
        for e in rows {
            if self.messages < MAX_MESSAGES {
                eprintln!("{}: {e}", self.file);
                self.messages += 1;
            }
        }
        self.malformed += rows.len() as u64;
    }

    fn start(&mut self) -> Result<()> {
        let head: &[u8] = match (self.format, self.detail) {
            (Format::Json, Detail::None) => b"{",
            (Format::Json, _) => b"{\"flags\":[",
            (Format::Csv, Detail::Reasons) => b"line,time,user_id,patient_id,codes,reasons\n",
            (Format::Csv, Detail::Codes) => b"line,time,user_id,patient_id,codes\n",
            (Format::Csv, Detail::None) => b"",
        };
        self.out.write_all(head)?;
        Ok(())
    }

    fn finished(&mut self, seq: u64, result: ChunkOut) -> Result<()> {
        self.pending.insert(seq, result);
        while let Some(result) = self.pending.remove(&self.next) {
            self.write_chunk(&result)?;
            self.next += 1;
        }
        Ok(())
    }

    fn write_chunk(&mut self, r: &ChunkOut) -> Result<()> {
        let text = match self.format {
            // The file's first flag has no comma before it.
            Format::Json if self.flagged == 0 => r.out.get(1..).unwrap_or_default(),
            _ => &r.out,
        };
        self.out.write_all(text)?;
        self.flagged += r.flagged;
        for e in &r.errors {
            if self.messages < MAX_MESSAGES {
                let place = match e.field {
                    Some(field) => format!(", column {field}"),
                    None => String::new(),
                };
                eprintln!(
                    "{}: line {}{place}: {}",
                    self.file,
                    self.source_line(self.line + e.line),
                    e.reason
                );
                self.messages += 1;
            }
        }
        self.malformed += r.malformed;
        self.rows += r.rows;
        self.line += r.lines;
        Ok(())
    }

    fn finish(self, rules: &Rules, users: Vec<UserState>) -> Result<ExitCode> {
        let spikes = volume_spikes(rules, &users);
        let mut by_code: BTreeMap<&str, u64> = Code::ALL.iter().map(|c| (c.as_str(), 0)).collect();
        for u in &users {
            for code in Code::ALL {
                *by_code.entry(code.as_str()).or_default() += u.codes[code as usize];
            }
        }
        by_code.insert(Code::VolumeSpike.as_str(), spikes.len() as u64);
        let user_flags: Vec<_> = spikes
            .iter()
            .map(|(&i, reason)| {
                json!({
                    "system": &*users[i].system,
                    "user_id": &*users[i].user_id,
                    "code": Code::VolumeSpike,
                    "reason": reason,
                })
            })
            .collect();
        let per_user = PerUser {
            rules,
            users: &users,
            spikes: &spikes,
        };
        let summary = Summary {
            by_code: &by_code,
            file: &self.file,
            flagged_rows: self.flagged,
            malformed_rows: self.malformed,
            per_user: &per_user,
            rows: self.rows,
            users: users.len(),
        };
        // Most flagged rows first; users are already in (system, user id) order for ties.
        let mut by_flags: Vec<usize> = (0..users.len()).collect();
        by_flags.sort_by_key(|&i| std::cmp::Reverse(users[i].flagged));
        match (self.format, self.detail) {
            (Format::Json, Detail::None) => {
                let top: Vec<UserSummary> = by_flags
                    .iter()
                    .filter(|&&i| users[i].flagged > 0)
                    .take(TOP_USERS)
                    .map(|&i| per_user.of(i))
                    .collect();
                self.out.write_all(b"\"summary\":")?;
                serde_json::to_writer(&mut *self.out, &summary)?;
                self.out.write_all(b",\n\"top_users\":")?;
                serde_json::to_writer(&mut *self.out, &top)?;
                self.out.write_all(b",\n\"user_flags\":")?;
                serde_json::to_writer(&mut *self.out, &user_flags)?;
                self.out.write_all(b"}\n")?;
            }
            (Format::Json, _) => {
                let tail = if self.flagged == 0 { "" } else { "\n" };
                write!(self.out, "{tail}],\n\"summary\":")?;
                serde_json::to_writer(&mut *self.out, &summary)?;
                self.out.write_all(b",\n\"user_flags\":")?;
                serde_json::to_writer(&mut *self.out, &user_flags)?;
                self.out.write_all(b"}\n")?;
            }
            (Format::Csv, detail) => {
                if detail == Detail::None {
                    let table = per_user_csv(&per_user, &by_flags);
                    self.out.write_all(&table)?;
                }
                let counts: Vec<String> = by_code
                    .iter()
                    .filter(|(_, n)| **n > 0)
                    .map(|(c, n)| format!("{c} {n}"))
                    .collect();
                eprintln!(
                    "{}: {} rows, {} flagged{}{}",
                    self.file,
                    self.rows,
                    self.flagged,
                    if counts.is_empty() { "" } else { ": " },
                    counts.join(", ")
                );
                for (&i, reason) in &spikes {
                    eprintln!(
                        "volume_spike: {} {}: {reason}",
                        users[i].system, users[i].user_id
                    );
                }
            }
        }
        self.out.flush()?;
        if self.malformed > 0 {
            if self.malformed as usize > self.messages {
                eprintln!(
                    "{}: … and {} more malformed row(s)",
                    self.file,
                    self.malformed as usize - self.messages
                );
            }
            eprintln!(
                "error: {} malformed row(s) in {} were skipped; the other rows were analysed",
                self.malformed, self.file
            );
            return Ok(ExitCode::FAILURE);
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The JSON summary, written as it is serialised: a tree of `serde_json::Value` for a region's
/// 30 000 users was the run's peak memory (some 60 MB) after the file's streaming was done.
/// Fields in alphabetical order, as the output has always had them.
#[derive(serde::Serialize)]
struct Summary<'a> {
    by_code: &'a BTreeMap<&'a str, u64>,
    file: &'a str,
    flagged_rows: u64,
    malformed_rows: u64,
    per_user: &'a PerUser<'a>,
    rows: u64,
    users: usize,
}

/// Every user's summary, made one at a time as the sequence is written.
struct PerUser<'a> {
    rules: &'a Rules,
    users: &'a [UserState],
    spikes: &'a BTreeMap<usize, String>,
}

impl<'a> PerUser<'a> {
    fn of(&self, i: usize) -> UserSummary<'a> {
        let u = &self.users[i];
        let (staff_id, unit) = u
            .staff
            .map(|s| self.rules.staff_ids(s))
            .map_or((None, None), |(id, unit)| (Some(id.as_str()), Some(unit)));
        UserSummary {
            codes: Codes(&u.codes),
            distinct_patients: u.distinct.count(),
            distinct_patients_exact: u.distinct.is_exact(),
            flagged_rows: u.flagged,
            rows: u.rows,
            staff_id,
            system: &u.system,
            unit,
            user_id: &u.user_id,
            volume_spike: self.spikes.get(&i).map(String::as_str),
        }
    }
}

impl serde::Serialize for PerUser<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq((0..self.users.len()).map(|i| self.of(i)))
    }
}

#[derive(serde::Serialize)]
struct UserSummary<'a> {
    codes: Codes<'a>,
    distinct_patients: usize,
    distinct_patients_exact: bool,
    flagged_rows: u64,
    rows: u64,
    staff_id: Option<&'a str>,
    system: &'a str,
    unit: Option<&'a str>,
    user_id: &'a str,
    volume_spike: Option<&'a str>,
}

/// A user's non-zero code counts, by code name in alphabetical order.
struct Codes<'a>(&'a [u64; Code::ALL.len()]);

/// The codes in the order of their names, as a JSON object's keys have always come.
static CODES_BY_NAME: std::sync::LazyLock<[Code; Code::ALL.len()]> =
    std::sync::LazyLock::new(|| {
        let mut codes = Code::ALL;
        codes.sort_by_key(|c| c.as_str());
        codes
    });

impl serde::Serialize for Codes<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(
            CODES_BY_NAME
                .iter()
                .copied()
                .filter(|&c| self.0[c as usize] > 0)
                .map(|c| (c.as_str(), self.0[c as usize])),
        )
    }
}

/// `--summary --format csv`: one row per user in the order of `order`, with a count per row
/// code and the volume_spike reason.
fn per_user_csv(per_user: &PerUser, order: &[usize]) -> Vec<u8> {
    let row_codes = || Code::ALL.into_iter().filter(|&c| c != Code::VolumeSpike);
    let mut out = b"system,user_id,staff_id,unit,rows,flagged_rows,distinct_patients".to_vec();
    for code in row_codes() {
        out.push(b',');
        out.extend_from_slice(code.as_str().as_bytes());
    }
    out.extend_from_slice(b",volume_spike\n");
    for &i in order {
        let u = per_user.of(i);
        let texts = [
            u.system,
            u.user_id,
            u.staff_id.unwrap_or(""),
            u.unit.unwrap_or(""),
        ];
        for (k, text) in texts.iter().enumerate() {
            if k > 0 {
                out.push(b',');
            }
            scan::csv_field(&mut out, text.as_bytes());
        }
        let numbers = [u.rows, u.flagged_rows, u.distinct_patients as u64]
            .into_iter()
            .chain(row_codes().map(|c| u.codes.0[c as usize]));
        for n in numbers {
            out.push(b',');
            out.extend_from_slice(n.to_string().as_bytes());
        }
        out.push(b',');
        scan::csv_field(&mut out, u.volume_spike.unwrap_or("").as_bytes());
        out.push(b'\n');
    }
    out
}

/// volume_spike per user: distinct patients against the median of the unit's other users
/// (when there are at least [`MIN_PEERS`] of them in the file), else of all other users.
fn volume_spikes(rules: &Rules, users: &[UserState]) -> BTreeMap<usize, String> {
    if !rules.is_enabled(Code::VolumeSpike) || users.len() < 2 {
        return BTreeMap::new();
    }
    let counts: Vec<usize> = users.iter().map(|u| u.distinct.count()).collect();
    let mut all = counts.clone();
    all.sort_unstable();
    let mut by_unit: HashMap<&str, Vec<usize>> = HashMap::new();
    for (u, &n) in users.iter().zip(&counts) {
        if let Some(s) = u.staff {
            by_unit.entry(rules.staff_ids(s).1).or_default().push(n);
        }
    }
    by_unit.values_mut().for_each(|v| v.sort_unstable());
    let mut spikes = BTreeMap::new();
    for (i, (u, &n)) in users.iter().zip(&counts).enumerate() {
        let group = u
            .staff
            .and_then(|s| by_unit.get(rules.staff_ids(s).1))
            .filter(|g| g.len() > MIN_PEERS)
            .unwrap_or(&all);
        if let Some(m) = median_without(group, n)
            && let Some(flag) = rules.volume_spike_vs_median(n, m)
        {
            spikes.insert(i, flag.reason);
        }
    }
    spikes
}

/// The median of sorted `values` with one occurrence of `own` left out.
fn median_without(values: &[usize], own: usize) -> Option<f64> {
    let pos = values.partition_point(|&v| v < own);
    if values.get(pos) != Some(&own) {
        return median(values);
    }
    let n = values.len() - 1;
    let at = |k: usize| if k < pos { values[k] } else { values[k + 1] };
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(at(n / 2) as f64),
        _ => Some((at(n / 2 - 1) + at(n / 2)) as f64 / 2.0),
    }
}

/// For callers that only have a path: runs with stdout as the output.
pub fn run_to_stdout(opts: &Options) -> Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    run(opts, &mut out)
}

#[cfg(test)]
mod tests {
    use super::median_without;

    #[test]
    fn median_leaves_the_user_out() {
        assert_eq!(median_without(&[10, 100], 100), Some(10.0));
        assert_eq!(median_without(&[1, 2, 3, 4], 4), Some(2.0));
        assert_eq!(median_without(&[1, 2, 3, 4], 1), Some(3.0));
        assert_eq!(median_without(&[5], 5), None);
        assert_eq!(median_without(&[1, 3], 2), Some(2.0));
    }
}
