//! `analyze --staff`: a staff.csv without a configuration around it. The columns are those
//! of the configuration's staff.csv (`id,name,unit,email,personnummer`, optional `active`
//! and `working_hours`); every other column is a system id holding usernames, since there
//! is no list of systems to check them against.

use std::collections::BTreeMap;
use std::path::Path;

use crate::config::{ConfigError, ConfigErrors};
use crate::ident::{Personnummer, StaffId, SystemId, UnitId};
use crate::model::org::Staff;
use crate::model::working_hours::WorkingHours;

pub fn read(file: &Path) -> Result<Vec<Staff>, ConfigErrors> {
    let err = |line: Option<usize>, item: Option<String>, field: Option<&str>, message: String| {
        ConfigError {
            file: file.to_path_buf(),
            line,
            item,
            field: field.map(str::to_owned),
            message,
        }
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(file)
        .map_err(|e| ConfigErrors(vec![err(None, None, None, format!("cannot read: {e}"))]))?;
    let headers = reader
        .headers()
        .map_err(|e| ConfigErrors(vec![err(Some(1), None, None, format!("bad header: {e}"))]))?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(id_col), Some(name_col), Some(unit_col)) = (col("id"), col("name"), col("unit"))
    else {
        return Err(ConfigErrors(vec![err(
            Some(1),
            None,
            None,
            "missing column(s): id, name and unit are required".into(),
        )]));
    };
    let fixed = [
        "id",
        "name",
        "unit",
        "email",
        "personnummer",
        "active",
        "working_hours",
    ];
    let mut errors = Vec::new();
    let mut systems = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        if fixed.contains(&h) {
            continue;
        }
        match SystemId::new(h) {
            Ok(system) => systems.push((i, system)),
            Err(e) => errors.push(err(Some(1), None, Some(h), format!("as a system id: {e}"))),
        }
    }
    let mut staff = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line() as usize);
                errors.push(err(line, None, None, "unreadable row".into()));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line() as usize);
        let get = |i: Option<usize>| i.and_then(|i| record.get(i)).filter(|v| !v.is_empty());
        let raw_id = get(Some(id_col)).unwrap_or_default();
        let item = Some(format!("staff '{raw_id}'"));
        let before = errors.len();
        let mut fail = |field: &str, message: String| {
            errors.push(err(Some(line), item.clone(), Some(field), message));
        };
        let id = StaffId::new(raw_id)
            .map_err(|e| fail("id", e.to_string()))
            .ok();
        let unit = UnitId::new(get(Some(unit_col)).unwrap_or_default())
            .map_err(|e| fail("unit", e.to_string()))
            .ok();
        let name = get(Some(name_col)).unwrap_or_default().to_owned();
        // The number itself is never echoed: it is personal data and errors end up in logs.
        let personnummer = get(col("personnummer"))
            .map(Personnummer::parse)
            .transpose()
            .map_err(|e| fail("personnummer", e.to_string()))
            .ok()
            .flatten();
        let working_hours = get(col("working_hours"))
            .map(WorkingHours::parse)
            .transpose()
            .map_err(|e| fail("working_hours", e.to_string()))
            .ok()
            .flatten();
        let active = !matches!(get(col("active")), Some("false" | "no" | "nej" | "0"));
        let usernames: BTreeMap<SystemId, String> = systems
            .iter()
            .filter_map(|(i, system)| get(Some(*i)).map(|u| (system.clone(), u.to_owned())))
            .collect();
        if let (true, Some(id), Some(unit)) = (errors.len() == before, id, unit) {
            staff.push(Staff {
                id,
                name,
                unit,
                email: get(col("email")).map(str::to_owned),
                personnummer,
                usernames,
                active,
                working_hours,
            });
        }
    }
    if errors.is_empty() {
        Ok(staff)
    } else {
        Err(ConfigErrors(errors))
    }
}
