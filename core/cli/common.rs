//! What the command groups share: the global options with the clock, the output formats,
//! the argument value parsers, and opening the configuration and the database.

use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::{DateTime, NaiveDate, Utc};
use clap::ValueEnum;

use crate::calendar::Month;
use crate::clock::Clock;
use crate::config;
use crate::model::org::Organisation;
use crate::store::Store;

pub(super) use crate::calendar::local_minute as local;

/// The global options every command may need, and the clock they set.
pub(super) struct Globals {
    pub(super) db: String,
    pub(super) config: PathBuf,
    /// `--now` as given: the demo runs its own clock from it.
    pub(super) now: Option<DateTime<Utc>>,
    pub(super) clock: Clock,
    pub(super) audit_key: Option<PathBuf>,
    pub(super) audit_checkpoints: Option<PathBuf>,
}

impl Globals {
    /// The audit anchor, when both its key and its file are given.
    pub(super) fn anchor(&self) -> Result<Option<crate::anchor::Anchor>> {
        match (&self.audit_key, &self.audit_checkpoints) {
            (Some(key), Some(file)) => Ok(Some(crate::anchor::Anchor::load(key, file)?)),
            (None, None) => Ok(None),
            _ => anyhow::bail!("--audit-key and --audit-checkpoints go together"),
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

/// Who is acting, for the audit trail.
pub fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

pub(super) fn load_config(path: &Path) -> Result<Organisation> {
    Ok(config::load(path)?)
}

pub(super) async fn open_store(url: &str) -> Result<Store> {
    Ok(Store::open(url).await?)
}

pub(super) fn parse_instant(raw: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!("'{raw}' is not an RFC 3339 instant like 2027-05-01T00:00:00+02:00 ({e})")
        })
}

pub(super) fn parse_month(raw: &str) -> Result<Month, String> {
    raw.parse()
        .map_err(|e: crate::calendar::MonthParseError| e.to_string())
}

pub(super) fn parse_date(raw: &str) -> Result<NaiveDate, String> {
    raw.parse()
        .map_err(|_| format!("'{raw}' is not a date like 2027-05-01"))
}

/// A value parser for a closed list of names: `'{raw}' is not a {what}: a, b, c`.
/// `--via`: how an extract reached the reviewer, or how a log was read.
pub(super) fn parse_via(raw: &str) -> Result<crate::model::order::DeliveryVia, String> {
    use crate::model::order::DeliveryVia;
    parse_named(
        raw,
        "a delivery channel",
        DeliveryVia::parse,
        &DeliveryVia::ALL,
        |v| v.as_str(),
    )
}

pub(super) fn parse_named<T: Copy>(
    raw: &str,
    what: &str,
    parse: impl Fn(&str) -> Option<T>,
    all: &[T],
    name: impl Fn(&T) -> &'static str,
) -> Result<T, String> {
    parse(raw).ok_or_else(|| {
        let all: Vec<&str> = all.iter().map(name).collect();
        format!("'{raw}' is not {what}: {}", all.join(", "))
    })
}
