use std::time::Duration;

use chrono::NaiveDateTime;
use loggvakt_connector::{AccessEvent, Personnummer};
use loggvakt_simulator::{Ports, SimConfig, SimStaff, Simulator, SystemFaults};
use serde_json::Value;

pub const CHEF: &str = "chef@kommun.example";
pub const SESAM_TOKEN: &str = "s2-hemlig";
pub const LIFECARE_TOKEN: &str = "lc-hemlig";

pub fn dt(s: &str) -> NaiveDateTime {
    for f in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return t;
        }
    }
    panic!("bad test time {s}")
}

/// A valid personnummer from a date and a birth number, check digit computed.
pub fn pnr(date: &str, birth: &str) -> Personnummer {
    Personnummer::with_check_digit(&format!("{date}{birth}")).unwrap()
}

fn staff(system: &str, username: &str, name: &str, unit: &str, night: bool) -> SimStaff {
    SimStaff {
        system: system.into(),
        username: username.into(),
        name: name.into(),
        unit: unit.into(),
        personnummer: None,
        night,
    }
}

pub fn all_staff() -> Vec<SimStaff> {
    let mut karin = staff("cosmic", "C821234", "Karin Lund", "Hemtjänst Norr", false);
    karin.personnummer = Some(pnr("19800101", "002"));
    let mut eva = staff("lifecare", "L4711", "Eva Ek", "Hemtjänst Norr", false);
    eva.personnummer = Some(pnr("19750505", "004"));
    vec![
        karin,
        staff("cosmic", "C821235", "Olle Berg", "Hemtjänst Norr", false),
        staff("cosmic", "C821236", "Sara Nilsson", "Hemtjänst Norr", false),
        staff("cosmic", "C821237", "Ali Haddad", "Hemtjänst Norr", false),
        staff("cosmic", "C900001", "Nils Natt", "Nattpatrullen", true),
        staff(
            "treserva",
            "T10452",
            "Lena Strand",
            "IFO Barn och unga",
            false,
        ),
        staff("treserva", "T10453", "Per Åkesson", "IFO Vuxen", false),
        staff(
            "sesam2",
            "189986",
            "Berit Bengtsson",
            "Hjälpmedel Syd",
            false,
        ),
        staff("sesam2", "189987", "Jonas Holm", "Hjälpmedel Syd", false),
        eva,
        staff("lifecare", "L4712", "Maria Sjö", "Hemtjänst Norr", true),
    ]
}

pub fn config() -> SimConfig {
    SimConfig {
        seed: 42,
        staff: all_staff(),
        protected: vec![pnr("19500303", "991"), pnr("19600404", "992")],
        treserva_verksamhetschefer: vec![CHEF.into()],
        sesam2_token: SESAM_TOKEN.into(),
        lifecare_token: LIFECARE_TOKEN.into(),
        ..Default::default()
    }
}

pub async fn start(config: SimConfig) -> Simulator {
    Simulator::start(config, Ports::any()).await.unwrap()
}

/// A simulator of [`config`] as `change` leaves it.
pub async fn start_with(change: impl FnOnce(&mut SimConfig)) -> Simulator {
    let mut config = config();
    change(&mut config);
    start(config).await
}

/// Sets `system`'s faults to the defaults as `change` leaves them (replacing any set before).
pub fn set_faults(sim: &Simulator, system: &str, change: impl FnOnce(&mut SystemFaults)) {
    let mut faults = SystemFaults::default();
    change(&mut faults);
    sim.set_faults(system, faults);
}

/// The ground truth of an order: the accesses of each `(username, from, to)` of `system`,
/// in order.
pub fn ground_truth(
    sim: &Simulator,
    system: &str,
    orders: &[(&str, &str, &str)],
) -> Vec<AccessEvent> {
    orders
        .iter()
        .flat_map(|(user, from, to)| sim.events_for(system, user, dt(from), dt(to)))
        .collect()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// Sends `request`, as `Authorization: Bearer` when a token is given, and returns the
/// status and the JSON answer (`Null` when the answer is not JSON).
pub async fn call(request: reqwest::RequestBuilder, token: Option<&str>) -> (u16, Value) {
    let request = match token {
        Some(t) => request.bearer_auth(t),
        None => request,
    };
    let r = request.send().await.unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

/// `;`-separated CSV with a header into maps from header name to cell; rows whose width
/// differs from the header's are returned apart, as the connectors see them.
pub struct Csv {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Csv {
    pub fn parse(bytes: &[u8]) -> Csv {
        let text = std::str::from_utf8(bytes).unwrap();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut r = csv::ReaderBuilder::new()
            .delimiter(b';')
            .flexible(true)
            .has_headers(false)
            .from_reader(text.as_bytes());
        let mut records = r.records().map(|r| {
            r.unwrap()
                .iter()
                .map(str::to_owned)
                .collect::<Vec<String>>()
        });
        let header = records.next().expect("a header");
        Csv {
            header,
            rows: records.collect(),
        }
    }

    /// How many rows a connector would reject: cut short, or with a personnummer or a time
    /// (the cells of the `time` columns joined by a space) that does not parse.
    pub fn malformed(&self, time: &[&str]) -> usize {
        let p = self.col("Personnummer");
        let time: Vec<usize> = time.iter().map(|name| self.col(name)).collect();
        let when = |r: &[String]| {
            time.iter()
                .map(|&c| r[c].as_str())
                .collect::<Vec<_>>()
                .join(" ")
        };
        self.rows
            .iter()
            .filter(|r| {
                r.len() != self.header.len()
                    || Personnummer::parse(&r[p]).is_err()
                    || NaiveDateTime::parse_from_str(&when(r), "%Y-%m-%d %H:%M:%S").is_err()
            })
            .count()
    }

    pub fn col(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name} in {:?}", self.header))
    }
}
