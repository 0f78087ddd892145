//! `[[system]]`: ids, connectors (built in or a plugin), the order limits, and the secrets
//! its settings name by `<key>_file`/`<key>_env`.

use std::ops::RangeInclusive;
use std::path::Path;

use super::{FirstSeen, Problems};
use crate::config::ConfigError;
use crate::config::collect::Located;
use crate::config::raw::RawSystem;
use crate::config::secrets;
use crate::ident::SystemId;
use crate::model::org::{BUILT_IN_CONNECTORS, ConnectorRef, Delivery, MANUAL_CONNECTOR, System};

const MAX_ATTEMPTS: RangeInclusive<i64> = 1..=100;
const DELIVERY_SLA_DAYS: RangeInclusive<i64> = 1..=365;
const MAX_EXTRACT_MB: RangeInclusive<i64> = 1..=1_048_576;
const PLUGIN_TIMEOUT_SECS: RangeInclusive<i64> = 1..=3600;

pub(super) fn validate(raw: &[Located<RawSystem>], errors: &mut Vec<ConfigError>) -> Vec<System> {
    let mut seen = FirstSeen::default();
    let mut systems = Vec::new();
    for s in raw {
        let item = format!("[[system]] '{}'", s.raw.id);
        let mut p = Problems::of(errors, &s.file, s.line, &item);
        seen.check(&s.raw.id, &s.file, s.line, "system", &mut p);
        let connector = connector(&s.raw.connector, &mut p);
        let delivery = delivery(&s.raw, &mut p);
        let mut bounded = |field: &str, value: i64, range: RangeInclusive<i64>| {
            if !range.contains(&value) {
                p.fail(
                    field,
                    format!("{value} is outside {}..={}", range.start(), range.end()),
                );
            }
        };
        bounded("max_attempts", s.raw.max_attempts, MAX_ATTEMPTS);
        bounded(
            "delivery_sla_days",
            s.raw.delivery_sla_days,
            DELIVERY_SLA_DAYS,
        );
        bounded("max_extract_mb", s.raw.max_extract_mb, MAX_EXTRACT_MB);
        bounded(
            "plugin_timeout_secs",
            s.raw.plugin_timeout_secs,
            PLUGIN_TIMEOUT_SECS,
        );
        let base = s.file.parent().unwrap_or(Path::new("."));
        let (settings, secret_problems) =
            secrets::resolve(&s.raw.settings, base, |name| std::env::var(name).ok());
        for problem in secret_problems {
            p.fail(&problem.field, problem.message);
        }
        let clamp =
            |value: i64, range: RangeInclusive<i64>| value.clamp(*range.start(), *range.end());
        match (SystemId::new(&s.raw.id), connector) {
            (Ok(id), Some(connector)) => systems.push(System {
                id,
                connector,
                delivery,
                settings,
                max_attempts: clamp(s.raw.max_attempts, MAX_ATTEMPTS) as u32,
                delivery_sla_days: clamp(s.raw.delivery_sla_days, DELIVERY_SLA_DAYS) as u32,
                max_extract_bytes: (clamp(s.raw.max_extract_mb, MAX_EXTRACT_MB) as u64) << 20,
                plugin_timeout: std::time::Duration::from_secs(clamp(
                    s.raw.plugin_timeout_secs,
                    PLUGIN_TIMEOUT_SECS,
                ) as u64),
            }),
            (Err(e), _) => p.fail("id", e.to_string()),
            _ => {}
        }
    }
    systems
}

/// A system without an API (`connector = "manual"`) can only be delivered by hand.
fn delivery(raw: &RawSystem, p: &mut Problems) -> Delivery {
    let manual_only = raw.connector == MANUAL_CONNECTOR;
    match raw.delivery.as_deref() {
        None if manual_only => Delivery::Manual,
        None => Delivery::Connector,
        Some(text) => match Delivery::parse(text) {
            Some(Delivery::Connector) if manual_only => {
                p.fail(
                    "delivery",
                    "connector \"manual\" has no API to order through: use delivery = \"manual\" or leave it out".into(),
                );
                Delivery::Manual
            }
            Some(d) => d,
            None => {
                p.fail(
                    "delivery",
                    format!("unknown delivery '{text}': expected connector or manual"),
                );
                Delivery::Connector
            }
        },
    }
}

fn connector(raw: &str, p: &mut Problems) -> Option<ConnectorRef> {
    match raw.strip_prefix("plugin:") {
        Some("") => {
            p.fail("connector", "'plugin:' needs a library path or name".into());
            None
        }
        Some(lib) => Some(ConnectorRef::Plugin(lib.to_owned())),
        None if BUILT_IN_CONNECTORS.contains(&raw) => Some(ConnectorRef::BuiltIn(raw.to_owned())),
        None => {
            p.fail(
                "connector",
                format!(
                    "unknown connector '{raw}': expected one of {} or plugin:<path>",
                    BUILT_IN_CONNECTORS.join(", ")
                ),
            );
            None
        }
    }
}
