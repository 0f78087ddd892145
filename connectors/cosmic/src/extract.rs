//! The extract the journal unit delivers: CSV (`;` or `,`) or XLSX, columns by name.

use loggvakt_connector::Action;
use loggvakt_tabular::{Column, Layout, TimeColumns};

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

pub const LAYOUT: Layout = Layout {
    columns: &COLUMNS,
    time: TimeColumns::One(0),
    user_id: 1,
    user_name: Some(2),
    patient_id: 3,
    patient_name: Some(4),
    care_unit: Some(5),
    event_text: 6,
    system_part: Some(7),
    actions: &ACTIONS,
};
