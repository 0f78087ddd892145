//! A small organisation whose cosmic system is a synchronous fake source, so that ticks
//! make review tasks without any simulator: used by the review and web tests.

use std::sync::{Arc, Mutex};

use chrono::TimeDelta;
use loggvakt::connectors::Connectors;
use loggvakt::store::Store;
use loggvakt::tick;
use loggvakt_connector::{
    AccessEvent, Capabilities, Connector, ConnectorError, FetchQuery, Manifest, Personnummer,
    Subject, WriteBack, async_trait,
};

use super::{ConfigDir, SMALL_ORG, access_event, at, manifest};

/// Valid made-up personnummer (test series) for patients.
pub fn pnr(serial: u32) -> Personnummer {
    Personnummer::parse(&super::personnummer("121212", serial)).unwrap()
}

/// A synchronous log source (like Sesam 2) that also takes write-backs.
#[derive(Default)]
pub struct Source {
    pub write_backs: Mutex<Vec<WriteBack>>,
}

#[async_trait]
impl Connector for Source {
    fn manifest(&self) -> Manifest {
        let capabilities = Capabilities {
            fetch: true,
            write_back: true,
            ..Capabilities::default()
        };
        manifest("source", capabilities, None)
    }
    async fn health(&self) -> Result<(), ConnectorError> {
        Ok(())
    }
    async fn fetch(&self, q: &FetchQuery) -> Result<Vec<AccessEvent>, ConnectorError> {
        let ev = |user: &str, hours: i64, patient: Personnummer| AccessEvent {
            user_name: Some(format!("Namn {user}")),
            event_text: "Läst anteckning".into(),
            ..access_event(
                user,
                q.period.from + TimeDelta::minutes(hours * 60 / 2),
                patient,
            )
        };
        Ok(match &q.subject {
            // 09:00 local, 10:00, 14:00 and one at 23:30.
            Subject::Users(users) => users
                .iter()
                .flat_map(|u| {
                    vec![
                        ev(&u.username, 18, pnr(1)),
                        ev(&u.username, 20, pnr(2)),
                        ev(&u.username, 28, pnr(3)),
                        ev(&u.username, 47, pnr(4)),
                    ]
                })
                .collect(),
            Subject::Patient(p) => vec![ev("C800001", 20, p.clone()), ev("C800002", 28, p.clone())],
        })
    }
    async fn write_back(&self, wb: &WriteBack) -> Result<(), ConnectorError> {
        self.write_backs.lock().unwrap().push(wb.clone());
        Ok(())
    }
}

pub const NOTIFY: &str = r#"
[notify]
from = "loggvakt@example.se"
base_url = "https://loggvakt.example.se"
outbox = "outbox"
remind_days_before = 3
"#;

pub fn staff() -> String {
    let mut csv = String::from("id,name,unit,email,personnummer,cosmic\n");
    for i in 1..=12 {
        csv.push_str(&format!("s{i:04},Person {i},hemtjanst,,,C8{i:05}\n"));
    }
    for i in 13..=16 {
        csv.push_str(&format!("s{i:04},Person {i},boende,,,C8{i:05}\n"));
    }
    csv
}

pub struct Setup {
    pub cfg: ConfigDir,
    pub org: loggvakt::model::org::Organisation,
    pub connectors: Connectors,
    pub source: Arc<Source>,
}

pub fn setup() -> Setup {
    let cfg = ConfigDir::new(&format!("{SMALL_ORG}{NOTIFY}"), Some(&staff()));
    let org = loggvakt::config::load(cfg.path()).unwrap();
    let source = Arc::new(Source::default());
    let connectors = Connectors::for_org(&org).with("cosmic", source.clone());
    Setup {
        cfg,
        org,
        connectors,
        source,
    }
}

pub async fn tick(s: &Setup, store: &Store, when: &str) -> tick::TickReport {
    tick::tick(store, &s.org, &s.connectors, &at(when), "test")
        .await
        .unwrap()
}

pub async fn first_week(s: &Setup, store: &Store) {
    for day in 1..=7 {
        tick(s, store, &format!("2027-05-{day:02}T07:00:00+02:00")).await;
    }
}

/// One unit of 12 with a system that has no API: 10 % gives two users, one per part.
pub const MANUAL_ORG: &str = r#"
[organisation]
name = "Lillkommunen"
timezone = "Europe/Stockholm"
staff_csv = "staff.csv"

[[unit]]
id = "hemtjanst"
name = "Hemtjänst Norr"
manager = { name = "Hanna Chef", email = "hanna@example.se" }
escalate_to = { name = "Förvaltningschef", email = "fc@example.se" }

# No staff: its draws are empty. Its manager has a login in the web tests.
[[unit]]
id = "boende"
name = "Boende"
manager = { name = "Bo Chef", email = "bo@example.se" }
escalate_to = { name = "Förvaltningschef", email = "fc@example.se" }

[[system]]
id = "journal"
connector = "manual"
settings = { max_users_per_order = 1 }
max_extract_mb = 1

[[routine]]
id = "stickprov-journal"
kind = "stickprov"
system = "journal"
units = ["*"]
cadence = "monthly"
window = { first_days = 7, weekdays_only = true, skip_holidays = true }
sample = { fraction = 0.10, min = 1 }
review_period_hours = 24
deadline_days = 14

[notify]
from = "loggvakt@example.se"
base_url = "https://loggvakt.example.se"
outbox = "outbox"
"#;

pub fn manual_staff() -> String {
    let mut csv = String::from("id,name,unit,email,personnummer,journal\n");
    for i in 1..=12 {
        csv.push_str(&format!("s{i:04},Person {i},hemtjanst,,,J{i:04}\n"));
    }
    csv
}

/// [`MANUAL_ORG`]: its system is served by the built-in manual connector.
pub fn setup_manual() -> Setup {
    let cfg = ConfigDir::new(MANUAL_ORG, Some(&manual_staff()));
    let org = loggvakt::config::load(cfg.path()).unwrap();
    Setup {
        connectors: Connectors::for_org(&org),
        cfg,
        org,
        source: Arc::new(Source::default()),
    }
}
