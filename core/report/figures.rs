//! The report's numbers: the store's counts per unit × system × month in configuration
//! order, their totals, and the coverage of the last 12 months (see the module above for
//! what each figure means).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::AddAssign;

use chrono::{Months, NaiveDate, SecondsFormat, TimeDelta};

use super::{
    Compliance, Counts, Coverage, CoverageRow, FollowUp, MonthTotal, Reach, Row,
    StaffInformationFigures, StaffInformationUnit, SystemCoverage, SystemTotal, Totals,
    UnitCoverage, UnitTotal,
};
use crate::calendar::{Month, TZ, local_date};
use crate::clock::Clock;
use crate::ident::{SystemId, UnitId};
use crate::model::org::{Organisation, RoutineKind};
use crate::store::{Store, StoreError};

/// Builds the report for `year` from the store, with "now" and "today" from `clock`.
pub async fn compliance(
    store: &Store,
    org: &Organisation,
    year: i32,
    clock: &Clock,
) -> Result<Compliance, StoreError> {
    compliance_of(store, org, year, clock, None).await
}

/// The report of one unit and the units below it (a förvaltning's or a verksamhet's drill-
/// down), or of the whole organisation. The follow-up figures stay the organisation's.
pub async fn compliance_of(
    store: &Store,
    org: &Organisation,
    year: i32,
    clock: &Clock,
    within: Option<&str>,
) -> Result<Compliance, StoreError> {
    let inside = |unit: &str| {
        within.is_none_or(|top| unit == top || org.ancestors(unit).any(|a| a.id.as_str() == top))
    };
    let now = clock.now();
    let (first, last) = match (Month::new(year, 1), Month::new(year, 12)) {
        (Some(first), Some(last)) => (first, last),
        _ => return Err(StoreError::Corrupt(format!("year {year} is out of range"))),
    };
    let order = Order::new(org);
    let mut rows: Vec<Row> = store
        .compliance_counts(first, last, now)
        .await?
        .into_iter()
        .filter(|r| inside(&r.unit))
        .map(|r| Row {
            unit_name: unit_name(org, &r.unit),
            unit: r.unit,
            system: r.system,
            month: r.month,
            counts: r.counts,
        })
        .collect();
    rows.sort_by(|a, b| {
        (order.unit(&a.unit), order.system(&a.system), &a.month).cmp(&(
            order.unit(&b.unit),
            order.system(&b.system),
            &b.month,
        ))
    });
    let mut totals = totals(&rows, &order);
    totals.by_parent = parents(org, &totals.by_unit);

    let today = local_date(now);
    let from = today
        .checked_sub_months(Months::new(12))
        .and_then(|d| d.checked_add_signed(TimeDelta::days(1)))
        .unwrap_or(NaiveDate::MIN);
    let sampled: HashSet<(String, String)> = store
        .sampled_staff(from, today)
        .await?
        .into_iter()
        .collect();
    let mut coverage = coverage(org, &order, &rows, &sampled, from, today);
    if within.is_some() {
        coverage.rows.retain(|r| inside(&r.unit));
        coverage.by_unit.retain(|r| inside(&r.unit));
    }
    let mut informed: Vec<StaffInformationUnit> = store
        .staff_information(year)
        .await?
        .into_iter()
        .filter(|r| inside(r.unit.as_str()))
        .map(|r| StaffInformationUnit {
            unit_name: unit_name(org, r.unit.as_str()),
            unit: r.unit.to_string(),
            informed_on: r.confirmation.map(|c| c.informed_on),
        })
        .collect();
    informed.sort_by(|a, b| order.unit(&a.unit).cmp(&order.unit(&b.unit)));
    let staff_information = StaffInformationFigures {
        units: informed.len() as i64,
        confirmed: informed.iter().filter(|u| u.informed_on.is_some()).count() as i64,
        by_unit: informed,
    };

    Ok(Compliance {
        organisation: org.name.clone(),
        year,
        generated_at: now
            .with_timezone(&TZ)
            .to_rfc3339_opts(SecondsFormat::Secs, false),
        rows,
        totals,
        coverage,
        staff_information,
        follow_up: follow_up(store, year, now).await?,
    })
}

/// The roll-ups: each unit with units below it, summing its own counts and its subtree's.
fn parents(org: &Organisation, by_unit: &[UnitTotal]) -> Vec<UnitTotal> {
    let mut sums: HashMap<&str, Counts> = HashMap::new();
    for u in by_unit {
        for a in org.ancestors(&u.unit) {
            *sums.entry(a.id.as_str()).or_default() += u.counts;
        }
    }
    for u in by_unit {
        if let Some(sum) = sums.get_mut(u.unit.as_str()) {
            *sum += u.counts;
        }
    }
    org.units
        .iter()
        .filter_map(|u| {
            sums.get(u.id.as_str()).map(|counts| UnitTotal {
                unit: u.id.to_string(),
                unit_name: u.name.clone(),
                counts: *counts,
            })
        })
        .collect()
}

/// The year's targeted checks, patients' requests, cases and deliveries.
async fn follow_up(
    store: &Store,
    year: i32,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<FollowUp, StoreError> {
    use chrono::TimeZone;
    let start = |y: i32| {
        TZ.with_ymd_and_hms(y, 1, 1, 0, 0, 0)
            .single()
            .map(|t| t.with_timezone(&chrono::Utc))
            .ok_or_else(|| StoreError::Corrupt(format!("year {y} is out of range")))
    };
    let facts = store
        .follow_up_facts(start(year)?, start(year + 1)?, now)
        .await?;
    let kind = |k: &str| {
        facts
            .checks
            .iter()
            .find(|(kind, _)| kind == k)
            .map_or(0, |(_, n)| *n)
    };
    let decided = |d: &str| {
        facts
            .cases
            .iter()
            .find(|(decision, _)| decision.as_deref() == Some(d))
            .map_or(0, |(_, n)| *n)
    };
    let days: Vec<i64> = facts
        .requests
        .iter()
        .filter_map(|(received, sent)| sent.map(|at| (local_date(at) - *received).num_days()))
        .collect();
    Ok(FollowUp {
        targeted_checks: kind("user") + kind("patient"),
        targeted_by_user: kind("user"),
        targeted_by_patient: kind("patient"),
        patient_requests: facts.requests.len() as i64,
        requests_handed_over: days.len() as i64,
        handover_days_mean: (!days.is_empty())
            .then(|| (days.iter().sum::<i64>() as f64 / days.len() as f64 * 10.0).round() / 10.0),
        handover_days_max: days.iter().copied().max(),
        cases_opened: facts.cases.iter().map(|(_, n)| n).sum(),
        cases_open: facts
            .cases
            .iter()
            .filter(|(d, _)| d.is_none())
            .map(|(_, n)| n)
            .sum(),
        cases_no_breach: decided("no_breach"),
        cases_breach_labour_law: decided("breach_labour_law"),
        cases_police_report: decided("police_report"),
        deliveries_overdue: facts.orders_overdue,
        deliveries_failed: facts.orders_failed,
    })
}

/// Orders units and systems as the configuration lists them; ids no longer configured
/// (old draws of a removed unit) come last, by id.
struct Order {
    units: HashMap<String, usize>,
    systems: HashMap<String, usize>,
}

impl Order {
    fn new(org: &Organisation) -> Self {
        Self {
            units: org
                .units
                .iter()
                .enumerate()
                .map(|(i, u)| (u.id.to_string(), i))
                .collect(),
            systems: org
                .systems
                .iter()
                .enumerate()
                .map(|(i, s)| (s.id.to_string(), i))
                .collect(),
        }
    }

    fn unit<'a>(&self, id: &'a str) -> (usize, &'a str) {
        (self.units.get(id).copied().unwrap_or(usize::MAX), id)
    }

    fn system<'a>(&self, id: &'a str) -> (usize, &'a str) {
        (self.systems.get(id).copied().unwrap_or(usize::MAX), id)
    }
}

/// A unit removed from the configuration keeps its rows, marked, so its open work stays seen.
fn unit_name(org: &Organisation, id: &str) -> String {
    org.unit(id).map_or_else(
        || format!("{id} (saknas i konfigurationen)"),
        |u| u.name.clone(),
    )
}

/// Sums of a figure per unit and per system, in configuration order, and overall: the
/// same for the counts and for the coverage.
struct Sums<'a, T> {
    order: &'a Order,
    by_unit: BTreeMap<(usize, &'a str), (&'a str, T)>,
    by_system: BTreeMap<(usize, &'a str), T>,
    overall: T,
}

impl<'a, T: Copy + Default + AddAssign> Sums<'a, T> {
    fn new(order: &'a Order) -> Self {
        Self {
            order,
            by_unit: BTreeMap::new(),
            by_system: BTreeMap::new(),
            overall: T::default(),
        }
    }

    fn add(&mut self, unit: &'a str, unit_name: &'a str, system: &'a str, value: T) {
        self.by_unit
            .entry(self.order.unit(unit))
            .or_insert((unit_name, T::default()))
            .1 += value;
        *self.by_system.entry(self.order.system(system)).or_default() += value;
        self.overall += value;
    }

    /// (unit, unit name, sum) in order.
    fn by_unit(&self) -> impl Iterator<Item = (String, String, T)> + '_ {
        self.by_unit
            .iter()
            .map(|((_, unit), (name, sum))| ((*unit).to_owned(), (*name).to_owned(), *sum))
    }

    /// (system, sum) in order.
    fn by_system(&self) -> impl Iterator<Item = (String, T)> + '_ {
        self.by_system
            .iter()
            .map(|((_, system), sum)| ((*system).to_owned(), *sum))
    }
}

fn totals(rows: &[Row], order: &Order) -> Totals {
    let mut sums = Sums::new(order);
    let mut by_month: BTreeMap<&str, Counts> = BTreeMap::new();
    for r in rows {
        sums.add(&r.unit, &r.unit_name, &r.system, r.counts);
        *by_month.entry(&r.month).or_default() += r.counts;
    }
    Totals {
        by_unit: sums
            .by_unit()
            .map(|(unit, unit_name, counts)| UnitTotal {
                unit,
                unit_name,
                counts,
            })
            .collect(),
        by_parent: Vec::new(),
        by_system: sums
            .by_system()
            .map(|(system, counts)| SystemTotal { system, counts })
            .collect(),
        by_month: by_month
            .into_iter()
            .map(|(month, counts)| MonthTotal {
                month: month.to_owned(),
                counts,
            })
            .collect(),
        overall: sums.overall,
    }
}

/// Coverage for every unit × system that a stickprov routine draws for today, and for any
/// other that has draws in the report's year, so that both tables name the same pairs.
fn coverage(
    org: &Organisation,
    order: &Order,
    rows: &[Row],
    sampled: &HashSet<(String, String)>,
    from: NaiveDate,
    to: NaiveDate,
) -> Coverage {
    let rows: Vec<CoverageRow> = coverage_pairs(org, order, rows)
        .into_iter()
        .map(|(unit, system)| coverage_row(org, sampled, unit, system))
        .collect();
    let mut sums = Sums::new(order);
    for r in &rows {
        sums.add(&r.unit, &r.unit_name, &r.system, r.reach);
    }
    Coverage {
        from,
        to,
        by_unit: sums
            .by_unit()
            .map(|(unit, unit_name, reach)| UnitCoverage {
                unit,
                unit_name,
                reach,
            })
            .collect(),
        by_system: sums
            .by_system()
            .map(|(system, reach)| SystemCoverage { system, reach })
            .collect(),
        overall: sums.overall,
        rows,
    }
}

/// The (unit, system) pairs of the coverage table, in configuration order.
fn coverage_pairs(org: &Organisation, order: &Order, rows: &[Row]) -> Vec<(String, String)> {
    let mut pairs: HashSet<(String, String)> = org
        .routines
        .iter()
        .filter(|r| r.kind == RoutineKind::Stickprov)
        .flat_map(|r| {
            org.routine_units(r)
                .into_iter()
                .map(|u| (u.id.to_string(), r.system.to_string()))
        })
        .collect();
    pairs.extend(rows.iter().map(|r| (r.unit.clone(), r.system.clone())));
    let mut pairs: Vec<(String, String)> = pairs.into_iter().collect();
    pairs.sort_by(|(ua, sa), (ub, sb)| {
        (order.unit(ua), order.system(sa)).cmp(&(order.unit(ub), order.system(sb)))
    });
    pairs
}

fn coverage_row(
    org: &Organisation,
    sampled: &HashSet<(String, String)>,
    unit: String,
    system: String,
) -> CoverageRow {
    let population = match (UnitId::new(&unit), SystemId::new(&system)) {
        (Ok(u), Ok(s)) => org.population(&u, &s),
        _ => Vec::new(),
    };
    let covered = population
        .iter()
        .filter(|m| sampled.contains(&(system.clone(), m.staff_id.to_string())))
        .count();
    CoverageRow {
        unit_name: unit_name(org, &unit),
        unit,
        system,
        reach: Reach::new(population.len() as i64, covered as i64),
    }
}
