//! Sesam 2's *Loggöversikt* list as a reviewer exports it (CSV with `;` or `,`, or XLSX):
//! `Användare | Datum | Menyval / händelse | Referensnummer | Mottagare | Applikation`, the
//! columns the routine shows (seed 004). Used where the overview is read by a person rather
//! than queried (manual mode, an upload).

use std::io::Read;

use loggvakt_connector::{ConnectorError, ImportLimits, ImportOutcome};
use loggvakt_tabular::{Column, Layout, TimeColumns};

/// In index order. The overview's own headers first; the list view marks its sort column
/// with an arrow (`Datum ▼`), which a copied list keeps.
pub const COLUMNS: [Column; 6] = [
    Column::required("Användare", &["Användarnamn", "anvandare"]),
    Column::required("Datum", &["Datum ▼", "Datum ▲", "Tidpunkt", "datum"]),
    Column::required(
        "Menyval / händelse",
        &["Menyval/händelse", "Menyval", "Händelse", "handelse"],
    ),
    Column::optional("Referensnummer", &["referensnummer"]),
    Column::required("Mottagare", &["Personnummer", "mottagare"]),
    Column::optional("Applikation", &["applikation"]),
];

const REFERENSNUMMER: usize = 3;

const LAYOUT: Layout = Layout {
    columns: &COLUMNS,
    time: TimeColumns::One(1),
    user_id: 0,
    user_name: None,
    patient_id: 4,
    patient_name: None,
    care_unit: None,
    event_text: 2,
    system_part: Some(5),
    actions: &super::ACTIONS,
};

pub fn import(
    system_id: &str,
    input: &mut dyn Read,
    limits: &ImportLimits,
) -> Result<ImportOutcome, ConnectorError> {
    LAYOUT.import_with(system_id, input, limits, |row, event| {
        event.reference_number = row.optional(REFERENSNUMMER);
    })
}
