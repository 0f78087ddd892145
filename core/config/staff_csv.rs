//! The one reader of staff lists: `id,name,unit,email,personnummer,<system ids…>[,active]
//! [,active_from][,active_to][,working_hours]`, for the configuration's `staff_csv` and for `analyze --staff`. It reads
//! rows as they stand; what they say is checked with the TOML staff in `validate::staff`.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use csv::StringRecord;

use super::ConfigError;
use super::collect::StaffSource;
use super::raw::RawStaff;
use crate::ident::SystemId;

/// The columns that are not systems.
pub(crate) const FIXED: [&str; 9] = [
    "id",
    "name",
    "unit",
    "email",
    "personnummer",
    "active",
    "active_from",
    "active_to",
    "working_hours",
];

/// Which columns besides the fixed ones hold usernames.
pub(super) enum SystemColumns<'a> {
    /// The configured systems' ids; any other column is refused, since a misspelt system
    /// column would silently drop everyone's accounts.
    Configured(&'a HashSet<&'a str>),
    /// Every other column, as long as it is a valid system id: a list without a
    /// configuration has nothing to check the names against.
    Any,
}

/// Where each column is.
struct Columns {
    by_name: HashMap<String, usize>,
    systems: Vec<(String, usize)>,
}

/// Reads every row it can, adding a problem with file and line for each it cannot.
pub(super) fn read_rows(
    file: &Path,
    systems: SystemColumns,
    errors: &mut Vec<ConfigError>,
) -> Vec<StaffSource> {
    let mut reader = match csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(file)
    {
        Ok(r) => r,
        Err(e) => {
            errors.push(error(
                file,
                None,
                None,
                format!("cannot read staff CSV: {e}"),
            ));
            return Vec::new();
        }
    };
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            errors.push(error(file, Some(1), None, format!("bad header: {e}")));
            return Vec::new();
        }
    };
    let Some(columns) = columns(file, &headers, &systems, errors) else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for record in reader.records() {
        match record {
            Ok(record) => rows.push(row(file, &record, &columns, errors)),
            Err(e) => {
                let line = e.position().map(|p| p.line() as usize);
                errors.push(error(file, line, None, format!("unreadable row: {e}")));
            }
        }
    }
    rows
}

fn error(file: &Path, line: Option<usize>, field: Option<&str>, message: String) -> ConfigError {
    ConfigError {
        field: field.map(str::to_owned),
        ..ConfigError::in_file(file, line, message)
    }
}

/// The header's columns; `None` when a required one is missing, as no row can then be read.
fn columns(
    file: &Path,
    headers: &StringRecord,
    systems: &SystemColumns,
    errors: &mut Vec<ConfigError>,
) -> Option<Columns> {
    let mut by_name = HashMap::new();
    let mut system_columns = Vec::new();
    for (i, name) in headers.iter().enumerate() {
        if by_name.insert(name.to_owned(), i).is_some() {
            errors.push(error(
                file,
                Some(1),
                Some(name),
                "column appears twice".into(),
            ));
        }
        if FIXED.contains(&name) {
            continue;
        }
        match system_column(name, systems) {
            Ok(()) => system_columns.push((name.to_owned(), i)),
            Err(message) => errors.push(error(file, Some(1), Some(name), message)),
        }
    }
    let missing: Vec<&str> = ["id", "name", "unit"]
        .into_iter()
        .filter(|c| !by_name.contains_key(*c))
        .collect();
    if !missing.is_empty() {
        let message = format!("missing column(s): {}", missing.join(", "));
        errors.push(error(file, Some(1), None, message));
        return None;
    }
    Some(Columns {
        by_name,
        systems: system_columns,
    })
}

/// Whether a column that is not a fixed one names a system.
fn system_column(name: &str, systems: &SystemColumns) -> Result<(), String> {
    match systems {
        SystemColumns::Configured(ids) if ids.contains(name) => Ok(()),
        SystemColumns::Configured(ids) => {
            let mut ids: Vec<&str> = ids.iter().copied().collect();
            ids.sort_unstable();
            Err(format!(
                "unknown column '{name}': expected id, name, unit, email, personnummer, active, active_from, active_to, working_hours or a system id ({})",
                ids.join(", ")
            ))
        }
        SystemColumns::Any => SystemId::new(name)
            .map(|_| ())
            .map_err(|e| format!("as a system id: {e}")),
    }
}

fn row(
    file: &Path,
    record: &StringRecord,
    columns: &Columns,
    errors: &mut Vec<ConfigError>,
) -> StaffSource {
    let line = record.position().map_or(0, |p| p.line() as usize);
    let get = |name: &str| -> Option<String> {
        columns
            .by_name
            .get(name)
            .and_then(|&i| record.get(i))
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let active = match get("active").as_deref() {
        None | Some("true" | "yes" | "ja" | "1") => true,
        Some("false" | "no" | "nej" | "0") => false,
        Some(other) => {
            let message = format!("'{other}' is not true/false");
            errors.push(error(file, Some(line), Some("active"), message));
            true
        }
    };
    let usernames = columns
        .systems
        .iter()
        .filter_map(|(system, i)| {
            record
                .get(*i)
                .filter(|v| !v.is_empty())
                .map(|v| (system.clone(), v.to_owned()))
        })
        .collect();
    StaffSource {
        raw: RawStaff {
            id: get("id").unwrap_or_default(),
            name: get("name").unwrap_or_default(),
            unit: get("unit").unwrap_or_default(),
            email: get("email"),
            personnummer: get("personnummer"),
            usernames,
            active: Some(active),
            active_from: get("active_from"),
            active_to: get("active_to"),
            working_hours: get("working_hours"),
        },
        file: file.to_path_buf(),
        line,
        from_csv: true,
    }
}
