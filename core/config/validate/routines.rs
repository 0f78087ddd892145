//! `[[routine]]`: kind, system, units, cadence, the drawing window, the sample and the
//! review's period and deadline.

use std::collections::HashSet;

use super::{FirstSeen, Problems};
use crate::calendar::WindowRule;
use crate::config::ConfigError;
use crate::config::collect::Located;
use crate::config::raw::RawRoutine;
use crate::ident::{RoutineId, SystemId, UnitId};
use crate::model::org::{Cadence, Routine, RoutineKind, SampleRule, UnitSelector};

pub(super) fn validate(
    raw: &[Located<RawRoutine>],
    unit_ids: &HashSet<&str>,
    system_ids: &HashSet<&str>,
    errors: &mut Vec<ConfigError>,
) -> Vec<Routine> {
    let mut seen = FirstSeen::default();
    let mut routines = Vec::new();
    for r in raw {
        let item = format!("[[routine]] '{}'", r.raw.id);
        let mut p = Problems::of(errors, &r.file, r.line, &item);
        let before = p.count();
        let raw = &r.raw;
        let id = RoutineId::new(&raw.id)
            .map_err(|e| p.fail("id", e.to_string()))
            .ok();
        seen.check(&raw.id, &r.file, r.line, "routine", &mut p);
        let kind = kind(&raw.kind, &mut p);
        if !system_ids.contains(raw.system.as_str()) {
            p.fail("system", format!("unknown system '{}'", raw.system));
        }
        let units = units(&raw.units, unit_ids, &mut p);
        let cadence = Cadence::parse(&raw.cadence);
        if cadence.is_none() {
            p.fail(
                "cadence",
                format!(
                    "unknown cadence '{}': expected monthly, quarterly or yearly",
                    raw.cadence
                ),
            );
        }
        let fraction_ppm = check_numbers(raw, &mut p);
        if p.count() > before {
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
                    fraction_ppm,
                    min: raw.sample.min as u32,
                },
                review_period_hours: raw.review_period_hours as u32,
                deadline_days: raw.deadline_days as u32,
            });
        }
    }
    routines
}

fn kind(raw: &str, p: &mut Problems) -> Option<RoutineKind> {
    match raw {
        "stickprov" => Some(RoutineKind::Stickprov),
        "riktad" => Some(RoutineKind::Riktad),
        other => {
            p.fail(
                "kind",
                format!("unknown kind '{other}': expected stickprov or riktad"),
            );
            None
        }
    }
}

fn units(raw: &[String], unit_ids: &HashSet<&str>, p: &mut Problems) -> UnitSelector {
    if raw.iter().any(|u| u == "*") {
        if raw.len() > 1 {
            p.fail(
                "units",
                "\"*\" already means every unit; list nothing else with it".into(),
            );
        }
        return UnitSelector::All;
    }
    if raw.is_empty() {
        p.fail(
            "units",
            "is empty: list unit ids, or \"*\" for every unit".into(),
        );
    }
    for u in raw {
        if !unit_ids.contains(u.as_str()) {
            p.fail("units", format!("unknown unit '{u}'"));
        }
    }
    UnitSelector::Listed(raw.iter().filter_map(|u| UnitId::new(u).ok()).collect())
}

/// Checks the window, sample, period and deadline; returns the sample fraction in parts per
/// million (meaningful only when no problem was found).
fn check_numbers(raw: &RawRoutine, p: &mut Problems) -> u32 {
    if !(1..=28).contains(&raw.window.first_days) {
        p.fail(
            "window.first_days",
            format!("{} is outside 1..=28", raw.window.first_days),
        );
    }
    let fraction = raw.sample.fraction;
    let fraction_ppm = (fraction * SampleRule::PPM as f64).round();
    if !(fraction > 0.0 && fraction <= 1.0) || fraction_ppm < 1.0 {
        p.fail("sample.fraction", format!("{fraction} is outside (0, 1]"));
    }
    if raw.sample.min < 0 {
        p.fail("sample.min", format!("{} is negative", raw.sample.min));
    } else if raw.sample.min > i64::from(u32::MAX) {
        p.fail("sample.min", format!("{} is too large", raw.sample.min));
    }
    if !(1..=24).contains(&raw.review_period_hours) {
        p.fail(
            "review_period_hours",
            format!(
                "{} is outside 1..=24 (the routines review at most 24 hours per user)",
                raw.review_period_hours
            ),
        );
    }
    if !(1..=365).contains(&raw.deadline_days) {
        p.fail(
            "deadline_days",
            format!("{} is outside 1..=365", raw.deadline_days),
        );
    }
    fraction_ppm as u32
}
