//! `loggvakt-sesam2`: the connector for Sesam 2, Region Skåne's assistive-device system.
//!
//! Sesam 2 answers at once: an authorised reviewer's search in *Administration › Loggning ›
//! Loggöversikt*, by user or by recipient (the patient), over a date and time range. The
//! connector runs that search page by page and maps the rows to access events. Where the
//! list is read by a person instead, its export is imported ([`extract`]). The wire
//! contract is `connectors/PROTOCOLS.md`.

mod extract;

use std::io::Read;

use chrono::NaiveDateTime;
use loggvakt_connector::{
    AccessEvent, Action, Capabilities, Capability, Connector, ConnectorError, FetchQuery,
    FromSettings, ImportLimits, ImportOutcome, Manifest, Period, Personnummer, Subject,
    async_trait,
};
use loggvakt_tabular::wire::http::{self, Peer};
use loggvakt_tabular::wire::{self, Secret};
use loggvakt_tabular::{action_by_prefix, parse_time};
use reqwest::Url;
use serde::Deserialize;

pub use extract::{COLUMNS, import as import_loggoversikt};

/// The `[[system]] settings` of a Sesam 2 system (PROTOCOLS.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sesam2Settings {
    pub base_url: String,
    /// The reviewer's API token, sent as `Authorization: Bearer`.
    pub token: Secret,
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Seconds to wait for each page; fractions allowed.
    #[serde(default = "default_timeout")]
    pub timeout_secs: f64,
}

fn default_page_size() -> u32 {
    100
}
fn default_timeout() -> f64 {
    30.0
}

/// A runaway `antal_sidor` must not keep a fetch going for ever.
const MAX_PAGES: u32 = 10_000;
const MAX_PAGE_SIZE: u32 = 10_000;

const ACTIONS: [(&str, Action); 6] = [
    ("Hjälper mottagare", Action::Read),
    ("Visar", Action::Read),
    ("Läser", Action::Read),
    ("Ändrar", Action::Write),
    ("Skapar", Action::Create),
    ("Skriver ut", Action::Print),
];

/// The Sesam 2 connector: `fetch`.
#[derive(Debug)]
pub struct Sesam2Connector {
    peer: Peer,
    settings: Sesam2Settings,
    overview: Url,
}

impl FromSettings for Sesam2Connector {
    type Settings = Sesam2Settings;

    fn build(system_id: &str, s: Sesam2Settings) -> Result<Self, ConnectorError> {
        let peer = Peer::new(system_id, "base_url", &s.base_url, s.timeout_secs)?;
        if s.token.expose().is_empty() {
            return Err(wire::bad_setting(system_id, "token", "is empty"));
        }
        if s.page_size == 0 || s.page_size > MAX_PAGE_SIZE {
            return Err(wire::bad_setting(
                system_id,
                "page_size",
                &format!("must be between 1 and {MAX_PAGE_SIZE}"),
            ));
        }
        Ok(Self {
            overview: http::endpoint(&peer.base, &["administration", "loggning", "loggoversikt"]),
            peer,
            settings: s,
        })
    }
}

#[derive(Deserialize)]
struct Page {
    rader: Vec<serde_json::Value>,
    sida: u32,
    antal_sidor: u32,
}

#[derive(Deserialize)]
struct Rad {
    anvandare: Option<String>,
    datum: Option<String>,
    handelse: Option<String>,
    referensnummer: Option<String>,
    mottagare: Option<String>,
    applikation: Option<String>,
}

/// Who a search is about: one of Loggöversikt's two search keys.
enum Key<'a> {
    User(&'a str),
    Recipient(&'a Personnummer),
}

impl Key<'_> {
    /// For messages: a username may be shown, a personnummer not.
    fn describe(&self) -> String {
        match self {
            Key::User(u) => format!("user {u}"),
            Key::Recipient(_) => "the recipient".into(),
        }
    }
}

const WIRE_TIME: &str = "%Y-%m-%dT%H:%M:%S";

impl Sesam2Connector {
    /// Runs one search over all its pages.
    async fn search(
        &self,
        key: Key<'_>,
        period: Period,
    ) -> Result<Vec<AccessEvent>, ConnectorError> {
        let mut events = Vec::new();
        let mut page = 1u32;
        loop {
            let what = format!("Loggöversikt for {}, page {page}", key.describe());
            let (name, value) = match &key {
                Key::User(u) => ("anvandare", (*u).to_owned()),
                Key::Recipient(p) => ("mottagare", p.digits().to_owned()),
            };
            let query = [
                (name, value),
                ("fran", period.from.format(WIRE_TIME).to_string()),
                ("till", period.to.format(WIRE_TIME).to_string()),
                ("sida", page.to_string()),
                ("per_sida", self.settings.page_size.to_string()),
            ];
            let request = self
                .peer
                .client
                .get(self.overview.clone())
                .bearer_auth(self.settings.token.expose())
                .query(&query);
            let answer: Page = http::json(http::send(request, &what).await?, &what).await?;
            if answer.sida != page {
                return Err(ConnectorError::malformed(format!(
                    "{what}: the answer is page {} instead",
                    answer.sida
                )));
            }
            for (i, row) in answer.rader.into_iter().enumerate() {
                events.push(self.event(row).map_err(|problem| {
                    ConnectorError::malformed(format!("{what}, row {}: {problem}", i + 1))
                })?);
            }
            if answer.sida >= answer.antal_sidor {
                return Ok(events);
            }
            if page >= MAX_PAGES {
                return Err(ConnectorError::malformed(format!(
                    "{what}: the answer claims more than {MAX_PAGES} pages"
                )));
            }
            page += 1;
        }
    }

    /// One row of the overview; the error text names the field at fault, never its value.
    fn event(&self, row: serde_json::Value) -> Result<AccessEvent, String> {
        let raw = row.to_string();
        let rad: Rad = serde_json::from_value(row)
            .map_err(|_| "is not a row of the expected shape".to_owned())?;
        let required = |v: Option<String>, field: &str| {
            v.map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .ok_or_else(|| format!("field {field} is missing or empty"))
        };
        let datum = required(rad.datum, "datum")?;
        let time: NaiveDateTime = parse_time(&datum).ok_or_else(|| {
            "field datum is not a time of the form YYYY-MM-DD HH:MM:SS".to_owned()
        })?;
        let patient_id = Personnummer::parse(&required(rad.mottagare, "mottagare")?)
            .map_err(|_| "field mottagare is not a valid personnummer".to_owned())?;
        let event_text = required(rad.handelse, "handelse")?;
        let nonblank = |v: Option<String>| v.map(|a| a.trim().to_owned()).filter(|a| !a.is_empty());
        Ok(AccessEvent {
            time,
            system: self.peer.system_id.clone(),
            user_id: required(rad.anvandare, "anvandare")?,
            user_name: None,
            patient_id,
            patient_name: None,
            care_unit: None,
            action: action_by_prefix(&event_text, &ACTIONS),
            event_text,
            system_part: nonblank(rad.applikation),
            raw: Some(raw),
            protected_identity: false,
            reference_number: nonblank(rad.referensnummer),
        })
    }
}

#[async_trait]
impl Connector for Sesam2Connector {
    fn manifest(&self) -> Manifest {
        use Capability::{Fetch, Import};
        let offered = Capabilities::of(&[Fetch, Import]);
        Manifest::new("sesam2", env!("CARGO_PKG_VERSION"), offered)
    }

    /// Only that Sesam 2 answers: a search would itself be logged as a reviewer's look at
    /// the log, which a health check must not cause.
    async fn health(&self) -> Result<(), ConnectorError> {
        self.peer.reachable("the Sesam 2 server").await
    }

    /// The Loggöversikt list as exported by a reviewer who searched it by hand.
    fn import(
        &self,
        input: &mut dyn Read,
        limits: &ImportLimits,
    ) -> Result<ImportOutcome, ConnectorError> {
        extract::import(&self.peer.system_id, input, limits)
    }

    async fn fetch(&self, q: &FetchQuery) -> Result<Vec<AccessEvent>, ConnectorError> {
        match &q.subject {
            Subject::Users(users) => {
                if users.is_empty() {
                    return Err(ConnectorError::permanent("the query names no users"));
                }
                let mut events = Vec::new();
                for u in users {
                    let period = u.period.unwrap_or(q.period);
                    events.extend(self.search(Key::User(&u.username), period).await?);
                }
                Ok(events)
            }
            Subject::Patient(p) => self.search(Key::Recipient(p), q.period).await,
        }
    }
}
