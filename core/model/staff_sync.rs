//! `[staff_sync]`: where `staff sync` reads the staff register from (a directory over LDAP, or
//! an HR export file) and how a directory entry or an export row becomes a staff row.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::ident::{SystemId, UnitId};

/// The share of the active staff one sync may deactivate without `--force`.
pub const DEFAULT_MAX_DEACTIVATE_SHARE: f64 = 0.10;

#[derive(Debug, Clone)]
pub struct StaffSyncSettings {
    /// A sync that would deactivate more than this share of the active staff is refused
    /// without `--force`: a broken directory query must not empty the population.
    pub max_deactivate_share: f64,
    pub ldap: Option<LdapSettings>,
    pub mapping: Mapping,
}

/// `[staff_sync.ldap]`.
#[derive(Debug, Clone)]
pub struct LdapSettings {
    /// `ldap://host:port` (`ldaps://` needs ldap3's TLS features, not built in yet).
    pub url: String,
    /// `None`: an anonymous bind.
    pub bind_dn: Option<String>,
    pub password: PasswordSource,
    pub base_dn: String,
    pub filter: String,
    /// For connecting and for each operation.
    pub timeout: Duration,
    /// More entries than this fail the sync rather than fill memory.
    pub max_entries: usize,
}

/// Where the bind password is: never inline in the configuration, which is often in version
/// control and readable by more people than the directory's service account should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    None,
    /// A file (relative paths resolved against the configuration file) holding the password.
    File(PathBuf),
    /// An environment variable holding it.
    Env(String),
}

/// `[staff_sync.attributes]` and `[staff_sync.unit_map]`: which attribute (or HR export
/// column) holds each field. Each value is a [`Pattern`].
#[derive(Debug, Clone)]
pub struct Mapping {
    pub id: Pattern,
    pub name: Pattern,
    pub unit: Pattern,
    pub email: Option<Pattern>,
    pub personnummer: Option<Pattern>,
    /// The username in each system, e.g. `treserva = "uid"`, `cosmic = "C{employeeNumber}"`.
    /// Systems not named here keep the usernames the register has.
    pub usernames: BTreeMap<SystemId, Pattern>,
    /// A directory's unit value (a department name, an OU) to loggvakt's unit id; a value not
    /// in the map must itself be a unit id.
    pub unit_map: BTreeMap<String, UnitId>,
}

impl Mapping {
    /// Every attribute the mapping reads, each once, in a stable order.
    pub fn attributes(&self) -> Vec<String> {
        let mut all: Vec<String> = [&self.id, &self.name, &self.unit]
            .into_iter()
            .chain(self.email.iter())
            .chain(self.personnummer.iter())
            .chain(self.usernames.values())
            .flat_map(|p| p.attributes().map(str::to_owned))
            .collect();
        all.sort_by_key(|a| a.to_lowercase());
        all.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        all
    }
}

/// A value made of attributes: `uid` (one attribute, the whole value) or a pattern with
/// `{attribute}` placeholders and literal text, like `C{employeeNumber}` or
/// `{givenName} {sn}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(Vec<Piece>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Attribute(String),
}

impl Pattern {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("is empty".into());
        }
        if !raw.contains(['{', '}']) {
            check_attribute(raw)?;
            return Ok(Self(vec![Piece::Attribute(raw.to_owned())]));
        }
        let mut pieces = Vec::new();
        let mut rest = raw;
        while !rest.is_empty() {
            match rest.find(['{', '}']) {
                None => {
                    pieces.push(Piece::Literal(rest.to_owned()));
                    rest = "";
                }
                Some(i) if rest[i..].starts_with('}') => {
                    return Err(format!("'{raw}' has a '}}' without its '{{'"));
                }
                Some(i) => {
                    if i > 0 {
                        pieces.push(Piece::Literal(rest[..i].to_owned()));
                    }
                    let Some(end) = rest[i..].find('}') else {
                        return Err(format!("'{raw}' has a '{{' without its '}}'"));
                    };
                    let name = &rest[i + 1..i + end];
                    check_attribute(name).map_err(|e| format!("in '{raw}': {e}"))?;
                    pieces.push(Piece::Attribute(name.to_owned()));
                    rest = &rest[i + end + 1..];
                }
            }
        }
        Ok(Self(pieces))
    }

    pub fn attributes(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|p| match p {
            Piece::Attribute(a) => Some(a.as_str()),
            Piece::Literal(_) => None,
        })
    }

    /// The value with each attribute's value put in; `None` when one of them has none, so
    /// that `C{employeeNumber}` never becomes a bare `C`.
    pub fn render<'a>(&self, value: impl Fn(&str) -> Option<&'a str>) -> Option<String> {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Literal(text) => out.push_str(text),
                Piece::Attribute(name) => {
                    out.push_str(value(name).map(str::trim).filter(|v| !v.is_empty())?)
                }
            }
        }
        Some(out)
    }
}

/// An LDAP attribute description or a column name: a word without braces or separators.
fn check_attribute(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' ' | ';'));
    if ok {
        Ok(())
    } else {
        Err(format!("'{name}' is not an attribute or column name"))
    }
}

/// A system's user list held against the staff register (`staff reconcile`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Reconciliation {
    pub system: SystemId,
    /// The list's file name (without its folder).
    pub file: String,
    /// Distinct usernames in the list.
    pub listed: usize,
    /// In the system but not the username of anyone on the staff: never drawn, so never
    /// checked (or a leaver's account still open).
    pub unknown: Vec<String>,
    /// Staff whose username for the system is not in the list: renamed or closed accounts.
    pub stale: Vec<StaleAccount>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StaleAccount {
    pub staff_id: crate::ident::StaffId,
    pub username: String,
}

/// A reconciliation as stored: the latest per system.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredReconciliation {
    #[serde(flatten)]
    pub result: Reconciliation,
    pub made_by: String,
    pub made_at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        }
    }

    #[test]
    fn a_bare_word_is_one_attribute() {
        let p = Pattern::parse("uid").unwrap();
        assert_eq!(p.render(attrs(&[("uid", "elind")])), Some("elind".into()));
        assert_eq!(p.attributes().collect::<Vec<_>>(), ["uid"]);
    }

    #[test]
    fn patterns_mix_text_and_attributes() {
        let p = Pattern::parse("C{employeeNumber}").unwrap();
        assert_eq!(
            p.render(attrs(&[("employeenumber", "821234")])),
            Some("C821234".into())
        );
        assert_eq!(p.render(attrs(&[])), None, "no bare prefix");
        let name = Pattern::parse("{givenName} {sn}").unwrap();
        assert_eq!(
            name.render(attrs(&[("givenName", "Eva"), ("sn", "Lind")])),
            Some("Eva Lind".into())
        );
    }

    #[test]
    fn broken_patterns_are_refused() {
        assert!(Pattern::parse("C{employeeNumber").is_err());
        assert!(Pattern::parse("C}x").is_err());
        assert!(Pattern::parse("{}").is_err());
        assert!(Pattern::parse("  ").is_err());
    }
}
