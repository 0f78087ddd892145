//! The extract the journal unit delivers: CSV (`;` or `,`) or XLSX, columns by name.

use loggvakt_connector::Action;
use loggvakt_tabular::{Column, Layout};

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

pub const LAYOUT: Layout = Layout::in_event_order(&COLUMNS, Some(7), &ACTIONS);
