//! The extract an administrator attaches to the reply: `;`-separated,
//! `Tidpunkt;Användare;Namn;Personnummer;Brukare;Enhet;Aktivitet`.

use loggvakt_connector::Action;
use loggvakt_tabular::{Column, Layout};

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

pub const LAYOUT: Layout = Layout::in_event_order(&COLUMNS, None, &ACTIONS);
