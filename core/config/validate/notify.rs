//! `[notify]`: the sender, the web address in mails, the transport (an outbox folder or
//! SMTP) and when reminders go out.

use std::path::Path;

use super::{Problems, valid_email};
use crate::config::ConfigError;
use crate::config::collect::Located;
use crate::config::raw::{RawNotify, RawSmtp};
use crate::model::org::{NotifySettings, NotifyTransport};

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
        (None, Some(smtp)) => smtp_transport(smtp, p),
        (None, None) => None,
    }
}

fn smtp_transport(smtp: &RawSmtp, p: &mut Problems) -> Option<NotifyTransport> {
    if smtp.host.trim().is_empty() {
        p.fail("smtp.host", "is empty".into());
    }
    match u16::try_from(smtp.port) {
        Ok(port) if port > 0 => Some(NotifyTransport::Smtp {
            host: smtp.host.trim().to_owned(),
            port,
            starttls: smtp.starttls,
        }),
        _ => {
            p.fail(
                "smtp.port",
                format!("{} is not a port (1-65535)", smtp.port),
            );
            None
        }
    }
}
