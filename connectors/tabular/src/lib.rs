//! `loggvakt-tabular`: what the built-in connectors share.
//!
//! * [`import`] reads a delivered extract (CSV with `;` or `,`, or the first sheet of an
//!   XLSX workbook), matches its columns by header name or alias, and hands each data row,
//!   with its line number, to the connector's own mapping. Bad rows become
//!   [`RowError`]s, so one broken line does not lose the whole extract. A [`Layout`] is
//!   that mapping for the usual case: one column (or two, for date and time) per event field.
//! * [`wire`]: the few rules every connector applies alike (settings errors, HTTP status
//!   codes, redaction), so the four connectors do not drift apart.
//!
//! Extracts are personal data: nothing here ever puts a cell's value into an error.

mod table;
pub mod wire;

pub use table::{
    Column, Layout, MAX_XLSX_COLUMNS, MAX_XLSX_ROWS, Row, Table, TimeColumns, action_by_prefix,
    import, parse_time, read_table,
};
