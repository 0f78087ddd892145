//! Management's compliance report: for each unit, system and month of a year, how many random
//! checks (stickprov) were planned and what became of them, their outcomes and the cases they
//! opened, and how much of each unit's staff the checks reached in the last 12 months. The
//! same figures are the JSON (`loggvakt report compliance --format json`, the web API), the
//! CSV and the printable HTML page. The report holds counts, unit names and system ids only:
//! never a patient, a staff member's name or a personnummer.
//!
//! Definitions, per (unit, system, month) of the year's draws:
//! - `planned`: draws with a sample. `empty`: draws with none (no active staff with an account
//!   in the system); shown, but not counted as checks.
//! - Every planned draw is in exactly one of these, first match wins, so that
//!   `done_on_time + late + missed + in_progress + overdue + waiting = planned`:
//!   - `missed`: its window passed without it running;
//!   - `waiting`: not run yet (planned or running), or run without a review task yet (the
//!     extract has not been delivered);
//!   - `done_on_time`: ran on its day and its review was closed on or before the deadline;
//!   - `late`: its review was closed, but the draw ran after its day or the review was closed
//!     after the deadline;
//!   - `overdue`: its review is open and the deadline has passed;
//!   - `in_progress`: its review is open and the deadline has not passed.
//!
//!   A draw that ran late but whose review is still open is `in_progress` or `overdue`: those
//!   say what is still to be done, and it becomes `late` when closed.
//! - `utan_anmarkning`, `med_anmarkning`: outcomes of the closed reviews.
//! - `open_cases`: cases opened from these reviews that have no decision yet.
//!
//! Coverage, per unit and system, as of the clock's date (whatever the year): `active_staff`
//! is the unit's active staff with an account in the system today; `staff_covered_12m` is how
//! many of them were sampled in that system by a draw that ran (on its day or late) with its
//! execution day in the 12 months up to and including today; `coverage` is the ratio, to four
//! decimals (`null` without active staff). Counting only today's staff keeps the ratio at most 1: a leaver
//! does not count, and someone who moved is covered by a sample taken in their former unit.
//! Totals of coverage add up accounts: a person with accounts in two systems counts in both.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{Datelike, Months, NaiveDate, SecondsFormat, TimeDelta};
use handlebars::Handlebars;
use serde::{Deserialize, Serialize};

use crate::calendar::{Month, TZ, local_date};
use crate::clock::Clock;
use crate::ident::{SystemId, UnitId};
use crate::model::org::{Organisation, RoutineKind};
use crate::model::report::Counts;
use crate::store::{Store, StoreError};

/// The first year a report can be asked for: Patientdatalagen (2008:355) made log checks a
/// duty from July 2008, and no plan of ours predates it.
pub const FIRST_YEAR: i32 = 2008;

/// One unit × system × month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub unit: String,
    pub unit_name: String,
    pub system: String,
    pub month: String,
    #[serde(flatten)]
    pub counts: Counts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitTotal {
    pub unit: String,
    pub unit_name: String,
    #[serde(flatten)]
    pub counts: Counts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemTotal {
    pub system: String,
    #[serde(flatten)]
    pub counts: Counts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthTotal {
    pub month: String,
    #[serde(flatten)]
    pub counts: Counts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub by_unit: Vec<UnitTotal>,
    pub by_system: Vec<SystemTotal>,
    pub by_month: Vec<MonthTotal>,
    pub overall: Counts,
}

/// Staff covered by the checks of the last 12 months, and the ratio.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Reach {
    pub active_staff: i64,
    pub staff_covered_12m: i64,
    pub coverage: Option<f64>,
}

impl Reach {
    fn new(active_staff: i64, staff_covered_12m: i64) -> Self {
        Self {
            active_staff,
            staff_covered_12m,
            // Four decimals are plenty for a share of staff, and keep the JSON free of long
            // digit runs that a scan for personnummer would stop at.
            coverage: (active_staff > 0).then(|| {
                (staff_covered_12m as f64 / active_staff as f64 * 10_000.0).round() / 10_000.0
            }),
        }
    }

    fn add(self, o: Self) -> Self {
        Self::new(
            self.active_staff + o.active_staff,
            self.staff_covered_12m + o.staff_covered_12m,
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoverageRow {
    pub unit: String,
    pub unit_name: String,
    pub system: String,
    #[serde(flatten)]
    pub reach: Reach,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitCoverage {
    pub unit: String,
    pub unit_name: String,
    #[serde(flatten)]
    pub reach: Reach,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemCoverage {
    pub system: String,
    #[serde(flatten)]
    pub reach: Reach,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    /// First and last day (inclusive) of the 12 months looked at.
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub rows: Vec<CoverageRow>,
    pub by_unit: Vec<UnitCoverage>,
    pub by_system: Vec<SystemCoverage>,
    pub overall: Reach,
}

/// The report. Its field names are the JSON contract of the CLI and the web API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compliance {
    pub organisation: String,
    pub year: i32,
    /// The clock's instant, RFC 3339 in Swedish local time.
    pub generated_at: String,
    /// Unit (configuration order) × system (configuration order) × month.
    pub rows: Vec<Row>,
    pub totals: Totals,
    pub coverage: Coverage,
}

#[derive(Debug, thiserror::Error)]
#[error("{year} is not a year to report on: expected {FIRST_YEAR} to {current}")]
pub struct YearError {
    pub year: i32,
    pub current: i32,
}

/// Accepts the years that can have checks: from [`FIRST_YEAR`] to the clock's current year.
pub fn check_year(year: i32, clock: &Clock) -> Result<i32, YearError> {
    let current = current_year(clock);
    if (FIRST_YEAR..=current).contains(&year) {
        Ok(year)
    } else {
        Err(YearError { year, current })
    }
}

/// The clock's year in Swedish local time: the report's default.
pub fn current_year(clock: &Clock) -> i32 {
    local_date(clock.now()).year()
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

fn unit_name(org: &Organisation, id: &str) -> String {
    org.unit(id)
        .map_or_else(|| id.to_owned(), |u| u.name.clone())
}

/// Builds the report for `year` from the store, with "now" and "today" from `clock`.
pub async fn compliance(
    store: &Store,
    org: &Organisation,
    year: i32,
    clock: &Clock,
) -> Result<Compliance, StoreError> {
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
    let totals = totals(&rows, &order);

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
    let coverage = coverage(org, &order, &rows, &sampled, from, today);

    Ok(Compliance {
        organisation: org.name.clone(),
        year,
        generated_at: now
            .with_timezone(&TZ)
            .to_rfc3339_opts(SecondsFormat::Secs, false),
        rows,
        totals,
        coverage,
    })
}

fn totals(rows: &[Row], order: &Order) -> Totals {
    let mut by_unit: BTreeMap<(usize, &str), (&str, Counts)> = BTreeMap::new();
    let mut by_system: BTreeMap<(usize, &str), Counts> = BTreeMap::new();
    let mut by_month: BTreeMap<&str, Counts> = BTreeMap::new();
    let mut overall = Counts::default();
    for r in rows {
        by_unit
            .entry(order.unit(&r.unit))
            .or_insert((&r.unit_name, Counts::default()))
            .1 += r.counts;
        *by_system.entry(order.system(&r.system)).or_default() += r.counts;
        *by_month.entry(&r.month).or_default() += r.counts;
        overall += r.counts;
    }
    Totals {
        by_unit: by_unit
            .into_iter()
            .map(|((_, unit), (name, counts))| UnitTotal {
                unit: unit.to_owned(),
                unit_name: name.to_owned(),
                counts,
            })
            .collect(),
        by_system: by_system
            .into_iter()
            .map(|((_, system), counts)| SystemTotal {
                system: system.to_owned(),
                counts,
            })
            .collect(),
        by_month: by_month
            .into_iter()
            .map(|(month, counts)| MonthTotal {
                month: month.to_owned(),
                counts,
            })
            .collect(),
        overall,
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

    let mut out = Vec::with_capacity(pairs.len());
    for (unit, system) in pairs {
        let population = match (UnitId::new(&unit), SystemId::new(&system)) {
            (Ok(u), Ok(s)) => org.population(&u, &s),
            _ => Vec::new(),
        };
        let covered = population
            .iter()
            .filter(|m| sampled.contains(&(system.clone(), m.staff_id.to_string())))
            .count();
        out.push(CoverageRow {
            unit_name: unit_name(org, &unit),
            unit,
            system,
            reach: Reach::new(population.len() as i64, covered as i64),
        });
    }

    let mut by_unit: BTreeMap<(usize, &str), (&str, Reach)> = BTreeMap::new();
    let mut by_system: BTreeMap<(usize, &str), Reach> = BTreeMap::new();
    let mut overall = Reach::default();
    for r in &out {
        let e = by_unit
            .entry(order.unit(&r.unit))
            .or_insert((&r.unit_name, Reach::default()));
        e.1 = e.1.add(r.reach);
        let e = by_system.entry(order.system(&r.system)).or_default();
        *e = e.add(r.reach);
        overall = overall.add(r.reach);
    }
    Coverage {
        from,
        to,
        by_unit: by_unit
            .into_iter()
            .map(|((_, unit), (name, reach))| UnitCoverage {
                unit: unit.to_owned(),
                unit_name: name.to_owned(),
                reach,
            })
            .collect(),
        by_system: by_system
            .into_iter()
            .map(|((_, system), reach)| SystemCoverage {
                system: system.to_owned(),
                reach,
            })
            .collect(),
        overall,
        rows: out,
    }
}

/// The CSV header; the column names are the JSON field names.
pub const CSV_COLUMNS: [&str; 15] = [
    "unit",
    "unit_name",
    "system",
    "month",
    "planned",
    "empty",
    "done_on_time",
    "late",
    "missed",
    "in_progress",
    "overdue",
    "waiting",
    "utan_anmarkning",
    "med_anmarkning",
    "open_cases",
];

fn count_cells(c: &Counts) -> [i64; 11] {
    [
        c.planned,
        c.empty,
        c.done_on_time,
        c.late,
        c.missed,
        c.in_progress,
        c.overdue,
        c.waiting,
        c.utan_anmarkning,
        c.med_anmarkning,
        c.open_cases,
    ]
}

/// One row per unit × system × month, comma-separated and quoted as RFC 4180 asks. Totals
/// and coverage are left out: a spreadsheet sums the rows itself, and coverage is per unit
/// and system, not per month.
pub fn to_csv(report: &Compliance) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    w.write_record(CSV_COLUMNS).expect("in memory");
    for r in &report.rows {
        let mut record: Vec<String> = vec![
            r.unit.clone(),
            r.unit_name.clone(),
            r.system.clone(),
            r.month.clone(),
        ];
        record.extend(count_cells(&r.counts).iter().map(i64::to_string));
        w.write_record(&record).expect("in memory");
    }
    let bytes = w.into_inner().expect("in memory");
    String::from_utf8(bytes).expect("UTF-8 in, UTF-8 out")
}

const TEMPLATE: &str = "report_compliance";

fn templates() -> Handlebars<'static> {
    let mut h = Handlebars::new();
    h.set_strict_mode(true);
    h.register_template_string(TEMPLATE, include_str!("../templates/report_compliance.hbs"))
        .expect("the built-in template parses (tested)");
    h
}

/// The printable HTML page: tables, inline SVG bar charts, Swedish texts, no script.
pub fn to_html(report: &Compliance) -> String {
    templates()
        .render(TEMPLATE, &html::Page::new(report))
        .unwrap_or_else(|e| panic!("template {TEMPLATE}: {e}"))
}

/// What the page needs beyond the report: formatted figures and chart geometry, since
/// handlebars has no arithmetic.
mod html {
    use serde::Serialize;

    use super::{Compliance, Counts, Reach};

    /// The states of a planned check, in the order the charts stack them.
    const STATES: [(&str, &str); 6] = [
        ("done_on_time", "I tid"),
        ("late", "Sena"),
        ("in_progress", "Pågår"),
        ("waiting", "Väntar"),
        ("overdue", "Försenade"),
        ("missed", "Missade"),
    ];

    fn state_counts(c: &Counts) -> [i64; 6] {
        [
            c.done_on_time,
            c.late,
            c.in_progress,
            c.waiting,
            c.overdue,
            c.missed,
        ]
    }

    const MONTHS_SV: [&str; 12] = [
        "januari",
        "februari",
        "mars",
        "april",
        "maj",
        "juni",
        "juli",
        "augusti",
        "september",
        "oktober",
        "november",
        "december",
    ];

    /// "2026-11" as "november 2026".
    fn month_sv(month: &str) -> String {
        month
            .split_once('-')
            .and_then(|(y, m)| {
                let i = m.parse::<usize>().ok()?.checked_sub(1)?;
                Some(format!("{} {y}", MONTHS_SV.get(i)?))
            })
            .unwrap_or_else(|| month.to_owned())
    }

    fn percent(ratio: Option<f64>) -> String {
        ratio.map_or_else(|| "–".into(), |r| format!("{:.0}\u{a0}%", r * 100.0))
    }

    #[derive(Serialize)]
    struct Legend {
        class: &'static str,
        label: &'static str,
    }

    #[derive(Serialize)]
    struct Segment {
        x: String,
        width: String,
        class: &'static str,
        title: String,
    }

    #[derive(Serialize)]
    struct Bar {
        label: String,
        y: String,
        text_y: String,
        segments: Vec<Segment>,
        value: String,
        value_x: String,
    }

    #[derive(Serialize)]
    struct Chart {
        title: String,
        width: u32,
        height: u32,
        bars: Vec<Bar>,
        has_bars: bool,
    }

    const LABEL_W: f64 = 220.0;
    const BAR_W: f64 = 380.0;
    const ROW_H: f64 = 24.0;
    const BAR_H: f64 = 16.0;

    /// One part of a stacked bar: its CSS class, its tooltip, its length.
    type Part = (&'static str, String, i64);
    /// A bar: its label, its parts, and the figure written after it.
    type BarSpec = (String, Vec<Part>, String);

    /// Horizontal stacked bars; `scale` is the value a full bar stands for.
    fn chart(title: String, bars: Vec<BarSpec>, scale: i64) -> Chart {
        let scale = scale.max(1) as f64;
        let height = (bars.len() as f64 * ROW_H + 8.0) as u32;
        let bars = bars
            .into_iter()
            .enumerate()
            .map(|(i, (label, stack, value))| {
                let y = 4.0 + i as f64 * ROW_H;
                let mut x = LABEL_W;
                let segments = stack
                    .into_iter()
                    .filter(|(_, _, n)| *n > 0)
                    .map(|(class, title, n)| {
                        let width = n as f64 / scale * BAR_W;
                        let s = Segment {
                            x: format!("{x:.1}"),
                            width: format!("{width:.1}"),
                            class,
                            title,
                        };
                        x += width;
                        s
                    })
                    .collect();
                Bar {
                    text_y: format!("{:.1}", y + BAR_H - 3.0),
                    y: format!("{y:.1}"),
                    label,
                    segments,
                    value,
                    value_x: format!("{:.1}", LABEL_W + BAR_W + 6.0),
                }
            })
            .collect::<Vec<_>>();
        Chart {
            title,
            width: (LABEL_W + BAR_W + 70.0) as u32,
            height,
            has_bars: !bars.is_empty(),
            bars,
        }
    }

    fn states_chart<'a>(title: String, items: impl Iterator<Item = (String, &'a Counts)>) -> Chart {
        let items: Vec<(String, &Counts)> = items.collect();
        let scale = items.iter().map(|(_, c)| c.planned).max().unwrap_or(0);
        let bars = items
            .into_iter()
            .map(|(label, c)| {
                let stack = STATES
                    .iter()
                    .zip(state_counts(c))
                    .map(|(&(class, name), n)| (class, format!("{label}: {name} {n}"), n))
                    .collect();
                (label, stack, c.planned.to_string())
            })
            .collect();
        chart(title, bars, scale)
    }

    fn coverage_chart<'a>(items: impl Iterator<Item = (&'a str, &'a Reach)>) -> Chart {
        let bars = items
            .filter(|(_, r)| r.active_staff > 0)
            .map(|(label, r)| {
                let (n, of) = (r.staff_covered_12m, r.active_staff);
                // In per mille of each unit's own staff, so that every full bar is 100 %.
                let covered = n * 1000 / of;
                (
                    label.to_owned(),
                    vec![
                        (
                            "covered",
                            format!("{label}: {n} av {of} granskade"),
                            covered,
                        ),
                        (
                            "uncovered",
                            format!("{label}: {} av {of} ej granskade", of - n),
                            1000 - covered,
                        ),
                    ],
                    percent(r.coverage),
                )
            })
            .collect();
        chart("Täckning 12 mån per enhet".into(), bars, 1000)
    }

    #[derive(Serialize)]
    struct CountsView<'a> {
        /// The leading cells: unit, system and month, or the one a total is by.
        cols: Vec<String>,
        #[serde(flatten)]
        counts: &'a Counts,
    }

    #[derive(Serialize)]
    struct ReachView {
        label: String,
        sub: String,
        active_staff: i64,
        staff_covered_12m: i64,
        coverage: String,
    }

    fn reach_view(label: String, sub: String, r: &Reach) -> ReachView {
        ReachView {
            label,
            sub,
            active_staff: r.active_staff,
            staff_covered_12m: r.staff_covered_12m,
            coverage: percent(r.coverage),
        }
    }

    #[derive(Serialize)]
    pub(super) struct Page<'a> {
        organisation: &'a str,
        year: i32,
        generated: String,
        coverage_from: String,
        coverage_to: String,
        legend: Vec<Legend>,
        overall: &'a Counts,
        on_time_share: String,
        rows: Vec<CountsView<'a>>,
        by_unit: Vec<CountsView<'a>>,
        by_system: Vec<CountsView<'a>>,
        by_month: Vec<CountsView<'a>>,
        coverage: Vec<ReachView>,
        coverage_by_unit: Vec<ReachView>,
        coverage_by_system: Vec<ReachView>,
        coverage_overall: ReachView,
        month_chart: Chart,
        unit_chart: Chart,
        coverage_chart: Chart,
    }

    impl<'a> Page<'a> {
        pub(super) fn new(c: &'a Compliance) -> Self {
            let t = &c.totals;
            let cov = &c.coverage;
            let generated = chrono::DateTime::parse_from_rfc3339(&c.generated_at).map_or_else(
                |_| c.generated_at.clone(),
                |t| t.format("%Y-%m-%d %H:%M").to_string(),
            );
            let counts_view = |cols: Vec<String>, counts| CountsView { cols, counts };
            Page {
                organisation: &c.organisation,
                year: c.year,
                generated,
                coverage_from: cov.from.to_string(),
                coverage_to: cov.to.to_string(),
                legend: STATES
                    .iter()
                    .map(|&(class, label)| Legend { class, label })
                    .collect(),
                overall: &t.overall,
                on_time_share: percent(
                    (t.overall.planned > 0)
                        .then(|| t.overall.done_on_time as f64 / t.overall.planned as f64),
                ),
                rows: c
                    .rows
                    .iter()
                    .map(|r| {
                        counts_view(
                            vec![r.unit_name.clone(), r.system.clone(), month_sv(&r.month)],
                            &r.counts,
                        )
                    })
                    .collect(),
                by_unit: t
                    .by_unit
                    .iter()
                    .map(|u| counts_view(vec![u.unit_name.clone()], &u.counts))
                    .collect(),
                by_system: t
                    .by_system
                    .iter()
                    .map(|s| counts_view(vec![s.system.clone()], &s.counts))
                    .collect(),
                by_month: t
                    .by_month
                    .iter()
                    .map(|m| counts_view(vec![month_sv(&m.month)], &m.counts))
                    .collect(),
                coverage: cov
                    .rows
                    .iter()
                    .map(|r| reach_view(r.unit_name.clone(), r.system.clone(), &r.reach))
                    .collect(),
                coverage_by_unit: cov
                    .by_unit
                    .iter()
                    .map(|u| reach_view(u.unit_name.clone(), String::new(), &u.reach))
                    .collect(),
                coverage_by_system: cov
                    .by_system
                    .iter()
                    .map(|s| reach_view(s.system.clone(), String::new(), &s.reach))
                    .collect(),
                coverage_overall: reach_view("Totalt".into(), String::new(), &cov.overall),
                month_chart: states_chart(
                    "Kontroller per månad".into(),
                    t.by_month.iter().map(|m| (month_sv(&m.month), &m.counts)),
                ),
                unit_chart: states_chart(
                    "Kontroller per enhet".into(),
                    t.by_unit.iter().map(|u| (u.unit_name.clone(), &u.counts)),
                ),
                coverage_chart: coverage_chart(
                    cov.by_unit.iter().map(|u| (u.unit_name.as_str(), &u.reach)),
                ),
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn months_and_percentages_in_swedish() {
            assert_eq!(month_sv("2026-11"), "november 2026");
            assert_eq!(month_sv("2026-13"), "2026-13");
            assert_eq!(percent(Some(0.875)), "88\u{a0}%");
            assert_eq!(percent(None), "–");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Compliance {
        let counts = Counts {
            planned: 4,
            empty: 1,
            done_on_time: 1,
            late: 1,
            missed: 1,
            overdue: 1,
            utan_anmarkning: 1,
            med_anmarkning: 1,
            open_cases: 1,
            ..Counts::default()
        };
        let reach = Reach::new(10, 3);
        Compliance {
            organisation: "Testkommunen <&>".into(),
            year: 2027,
            generated_at: "2027-05-31T00:00:00+02:00".into(),
            rows: vec![Row {
                unit: "hem".into(),
                unit_name: "Hemtjänst, \"Norr\"".into(),
                system: "cosmic".into(),
                month: "2027-05".into(),
                counts,
            }],
            totals: Totals {
                by_unit: vec![UnitTotal {
                    unit: "hem".into(),
                    unit_name: "Hemtjänst, \"Norr\"".into(),
                    counts,
                }],
                by_system: vec![SystemTotal {
                    system: "cosmic".into(),
                    counts,
                }],
                by_month: vec![MonthTotal {
                    month: "2027-05".into(),
                    counts,
                }],
                overall: counts,
            },
            coverage: Coverage {
                from: NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(),
                to: NaiveDate::from_ymd_opt(2027, 5, 31).unwrap(),
                rows: vec![CoverageRow {
                    unit: "hem".into(),
                    unit_name: "Hemtjänst, \"Norr\"".into(),
                    system: "cosmic".into(),
                    reach,
                }],
                by_unit: vec![UnitCoverage {
                    unit: "hem".into(),
                    unit_name: "Hemtjänst, \"Norr\"".into(),
                    reach,
                }],
                by_system: vec![SystemCoverage {
                    system: "cosmic".into(),
                    reach,
                }],
                overall: reach,
            },
        }
    }

    #[test]
    fn json_field_names_are_flat_and_stable() {
        let v = serde_json::to_value(sample()).unwrap();
        let row = &v["rows"][0];
        for key in CSV_COLUMNS {
            assert!(row.get(key).is_some(), "rows[0].{key}");
        }
        assert_eq!(v["coverage"]["rows"][0]["staff_covered_12m"], 3);
        assert_eq!(v["coverage"]["overall"]["coverage"], 0.3);
        assert_eq!(v["coverage"]["from"], "2026-06-01");
        assert_eq!(v["totals"]["overall"]["planned"], 4);
        let back: Compliance = serde_json::from_value(v).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn csv_quotes_names_and_has_one_row_per_unit_system_month() {
        let csv = to_csv(&sample());
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some(CSV_COLUMNS.join(",").as_str()));
        assert_eq!(
            lines.next(),
            Some("hem,\"Hemtjänst, \"\"Norr\"\"\",cosmic,2027-05,4,1,1,1,1,0,1,0,1,1,1")
        );
        assert_eq!(lines.next(), None);
    }

    #[test]
    fn html_renders_escaped_with_charts_and_print_styles() {
        let html = to_html(&sample());
        assert!(html.contains("Loggkontroller 2027"), "{html}");
        assert!(html.contains("Testkommunen &lt;&amp;&gt;"));
        assert!(html.contains("<svg"));
        assert!(html.contains("@media print"));
        assert!(html.contains("30\u{a0}%"));
        assert!(!html.contains("<script"));
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no external assets"
        );
    }

    #[test]
    fn years_before_the_law_or_after_today_are_refused() {
        let clock = Clock::starting_at("2027-03-01T12:00:00Z".parse().unwrap());
        assert_eq!(check_year(2027, &clock).unwrap(), 2027);
        assert_eq!(check_year(2008, &clock).unwrap(), 2008);
        assert!(check_year(1800, &clock).is_err());
        let e = check_year(2028, &clock).unwrap_err();
        assert_eq!(
            e.to_string(),
            "2028 is not a year to report on: expected 2008 to 2027"
        );
    }
}
