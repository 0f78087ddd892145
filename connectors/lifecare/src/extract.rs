//! The extract an administrator attaches to the reply: `;`-separated,
//! `Tidpunkt;Användare;Namn;Personnummer;Brukare;Enhet;Aktivitet`.

use loggvakt_connector::Action;
use loggvakt_tabular::{Column, Layout, TimeColumns};

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

pub const LAYOUT: Layout = Layout {
    columns: &COLUMNS,
    time: TimeColumns::One(0),
    user_id: 1,
    user_name: Some(2),
    patient_id: 3,
    patient_name: Some(4),
    care_unit: Some(5),
    event_text: 6,
    system_part: None,
    actions: &ACTIONS,
};
