//! The extract the journal unit delivers: CSV (`;` or `,`) or XLSX, columns by name.

use std::io::Read;

use loggvakt_connector::{
    AccessEvent, Action, ConnectorError, ImportLimits, ImportOutcome, RowError,
};
use loggvakt_tabular::{Column, Row, action_by_prefix};

const TIME: usize = 0;
const USER_ID: usize = 1;
const USER_NAME: usize = 2;
const PATIENT_ID: usize = 3;
const PATIENT_NAME: usize = 4;
const CARE_UNIT: usize = 5;
const EVENT_TEXT: usize = 6;
const SYSTEM_PART: usize = 7;

/// In index order; the aliases are PROTOCOLS.md's.
pub const COLUMNS: [Column; 8] = [
    Column::required("Tidpunkt", &["Datum/tid", "Datum och tid", "time"]),
    Column::required("Användarnamn", &["Användare", "user_id"]),
    Column::optional("Användarens namn", &["Namn på användare", "user_name"]),
    Column::required("Personnummer", &["Patient-ID", "patient_id"]),
    Column::optional("Patientnamn", &["Patient", "patient_name"]),
    Column::optional("Vårdenhet", &["Enhet", "care_unit"]),
    Column::required("Händelse", &["Aktivitet", "event_text"]),
    Column::optional("Systemdel", &["Modul", "system_part"]),
];

const ACTIONS: [(&str, Action); 9] = [
    ("Läst", Action::Read),
    ("Visa", Action::Read),
    ("Ändrat", Action::Write),
    ("Skapat", Action::Create),
    ("Signerat", Action::Sign),
    ("Utskrift", Action::Print),
    ("Raderat", Action::Delete),
    ("Nödöppning", Action::EmergencyOpen),
    ("Nödöppnat", Action::EmergencyOpen),
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
        time: row.time(TIME)?,
        system: system_id.to_owned(),
        user_id: row.required(USER_ID)?.to_owned(),
        user_name: row.optional(USER_NAME),
        patient_id: row.personnummer(PATIENT_ID)?,
        patient_name: row.optional(PATIENT_NAME),
        care_unit: row.optional(CARE_UNIT),
        action: action_by_prefix(&event_text, &ACTIONS),
        event_text,
        system_part: row.optional(SYSTEM_PART),
        raw: Some(row.raw()),
        protected_identity: false,
    })
}
