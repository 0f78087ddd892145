//! The report as an Excel workbook: the checks per unit × system × month with numbers as
//! numbers (the CSV's columns), the year's follow-up, and the staff information per unit.
//! Text goes in as text, never as a formula, so a unit named `=HYPERLINK(…)` stays a name.

use rust_xlsxwriter::{Format, Workbook, XlsxError};

use super::Compliance;
use super::csv::{CSV_COLUMNS, count_cells};

/// The workbook's bytes.
pub fn to_xlsx(report: &Compliance) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();

    let checks = book.add_worksheet().set_name("Kontroller")?;
    for (col, name) in (0u16..).zip(CSV_COLUMNS) {
        checks.write_string_with_format(0, col, name, &bold)?;
    }
    for (row, r) in (1u32..).zip(&report.rows) {
        for (col, text) in (0u16..).zip([&r.unit, &r.unit_name, &r.system, &r.month]) {
            checks.write_string(row, col, text.as_str())?;
        }
        for (col, n) in (4u16..).zip(count_cells(&r.counts)) {
            checks.write_number(row, col, n as f64)?;
        }
    }

    let follow = book.add_worksheet().set_name("Uppföljning")?;
    let f = &report.follow_up;
    follow.write_string_with_format(0, 0, "figure", &bold)?;
    follow.write_string_with_format(0, 1, "value", &bold)?;
    let figures: [(&str, Option<f64>); 15] = [
        ("targeted_checks", Some(f.targeted_checks as f64)),
        ("targeted_by_user", Some(f.targeted_by_user as f64)),
        ("targeted_by_patient", Some(f.targeted_by_patient as f64)),
        ("patient_requests", Some(f.patient_requests as f64)),
        ("requests_handed_over", Some(f.requests_handed_over as f64)),
        ("handover_days_mean", f.handover_days_mean),
        ("handover_days_max", f.handover_days_max.map(|d| d as f64)),
        ("cases_opened", Some(f.cases_opened as f64)),
        ("cases_open", Some(f.cases_open as f64)),
        ("cases_no_breach", Some(f.cases_no_breach as f64)),
        (
            "cases_breach_labour_law",
            Some(f.cases_breach_labour_law as f64),
        ),
        ("cases_police_report", Some(f.cases_police_report as f64)),
        ("deliveries_overdue", Some(f.deliveries_overdue as f64)),
        ("deliveries_failed", Some(f.deliveries_failed as f64)),
        (
            "staff_information_confirmed",
            Some(report.staff_information.confirmed as f64),
        ),
    ];
    for (row, (name, value)) in (1u32..).zip(figures) {
        follow.write_string(row, 0, name)?;
        if let Some(v) = value {
            follow.write_number(row, 1, v)?;
        }
    }

    let informed = book.add_worksheet().set_name("Personalinformation")?;
    for (col, name) in (0u16..).zip(["unit", "unit_name", "informed_on"]) {
        informed.write_string_with_format(0, col, name, &bold)?;
    }
    for (row, u) in (1u32..).zip(&report.staff_information.by_unit) {
        informed.write_string(row, 0, u.unit.as_str())?;
        informed.write_string(row, 1, u.unit_name.as_str())?;
        if let Some(day) = u.informed_on {
            informed.write_string(row, 2, day.to_string())?;
        }
    }
    book.save_to_buffer()
}
