//! `[notify]`: the sender, the web address in mails, the transport (an outbox folder or
//! SMTP) and when reminders go out.

use std::path::Path;

use super::{Problems, valid_email};
use crate::config::ConfigError;
use crate::config::collect::Located;
use crate::config::raw::{RawNotify, RawSmtp};
use crate::config::read_secret_file;
use crate::model::org::{NotifySettings, NotifyTransport, SmtpSecurity, SmtpServer};
use crate::model::secret::Secret;

pub(super) fn validate(n: &Located<RawNotify>, errors: &mut Vec<ConfigError>) -> NotifySettings {
    let file = n.file.as_path();
    let mut p = Problems::of(errors, file, n.line, "[notify]");
    let mut s = NotifySettings::default();
    if let Some(from) = &n.raw.from {
        if !valid_email(from) {
            p.fail("from", format!("'{from}' is not an e-mail address"));
        }
        s.from = from.trim().to_owned();
    }
    if let Some(url) = &n.raw.base_url {
        let url = url.trim().trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            p.fail("base_url", format!("'{url}' is not an http(s) address"));
        }
        s.base_url = url.to_owned();
    }
    if let Some(transport) = transport(file, &n.raw, &mut p) {
        s.transport = transport;
    }
    if let Some(days) = n.raw.remind_days_before {
        match u32::try_from(days) {
            Ok(d) if d <= 60 => s.remind_days_before = d,
            _ => p.fail(
                "remind_days_before",
                format!("{days} is not a number of days between 0 and 60"),
            ),
        }
    }
    s
}

/// The transport given, if one is, and valid; an outbox folder is relative to the file.
fn transport(file: &Path, raw: &RawNotify, p: &mut Problems) -> Option<NotifyTransport> {
    match (&raw.outbox, &raw.smtp) {
        (Some(_), Some(_)) => {
            p.fail("smtp", "give either outbox or smtp, not both".into());
            None
        }
        (Some(dir), None) => {
            let base = file.parent().unwrap_or(Path::new("."));
            Some(NotifyTransport::Outbox(base.join(dir)))
        }
        (None, Some(smtp)) => smtp_transport(file, smtp, p),
        (None, None) => None,
    }
}

fn smtp_transport(file: &Path, smtp: &RawSmtp, p: &mut Problems) -> Option<NotifyTransport> {
    if smtp.host.trim().is_empty() {
        p.fail("smtp.host", "is empty".into());
    }
    let security = match (smtp.tls.as_deref().map(str::trim), smtp.starttls) {
        (None, false) | (Some("none"), false) => SmtpSecurity::None,
        (None, true) | (Some("starttls"), _) => SmtpSecurity::Starttls,
        (Some("tls"), _) => SmtpSecurity::Tls,
        (Some("none"), true) => {
            p.fail("smtp.tls", "\"none\" contradicts starttls = true".into());
            SmtpSecurity::None
        }
        (Some(other), _) => {
            p.fail(
                "smtp.tls",
                format!("'{other}' is not one of none, starttls, tls"),
            );
            SmtpSecurity::None
        }
    };
    let login = login(file, smtp, p);
    if login.is_some() && security == SmtpSecurity::None {
        p.fail(
            "smtp.username",
            "AUTH over plain SMTP would send the password in clear: set tls = \"starttls\" or \"tls\"".into(),
        );
    }
    match u16::try_from(smtp.port) {
        Ok(port) if port > 0 => Some(NotifyTransport::Smtp(SmtpServer {
            host: smtp.host.trim().to_owned(),
            port,
            security,
            login,
        })),
        _ => {
            p.fail(
                "smtp.port",
                format!("{} is not a port (1-65535)", smtp.port),
            );
            None
        }
    }
}

/// The AUTH username and password, the password given inline, in a file or in a variable.
fn login(file: &Path, smtp: &RawSmtp, p: &mut Problems) -> Option<(String, Secret)> {
    let sources = [
        smtp.password.as_ref().map(|pw| Ok(pw.clone())),
        smtp.password_file
            .as_ref()
            .map(|f| read_secret_file(&file.parent().unwrap_or(Path::new(".")).join(f.trim()))),
        smtp.password_env.as_ref().map(|v| {
            std::env::var(v.trim()).map_err(|_| format!("the environment variable {v} is not set"))
        }),
    ];
    let given: Vec<_> = sources.into_iter().flatten().collect();
    let username = smtp
        .username
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());
    match (username, given.len()) {
        (None, 0) => None,
        (None, _) => {
            p.fail(
                "smtp.username",
                "a password is given but no username".into(),
            );
            None
        }
        (Some(_), 0) => {
            p.fail(
                "smtp.password_file",
                "a username is given but no password (password_file, password_env or password)"
                    .into(),
            );
            None
        }
        (Some(_), 2..) => {
            p.fail(
                "smtp.password",
                "give the password one way only: password, password_file or password_env".into(),
            );
            None
        }
        (Some(user), _) => match given.into_iter().next()? {
            Ok(pw) => Some((user.to_owned(), Secret::new(pw))),
            Err(message) => {
                p.fail("smtp.password_file", message);
                None
            }
        },
    }
}
