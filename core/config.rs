//! Loads `schedules/*.toml` (and the staff CSV they name) and validates them into an
//! [`Organisation`]. Every problem is collected, not just the first, and each names its file,
//! line, item and field, so an administrator can fix a whole file in one pass.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::calendar::WindowRule;
use crate::ident::{Personnummer, RoutineId, StaffId, SystemId, UnitId};
use crate::model::org::{
    BUILT_IN_CONNECTORS, Cadence, ConnectorRef, Contact, NotifySettings, NotifyTransport,
    Organisation, Routine, RoutineKind, SampleRule, Staff, System, Unit, UnitSelector,
};

mod rules;

pub use rules::read_personnummer_csv;

/// The only time zone the Swedish calendar rules are defined for.
pub const TIMEZONE: &str = "Europe/Stockholm";

/// One problem in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    /// e.g. `[[routine]] 'stickprov-cosmic'` or `staff 's0017'`.
    pub item: Option<String>,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(": ")?;
        if let Some(item) = &self.item {
            write!(f, "{item}: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        f.write_str(&self.message)
    }
}

/// All problems found, one per line when displayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

// ---- the file format -------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    organisation: Option<Spanned<RawOrganisation>>,
    #[serde(default)]
    unit: Vec<Spanned<RawUnit>>,
    #[serde(default)]
    system: Vec<Spanned<RawSystem>>,
    #[serde(default)]
    staff: Vec<Spanned<RawStaff>>,
    #[serde(default)]
    routine: Vec<Spanned<RawRoutine>>,
    rules: Option<Spanned<rules::RawRules>>,
    notify: Option<Spanned<RawNotify>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    from: Option<String>,
    base_url: Option<String>,
    /// A folder for `.eml` files, relative to this file; the default transport.
    outbox: Option<String>,
    smtp: Option<RawSmtp>,
    remind_days_before: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    host: String,
    #[serde(default = "default_smtp_port")]
    port: i64,
    #[serde(default)]
    starttls: bool,
}

fn default_smtp_port() -> i64 {
    25
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOrganisation {
    name: String,
    timezone: Option<String>,
    staff_csv: Option<String>,
    /// CSV files with a `personnummer` column, relative to this file (the rules' lists).
    protected_csv: Option<String>,
    watchlist_csv: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUnit {
    id: String,
    name: String,
    parent: Option<String>,
    manager: Option<RawContact>,
    escalate_to: Option<RawContact>,
    working_hours: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContact {
    name: String,
    email: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSystem {
    id: String,
    connector: String,
    #[serde(default)]
    settings: toml::Table,
    #[serde(default = "default_max_attempts")]
    max_attempts: i64,
    #[serde(default = "default_delivery_sla_days")]
    delivery_sla_days: i64,
    #[serde(default = "default_max_extract_mb")]
    max_extract_mb: i64,
}

fn default_max_attempts() -> i64 {
    6
}
fn default_delivery_sla_days() -> i64 {
    10
}
fn default_max_extract_mb() -> i64 {
    1024
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStaff {
    id: String,
    name: String,
    unit: String,
    email: Option<String>,
    personnummer: Option<String>,
    #[serde(default)]
    usernames: BTreeMap<String, String>,
    active: Option<bool>,
    working_hours: Option<String>,
}

// Integers are read signed so that `min = -1` gets our message, not serde's.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoutine {
    id: String,
    kind: String,
    system: String,
    #[serde(default = "all_units")]
    units: Vec<String>,
    #[serde(default = "monthly")]
    cadence: String,
    #[serde(default)]
    window: RawWindow,
    #[serde(default)]
    sample: RawSample,
    #[serde(default = "default_review_hours")]
    review_period_hours: i64,
    #[serde(default = "default_deadline_days")]
    deadline_days: i64,
}

fn all_units() -> Vec<String> {
    vec!["*".into()]
}
fn monthly() -> String {
    "monthly".into()
}
fn default_review_hours() -> i64 {
    24
}
fn default_deadline_days() -> i64 {
    14
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawWindow {
    first_days: i64,
    weekdays_only: bool,
    skip_holidays: bool,
}

impl Default for RawWindow {
    fn default() -> Self {
        Self {
            first_days: 7,
            weekdays_only: true,
            skip_holidays: true,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSample {
    fraction: f64,
    min: i64,
}

impl Default for RawSample {
    fn default() -> Self {
        Self {
            fraction: 0.10,
            min: 1,
        }
    }
}

// ---- loading ---------------------------------------------------------------------------

/// A staff entry from either TOML or CSV, with where it came from.
struct StaffSource {
    raw: RawStaff,
    file: PathBuf,
    line: usize,
    /// How a username field is named in messages: `usernames.cosmic` or the CSV column.
    from_csv: bool,
}

struct Located<T> {
    raw: T,
    file: PathBuf,
    line: usize,
}

#[derive(Default)]
struct Collected {
    organisation: Option<Located<RawOrganisation>>,
    units: Vec<Located<RawUnit>>,
    systems: Vec<Located<RawSystem>>,
    staff: Vec<StaffSource>,
    routines: Vec<Located<RawRoutine>>,
    rules: Option<Located<rules::RawRules>>,
    notify: Option<Located<RawNotify>>,
}

/// Loads a configuration file, or every `*.toml` in a folder, and validates it.
pub fn load(path: &Path) -> Result<Organisation, ConfigErrors> {
    let mut errors = Vec::new();
    let files = config_files(path).map_err(|e| ConfigErrors(vec![e]))?;
    let mut collected = Collected::default();
    for file in &files {
        read_toml(file, &mut collected, &mut errors);
    }
    match &collected.organisation {
        None if errors.is_empty() => errors.push(ConfigError {
            file: path.to_path_buf(),
            line: None,
            item: None,
            field: None,
            message: "no [organisation] table found".into(),
        }),
        Some(org) => {
            if let Some(csv) = &org.raw.staff_csv {
                let base = org.file.parent().unwrap_or(Path::new("."));
                read_staff_csv(
                    &base.join(csv),
                    &collected.systems,
                    &mut collected.staff,
                    &mut errors,
                );
            }
        }
        None => {}
    }
    let rules = rules::settings(&collected, &mut errors);
    let org = validate(collected, &mut errors).map(|mut org| {
        org.rules = rules;
        org
    });
    if errors.is_empty() {
        Ok(org.expect("validation without errors yields an organisation"))
    } else {
        Err(ConfigErrors(errors))
    }
}

fn config_files(path: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let fail = |message: String| ConfigError {
        file: path.to_path_buf(),
        line: None,
        item: None,
        field: None,
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| fail(format!("cannot list folder: {e}")))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "toml") && p.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(fail("no *.toml files in this folder".into()));
    }
    Ok(files)
}

/// Byte offsets where lines start, so each item's line is a binary search rather than a
/// scan from the top (a 2 000-unit file has 2 000 items).
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self(starts)
    }

    /// The 1-based line holding byte `offset`.
    fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&start| start <= offset)
    }
}

fn read_toml(file: &Path, into: &mut Collected, errors: &mut Vec<ConfigError>) {
    let err = |line, message| ConfigError {
        file: file.to_path_buf(),
        line,
        item: None,
        field: None,
        message,
    };
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => return errors.push(err(None, format!("cannot read: {e}"))),
    };
    let lines = LineIndex::new(&text);
    let raw: RawFile = match toml::from_str(&text) {
        Ok(raw) => raw,
        Err(e) => {
            let line = e.span().map(|s| lines.line(s.start));
            let message = e.message().trim().replace('\n', " ");
            return errors.push(err(line, message));
        }
    };
    let locate = |span: std::ops::Range<usize>| lines.line(span.start);
    if let Some(org) = raw.organisation {
        let line = locate(org.span());
        if let Some(first) = &into.organisation {
            errors.push(err(
                Some(line),
                format!(
                    "a second [organisation] table; the first is in {}:{}",
                    first.file.display(),
                    first.line
                ),
            ));
        } else {
            into.organisation = Some(Located {
                raw: org.into_inner(),
                file: file.to_path_buf(),
                line,
            });
        }
    }
    macro_rules! collect {
        ($from:expr, $to:expr) => {
            for item in $from {
                let line = locate(item.span());
                $to.push(Located {
                    raw: item.into_inner(),
                    file: file.to_path_buf(),
                    line,
                });
            }
        };
    }
    if let Some(n) = raw.notify {
        let line = locate(n.span());
        if let Some(first) = &into.notify {
            errors.push(err(
                Some(line),
                format!(
                    "a second [notify] table; the first is in {}:{}",
                    first.file.display(),
                    first.line
                ),
            ));
        } else {
            into.notify = Some(Located {
                raw: n.into_inner(),
                file: file.to_path_buf(),
                line,
            });
        }
    }
    if let Some(r) = raw.rules {
        let line = locate(r.span());
        rules::collect(r.into_inner(), file, line, into, errors);
    }
    collect!(raw.unit, into.units);
    collect!(raw.system, into.systems);
    collect!(raw.routine, into.routines);
    for item in raw.staff {
        let line = locate(item.span());
        into.staff.push(StaffSource {
            raw: item.into_inner(),
            file: file.to_path_buf(),
            line,
            from_csv: false,
        });
    }
}

/// Reads `id,name,unit,email,personnummer,<system ids…>[,active]`. Unknown columns are
/// refused, since a misspelt system column would silently drop everyone's accounts.
fn read_staff_csv(
    file: &Path,
    systems: &[Located<RawSystem>],
    into: &mut Vec<StaffSource>,
    errors: &mut Vec<ConfigError>,
) {
    let err = |line, field: Option<String>, message: String| ConfigError {
        file: file.to_path_buf(),
        line,
        item: None,
        field,
        message,
    };
    let mut reader = match csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(file)
    {
        Ok(r) => r,
        Err(e) => return errors.push(err(None, None, format!("cannot read staff CSV: {e}"))),
    };
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return errors.push(err(Some(1), None, format!("bad header: {e}"))),
    };
    let system_ids: HashSet<&str> = systems.iter().map(|s| s.raw.id.as_str()).collect();
    let mut column = HashMap::new();
    let mut system_columns = Vec::new();
    for (i, name) in headers.iter().enumerate() {
        if column.insert(name.to_owned(), i).is_some() {
            errors.push(err(
                Some(1),
                Some(name.into()),
                "column appears twice".into(),
            ));
        }
        match name {
            "id" | "name" | "unit" | "email" | "personnummer" | "active" | "working_hours" => {}
            system if system_ids.contains(system) => system_columns.push((system.to_owned(), i)),
            other => errors.push(err(
                Some(1),
                Some(other.into()),
                format!(
                    "unknown column '{other}': expected id, name, unit, email, personnummer, active, working_hours or a system id ({})",
                    sorted_join(&system_ids)
                ),
            )),
        }
    }
    let required = ["id", "name", "unit"];
    let missing: Vec<&str> = required
        .into_iter()
        .filter(|c| !column.contains_key(*c))
        .collect();
    if !missing.is_empty() {
        return errors.push(err(
            Some(1),
            None,
            format!("missing column(s): {}", missing.join(", ")),
        ));
    }
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line() as usize);
                errors.push(err(line, None, format!("unreadable row: {e}")));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line() as usize);
        let get = |name: &str| -> Option<String> {
            column
                .get(name)
                .and_then(|&i| record.get(i))
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let active = match get("active").as_deref() {
            None | Some("true" | "yes" | "ja" | "1") => true,
            Some("false" | "no" | "nej" | "0") => false,
            Some(other) => {
                errors.push(err(
                    Some(line),
                    Some("active".into()),
                    format!("'{other}' is not true/false"),
                ));
                true
            }
        };
        let usernames = system_columns
            .iter()
            .filter_map(|(system, i)| {
                record
                    .get(*i)
                    .filter(|v| !v.is_empty())
                    .map(|v| (system.clone(), v.to_owned()))
            })
            .collect();
        into.push(StaffSource {
            raw: RawStaff {
                id: get("id").unwrap_or_default(),
                name: get("name").unwrap_or_default(),
                unit: get("unit").unwrap_or_default(),
                email: get("email"),
                personnummer: get("personnummer"),
                usernames,
                active: Some(active),
                working_hours: get("working_hours"),
            },
            file: file.to_path_buf(),
            line,
            from_csv: true,
        });
    }
}

fn sorted_join(set: &HashSet<&str>) -> String {
    let mut v: Vec<&str> = set.iter().copied().collect();
    v.sort_unstable();
    v.join(", ")
}

// ---- validation ------------------------------------------------------------------------

struct Problems<'a> {
    errors: &'a mut Vec<ConfigError>,
}

impl Problems<'_> {
    fn at(&mut self, file: &Path, line: usize, item: &str, field: &str, message: String) {
        self.errors.push(ConfigError {
            file: file.to_path_buf(),
            line: Some(line),
            item: Some(item.to_owned()),
            field: (!field.is_empty()).then(|| field.to_owned()),
            message,
        });
    }
}

fn valid_email(email: &str) -> bool {
    let mut parts = email.split('@');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(local), Some(domain), None)
            if !local.is_empty() && domain.contains('.') && !email.chars().any(char::is_whitespace)
    )
}

fn validate(c: Collected, errors: &mut Vec<ConfigError>) -> Option<Organisation> {
    let mut p = Problems { errors };
    let org = c.organisation.as_ref()?;
    let org_item = "[organisation]";
    if org.raw.name.trim().is_empty() {
        p.at(&org.file, org.line, org_item, "name", "is empty".into());
    }
    match org.raw.timezone.as_deref() {
        None | Some(TIMEZONE) => {}
        Some(tz) if tz.parse::<chrono_tz::Tz>().is_err() => p.at(
            &org.file,
            org.line,
            org_item,
            "timezone",
            format!("unknown time zone '{tz}'"),
        ),
        Some(tz) => p.at(
            &org.file,
            org.line,
            org_item,
            "timezone",
            format!("'{tz}' is a valid time zone, but loggvakt's calendar (Swedish holidays) only supports {TIMEZONE}"),
        ),
    }

    let units = validate_units(&c.units, &mut p);
    let unit_ids: HashSet<&str> = c.units.iter().map(|u| u.raw.id.as_str()).collect();
    let systems = validate_systems(&c.systems, &mut p);
    let system_ids: HashSet<&str> = c.systems.iter().map(|s| s.raw.id.as_str()).collect();
    let staff = validate_staff(&c.staff, &unit_ids, &system_ids, &mut p);
    let routines = validate_routines(&c.routines, &unit_ids, &system_ids, &mut p);
    let notify = c.notify.as_ref().map(|n| validate_notify(n, &mut p));
    if !p.errors.is_empty() {
        return None;
    }
    let mut organisation = Organisation::new(org.raw.name.clone(), units, systems, staff, routines);
    if let Some(notify) = notify {
        organisation.notify = notify;
    }
    Some(organisation)
}

fn validate_notify(n: &Located<RawNotify>, p: &mut Problems) -> NotifySettings {
    let (file, line, item) = (n.file.as_path(), n.line, "[notify]");
    let mut s = NotifySettings::default();
    if let Some(from) = &n.raw.from {
        if !valid_email(from) {
            p.at(
                file,
                line,
                item,
                "from",
                format!("'{from}' is not an e-mail address"),
            );
        }
        s.from = from.trim().to_owned();
    }
    if let Some(url) = &n.raw.base_url {
        let url = url.trim().trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            p.at(
                file,
                line,
                item,
                "base_url",
                format!("'{url}' is not an http(s) address"),
            );
        }
        s.base_url = url.to_owned();
    }
    match (&n.raw.outbox, &n.raw.smtp) {
        (Some(_), Some(_)) => p.at(
            file,
            line,
            item,
            "smtp",
            "give either outbox or smtp, not both".into(),
        ),
        (Some(dir), None) => {
            let base = file.parent().unwrap_or(Path::new("."));
            s.transport = NotifyTransport::Outbox(base.join(dir));
        }
        (None, Some(smtp)) => {
            if smtp.host.trim().is_empty() {
                p.at(file, line, item, "smtp.host", "is empty".into());
            }
            match u16::try_from(smtp.port) {
                Ok(port) if port > 0 => {
                    s.transport = NotifyTransport::Smtp {
                        host: smtp.host.trim().to_owned(),
                        port,
                        starttls: smtp.starttls,
                    }
                }
                _ => p.at(
                    file,
                    line,
                    item,
                    "smtp.port",
                    format!("{} is not a port (1-65535)", smtp.port),
                ),
            }
        }
        (None, None) => {}
    }
    if let Some(days) = n.raw.remind_days_before {
        match u32::try_from(days) {
            Ok(d) if d <= 60 => s.remind_days_before = d,
            _ => p.at(
                file,
                line,
                item,
                "remind_days_before",
                format!("{days} is not a number of days between 0 and 60"),
            ),
        }
    }
    s
}

fn validate_units(raw: &[Located<RawUnit>], p: &mut Problems) -> Vec<Unit> {
    let mut seen: HashMap<&str, (&Path, usize)> = HashMap::new();
    let by_id: HashMap<&str, &RawUnit> = raw.iter().map(|u| (u.raw.id.as_str(), &u.raw)).collect();
    let mut units = Vec::new();
    for u in raw {
        let item = format!("[[unit]] '{}'", u.raw.id);
        let (file, line) = (u.file.as_path(), u.line);
        let id = match UnitId::new(&u.raw.id) {
            Ok(id) => Some(id),
            Err(e) => {
                p.at(file, line, &item, "id", e.to_string());
                None
            }
        };
        if let Some((f, l)) = seen.insert(&u.raw.id, (file, line)) {
            p.at(
                file,
                line,
                &item,
                "id",
                format!("duplicate unit id; first defined at {}:{l}", f.display()),
            );
        }
        if u.raw.name.trim().is_empty() {
            p.at(file, line, &item, "name", "is empty".into());
        }
        if let Some(parent) = &u.raw.parent {
            if !by_id.contains_key(parent.as_str()) {
                p.at(
                    file,
                    line,
                    &item,
                    "parent",
                    format!("unknown unit '{parent}'"),
                );
            } else if in_cycle(&u.raw.id, &by_id) {
                p.at(
                    file,
                    line,
                    &item,
                    "parent",
                    "the parent chain loops back to this unit".into(),
                );
            }
        }
        if u.raw.manager.is_none() {
            p.at(
                file,
                line,
                &item,
                "manager",
                "missing: every unit needs a manager to receive its review tasks".into(),
            );
        }
        for (field, contact) in [
            ("manager", &u.raw.manager),
            ("escalate_to", &u.raw.escalate_to),
        ] {
            let Some(c) = contact else { continue };
            if c.name.trim().is_empty() {
                p.at(
                    file,
                    line,
                    &item,
                    &format!("{field}.name"),
                    "is empty".into(),
                );
            }
            if !valid_email(&c.email) {
                p.at(
                    file,
                    line,
                    &item,
                    &format!("{field}.email"),
                    format!("'{}' is not an e-mail address", c.email),
                );
            }
        }
        // Only judged when the parent chain resolves; otherwise the parent error says it all.
        if chain_resolves(&u.raw.id, &by_id) && !has_escalation(&u.raw.id, &by_id) {
            p.at(
                file,
                line,
                &item,
                "escalate_to",
                "missing here and on every parent: overdue reviews would have nobody to go to"
                    .into(),
            );
        }
        let contact = |c: &Option<RawContact>| {
            c.as_ref().map(|c| Contact {
                name: c.name.trim().to_owned(),
                email: c.email.trim().to_owned(),
            })
        };
        if let (Some(id), Some(manager)) = (id, contact(&u.raw.manager)) {
            units.push(Unit {
                id,
                name: u.raw.name.trim().to_owned(),
                parent: u.raw.parent.as_deref().and_then(|p| UnitId::new(p).ok()),
                manager,
                escalate_to: contact(&u.raw.escalate_to),
                working_hours: rules::working_hours(
                    u.raw.working_hours.as_deref(),
                    p,
                    file,
                    line,
                    &item,
                ),
            });
        }
    }
    units
}

fn in_cycle(start: &str, by_id: &HashMap<&str, &RawUnit>) -> bool {
    let mut current = by_id.get(start).and_then(|u| u.parent.as_deref());
    for _ in 0..=by_id.len() {
        match current {
            None => return false,
            Some(id) if id == start => return true,
            Some(id) => current = by_id.get(id).and_then(|u| u.parent.as_deref()),
        }
    }
    // A loop above this unit that does not include it: its members report it.
    false
}

/// The chain of parents ends at a root without naming an unknown unit or looping.
fn chain_resolves(start: &str, by_id: &HashMap<&str, &RawUnit>) -> bool {
    let mut current = by_id.get(start);
    for _ in 0..=by_id.len() {
        match current.map(|u| u.parent.as_deref()) {
            None => return false,
            Some(None) => return true,
            Some(Some(parent)) => current = by_id.get(parent),
        }
    }
    false
}

fn has_escalation(start: &str, by_id: &HashMap<&str, &RawUnit>) -> bool {
    let mut current = by_id.get(start);
    for _ in 0..=by_id.len() {
        match current {
            None => return false,
            Some(u) if u.escalate_to.is_some() => return true,
            Some(u) => current = u.parent.as_deref().and_then(|p| by_id.get(p)),
        }
    }
    false
}

fn validate_systems(raw: &[Located<RawSystem>], p: &mut Problems) -> Vec<System> {
    let mut seen: HashMap<&str, (&Path, usize)> = HashMap::new();
    let mut systems = Vec::new();
    for s in raw {
        let item = format!("[[system]] '{}'", s.raw.id);
        let (file, line) = (s.file.as_path(), s.line);
        if let Some((f, l)) = seen.insert(&s.raw.id, (file, line)) {
            p.at(
                file,
                line,
                &item,
                "id",
                format!("duplicate system id; first defined at {}:{l}", f.display()),
            );
        }
        let connector = match s.raw.connector.strip_prefix("plugin:") {
            Some("") => {
                p.at(
                    file,
                    line,
                    &item,
                    "connector",
                    "'plugin:' needs a library path or name".into(),
                );
                None
            }
            Some(lib) => Some(ConnectorRef::Plugin(lib.to_owned())),
            None if BUILT_IN_CONNECTORS.contains(&s.raw.connector.as_str()) => {
                Some(ConnectorRef::BuiltIn(s.raw.connector.clone()))
            }
            None => {
                p.at(
                    file,
                    line,
                    &item,
                    "connector",
                    format!(
                        "unknown connector '{}': expected one of {} or plugin:<path>",
                        s.raw.connector,
                        BUILT_IN_CONNECTORS.join(", ")
                    ),
                );
                None
            }
        };
        let mut bounded = |field: &str, value: i64, range: std::ops::RangeInclusive<i64>| {
            if !range.contains(&value) {
                p.at(
                    file,
                    line,
                    &item,
                    field,
                    format!("{value} is outside {}..={}", range.start(), range.end()),
                );
            }
        };
        bounded("max_attempts", s.raw.max_attempts, 1..=100);
        bounded("delivery_sla_days", s.raw.delivery_sla_days, 1..=365);
        bounded("max_extract_mb", s.raw.max_extract_mb, 1..=1_048_576);
        match (SystemId::new(&s.raw.id), connector) {
            (Ok(id), Some(connector)) => systems.push(System {
                id,
                connector,
                settings: s.raw.settings.clone(),
                max_attempts: s.raw.max_attempts.clamp(1, 100) as u32,
                delivery_sla_days: s.raw.delivery_sla_days.clamp(1, 365) as u32,
                max_extract_bytes: (s.raw.max_extract_mb.clamp(1, 1_048_576) as u64) << 20,
            }),
            (Err(e), _) => p.at(file, line, &item, "id", e.to_string()),
            _ => {}
        }
    }
    systems
}

fn validate_staff(
    raw: &[StaffSource],
    unit_ids: &HashSet<&str>,
    system_ids: &HashSet<&str>,
    p: &mut Problems,
) -> Vec<Staff> {
    let mut seen: HashMap<&str, (&Path, usize)> = HashMap::new();
    // (system, username) -> staff id: a username names one person in a system.
    let mut usernames: HashMap<(&str, &str), &str> = HashMap::new();
    let mut staff = Vec::new();
    for s in raw {
        let r = &s.raw;
        let item = format!("staff '{}'", r.id);
        let (file, line) = (s.file.as_path(), s.line);
        let mut ok = true;
        let mut fail = |field: &str, message: String| {
            p.at(file, line, &item, field, message);
            ok = false;
        };
        let id = StaffId::new(&r.id)
            .map_err(|e| fail("id", e.to_string()))
            .ok();
        if let Some((f, l)) = seen.insert(&r.id, (file, line)) {
            fail(
                "id",
                format!("duplicate staff id; first defined at {}:{l}", f.display()),
            );
        }
        if r.name.trim().is_empty() {
            fail("name", "is empty".into());
        }
        if !unit_ids.contains(r.unit.as_str()) {
            fail("unit", format!("unknown unit '{}'", r.unit));
        }
        if let Some(email) = r.email.as_deref().filter(|e| !valid_email(e)) {
            fail("email", format!("'{email}' is not an e-mail address"));
        }
        // The number itself is never echoed: it is personal data and errors end up in logs.
        let personnummer = match r.personnummer.as_deref().map(Personnummer::parse) {
            None => None,
            Some(Ok(pnr)) => Some(pnr),
            Some(Err(e)) => {
                fail("personnummer", e.to_string());
                None
            }
        };
        let mut names = BTreeMap::new();
        for (system, username) in &r.usernames {
            let field = if s.from_csv {
                system.clone()
            } else {
                format!("usernames.{system}")
            };
            if !system_ids.contains(system.as_str()) {
                fail(&field, format!("unknown system '{system}'"));
                continue;
            }
            let username = username.trim();
            if username.is_empty() {
                continue;
            }
            if let Some(other) = usernames.insert((system.as_str(), username), r.id.as_str()) {
                fail(
                    &field,
                    format!("username '{username}' is also used by staff '{other}' in {system}"),
                );
            }
            if let Ok(sys) = SystemId::new(system) {
                names.insert(sys, username.to_owned());
            }
        }
        if let (true, Some(id), Ok(unit)) = (ok, id, UnitId::new(&r.unit)) {
            staff.push(Staff {
                id,
                name: r.name.trim().to_owned(),
                unit,
                email: r.email.clone(),
                personnummer,
                usernames: names,
                active: r.active.unwrap_or(true),
                working_hours: rules::working_hours(
                    r.working_hours.as_deref(),
                    p,
                    file,
                    line,
                    &item,
                ),
            });
        }
    }
    staff
}

fn validate_routines(
    raw: &[Located<RawRoutine>],
    unit_ids: &HashSet<&str>,
    system_ids: &HashSet<&str>,
    p: &mut Problems,
) -> Vec<Routine> {
    let mut seen: HashMap<&str, (&Path, usize)> = HashMap::new();
    let mut routines = Vec::new();
    for r in raw {
        let item = format!("[[routine]] '{}'", r.raw.id);
        let (file, line) = (r.file.as_path(), r.line);
        let before = p.errors.len();
        let mut fail = |field: &str, message: String| p.at(file, line, &item, field, message);
        let raw = &r.raw;
        let id = RoutineId::new(&raw.id)
            .map_err(|e| fail("id", e.to_string()))
            .ok();
        if let Some((f, l)) = seen.insert(&raw.id, (file, line)) {
            fail(
                "id",
                format!("duplicate routine id; first defined at {}:{l}", f.display()),
            );
        }
        let kind = match raw.kind.as_str() {
            "stickprov" => Some(RoutineKind::Stickprov),
            "riktad" => Some(RoutineKind::Riktad),
            other => {
                fail(
                    "kind",
                    format!("unknown kind '{other}': expected stickprov or riktad"),
                );
                None
            }
        };
        if !system_ids.contains(raw.system.as_str()) {
            fail("system", format!("unknown system '{}'", raw.system));
        }
        let units = if raw.units.iter().any(|u| u == "*") {
            if raw.units.len() > 1 {
                fail(
                    "units",
                    "\"*\" already means every unit; list nothing else with it".into(),
                );
            }
            UnitSelector::All
        } else {
            if raw.units.is_empty() {
                fail(
                    "units",
                    "is empty: list unit ids, or \"*\" for every unit".into(),
                );
            }
            for u in &raw.units {
                if !unit_ids.contains(u.as_str()) {
                    fail("units", format!("unknown unit '{u}'"));
                }
            }
            UnitSelector::Listed(
                raw.units
                    .iter()
                    .filter_map(|u| UnitId::new(u).ok())
                    .collect(),
            )
        };
        let cadence = Cadence::parse(&raw.cadence);
        if cadence.is_none() {
            fail(
                "cadence",
                format!(
                    "unknown cadence '{}': expected monthly, quarterly or yearly",
                    raw.cadence
                ),
            );
        }
        if !(1..=28).contains(&raw.window.first_days) {
            fail(
                "window.first_days",
                format!("{} is outside 1..=28", raw.window.first_days),
            );
        }
        let fraction = raw.sample.fraction;
        let fraction_ppm = (fraction * SampleRule::PPM as f64).round();
        if !(fraction > 0.0 && fraction <= 1.0) || fraction_ppm < 1.0 {
            fail("sample.fraction", format!("{fraction} is outside (0, 1]"));
        }
        if raw.sample.min < 0 {
            fail("sample.min", format!("{} is negative", raw.sample.min));
        } else if raw.sample.min > i64::from(u32::MAX) {
            fail("sample.min", format!("{} is too large", raw.sample.min));
        }
        if !(1..=24).contains(&raw.review_period_hours) {
            fail(
                "review_period_hours",
                format!(
                    "{} is outside 1..=24 (the routines review at most 24 hours per user)",
                    raw.review_period_hours
                ),
            );
        }
        if !(1..=365).contains(&raw.deadline_days) {
            fail(
                "deadline_days",
                format!("{} is outside 1..=365", raw.deadline_days),
            );
        }
        if p.errors.len() > before {
            continue;
        }
        if let (Some(id), Some(kind), Some(cadence), Ok(system)) =
            (id, kind, cadence, SystemId::new(&raw.system))
        {
            routines.push(Routine {
                id,
                kind,
                system,
                units,
                cadence,
                window: WindowRule {
                    first_days: raw.window.first_days as u32,
                    weekdays_only: raw.window.weekdays_only,
                    skip_holidays: raw.window.skip_holidays,
                },
                sample: SampleRule {
                    fraction_ppm: fraction_ppm as u32,
                    min: raw.sample.min as u32,
                },
                review_period_hours: raw.review_period_hours as u32,
                deadline_days: raw.deadline_days as u32,
            });
        }
    }
    routines
}

#[cfg(test)]
mod tests {
    use super::LineIndex;

    #[test]
    fn line_index_finds_lines() {
        let idx = LineIndex::new("a\nbb\n\nc");
        assert_eq!(idx.line(0), 1);
        assert_eq!(idx.line(1), 1, "the newline belongs to its line");
        assert_eq!(idx.line(2), 2);
        assert_eq!(idx.line(5), 3);
        assert_eq!(idx.line(6), 4);
    }
}
