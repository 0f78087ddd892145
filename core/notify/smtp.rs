//! Notices over SMTP (lettre), with the notice's key as Message-ID so a mail system can
//! drop a repeat.

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::Tls;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{Mail, MailError, Mailer};
use crate::model::org::{SmtpSecurity, SmtpServer};

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    target: String,
}

impl SmtpMailer {
    pub fn new(server: &SmtpServer) -> Result<Self, MailError> {
        let host = server.host.as_str();
        let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(server.port)
            .timeout(Some(std::time::Duration::from_secs(30)));
        let tls = || {
            loggvakt_cosmic::mail_tls::parameters(host)
                .map_err(|e| MailError::Permanent(format!("TLS for {host}: {e}")))
        };
        let builder = match server.security {
            SmtpSecurity::None => builder,
            SmtpSecurity::Starttls => builder.tls(Tls::Required(tls()?)),
            SmtpSecurity::Tls => builder.tls(Tls::Wrapper(tls()?)),
        };
        let builder = match &server.login {
            Some((user, password)) => {
                builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()))
            }
            None => builder,
        };
        let scheme = match server.security {
            SmtpSecurity::Tls => "smtps",
            _ => "smtp",
        };
        Ok(Self {
            transport: builder.build(),
            target: format!("{scheme}://{host}:{}", server.port),
        })
    }
}

fn mailbox(raw: &str, field: &str) -> Result<Mailbox, MailError> {
    raw.parse()
        .map_err(|e| MailError::Permanent(format!("{field} address '{raw}': {e}")))
}

#[async_trait::async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let message = Message::builder()
            .from(mailbox(&mail.from, "from")?)
            .to(mailbox(&mail.to, "to")?)
            .subject(mail.subject.clone())
            .message_id(Some(format!("<{}@loggvakt>", mail.key)))
            // The clock's time rather than lettre's default (the real time), as in the outbox.
            .date(std::time::SystemTime::from(mail.date))
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|e| MailError::Permanent(format!("the notice cannot be built: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(MailError::Permanent(format!(
                "{} refused the notice: {e}",
                self.target
            ))),
            Err(e) => Err(MailError::Transient(format!("{}: {e}", self.target))),
        }
    }

    fn describe(&self) -> String {
        self.target.clone()
    }
}
