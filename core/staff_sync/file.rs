//! Reads an HR system's staff export (CSV with `,` or `;`, or the first sheet of an XLSX
//! workbook) through the bounded tabular reader: each row is an [`Entry`] whose attributes
//! are the mapping's column names.

use std::collections::HashMap;
use std::path::Path;

use loggvakt_connector::ImportLimits;
use loggvakt_tabular::{Column, read_table};

use super::SyncError;
use super::person::Entry;

/// An HR export larger than this is refused unread (a staff list of 100 000 is ~20 MB).
pub const MAX_EXPORT_BYTES: u64 = 64 << 20;

/// The rows of `file`, each with the values of `columns` (the mapping's attribute names).
pub fn entries(file: &Path, columns: &[String]) -> Result<Vec<Entry>, SyncError> {
    let shown = file.display();
    let mut input = std::fs::File::open(file)
        .map_err(|e| SyncError::Source(format!("{shown}: cannot read: {e}")))?;
    // The tabular reader names its columns with static text, as connectors know theirs at
    // build time; these few names live as long as this one command.
    let spec: Vec<Column> = columns
        .iter()
        .map(|c| Column::optional(Box::leak(c.clone().into_boxed_str()), &[]))
        .collect();
    let limits = ImportLimits {
        max_bytes: MAX_EXPORT_BYTES,
    };
    let table = read_table(&mut input, &limits, &spec, |row| {
        let values = (0..spec.len())
            .filter_map(|i| row.optional(i).map(|v| (columns[i].to_lowercase(), v)))
            .collect::<HashMap<_, _>>();
        Ok(Entry {
            origin: format!("{shown}:{}", row.line()),
            values,
        })
    })
    .map_err(|e| SyncError::Source(format!("{shown}: {}", e.message)))?;
    if let Some(bad) = table.rejected.first() {
        return Err(SyncError::Source(format!(
            "{shown}:{}: {} ({} row(s) unreadable); nothing was changed",
            bad.line,
            bad.reason,
            table.rejected.len()
        )));
    }
    Ok(table.items)
}
