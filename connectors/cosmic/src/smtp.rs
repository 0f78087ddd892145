//! The SMTP conversation of an order mail, step by step, so that a failure says whether the
//! mail server can have the mail. Until the message's content has been sent (connect, EHLO,
//! STARTTLS, AUTH, MAIL, RCPT, DATA) it cannot, and a timeout or refusal is an ordinary error a
//! retry may help. Once the content is sent, a server that does not answer in time may still
//! have taken it: the journal unit reads mail by hand and cannot de-duplicate, so that is
//! `in_doubt`, never retried by itself (issue 12, fault 2).

use std::future::Future;
use std::time::Duration;

use lettre::Message;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Quit, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::Response;
use loggvakt_connector::ConnectorError;

use super::smtp_error;

/// Where the mail server is, how to reach it safely, and how long each step may take.
pub(crate) struct Smtp {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) security: Security,
    /// AUTH after TLS, when the server wants it.
    pub(crate) login: Option<Credentials>,
    pub(crate) timeout: Duration,
}

pub(crate) enum Security {
    Plain,
    /// STARTTLS, required.
    Starttls(TlsParameters),
    /// TLS from the first byte (SMTPS).
    Wrapper(TlsParameters),
}

impl Smtp {
    /// Connects, says EHLO and upgrades to TLS where asked: nothing of a mail yet.
    async fn connect(&self) -> Result<AsyncSmtpConnection, ConnectorError> {
        let hello = ClientId::default();
        let mut conn = self
            .step(
                "connecting",
                AsyncSmtpConnection::connect_tokio1(
                    (self.host.as_str(), self.port),
                    Some(self.timeout),
                    &hello,
                    match &self.security {
                        Security::Wrapper(tls) => Some(tls.clone()),
                        _ => None,
                    },
                    None,
                ),
            )
            .await?;
        if let Security::Starttls(tls) = &self.security {
            self.step("STARTTLS", conn.starttls(tls.clone(), &hello))
                .await?;
        }
        if let Some(login) = &self.login {
            self.step(
                "AUTH",
                conn.auth(&[Mechanism::Plain, Mechanism::Login], login),
            )
            .await?;
        }
        Ok(conn)
    }

    /// Whether the server answers, without sending anything.
    pub(crate) async fn check(&self) -> Result<(), ConnectorError> {
        let mut conn = self.connect().await?;
        let _ = tokio::time::timeout(self.timeout, conn.quit()).await;
        Ok(())
    }

    /// Hands `message` over; the server's final answer on success.
    pub(crate) async fn send(&self, message: &Message) -> Result<Response, ConnectorError> {
        let mut conn = self.connect().await?;
        let envelope = message.envelope();
        let body = message.formatted();
        let mut options = Vec::new();
        if !body.is_ascii() {
            if !conn.server_info().supports_feature(Extension::EightBitMime) {
                return Err(ConnectorError::permanent(
                    "the order mail has non-ASCII text but the mail server does not take 8BITMIME",
                ));
            }
            options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        self.step(
            "MAIL",
            conn.command(Mail::new(envelope.from().cloned(), options)),
        )
        .await?;
        for to in envelope.to() {
            self.step("RCPT", conn.command(Rcpt::new(to.clone(), Vec::new())))
                .await?;
        }
        self.step("DATA", conn.command(Data)).await?;
        // From here on the server may have the mail.
        let answer = match tokio::time::timeout(self.timeout, conn.message(&body)).await {
            Err(_) => {
                conn.abort().await;
                return Err(ConnectorError::in_doubt(format!(
                    "the mail server did not answer within {:?} after the order mail was sent; it may have taken it",
                    self.timeout
                )));
            }
            Ok(Err(e)) if e.status().is_none() => {
                // No SMTP reply at all: the connection broke after the content went out.
                return Err(ConnectorError::in_doubt(format!(
                    "the connection to the mail server broke after the order mail was sent; it may have taken it: {e}"
                )));
            }
            Ok(Err(e)) => return Err(smtp_error(e)),
            Ok(Ok(answer)) => answer,
        };
        let _ = tokio::time::timeout(self.timeout, conn.command(Quit)).await;
        Ok(answer)
    }

    /// One step before the content is sent: its timeout and errors are retryable (or the
    /// server's refusal).
    async fn step<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, lettre::transport::smtp::Error>>,
    ) -> Result<T, ConnectorError> {
        tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| {
                ConnectorError::retryable(format!(
                    "the mail server did not answer {what} within {:?}",
                    self.timeout
                ))
            })?
            .map_err(smtp_error)
    }
}
