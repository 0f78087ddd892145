//! Loads `schedules/*.toml` (and the staff CSV they name) and validates them into an
//! [`Organisation`]. Every problem is collected, not just the first, and each names its file,
//! line, item and field, so an administrator can fix a whole file in one pass.
//!
//! Reading and checking are apart: `collect` gathers the raw items of every file with
//! where they stand, `staff_csv` adds the staff list's rows, and `validate` turns the
//! lot into the organisation or into problems.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::model::org::{Organisation, Staff};

mod collect;
mod raw;
mod rules;
mod secrets;
mod staff_csv;
mod validate;
mod watch;

pub use watch::{ConfigWatch, DiskState, LoadedState, RefusedReload};

pub use rules::read_personnummer_csv;
pub use secrets::read_secret_file;

/// The staff CSV's columns that are not systems' usernames.
pub const STAFF_CSV_FIXED_COLUMNS: [&str; 9] = staff_csv::FIXED;

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

impl ConfigError {
    /// A problem of a whole file, or of one of its lines, not of an item in it.
    fn in_file(file: &Path, line: Option<usize>, message: String) -> Self {
        Self {
            file: file.to_path_buf(),
            line,
            item: None,
            field: None,
            message,
        }
    }
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

/// Loads a configuration file, or every `*.toml` in a folder, and validates it.
pub fn load(path: &Path) -> Result<Organisation, ConfigErrors> {
    let mut errors = Vec::new();
    let files = collect::config_files(path).map_err(|e| ConfigErrors(vec![e]))?;
    let mut collected = collect::Collected::default();
    let mut sources = Vec::new();
    for file in &files {
        collect::read_toml(file, &mut collected, &mut errors);
    }
    match &collected.organisation {
        None if errors.is_empty() => errors.push(ConfigError::in_file(
            path,
            None,
            "no [organisation] table found".into(),
        )),
        Some(org) => {
            if let Some(csv) = &org.raw.staff_csv {
                let base = org.file.parent().unwrap_or(Path::new("."));
                let systems = collected
                    .systems
                    .iter()
                    .map(|s| s.raw.id.as_str())
                    .collect();
                sources.push(base.join(csv));
                let rows = staff_csv::read_rows(
                    &base.join(csv),
                    staff_csv::SystemColumns::Configured(&systems),
                    &mut errors,
                );
                collected.staff.extend(rows);
            }
        }
        None => {}
    }
    if let Some(org) = &collected.organisation {
        let base = org.file.parent().unwrap_or(Path::new("."));
        let lists = [&org.raw.protected_csv, &org.raw.watchlist_csv];
        sources.extend(lists.into_iter().flatten().map(|csv| base.join(csv)));
    }
    let rules = rules::settings(&collected, &mut errors);
    let staff_csv = collected.organisation.as_ref().and_then(|org| {
        let base = org.file.parent().unwrap_or(Path::new("."));
        org.raw.staff_csv.as_ref().map(|csv| base.join(csv))
    });
    let org = validate::organisation(collected, &mut errors).map(|mut org| {
        org.rules = rules;
        org.sources = sources;
        org.staff_csv = staff_csv;
        org
    });
    if errors.is_empty() {
        Ok(org.expect("validation without errors yields an organisation"))
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Reads a staff list without a configuration around it (`analyze --staff`): the columns
/// are those of the configuration's staff CSV, except that every column besides the fixed
/// ones is a system id holding usernames, and any valid unit id is accepted, since there is
/// no list of systems or units to check them against.
pub fn read_staff_csv(file: &Path) -> Result<Vec<Staff>, ConfigErrors> {
    let mut errors = Vec::new();
    let rows = staff_csv::read_rows(file, staff_csv::SystemColumns::Any, &mut errors);
    let staff = validate::staff::standalone(&rows, &mut errors);
    if errors.is_empty() {
        Ok(staff)
    } else {
        Err(ConfigErrors(errors))
    }
}
