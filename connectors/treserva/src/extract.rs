//! Treserva's extract: `;`-separated, `Datum;Tid;Personnummer;Namn;Enhet;H-Typ;Systemdel;
//! Användare`, and `IP-adress;Arbetsstation` when they were asked for.

use std::io::Read;

use loggvakt_connector::{Action, ConnectorError, ImportLimits, ImportOutcome};
use loggvakt_tabular::{Column, Layout, TimeColumns};

/// Treserva's columns in index order. IP address and workstation are not event fields; when
/// present they stay in the event's `raw` row.
pub const COLUMNS: [Column; 10] = [
    Column::required("Datum", &[]),
    Column::required("Tid", &["Klockslag"]),
    Column::required("Personnummer", &[]),
    Column::required("Namn", &[]),
    Column::required("Enhet", &[]),
    Column::required("H-Typ", &["HTyp", "Händelsetyp"]),
    Column::required("Systemdel", &[]),
    Column::required("Användare", &["Användarnamn"]),
    Column::optional("IP-adress", &[]),
    Column::optional("Arbetsstation", &[]),
];

/// Written where the access has no link to an organisation (seed 002). Kept, in this
/// spelling, as the event's unit: the reviewer is shown it as such, and the rules know it
/// names no unit (`rules::is_unknown_unit`), where an empty unit would look like a gap in
/// the file.
pub const NO_UNIT: &str = "Ej tillämplig på enhet";

const ACTIONS: [(&str, Action); 5] = [
    ("Läsa", Action::Read),
    ("Ändra", Action::Write),
    ("Skapa", Action::Create),
    ("Skriva ut", Action::Print),
    ("Utskrift", Action::Print),
];

const LAYOUT: Layout = Layout {
    columns: &COLUMNS,
    time: TimeColumns::DateAndTime(0, 1),
    user_id: 7,
    user_name: None,
    patient_id: 2,
    patient_name: Some(3),
    care_unit: Some(4),
    event_text: 5,
    system_part: Some(6),
    actions: &ACTIONS,
};

pub fn import(
    system_id: &str,
    input: &mut dyn Read,
    limits: &ImportLimits,
) -> Result<ImportOutcome, ConnectorError> {
    LAYOUT.import_with(system_id, input, limits, |_, event| {
        if let Some(unit) = &mut event.care_unit
            && unit.to_lowercase() == NO_UNIT.to_lowercase()
        {
            NO_UNIT.clone_into(unit);
        }
    })
}
