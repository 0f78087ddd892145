//! `[staff_sync]`: the share guard, the directory's connection and the attribute mapping.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use super::Problems;
use crate::config::ConfigError;
use crate::config::collect::Located;
use crate::config::raw::{RawAttributes, RawLdap, RawStaffSync};
use crate::ident::{SystemId, UnitId};
use crate::model::staff_sync::{
    DEFAULT_MAX_DEACTIVATE_SHARE, LdapSettings, Mapping, PasswordSource, Pattern, StaffSyncSettings,
};

pub(super) fn validate(
    raw: &Located<RawStaffSync>,
    unit_ids: &HashSet<&str>,
    system_ids: &HashSet<&str>,
    errors: &mut Vec<ConfigError>,
) -> Option<StaffSyncSettings> {
    let mut p = Problems::of(errors, &raw.file, raw.line, "[staff_sync]");
    let before = p.count();
    let share = raw
        .raw
        .max_deactivate_share
        .unwrap_or(DEFAULT_MAX_DEACTIVATE_SHARE);
    if !(0.0..=1.0).contains(&share) {
        p.fail(
            "max_deactivate_share",
            format!("{share} is not a share between 0 and 1 (0.10 is 10 %)"),
        );
    }
    let base = raw.file.parent().unwrap_or(std::path::Path::new("."));
    let ldap = raw.raw.ldap.as_ref().and_then(|l| ldap(l, base, &mut p));
    let mapping = mapping(
        &raw.raw.attributes,
        &raw.raw.unit_map,
        unit_ids,
        system_ids,
        &mut p,
    );
    (p.count() == before).then(|| StaffSyncSettings {
        max_deactivate_share: share,
        ldap,
        mapping: mapping.expect("a mapping without problems"),
    })
}

fn ldap(raw: &RawLdap, base: &std::path::Path, p: &mut Problems) -> Option<LdapSettings> {
    let url = raw.url.trim();
    if url.starts_with("ldaps://") {
        // ldap3's TLS features are not built in yet (see the workspace's Cargo.toml).
        p.fail(
            "ldap.url",
            "ldaps:// is not supported yet: use ldap:// on a trusted network or through a \
             local TLS tunnel"
                .into(),
        );
    } else if !url.starts_with("ldap://") {
        p.fail("ldap.url", format!("'{url}' is not an ldap:// URL"));
    }
    let password = match (&raw.password_file, &raw.password_env) {
        (Some(_), Some(_)) => {
            p.fail(
                "ldap.password_file",
                "give password_file or password_env, not both".into(),
            );
            PasswordSource::None
        }
        (Some(file), None) => PasswordSource::File(base.join(file)),
        (None, Some(var)) => PasswordSource::Env(var.clone()),
        (None, None) => PasswordSource::None,
    };
    if raw.bind_dn.is_some() && password == PasswordSource::None {
        p.fail(
            "ldap.bind_dn",
            "a bind_dn needs its password in password_file or password_env (never inline)".into(),
        );
    }
    if raw.base_dn.trim().is_empty() {
        p.fail("ldap.base_dn", "is empty".into());
    }
    let filter = raw.filter.trim();
    if !(filter.starts_with('(') && filter.ends_with(')')) {
        p.fail(
            "ldap.filter",
            format!("'{filter}' is not an LDAP filter like (objectClass=person)"),
        );
    }
    if !(1..=600).contains(&raw.timeout_secs) {
        p.fail("ldap.timeout_secs", "must be 1 to 600 seconds".into());
    }
    if !(1..=10_000_000).contains(&raw.max_entries) {
        p.fail("ldap.max_entries", "must be 1 to 10 000 000".into());
    }
    Some(LdapSettings {
        url: url.to_owned(),
        bind_dn: raw.bind_dn.clone(),
        password,
        base_dn: raw.base_dn.trim().to_owned(),
        filter: filter.to_owned(),
        timeout: Duration::from_secs(raw.timeout_secs.clamp(1, 600) as u64),
        max_entries: raw.max_entries.clamp(1, 10_000_000) as usize,
    })
}

fn mapping(
    raw: &RawAttributes,
    unit_map: &BTreeMap<String, String>,
    unit_ids: &HashSet<&str>,
    system_ids: &HashSet<&str>,
    p: &mut Problems,
) -> Option<Mapping> {
    let mut pattern = |field: &str, raw: &str| {
        Pattern::parse(raw)
            .map_err(|e| p.fail(&format!("attributes.{field}"), e))
            .ok()
    };
    let id = pattern("id", &raw.id);
    let name = pattern("name", &raw.name);
    let unit = pattern("unit", &raw.unit);
    let email = raw.email.as_deref().map(|e| pattern("email", e));
    let personnummer = raw
        .personnummer
        .as_deref()
        .map(|e| pattern("personnummer", e));
    let mut usernames = BTreeMap::new();
    for (system, raw) in &raw.usernames {
        let field = format!("attributes.usernames.{system}");
        let parsed = Pattern::parse(raw).map_err(|e| p.fail(&field, e)).ok();
        match SystemId::new(system) {
            Ok(id) if system_ids.contains(system.as_str()) => {
                if let Some(parsed) = parsed {
                    usernames.insert(id, parsed);
                }
            }
            _ => p.fail(&field, format!("unknown system '{system}'")),
        }
    }
    let mut units = BTreeMap::new();
    for (value, unit) in unit_map {
        match UnitId::new(unit) {
            Ok(id) if unit_ids.contains(unit.as_str()) => {
                units.insert(value.clone(), id);
            }
            _ => p.fail(
                &format!("unit_map.{value}"),
                format!("unknown unit '{unit}'"),
            ),
        }
    }
    // `Some(None)`: given, and refused above.
    let optional = |p: Option<Option<Pattern>>| match p {
        Some(None) => Err(()),
        other => Ok(other.flatten()),
    };
    Some(Mapping {
        id: id?,
        name: name?,
        unit: unit?,
        email: optional(email).ok()?,
        personnummer: optional(personnummer).ok()?,
        usernames,
        unit_map: units,
    })
}
