//! `loggvakt-cosmic`: the connector for Cosmic, the region's record, as municipal staff use it.
//!
//! An extract is *ordered* by a mail to the region's journal unit, at most
//! `max_users_per_order` usernames per mail (the journal unit's rule: three), each with their
//! own review period. The report comes back out of band (an encrypted Cryptshare file, a
//! letter), so there is no `poll`: an administrator brings it in with
//! `loggvakt extract import --order ID FILE`, which calls [`Connector::import`] on its CSV or
//! XLSX form. The wire contract is `connectors/PROTOCOLS.md`.

mod extract;
pub mod mail_tls;
mod smtp;

pub use extract::COLUMNS;

use std::io::Read;
use std::time::Duration;

use handlebars::Handlebars;
use lettre::Message;
use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use loggvakt_connector::{
    Capabilities, Capability, Connector, ConnectorError, FromSettings, ImportLimits, ImportOutcome,
    Manifest, OrderReceipt, OrderRequest, Orderer, OrdererSetting, Subject, async_trait,
};
use loggvakt_tabular::wire;
use serde::{Deserialize, Serialize};

/// The order mail's body; the template lives with the other templates so that a region can
/// read (and, by rebuilding, change) the wording its journal unit receives.
const TEMPLATE: &str = include_str!("../../../templates/cosmic_order.hbs");
const TEMPLATE_NAME: &str = "cosmic_order";

/// The `[[system]] settings` of a Cosmic system (PROTOCOLS.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CosmicSettings {
    #[serde(default = "default_host")]
    pub smtp_host: String,
    #[serde(default = "default_port")]
    pub smtp_port: u16,
    #[serde(default)]
    pub smtp_tls: SmtpTls,
    /// AUTH at the mail server (with TLS only); the password is best given as
    /// `smtp_password_file` or `smtp_password_env`.
    #[serde(default)]
    pub smtp_username: Option<String>,
    #[serde(default)]
    pub smtp_password: Option<wire::Secret>,
    /// Seconds to wait for the SMTP server at each step; fractions allowed.
    #[serde(default = "default_timeout")]
    pub timeout_secs: f64,
    /// The mailbox that sends the order mails (the envelope sender and the `Sender`
    /// header). The mail is *from* the ordering unit's orderer, who is answered, unless
    /// `orderer = "shared"` makes this address the author of every order.
    pub from: String,
    /// `unit` (default): each order is from and signed by its unit's orderer; `shared`:
    /// every order is from `from`, a shared functional mailbox.
    #[serde(default)]
    pub orderer: OrdererSetting,
    /// The journal unit's address.
    pub order_to: String,
    #[serde(default = "default_max_users")]
    pub max_users_per_order: u32,
    /// Who receives the report, and whom the journal unit phones with the file's password.
    pub recipient_name: String,
    pub recipient_phone: String,
    /// Where an encrypted report is sent; this or `recipient_address` is required.
    #[serde(default)]
    pub recipient_email: Option<String>,
    /// Where a report on paper is sent.
    #[serde(default)]
    pub recipient_address: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain SMTP, for a relay on the same host or network segment.
    #[default]
    None,
    /// STARTTLS is required; the server's certificate is verified against the operating
    /// system's store and the extra CAs (`--extra-ca`).
    Starttls,
    /// TLS from the first byte (SMTPS, usually port 465), verified the same way.
    Tls,
}

fn default_host() -> String {
    "127.0.0.1".into()
}
fn default_port() -> u16 {
    25
}
fn default_timeout() -> f64 {
    30.0
}
fn default_max_users() -> u32 {
    3
}

/// The Cosmic connector: `order` and `import`.
pub struct CosmicConnector {
    system_id: String,
    settings: CosmicSettings,
    from: Mailbox,
    to: Mailbox,
    /// The mail server; every step of a conversation is bounded by `timeout_secs`.
    smtp: smtp::Smtp,
    templates: Handlebars<'static>,
}

impl std::fmt::Debug for CosmicConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CosmicConnector")
            .field("system_id", &self.system_id)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl FromSettings for CosmicConnector {
    type Settings = CosmicSettings;

    fn build(system_id: &str, s: CosmicSettings) -> Result<Self, ConnectorError> {
        let bad = |setting: &str, problem: &str| wire::bad_setting(system_id, setting, problem);
        let from: Mailbox = s
            .from
            .parse()
            .map_err(|_| bad("from", "is not a mail address"))?;
        let to: Mailbox = s
            .order_to
            .parse()
            .map_err(|_| bad("order_to", "is not a mail address"))?;
        if s.smtp_host.trim().is_empty() {
            return Err(bad("smtp_host", "is empty"));
        }
        if s.max_users_per_order == 0 {
            return Err(bad("max_users_per_order", "must be at least 1"));
        }
        if s.recipient_name.trim().is_empty() {
            return Err(bad("recipient_name", "is empty"));
        }
        if s.recipient_phone.trim().is_empty() {
            return Err(bad(
                "recipient_phone",
                "is empty; the journal unit phones it with the file's password",
            ));
        }
        let blank = |o: &Option<String>| o.as_deref().is_none_or(|v| v.trim().is_empty());
        if blank(&s.recipient_email) && blank(&s.recipient_address) {
            return Err(bad(
                "recipient_email",
                "or `recipient_address` is required: where the report is to be sent",
            ));
        }
        if let Some(email) = s
            .recipient_email
            .as_deref()
            .filter(|e| !e.trim().is_empty())
        {
            email
                .parse::<Mailbox>()
                .map_err(|_| bad("recipient_email", "is not a mail address"))?;
        }
        let timeout = wire::timeout(system_id, s.timeout_secs)?;
        let smtp = smtp_of(system_id, &s, timeout)?;

        let mut templates = Handlebars::new();
        templates.set_strict_mode(true);
        // A plain-text mail: HTML escaping would turn `&` in an address into `&amp;`.
        templates.register_escape_fn(handlebars::no_escape);
        templates
            .register_template_string(TEMPLATE_NAME, TEMPLATE)
            .map_err(|e| ConnectorError::config(format!("the Cosmic order template: {e}")))?;

        Ok(Self {
            system_id: system_id.to_owned(),
            settings: s,
            from,
            to,
            smtp,
            templates,
        })
    }
}

fn smtp_of(
    system_id: &str,
    s: &CosmicSettings,
    timeout: Duration,
) -> Result<smtp::Smtp, ConnectorError> {
    let tls = || {
        mail_tls::parameters(&s.smtp_host).map_err(|e| {
            wire::bad_setting(system_id, "smtp_tls", &format!("cannot be set up: {e}"))
        })
    };
    let security = match s.smtp_tls {
        SmtpTls::None => smtp::Security::Plain,
        SmtpTls::Starttls => smtp::Security::Starttls(tls()?),
        SmtpTls::Tls => smtp::Security::Wrapper(tls()?),
    };
    let login = match (&s.smtp_username, &s.smtp_password) {
        (None, None) => None,
        (Some(user), Some(password)) if !user.trim().is_empty() => {
            if s.smtp_tls == SmtpTls::None {
                return Err(wire::bad_setting(
                    system_id,
                    "smtp_username",
                    "needs smtp_tls = \"starttls\" or \"tls\": AUTH over plain SMTP sends the password in clear",
                ));
            }
            Some(Credentials::new(
                user.trim().to_owned(),
                password.expose().to_owned(),
            ))
        }
        _ => {
            return Err(wire::bad_setting(
                system_id,
                "smtp_username",
                "and `smtp_password` (or `smtp_password_file`) go together",
            ));
        }
    };
    Ok(smtp::Smtp {
        host: s.smtp_host.trim().to_owned(),
        port: s.smtp_port,
        security,
        login,
        timeout,
    })
}

/// What the template is rendered from.
#[derive(Serialize)]
struct OrderMail<'a> {
    reference: &'a str,
    period: TemplatePeriod,
    users: Vec<TemplateUser<'a>>,
    recipient: Recipient<'a>,
    /// Who orders, for which unit (verksamhet); absent from hosts that predate orderers.
    orderer: Option<TemplateOrderer<'a>>,
}

/// Every field present (strict templates), a missing phone as null.
#[derive(Serialize)]
struct TemplateOrderer<'a> {
    name: &'a str,
    email: &'a str,
    phone: Option<&'a str>,
    unit: &'a str,
}

impl<'a> From<&'a Orderer> for TemplateOrderer<'a> {
    fn from(o: &'a Orderer) -> Self {
        Self {
            name: o.name.trim(),
            email: o.email.trim(),
            phone: nonblank(&o.phone),
            unit: o.unit.trim(),
        }
    }
}

#[derive(Serialize)]
struct TemplatePeriod {
    from: String,
    to: String,
}

#[derive(Serialize)]
struct TemplateUser<'a> {
    username: &'a str,
    name: Option<&'a str>,
    from: String,
    to: String,
}

#[derive(Serialize)]
struct Recipient<'a> {
    name: &'a str,
    phone: &'a str,
    email: Option<&'a str>,
    address: Option<&'a str>,
}

impl CosmicConnector {
    /// The mail for `req`, or why it must not be sent. Public so that `config check` and
    /// the demo can show an order without sending it.
    pub fn render(&self, req: &OrderRequest) -> Result<Message, ConnectorError> {
        let users = match &req.subject {
            Subject::Users(users) => users,
            // The journal unit's order form is per user; a patient's log is asked for in
            // the region's own procedure for patient requests.
            Subject::Patient(_) => {
                return Err(ConnectorError::permanent(
                    "a Cosmic order names users; orders by patient are not part of the journal unit's order mail",
                ));
            }
        };
        if users.is_empty() {
            return Err(ConnectorError::permanent("the order names no users"));
        }
        let max = self.settings.max_users_per_order as usize;
        if users.len() > max {
            // Sending it anyway would break the journal unit's rule; the host splits samples.
            return Err(ConnectorError::permanent(format!(
                "the order names {} users; a Cosmic order may name at most {max} (max_users_per_order)",
                users.len()
            )));
        }
        let key = &req.idempotency_key;
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        {
            return Err(ConnectorError::permanent(
                "the idempotency key cannot be used in a Message-ID (letters, digits, - . _ only)",
            ));
        }

        let data = OrderMail {
            reference: &req.reference,
            period: TemplatePeriod {
                from: wire::minutes(req.period.from),
                to: wire::minutes(req.period.to),
            },
            users: users
                .iter()
                .map(|u| {
                    let p = u.period.unwrap_or(req.period);
                    TemplateUser {
                        username: &u.username,
                        name: u.name.as_deref(),
                        from: wire::minutes(p.from),
                        to: wire::minutes(p.to),
                    }
                })
                .collect(),
            recipient: Recipient {
                name: self.settings.recipient_name.trim(),
                phone: self.settings.recipient_phone.trim(),
                email: nonblank(&self.settings.recipient_email),
                address: nonblank(&self.settings.recipient_address),
            },
            orderer: req.orderer.as_ref().map(TemplateOrderer::from),
        };
        let body = self
            .templates
            .render(TEMPLATE_NAME, &data)
            .map_err(|e| ConnectorError::config(format!("the Cosmic order template: {e}")))?;

        // The journal unit checks who orders and answers them: the mail is the orderer's,
        // sent by loggvakt's mailbox on their behalf (RFC 5322 `Sender`), which also keeps
        // the envelope sender one the mail relay accepts.
        let author = match self.settings.orderer.of(req) {
            Some(o) => Mailbox::new(
                Some(o.name.trim().to_owned()).filter(|n| !n.is_empty()),
                o.email.trim().parse().map_err(|_| {
                    ConnectorError::permanent(format!(
                        "the orderer's address {:?} is not a mail address",
                        o.email
                    ))
                })?,
            ),
            None => self.from.clone(),
        };
        let mut builder = Message::builder();
        if author.email != self.from.email {
            builder = builder.sender(self.from.clone());
        }
        let mut message = builder
            .from(author.clone())
            .reply_to(author)
            .to(self.to.clone())
            .subject(format!("Beställning av loggutdrag {}", req.reference))
            .message_id(Some(format!("<{key}@loggvakt>")))
            .header(ContentType::TEXT_PLAIN)
            .body(
                Body::new_with_encoding(body, ContentTransferEncoding::QuotedPrintable)
                    .map_err(|_| ConnectorError::config("the order mail cannot be encoded"))?,
            )
            .map_err(|e| {
                ConnectorError::permanent(format!("the order mail cannot be built: {e}"))
            })?;
        message.headers_mut().insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-Loggvakt-Order"),
            key.clone(),
        ));
        Ok(message)
    }
}

fn nonblank(o: &Option<String>) -> Option<&str> {
    o.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// SMTP's own split: 4xx replies and a server that cannot be reached are worth another try,
/// 5xx replies are refusals.
pub(crate) fn smtp_error(e: lettre::transport::smtp::Error) -> ConnectorError {
    let code = e.status().map(|c| format!(" ({c})")).unwrap_or_default();
    if e.is_permanent() {
        ConnectorError::permanent(format!("the mail server refused the order mail{code}: {e}"))
    } else if e.is_tls() {
        ConnectorError::config(format!(
            "TLS with the mail server failed (check smtp_tls and smtp_host): {e}"
        ))
    } else if e.to_string().contains("certificate") {
        // lettre reports a refused certificate as a connection error; a retry after the
        // operator adds the CA (or the server renews its certificate) may then succeed.
        ConnectorError::retryable(format!(
            "TLS with the mail server failed: its certificate is not trusted (is its CA in the --extra-ca bundle?): {e}"
        ))
    } else {
        ConnectorError::retryable(format!("the order mail could not be delivered{code}: {e}"))
    }
}

#[async_trait]
impl Connector for CosmicConnector {
    fn manifest(&self) -> Manifest {
        use Capability::{Import, Order};
        let offered = Capabilities::of(&[Order, Import]);
        Manifest {
            max_users_per_order: Some(self.settings.max_users_per_order),
            ..Manifest::new("cosmic", env!("CARGO_PKG_VERSION"), offered)
        }
    }

    async fn health(&self) -> Result<(), ConnectorError> {
        self.smtp.check().await
    }

    async fn order(&self, req: &OrderRequest) -> Result<OrderReceipt, ConnectorError> {
        let message = self.render(req)?;
        // A server silent after the content was sent may have the mail: in doubt, not retried.
        let response = self.smtp.send(&message).await?;
        let server_said: String = response.message().collect::<Vec<_>>().join(" ");
        Ok(OrderReceipt {
            // The journal unit answers out of band; our Message-ID is what a reply quotes.
            external_ref: Some(format!("<{}@loggvakt>", req.idempotency_key)),
            note: Some(format!(
                "order mail to {} accepted by the mail server ({}{})",
                self.to.email,
                response.code(),
                if server_said.is_empty() {
                    String::new()
                } else {
                    format!(" {server_said}")
                }
            )),
        })
    }

    fn import(
        &self,
        input: &mut dyn Read,
        limits: &ImportLimits,
    ) -> Result<ImportOutcome, ConnectorError> {
        extract::LAYOUT.import(&self.system_id, input, limits)
    }
}
