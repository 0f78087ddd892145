//! Treserva's extract: `;`-separated, `Datum;Tid;Personnummer;Namn;Enhet;H-Typ;Systemdel;
//! Användare`, and `IP-adress;Arbetsstation` when they were asked for.

use std::io::Read;

use loggvakt_connector::{
    AccessEvent, Action, ConnectorError, ImportLimits, ImportOutcome, RowError,
};
use loggvakt_tabular::{Column, Row, action_by_prefix};

const DATE: usize = 0;
const TIME: usize = 1;
const PATIENT_ID: usize = 2;
const PATIENT_NAME: usize = 3;
const UNIT: usize = 4;
const EVENT_TEXT: usize = 5;
const SYSTEM_PART: usize = 6;
const USER_ID: usize = 7;

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

/// Written where the access has no link to an organisation.
const NO_UNIT: &str = "Ej tillämplig på enhet";

const ACTIONS: [(&str, Action); 5] = [
    ("Läsa", Action::Read),
    ("Ändra", Action::Write),
    ("Skapa", Action::Create),
    ("Skriva ut", Action::Print),
    ("Utskrift", Action::Print),
];

pub fn import(
    system_id: &str,
    input: &mut dyn Read,
    limits: &ImportLimits,
) -> Result<ImportOutcome, ConnectorError> {
    loggvakt_tabular::import(input, limits, &COLUMNS, |row| event(system_id, row))
}

fn event(system_id: &str, row: &Row) -> Result<AccessEvent, RowError> {
    let event_text = row.required(EVENT_TEXT)?.to_owned();
    Ok(AccessEvent {
        time: row.date_and_time(DATE, TIME)?,
        system: system_id.to_owned(),
        user_id: row.required(USER_ID)?.to_owned(),
        user_name: None,
        patient_id: row.personnummer(PATIENT_ID)?,
        patient_name: row.optional(PATIENT_NAME),
        care_unit: row
            .get(UNIT)
            .filter(|u| u.to_lowercase() != NO_UNIT.to_lowercase())
            .map(str::to_owned),
        action: action_by_prefix(&event_text, &ACTIONS),
        event_text,
        system_part: row.optional(SYSTEM_PART),
        raw: Some(row.raw()),
        protected_identity: false,
    })
}
