//! Notices to managers: rendered from Swedish handlebars templates and handed to a mailer,
//! an SMTP server or a folder of `.eml` files. Notices carry no patient data; the rows are
//! only shown to the reviewer after login.

mod notices;
mod outbox;
mod smtp;

use std::path::Path;
use std::sync::LazyLock;

use handlebars::Handlebars;
use serde::Serialize;

pub use notices::Notices;
pub use outbox::FileOutbox;
pub use smtp::SmtpMailer;

use crate::model::org::{NotifySettings, NotifyTransport};

/// One mail, ready to go. `key` names it for idempotent delivery (a file name, a Message-ID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub key: String,
    /// When it was sent by the clock (the `Date` header; `--now` trials and the demo date
    /// their mails on their own days).
    pub date: chrono::DateTime<chrono::Utc>,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Worth another try later (the server is down, a 4xx reply, a full disk).
    #[error("{0}")]
    Transient(String),
    /// Will not get better by itself (a 5xx refusal, a bad address).
    #[error("{0}")]
    Permanent(String),
}

/// Where mails go. Behind a trait so that tests and the demo can use a folder and
/// production an SMTP server, with the same notice logic in front.
#[async_trait::async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, mail: &Mail) -> Result<(), MailError>;
    /// For messages: where the mails are, e.g. `outbox/` or `smtp://host:25`.
    fn describe(&self) -> String;
}

/// The mailer the settings ask for. `own_dir` is the installation's own notice folder
/// ([`crate::store::Store::notice_dir`]), used when the configuration names no outbox or
/// mail server.
pub fn mailer(
    settings: &NotifySettings,
    own_dir: Option<&Path>,
) -> Result<Box<dyn Mailer>, MailError> {
    Ok(match &settings.transport {
        NotifyTransport::InstallationOutbox => match own_dir {
            Some(dir) => Box::new(FileOutbox::new(dir.to_owned())),
            None => {
                return Err(MailError::Permanent(
                    "this database has no folder of its own for notices: set [notify] outbox or smtp".into(),
                ));
            }
        },
        NotifyTransport::Outbox(dir) => Box::new(FileOutbox::new(dir.clone())),
        NotifyTransport::Smtp(server) => Box::new(SmtpMailer::new(server)?),
    })
}

/// A mail's `Date` header (RFC 5322) in Swedish local time, as a recipient's mail client
/// shows and sorts it.
pub fn date_header(date: chrono::DateTime<chrono::Utc>) -> String {
    date.with_timezone(&crate::calendar::TZ).to_rfc2822()
}

pub const ASSIGNED: &str = "notice_assigned";
pub const REMINDER: &str = "notice_reminder";
pub const ESCALATION: &str = "notice_escalation";
pub const DELIVERY_OVERDUE: &str = "notice_delivery_overdue";
pub const CASE: &str = "notice_case";

/// The notice templates, built in so that a release binary needs no template folder, and
/// registered once.
static TEMPLATES: LazyLock<Handlebars<'static>> = LazyLock::new(templates);

fn templates() -> Handlebars<'static> {
    let mut h = Handlebars::new();
    h.set_strict_mode(true);
    // Plain-text mails: nothing to escape.
    h.register_escape_fn(handlebars::no_escape);
    for (name, text) in [
        (
            ASSIGNED,
            include_str!("../../templates/notice_assigned.hbs"),
        ),
        (
            REMINDER,
            include_str!("../../templates/notice_reminder.hbs"),
        ),
        (
            ESCALATION,
            include_str!("../../templates/notice_escalation.hbs"),
        ),
        (
            DELIVERY_OVERDUE,
            include_str!("../../templates/notice_delivery_overdue.hbs"),
        ),
        (CASE, include_str!("../../templates/notice_case.hbs")),
    ] {
        h.register_template_string(name, text)
            .expect("built-in templates parse (tested)");
    }
    h
}

/// Renders a built-in template; an error here is a bug in the template or its data.
pub fn render(name: &str, data: &impl Serialize) -> String {
    TEMPLATES
        .render(name, data)
        .unwrap_or_else(|e| panic!("template {name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_and_render_in_swedish() {
        let data = serde_json::json!({
            "reviewer": "Anna Berg", "task_ref": "G-1", "unit": "Hemtjänst Norr",
            "system": "cosmic", "about": "stickprov 2027-05", "users": 3, "events": 40,
            "flagged": 2, "deadline": "2027-05-20", "link": "http://x/granskningar/1",
            "checklist": ["a", "b"], "organisation": "Exempelkommunen",
            "escalate_to": "Karin", "recipient": "Karin", "reviewer_email": "a@b.se", "instruction": null,
            "created": "2027-05-06", "reminded": "2027-05-17",
        });
        let body = render(ASSIGNED, &data);
        assert!(body.contains("Sista dag:    2027-05-20"), "{body}");
        assert!(body.contains("  - a\n"), "{body}");
        assert!(render(REMINDER, &data).contains("Påminnelse"));
        assert!(render(ESCALATION, &data).contains("Ansvarig granskare: Anna Berg"));
        let order = serde_json::json!({
            "recipient": "Karin", "reference": "LV-2027-05-3-1", "unit": "Hemtjänst Norr",
            "system": "cosmic", "deliver_by": "2027-05-20", "link": "http://x/admin/bestallningar",
            "organisation": "Exempelkommunen",
        });
        assert!(render(DELIVERY_OVERDUE, &order).contains("referensen LV-2027-05-3-1"));
        let case = serde_json::json!({
            "recipient": "Vera", "what": "Du informeras.", "case_ref": "Ä-3", "task_ref": "G-7",
            "unit": "Hemtjänst Norr", "system": "cosmic", "by": "web:hanna",
            "link": "http://x/arenden/3", "organisation": "Exempelkommunen",
        });
        assert!(render(CASE, &case).contains("Ärende:  Ä-3 (loggkontroll G-7)"));
    }
}
