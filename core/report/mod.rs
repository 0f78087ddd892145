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
//! - `reviewed_outside`: closed reviews in which a sampled user's log was read outside
//!   loggvakt; `by_hand`: closed reviews made by hand at all (a part taken out by a person in
//!   manual mode or delivered outside loggvakt, or a user reviewed outside it). Both count as
//!   done like any other.
//!
//! Coverage, per unit and system, as of the clock's date (whatever the year): `active_staff`
//! is the unit's active staff with an account in the system today; `staff_covered_12m` is how
//! many of them were sampled in that system by a draw that ran (on its day or late) with its
//! execution day in the 12 months up to and including today; `coverage` is the ratio, to four
//! decimals (`null` without active staff). Counting only today's staff keeps the ratio at most 1: a leaver
//! does not count, and someone who moved is covered by a sample taken in their former unit.
//! Totals of coverage add up accounts: a person with accounts in two systems counts in both.
//!
//! The numbers are made in `figures`; `csv` and `html` are two views of them.

use std::ops::AddAssign;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::calendar::local_date;
use crate::clock::Clock;

mod csv;
mod figures;
mod html;
mod xlsx;

pub use self::csv::{CSV_COLUMNS, to_csv, to_excel_csv};
pub use self::xlsx::to_xlsx;
pub use crate::model::report::Counts;
pub use figures::{compliance, compliance_of};
pub use html::{to_html, to_html_bounded};

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
    /// Each unit with units below it (a förvaltning, a verksamhet): the sum of its own and
    /// its whole subtree's counts, in configuration order.
    #[serde(default)]
    pub by_parent: Vec<UnitTotal>,
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
}

impl AddAssign for Reach {
    /// Adds up staff and coverage; the ratio is that of the sums.
    fn add_assign(&mut self, o: Self) {
        *self = Self::new(
            self.active_staff + o.active_staff,
            self.staff_covered_12m + o.staff_covered_12m,
        );
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
    /// The year's staff information (seed 002); absent in reports made before it existed.
    #[serde(default)]
    pub staff_information: StaffInformationFigures,
    /// What followed up the checks in the year: targeted checks, patients' requests, cases
    /// and deliveries (counts only).
    #[serde(default)]
    pub follow_up: FollowUp,
}

/// The year's follow-up, counted by when each thing began (a check or request when it was
/// made, a case when it was opened, an order when it was created), in Swedish local time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FollowUp {
    /// Targeted checks by user or by patient (scheduled ones included).
    pub targeted_checks: i64,
    pub targeted_by_user: i64,
    pub targeted_by_patient: i64,
    pub patient_requests: i64,
    /// Requests whose extract was sent to the patient.
    pub requests_handed_over: i64,
    /// Days from a request's arrival to its extract's dispatch: the mean and the longest.
    pub handover_days_mean: Option<f64>,
    pub handover_days_max: Option<i64>,
    pub cases_opened: i64,
    pub cases_open: i64,
    pub cases_no_breach: i64,
    pub cases_breach_labour_law: i64,
    pub cases_police_report: i64,
    /// Orders still awaiting their extract past the day it was due, now.
    pub deliveries_overdue: i64,
    /// Orders that failed for good.
    pub deliveries_failed: i64,
}

/// Whether each staffed unit's staff were informed about loggkontroll in the report's year:
/// the units with a record for the year, how many confirmed, and the day per unit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StaffInformationFigures {
    pub units: i64,
    pub confirmed: i64,
    pub by_unit: Vec<StaffInformationUnit>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaffInformationUnit {
    pub unit: String,
    pub unit_name: String,
    pub informed_on: Option<NaiveDate>,
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
                by_parent: Vec::new(),
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
            staff_information: StaffInformationFigures {
                units: 1,
                confirmed: 1,
                by_unit: vec![StaffInformationUnit {
                    unit: "hem".into(),
                    unit_name: "Hemtjänst, \"Norr\"".into(),
                    informed_on: NaiveDate::from_ymd_opt(2027, 2, 3),
                }],
            },
            follow_up: FollowUp {
                targeted_checks: 2,
                targeted_by_user: 1,
                targeted_by_patient: 1,
                patient_requests: 1,
                requests_handed_over: 1,
                handover_days_mean: Some(6.0),
                handover_days_max: Some(6),
                cases_opened: 1,
                cases_open: 1,
                ..FollowUp::default()
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
            Some("hem,\"Hemtjänst, \"\"Norr\"\"\",cosmic,2027-05,4,1,1,1,1,0,1,0,1,1,1,0,0")
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

    /// The web's page of a large organisation keeps the totals and leaves each unit's tables
    /// to the drill-down and the downloads; a small one shows everything, as printed.
    #[test]
    fn the_bounded_page_leaves_out_the_units_of_a_large_organisation() {
        let report = sample();
        let full = to_html_bounded(&report, 100);
        assert_eq!(full, to_html(&report));
        assert!(full.contains("<h2>Totalt per enhet</h2>"));

        let bounded = to_html_bounded(&report, 0);
        let units = report.totals.by_unit.len();
        assert!(
            bounded.contains(&format!("Rapporten omfattar {units} enheter.")),
            "{bounded}"
        );
        assert!(!bounded.contains("<h2>Totalt per enhet</h2>"));
        assert!(!bounded.contains("Norr"), "no unit named: {bounded}");
        assert!(bounded.contains("<h2>Totalt per system</h2>"));
        assert!(bounded.contains("<h2>Totalt per månad</h2>"));
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
