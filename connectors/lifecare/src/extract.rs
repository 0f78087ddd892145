//! The extract an administrator attaches to the reply: `;`-separated,
//! `Tidpunkt;Användare;Namn;Personnummer;Brukare;Enhet;Aktivitet`.

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
const UNIT: usize = 5;
const EVENT_TEXT: usize = 6;

/// Lifecare's columns in index order. `Namn` is the user's name, `Brukare` the client's.
pub const COLUMNS: [Column; 7] = [
    Column::required("Tidpunkt", &["Datum och tid"]),
    Column::required("Användare", &["Användarnamn"]),
    Column::required("Namn", &[]),
    Column::required("Personnummer", &[]),
    Column::required("Brukare", &[]),
    Column::required("Enhet", &[]),
    Column::required("Aktivitet", &[]),
];

const ACTIONS: [(&str, Action); 2] = [("Läst", Action::Read), ("Dokumenterat", Action::Write)];

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
        care_unit: row.optional(UNIT),
        action: action_by_prefix(&event_text, &ACTIONS),
        event_text,
        system_part: None,
        raw: Some(row.raw()),
        protected_identity: false,
    })
}
