//! The report as CSV: one row per unit × system × month, for spreadsheets.

use super::{Compliance, Counts};

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
