//! Notices over SMTP (lettre), with the notice's key as Message-ID so a mail system can
//! drop a repeat.

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{Mail, MailError, Mailer};

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    target: String,
}

impl SmtpMailer {
    pub fn new(host: &str, port: u16, starttls: bool) -> Result<Self, MailError> {
        let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(std::time::Duration::from_secs(30)));
        let builder = if starttls {
            let params = TlsParameters::new(host.to_owned())
                .map_err(|e| MailError::Permanent(format!("TLS for {host}: {e}")))?;
            builder.tls(Tls::Required(params))
        } else {
            builder
        };
        Ok(Self {
            transport: builder.build(),
            target: format!("smtp://{host}:{port}"),
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
