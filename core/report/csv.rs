//! The report as CSV: one row per unit × system × month, for spreadsheets.

use super::{Compliance, Counts};

/// The CSV header; the column names are the JSON field names.
pub const CSV_COLUMNS: [&str; 17] = [
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
    "reviewed_outside",
    "by_hand",
];

pub(super) fn count_cells(c: &Counts) -> [i64; 13] {
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
        c.reviewed_outside,
        c.by_hand,
    ]
}

/// A text cell as a spreadsheet may safely open it: a cell starting with `=`, `+`, `-`, `@`,
/// a tab or a carriage return would be taken for a formula (`=HYPERLINK(…)` in a unit's name
/// runs when the report is opened), so it gets a leading `'`, which spreadsheets show as
/// text. Counts are numbers we write ourselves and are left as they are.
pub fn neutralised(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

/// One row per unit × system × month, comma-separated and quoted as RFC 4180 asks. Totals
/// and coverage are left out: a spreadsheet sums the rows itself, and coverage is per unit
/// and system, not per month.
pub fn to_csv(report: &Compliance) -> String {
    write(report, b',')
}

/// The same rows as Swedish Excel opens a CSV file by double-click: `;` between fields (the
/// comma is the decimal sign there) and a byte-order mark, without which Excel reads UTF-8
/// as Windows-1252 and "Hemtjänst" turns into "HemtjÃ¤nst".
pub fn to_excel_csv(report: &Compliance) -> String {
    format!("\u{feff}{}", write(report, b';'))
}

fn write(report: &Compliance, delimiter: u8) -> String {
    let mut w = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    w.write_record(CSV_COLUMNS).expect("in memory");
    for r in &report.rows {
        let mut record: Vec<String> = [&r.unit, &r.unit_name, &r.system, &r.month]
            .into_iter()
            .map(|text| neutralised(text))
            .collect();
        record.extend(count_cells(&r.counts).iter().map(i64::to_string));
        w.write_record(&record).expect("in memory");
    }
    let bytes = w.into_inner().expect("in memory");
    String::from_utf8(bytes).expect("UTF-8 in, UTF-8 out")
}

#[cfg(test)]
mod tests {
    use super::neutralised;

    #[test]
    fn formula_starts_are_neutralised_and_other_text_is_kept() {
        for bad in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralised(bad), format!("'{bad}"));
        }
        for good in ["Hemtjänst Norr", "hemtjanst-norr", "2027-05", "", "a=b"] {
            assert_eq!(neutralised(good), good);
        }
    }
}
