//! `loggvakt-lifecare`: the connector for Lifecare (Evolution), the municipal care record.
//!
//! Where Evolution cannot tell one manager's staff from another's, the manager sends the
//! sampled staff's names and usernames to the system administrators' mailbox as a Lifecare
//! message; an administrator takes the activity log on a random later day and replies with it
//! attached. The review's outcome goes back into Evolution as a note. The wire contract is
//! `connectors/PROTOCOLS.md`.

mod extract;

use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use loggvakt_connector::{
    Capabilities, Capability, Connector, ConnectorError, Extract, FromSettings, ImportLimits,
    ImportOutcome, Manifest, OrderReceipt, OrderRequest, OrdererSetting, PollOutcome,
    ReviewOutcome, Subject, WriteBack, async_trait,
};
use loggvakt_tabular::wire::http::{self, Peer};
use loggvakt_tabular::wire::{self, Secret};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::{Deserialize, Serialize};

pub use extract::COLUMNS;

/// The `[[system]] settings` of a Lifecare system (PROTOCOLS.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifecareSettings {
    pub base_url: String,
    /// The API token, sent as `Authorization: Bearer`.
    pub token: Secret,
    #[serde(default = "default_mailbox")]
    pub admin_mailbox: String,
    /// A shared Lifecare user that sends every message under `orderer = "shared"`, and those
    /// whose orderer has no Lifecare username. Otherwise a message is sent by its unit's
    /// orderer, so that the administrator's reply reaches that enhetschef.
    #[serde(default)]
    pub sender: Option<String>,
    /// `unit` (default) or `shared` (see `sender`).
    #[serde(default)]
    pub orderer: OrdererSetting,
    /// Seconds to wait for each request; fractions allowed.
    #[serde(default = "default_timeout")]
    pub timeout_secs: f64,
}

fn default_mailbox() -> String {
    "systemforvaltare".into()
}
fn default_timeout() -> f64 {
    30.0
}

/// The Lifecare connector: `order`, `poll`, `import` and `write_back`.
#[derive(Debug)]
pub struct LifecareConnector {
    peer: Peer,
    settings: LifecareSettings,
}

impl FromSettings for LifecareConnector {
    type Settings = LifecareSettings;

    fn build(system_id: &str, s: LifecareSettings) -> Result<Self, ConnectorError> {
        let peer = Peer::new(system_id, "base_url", &s.base_url, s.timeout_secs)?;
        for (name, value) in [
            ("token", Some(s.token.expose())),
            ("admin_mailbox", Some(s.admin_mailbox.as_str())),
            ("sender", s.sender.as_deref()),
        ] {
            if value.is_some_and(|v| v.trim().is_empty()) {
                return Err(wire::bad_setting(system_id, name, "is empty"));
            }
        }
        wire::require_for_shared(
            system_id,
            s.orderer,
            "sender",
            s.sender.as_deref(),
            "the shared Lifecare user",
        )?;
        Ok(Self { peer, settings: s })
    }
}

#[derive(Serialize)]
struct NewMessage<'a> {
    till: &'a str,
    fran: &'a str,
    amne: String,
    text: String,
    referens: &'a str,
    idempotensnyckel: &'a str,
}

#[derive(Deserialize)]
struct Created {
    id: serde_json::Value,
}

impl Created {
    /// The id as text; Lifecare's ids are strings, but a number must not fail an order that
    /// the peer has accepted.
    fn id(&self) -> Option<String> {
        match &self.id {
            serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct Reply {
    #[serde(default)]
    bilaga: Option<Attachment>,
}

#[derive(Deserialize)]
struct Attachment {
    #[serde(default)]
    filnamn: Option<String>,
    innehall_base64: String,
}

#[derive(Serialize)]
struct Note<'a> {
    referens: &'a str,
    text: String,
    anvandare: Vec<&'a str>,
    #[serde(skip_serializing_if = "str::is_empty")]
    idempotensnyckel: &'a str,
}

impl LifecareConnector {
    /// A call of Lifecare's API, at `base_url` + `segments`; every call carries the token.
    fn api(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        self.peer
            .client
            .request(method, http::endpoint(&self.peer.base, segments))
            .bearer_auth(self.settings.token.expose())
    }

    /// The Lifecare user `req` is sent by: its unit's orderer's, else the shared `sender`.
    pub fn sender_of<'a>(&'a self, req: &'a OrderRequest) -> Result<&'a str, ConnectorError> {
        self.settings
            .orderer
            .of(req)
            .and_then(|o| o.username.as_deref())
            .or(self.settings.sender.as_deref())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ConnectorError::config(format!(
                    "system {}: the order {} has no orderer with a Lifecare username and no `sender` is set",
                    self.peer.system_id, req.reference
                ))
            })
    }

    /// The message text: one line per user with name, username and period, signed by the
    /// orderer for their unit.
    pub fn message_text(&self, req: &OrderRequest) -> Result<String, ConnectorError> {
        let Subject::Users(users) = &req.subject else {
            // Evolution's own log search takes a client; the administrators' mailbox is for
            // the staff lists Evolution cannot filter by itself.
            return Err(ConnectorError::permanent(
                "a Lifecare extract order names staff; a check by patient is made in Evolution's activity log directly",
            ));
        };
        if users.is_empty() {
            return Err(ConnectorError::permanent("the order names no users"));
        }
        let mut text = format!(
            "Hej!\n\nLoggkontroll {}: ta ut aktivitetsloggen för användarna nedan, var och en för sin \
             period, och svara på det här meddelandet med loggutdraget som bilaga (CSV med kolumnerna \
             Tidpunkt;Användare;Namn;Personnummer;Brukare;Enhet;Aktivitet).\n\n",
            req.reference
        );
        for u in users {
            let period = wire::period_text(&u.period.unwrap_or(req.period));
            match u.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
                Some(name) => text.push_str(&format!("{name} ({}): {period}\n", u.username)),
                None => text.push_str(&format!("{}: {period}\n", u.username)),
            }
        }
        let signature = match &req.orderer {
            Some(o) => format!("{}\n{}", o.name.trim(), o.unit.trim()),
            None => self.sender_of(req)?.to_owned(),
        };
        text.push_str(&format!(
            "\nReferens: {}\n\nMed vänliga hälsningar\n{signature}\n",
            req.reference,
        ));
        Ok(text)
    }

    /// The note's text: `Loggkontroll {period}: utan anmärkning` or `…: med anmärkning`.
    /// The reviewer's comment is not written back: it may name people, and the note only
    /// has to show that the check was made and how it ended.
    pub fn note_text(wb: &WriteBack) -> String {
        let outcome = match wb.outcome {
            ReviewOutcome::UtanAnmarkning => "utan anmärkning",
            ReviewOutcome::MedAnmarkning => "med anmärkning",
        };
        format!("Loggkontroll {}: {outcome}", wire::period_text(&wb.period))
    }
}

#[async_trait]
impl Connector for LifecareConnector {
    fn manifest(&self) -> Manifest {
        use Capability::{Import, Order, Poll, WriteBack};
        let offered = Capabilities::of(&[Order, Poll, Import, WriteBack]);
        Manifest::new("lifecare", env!("CARGO_PKG_VERSION"), offered)
    }

    /// Only that Lifecare answers; every API call has an effect or reads personal data.
    async fn health(&self) -> Result<(), ConnectorError> {
        self.peer.reachable("the Lifecare server").await
    }

    async fn order(&self, req: &OrderRequest) -> Result<OrderReceipt, ConnectorError> {
        let body = NewMessage {
            till: self.settings.admin_mailbox.trim(),
            fran: self.sender_of(req)?,
            amne: format!("Loggutdrag {}", req.reference),
            text: self.message_text(req)?,
            referens: &req.reference,
            idempotensnyckel: &req.idempotency_key,
        };
        let what = "the Lifecare message to the administrators";
        let request = self.api(Method::POST, &["api", "meddelanden"]).json(&body);
        let response = http::send(request, what).await?;
        let again = response.status() == StatusCode::OK;
        let created: Created = http::json(response, what).await?;
        let id = created.id().ok_or_else(|| {
            ConnectorError::malformed("Lifecare accepted the message but gave no message id")
        })?;
        Ok(OrderReceipt {
            note: Some(if again {
                format!("Lifecare already had this message: {id}")
            } else {
                format!("message {id} to {}", self.settings.admin_mailbox.trim())
            }),
            external_ref: Some(id),
        })
    }

    async fn poll(
        &self,
        _req: &OrderRequest,
        receipt: &OrderReceipt,
    ) -> Result<PollOutcome, ConnectorError> {
        let id = receipt
            .external_ref
            .as_deref()
            .filter(|i| !i.is_empty())
            .ok_or_else(|| ConnectorError::permanent("the receipt holds no Lifecare message id"))?;
        let what = format!("the replies to message {id}");
        let request = self
            .api(Method::GET, &["api", "meddelanden"])
            .query(&[("svar_pa", id)]);
        let replies: Vec<Reply> = http::json(http::send(request, &what).await?, &what).await?;
        // A reply without an attachment is a question or an acknowledgement; the extract
        // is still to come.
        let Some(attachment) = replies.into_iter().find_map(|r| r.bilaga) else {
            return Ok(PollOutcome::Pending);
        };
        let encoded: String = attachment
            .innehall_base64
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let bytes = STANDARD.decode(encoded.as_bytes()).map_err(|_| {
            ConnectorError::malformed(format!(
                "the attachment of the reply to message {id} is not valid base64"
            ))
        })?;
        Ok(PollOutcome::Delivered(Extract {
            file_name: attachment.filnamn,
            content_type: None,
            bytes,
        }))
    }

    fn import(
        &self,
        input: &mut dyn Read,
        limits: &ImportLimits,
    ) -> Result<ImportOutcome, ConnectorError> {
        extract::LAYOUT.import(&self.peer.system_id, input, limits)
    }

    async fn write_back(&self, wb: &WriteBack) -> Result<(), ConnectorError> {
        let anvandare = match &wb.subject {
            Subject::Users(users) => users.iter().map(|u| u.username.as_str()).collect(),
            Subject::Patient(_) => Vec::new(),
        };
        let note = Note {
            referens: &wb.reference,
            text: Self::note_text(wb),
            anvandare,
            idempotensnyckel: &wb.idempotency_key,
        };
        let what = "the note on the review's outcome";
        let request = self.api(Method::POST, &["api", "anteckningar"]).json(&note);
        http::send(request, what).await?;
        Ok(())
    }
}
