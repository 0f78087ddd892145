//! The anomaly rules' part of the configuration: the optional `[rules]` table, working hours
//! on units and staff, and the protected-identity and watch lists named in `[organisation]`.
//!
//! ```toml
//! [rules]
//! disabled = ["same_surname"]                        # codes of rules to switch off
//! working_hours = "mon-fri 07:00-18:00"              # default for units/staff without their own
//! volume_spike = { factor = 3.0, min_patients = 15 } # > factor × peers' median, and ≥ min
//! ```

use std::path::Path;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Deserialize;

use super::ConfigError;
use super::collect::{Collected, Located};
use super::validate::Problems;
use crate::ident::Personnummer;
use crate::model::rules::{Code, RulesSettings, VolumeSpikeSettings, pnr_key};
use crate::model::working_hours::WorkingHours;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRules {
    #[serde(default)]
    disabled: Vec<String>,
    working_hours: Option<String>,
    volume_spike: Option<RawVolumeSpike>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVolumeSpike {
    factor: Option<f64>,
    min_patients: Option<i64>,
}

/// Validates `[rules]` and reads the lists named in `[organisation]`.
pub(super) fn settings(c: &Collected, errors: &mut Vec<ConfigError>) -> RulesSettings {
    let mut settings = RulesSettings::default();
    if let Some(r) = &c.rules {
        table(
            r,
            &mut settings,
            &mut Problems::of(errors, &r.file, r.line, "[rules]"),
        );
    }
    let mut protected_units = FxHashMap::default();
    if let Some(org) = &c.organisation {
        let base = org.file.parent().unwrap_or(Path::new("."));
        let lists = [
            (
                &org.raw.protected_csv,
                "protected_csv",
                &mut settings.protected,
            ),
            (
                &org.raw.watchlist_csv,
                "watchlist_csv",
                &mut settings.watchlist,
            ),
        ];
        for (list, name, into) in lists {
            let Some(csv) = list else { continue };
            match read_listed_patients(&base.join(csv)) {
                Ok(listed) => {
                    if name == "protected_csv" {
                        protected_units = responsible_units(&listed, c, &base.join(csv), errors);
                    }
                    *into = listed.into_keys().collect();
                }
                Err(mut e) => {
                    // Unreadable files name the field that points at them.
                    for err in e.iter_mut().filter(|err| err.line.is_none()) {
                        err.item = Some(format!("[organisation] {name}"));
                    }
                    errors.append(&mut e);
                }
            }
        }
    }
    settings.protected_units = protected_units;
    settings
}

/// The responsible units of the protected list's patients, each checked against the
/// configured units.
fn responsible_units(
    listed: &FxHashMap<u64, Vec<String>>,
    c: &Collected,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> FxHashMap<u64, Vec<String>> {
    let known: FxHashSet<&str> = c.units.iter().map(|u| u.raw.id.as_str()).collect();
    let mut out = FxHashMap::default();
    for (key, units) in listed.iter().filter(|(_, u)| !u.is_empty()) {
        for unit in units.iter().filter(|u| !known.contains(u.as_str())) {
            // The row is not named: the line would do, but a personnummer must not be shown.
            errors.push(ConfigError {
                file: file.to_path_buf(),
                line: None,
                item: Some("[organisation] protected_csv".into()),
                field: Some("unit".into()),
                message: format!("unknown unit '{unit}'"),
            });
        }
        out.insert(*key, units.clone());
    }
    out
}

/// The `[rules]` table's settings.
fn table(r: &Located<RawRules>, settings: &mut RulesSettings, p: &mut Problems) {
    for code in &r.raw.disabled {
        match Code::parse(code) {
            Some(code) => {
                settings.disabled.insert(code);
            }
            None => p.fail(
                "disabled",
                format!(
                    "unknown rule '{code}': expected {}",
                    Code::ALL.map(Code::as_str).join(", ")
                ),
            ),
        }
    }
    if let Some(wh) = working_hours(r.raw.working_hours.as_deref(), p) {
        settings.working_hours = wh;
    }
    if let Some(v) = &r.raw.volume_spike {
        settings.volume_spike = volume_spike(v, p);
    }
}

fn volume_spike(v: &RawVolumeSpike, p: &mut Problems) -> VolumeSpikeSettings {
    let defaults = VolumeSpikeSettings::default();
    let factor = v.factor.unwrap_or(defaults.factor);
    if !(factor.is_finite() && factor >= 1.0) {
        p.fail(
            "volume_spike.factor",
            format!("{factor} is not a number of at least 1"),
        );
    }
    let min = v.min_patients.unwrap_or(i64::from(defaults.min_patients));
    if !(1..=1_000_000).contains(&min) {
        p.fail(
            "volume_spike.min_patients",
            format!("{min} is outside 1..=1000000"),
        );
    }
    VolumeSpikeSettings {
        factor,
        min_patients: min.clamp(1, 1_000_000) as u32,
    }
}

/// Parses an optional working-hours text, reporting a bad one as a problem of `item`.
pub(super) fn working_hours(raw: Option<&str>, p: &mut Problems) -> Option<WorkingHours> {
    match WorkingHours::parse(raw?) {
        Ok(wh) => Some(wh),
        Err(e) => {
            p.fail("working_hours", e.to_string());
            None
        }
    }
}

/// Reads a list of people: a CSV file with a `personnummer` column (other columns are
/// ignored), as [`pnr_key`]s. Every bad row is an error with its line; the numbers themselves
/// are never echoed.
pub fn read_personnummer_csv(file: &Path) -> Result<FxHashSet<u64>, Vec<ConfigError>> {
    Ok(read_listed_patients(file)?.into_keys().collect())
}

/// [`read_personnummer_csv`] with each patient's responsible units: an optional `unit`
/// column of unit ids separated by `;` (the protected-identity list says whose manager
/// reviews each patient's check).
pub fn read_listed_patients(file: &Path) -> Result<FxHashMap<u64, Vec<String>>, Vec<ConfigError>> {
    let err = |line, field: Option<&str>, message: String| ConfigError {
        file: file.to_path_buf(),
        line,
        item: None,
        field: field.map(str::to_owned),
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_path(file)
        .map_err(|e| vec![err(None, None, format!("cannot read: {e}"))])?;
    let column = reader
        .headers()
        .map_err(|e| vec![err(Some(1), None, format!("bad header: {e}"))])?
        .iter()
        .position(|h| h == "personnummer")
        .ok_or_else(|| vec![err(Some(1), None, "missing column: personnummer".into())])?;
    let unit_column = reader
        .headers()
        .map_err(|e| vec![err(Some(1), None, format!("bad header: {e}"))])?
        .iter()
        .position(|h| h == "unit");
    let mut set = FxHashMap::default();
    let mut errors = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line() as usize);
                errors.push(err(line, None, "unreadable row".into()));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line() as usize);
        match record.get(column).map(Personnummer::parse) {
            Some(Ok(pnr)) => {
                let units: Vec<String> = unit_column
                    .and_then(|c| record.get(c))
                    .unwrap_or("")
                    .split(';')
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .map(str::to_owned)
                    .collect();
                set.entry(pnr_key(&pnr))
                    .or_insert_with(Vec::new)
                    .extend(units);
            }
            Some(Err(e)) => errors.push(err(Some(line), Some("personnummer"), e.to_string())),
            None => errors.push(err(Some(line), Some("personnummer"), "is missing".into())),
        }
    }
    if errors.is_empty() {
        Ok(set)
    } else {
        Err(errors)
    }
}
