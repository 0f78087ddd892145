//! Extracts in a source system's own export form, as managers have them (Sesam 2's
//! Loggöversikt list, Treserva's file; CSV or XLSX), read by that system's connector and
//! turned into the normalised CSV form the scan reads. The rows the connector refuses are
//! reported with the original file's lines, and so are the flags.

use std::path::Path;

use anyhow::{Context, Result};
use loggvakt_connector::{ConnectorError, ErrorKind, ImportLimits, ImportOutcome, RowError};

/// An export read whole is bounded like an upload of it: far beyond any real extract.
const MAX_EXPORT_BYTES: u64 = 1 << 30;

type Importer =
    fn(&str, &mut dyn std::io::Read, &ImportLimits) -> Result<ImportOutcome, ConnectorError>;

/// The system ids the events get, with their importers, tried in this order: the first
/// whose required columns the file has reads it.
const EXPORTS: [(&str, Importer); 2] = [
    ("sesam2", loggvakt_sesam2::import_loggoversikt),
    ("treserva", loggvakt_treserva::import_extract),
];

pub(super) struct Normalised {
    /// The normalised CSV form, header first.
    pub(super) csv: Vec<u8>,
    /// The original file's line of each data row of `csv`, in order.
    pub(super) lines: Vec<u64>,
    pub(super) rejected: Vec<RowError>,
}

/// The original line of line `n` of the normalised form (the header is line 1), from the
/// original line of each data row ([`Normalised::lines`]).
pub(super) fn source_line(lines: &[u64], n: u64) -> u64 {
    n.checked_sub(2)
        .and_then(|i| lines.get(i as usize))
        .copied()
        .unwrap_or(n)
}

/// The file read as one of [`EXPORTS`], or `None` when it is none of them.
pub(super) fn normalise(path: &Path) -> Result<Option<Normalised>> {
    let limits = ImportLimits {
        max_bytes: MAX_EXPORT_BYTES,
    };
    for (system, import) in EXPORTS {
        let mut file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let outcome = match import(system, &mut file, &limits) {
            Ok(outcome) => outcome,
            // Not this system's columns: try the next.
            Err(e) if e.kind == ErrorKind::Malformed => continue,
            Err(e) => return Err(anyhow::anyhow!("{}: {e}", path.display())),
        };
        let lines = (0..outcome.events.len())
            .map(|i| outcome.line_of(i).unwrap_or(i as u64 + 2))
            .collect();
        let csv = loggvakt_connector::csv_form::write_all(Vec::new(), &outcome.events)
            .with_context(|| format!("cannot convert {}", path.display()))?;
        return Ok(Some(Normalised {
            csv,
            lines,
            rejected: outcome.rejected,
        }));
    }
    Ok(None)
}
