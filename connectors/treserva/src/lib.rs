//! `loggvakt-treserva`: the connector for Treserva, the social services' record.
//!
//! An extract is ordered through the self-service portal's e-service form; user support
//! checks that the requester is a verksamhetschef and delivers the extract, which the
//! connector collects by polling the ticket, or which arrives by post or encrypted mail and
//! is imported. The wire contract is `connectors/PROTOCOLS.md`.

mod extract;

use std::io::Read;

use loggvakt_connector::{
    Capabilities, Capability, Connector, ConnectorError, Extract, FromSettings, ImportLimits,
    ImportOutcome, Manifest, OrderReceipt, OrderRequest, OrdererSetting, PollOutcome, Subject,
    async_trait,
};
use loggvakt_tabular::wire;
use loggvakt_tabular::wire::http::{self, Peer};
use reqwest::{StatusCode, Url};
use serde::Deserialize;

pub use extract::{COLUMNS, NO_UNIT, import as import_extract};

/// The `[[system]] settings` of a Treserva system (PROTOCOLS.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreservaSettings {
    pub portal_url: String,
    /// A shared requester's e-mail: used for every order under `orderer = "shared"`, and
    /// for orders that carry no orderer (from an older host). Otherwise each order is placed
    /// by its unit's orderer, whose username user support checks against a verksamhetschef.
    #[serde(default)]
    pub requester_email: Option<String>,
    /// The shared requester's username in Treserva, sent with `requester_email`.
    #[serde(default)]
    pub requester_username: Option<String>,
    /// `unit` (default): the unit's orderer places the order; `shared`: the settings above.
    #[serde(default)]
    pub orderer: OrdererSetting,
    #[serde(default)]
    pub delivery: Delivery,
    /// Seconds to wait for each request; fractions allowed.
    #[serde(default = "default_timeout")]
    pub timeout_secs: f64,
}

/// How user support delivers the extract (the form's `leveranssatt`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    #[default]
    KrypteradEpost,
    Post,
}

impl Delivery {
    fn as_str(self) -> &'static str {
        match self {
            Delivery::KrypteradEpost => "krypterad_epost",
            Delivery::Post => "post",
        }
    }
}

fn default_timeout() -> f64 {
    30.0
}

/// The Treserva connector: `order`, `poll` and `import`.
#[derive(Debug)]
pub struct TreservaConnector {
    /// The portal.
    peer: Peer,
    settings: TreservaSettings,
}

impl FromSettings for TreservaConnector {
    type Settings = TreservaSettings;

    fn build(system_id: &str, s: TreservaSettings) -> Result<Self, ConnectorError> {
        let peer = Peer::new(system_id, "portal_url", &s.portal_url, s.timeout_secs)?;
        if let Some(email) = &s.requester_email
            && !is_mail_address(email)
        {
            return Err(wire::bad_setting(
                system_id,
                "requester_email",
                "is not a mail address",
            ));
        }
        wire::require_for_shared(
            system_id,
            s.orderer,
            "requester_email",
            s.requester_email.as_deref(),
            "the shared requester",
        )?;
        Ok(Self { peer, settings: s })
    }
}

#[derive(Deserialize)]
struct Ticket {
    arende: String,
}

#[derive(Deserialize)]
struct Status {
    status: String,
    #[serde(default)]
    orsak: Option<String>,
}

fn is_mail_address(email: &str) -> bool {
    let email = email.trim();
    !email.is_empty() && email.contains('@') && !email.contains(char::is_whitespace)
}

impl TreservaConnector {
    /// Who places `req`: its unit's orderer, or the shared requester of the settings.
    fn requester<'a>(
        &'a self,
        req: &'a OrderRequest,
    ) -> Result<(&'a str, Option<&'a str>), ConnectorError> {
        let (email, username) = match self.settings.orderer.of(req) {
            Some(o) => (Some(o.email.as_str()), o.username.as_deref()),
            None => (
                self.settings.requester_email.as_deref(),
                self.settings.requester_username.as_deref(),
            ),
        };
        let email = email.map(str::trim).filter(|e| is_mail_address(e)).ok_or_else(|| {
            ConnectorError::config(format!(
                "system {}: the order {} has no orderer with a mail address and no `requester_email` is set",
                self.peer.system_id, req.reference
            ))
        })?;
        Ok((email, username.map(str::trim).filter(|u| !u.is_empty())))
    }

    /// The e-service form's fields for `req`, in the order the portal lists them.
    pub fn form(&self, req: &OrderRequest) -> Result<Vec<(&'static str, String)>, ConnectorError> {
        let (email, username) = self.requester(req)?;
        let mut form = vec![
            ("referens", req.reference.clone()),
            ("bestallare", email.to_owned()),
        ];
        // User support checks this username against the verksamhetschefer's permissions.
        if let Some(username) = username {
            form.push(("bestallare_anvandarnamn", username.to_owned()));
        }
        match &req.subject {
            Subject::Users(users) => {
                if users.is_empty() {
                    return Err(ConnectorError::permanent("the order names no users"));
                }
                if let Some(u) = users
                    .iter()
                    .find(|u| u.username.is_empty() || u.username.contains([',', ';', '=']))
                {
                    return Err(ConnectorError::permanent(format!(
                        "the username {:?} cannot be written in the portal's form",
                        u.username
                    )));
                }
                let names: Vec<&str> = users.iter().map(|u| u.username.as_str()).collect();
                form.push(("anvandare", names.join(",")));
                if users.iter().any(|u| u.period.is_some()) {
                    let pairs: Vec<String> = users
                        .iter()
                        .map(|u| {
                            let p = u.period.unwrap_or(req.period);
                            format!(
                                "{}={}/{}",
                                u.username,
                                wire::minutes(p.from),
                                wire::minutes(p.to)
                            )
                        })
                        .collect();
                    form.push(("perioder", pairs.join(";")));
                }
            }
            Subject::Patient(p) => form.push(("personnummer", p.digits().to_owned())),
        }
        form.push(("fran", wire::minutes(req.period.from)));
        form.push(("till", wire::minutes(req.period.to)));
        form.push(("leveranssatt", self.settings.delivery.as_str().to_owned()));
        form.push(("idempotensnyckel", req.idempotency_key.clone()));
        Ok(form)
    }

    fn order_url(&self) -> Url {
        http::endpoint(&self.peer.base, &["e-tjanst", "loggutdrag"])
    }

    fn ticket(receipt: &OrderReceipt) -> Result<&str, ConnectorError> {
        receipt
            .external_ref
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ConnectorError::permanent("the receipt holds no Treserva ticket number"))
    }
}

#[async_trait]
impl Connector for TreservaConnector {
    fn manifest(&self) -> Manifest {
        use Capability::{Import, Order, Poll};
        let offered = Capabilities::of(&[Order, Poll, Import]);
        Manifest::new("treserva", env!("CARGO_PKG_VERSION"), offered)
    }

    /// Reaching the portal is enough: it has no side-effect-free call that checks the
    /// requester, and any answer below 500 shows that it is up.
    async fn health(&self) -> Result<(), ConnectorError> {
        self.peer.reachable("the portal's front page").await
    }

    async fn order(&self, req: &OrderRequest) -> Result<OrderReceipt, ConnectorError> {
        let form = self.form(req)?;
        let what = "the extract order to the Treserva portal";
        let response =
            http::send(self.peer.client.post(self.order_url()).form(&form), what).await?;
        let again = response.status() == StatusCode::OK;
        let ticket: Ticket = http::json(response, what).await?;
        if ticket.arende.trim().is_empty() {
            return Err(ConnectorError::malformed(
                "the portal accepted the order but gave no ticket number",
            ));
        }
        Ok(OrderReceipt {
            note: Some(if again {
                format!(
                    "the portal already had this order: ticket {}",
                    ticket.arende
                )
            } else {
                format!("ticket {}", ticket.arende)
            }),
            external_ref: Some(ticket.arende),
        })
    }

    async fn poll(
        &self,
        _req: &OrderRequest,
        receipt: &OrderReceipt,
    ) -> Result<PollOutcome, ConnectorError> {
        let ticket = Self::ticket(receipt)?;
        let what = format!("the status of ticket {ticket}");
        let url = http::endpoint(&self.order_url(), &[ticket]);
        let response = self
            .peer
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| http::transport_error(e, &what))?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(ConnectorError::permanent(format!(
                "the portal does not know ticket {ticket}"
            )));
        }
        let response = http::check(response, &what).await?;
        let status: Status = http::json(response, &what).await?;
        match status.status.as_str() {
            "mottagen" | "behandlas" => Ok(PollOutcome::Pending),
            "avslagen" => Ok(PollOutcome::NeverComing {
                reason: match status.orsak.as_deref().map(str::trim) {
                    Some(orsak) if !orsak.is_empty() => {
                        format!("the portal refused the order: {}", wire::redact(orsak))
                    }
                    _ => "the portal refused the order".into(),
                },
            }),
            "levererad" => {
                let what = format!("the extract file of ticket {ticket}");
                let file = http::endpoint(&url, &["fil"]);
                let response = http::send(self.peer.client.get(file), &what).await?;
                let content_type = response
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|e| http::transport_error(e, &what))?;
                Ok(PollOutcome::Delivered(Extract {
                    file_name: Some(format!("{ticket}.csv")),
                    content_type,
                    bytes: bytes.to_vec(),
                }))
            }
            other => Err(ConnectorError::malformed(format!(
                "the portal gave ticket {ticket} an unknown status {other:?}"
            ))),
        }
    }

    fn import(
        &self,
        input: &mut dyn Read,
        limits: &ImportLimits,
    ) -> Result<ImportOutcome, ConnectorError> {
        extract::import(&self.peer.system_id, input, limits)
    }
}
