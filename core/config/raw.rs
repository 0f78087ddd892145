//! The file format: what serde reads from a configuration file, before any checking, with
//! the defaults of the fields that may be left out.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::rules::RawRules;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub(super) organisation: Option<Spanned<RawOrganisation>>,
    #[serde(default)]
    pub(super) unit: Vec<Spanned<RawUnit>>,
    #[serde(default)]
    pub(super) system: Vec<Spanned<RawSystem>>,
    #[serde(default)]
    pub(super) staff: Vec<Spanned<RawStaff>>,
    #[serde(default)]
    pub(super) routine: Vec<Spanned<RawRoutine>>,
    pub(super) rules: Option<Spanned<RawRules>>,
    pub(super) notify: Option<Spanned<RawNotify>>,
    pub(super) auth: Option<Spanned<RawAuth>>,
    pub(super) staff_sync: Option<Spanned<RawStaffSync>>,
}

/// `[staff_sync]`: the staff register from a directory or an HR export.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStaffSync {
    pub(super) max_deactivate_share: Option<f64>,
    pub(super) ldap: Option<RawLdap>,
    pub(super) attributes: RawAttributes,
    #[serde(default)]
    pub(super) unit_map: BTreeMap<String, String>,
}

/// `[staff_sync.ldap]`; the password only from a file or the environment.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLdap {
    pub(super) url: String,
    pub(super) bind_dn: Option<String>,
    pub(super) password_file: Option<String>,
    pub(super) password_env: Option<String>,
    pub(super) base_dn: String,
    #[serde(default = "default_ldap_filter")]
    pub(super) filter: String,
    #[serde(default = "default_ldap_timeout")]
    pub(super) timeout_secs: i64,
    #[serde(default = "default_ldap_max_entries")]
    pub(super) max_entries: i64,
}

fn default_ldap_filter() -> String {
    "(objectClass=person)".into()
}
fn default_ldap_timeout() -> i64 {
    30
}
fn default_ldap_max_entries() -> i64 {
    200_000
}

/// `[staff_sync.attributes]`: attribute (or export column) names, or patterns of them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAttributes {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) unit: String,
    pub(super) email: Option<String>,
    pub(super) personnummer: Option<String>,
    #[serde(default)]
    pub(super) usernames: BTreeMap<String, String>,
}

/// `[auth]`: whether local passwords work, the trusted-header and OpenID Connect sign-on,
/// and the groups that give signed-on users their role.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAuth {
    pub(super) local_passwords: Option<bool>,
    pub(super) header: Option<RawHeaderAuth>,
    pub(super) oidc: Option<RawOidcAuth>,
    #[serde(default)]
    pub(super) map: Vec<RawGroupRule>,
}

/// `[auth.oidc]`: an OpenID Connect provider. The secret is never inline: a file (relative
/// to this file) or an environment variable names it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOidcAuth {
    pub(super) issuer: String,
    pub(super) client_id: String,
    pub(super) client_secret_file: Option<String>,
    pub(super) client_secret_env: Option<String>,
    pub(super) scopes: Option<Vec<String>>,
    pub(super) username_claim: Option<String>,
    pub(super) groups_claim: Option<String>,
    pub(super) redirect_url: Option<String>,
}

/// `[[auth.map]]`: a group of the organisation's directory and what it gives.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGroupRule {
    pub(super) group: String,
    pub(super) role: String,
    #[serde(default)]
    pub(super) units: Vec<String>,
}

/// `[auth.header]`: a reverse proxy (a SAML/SITHS service provider) names the user.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHeaderAuth {
    pub(super) user_header: String,
    pub(super) groups_header: Option<String>,
    #[serde(default)]
    pub(super) trusted_proxies: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    pub(super) from: Option<String>,
    pub(super) base_url: Option<String>,
    /// A folder for `.eml` files, relative to this file; the default transport.
    pub(super) outbox: Option<String>,
    pub(super) smtp: Option<RawSmtp>,
    pub(super) remind_days_before: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSmtp {
    pub(super) host: String,
    #[serde(default = "default_smtp_port")]
    pub(super) port: i64,
    /// The older spelling of `tls = "starttls"`.
    #[serde(default)]
    pub(super) starttls: bool,
    /// `none` (default), `starttls` or `tls` (implicit TLS, SMTPS).
    pub(super) tls: Option<String>,
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
    /// The password in a file (relative to this file) or an environment variable.
    pub(super) password_file: Option<String>,
    pub(super) password_env: Option<String>,
}

fn default_smtp_port() -> i64 {
    25
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOrganisation {
    pub(super) name: String,
    pub(super) timezone: Option<String>,
    pub(super) staff_csv: Option<String>,
    /// CSV files with a `personnummer` column, relative to this file (the rules' lists).
    pub(super) protected_csv: Option<String>,
    pub(super) watchlist_csv: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUnit {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) parent: Option<String>,
    pub(super) manager: Option<RawContact>,
    pub(super) escalate_to: Option<RawContact>,
    pub(super) working_hours: Option<String>,
    /// Whose name the unit's extract orders go out in; default: inherited, else the manager.
    pub(super) orderer: Option<RawOrderer>,
    /// `[unit.orderer_by_system.<system>]`: the same for one system.
    #[serde(default)]
    pub(super) orderer_by_system: BTreeMap<String, RawOrderer>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOrderer {
    pub(super) name: String,
    pub(super) email: String,
    pub(super) phone: Option<String>,
    /// The orderer's own username per system id, where a system checks it (Treserva).
    #[serde(default)]
    pub(super) usernames: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawContact {
    pub(super) name: String,
    pub(super) email: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSystem {
    pub(super) id: String,
    pub(super) connector: String,
    /// `connector` (the default) or `manual`: a person takes the log out by instruction.
    #[serde(default)]
    pub(super) delivery: Option<String>,
    #[serde(default)]
    pub(super) settings: toml::Table,
    #[serde(default = "default_max_attempts")]
    pub(super) max_attempts: i64,
    #[serde(default = "default_delivery_sla_days")]
    pub(super) delivery_sla_days: i64,
    #[serde(default = "default_max_extract_mb")]
    pub(super) max_extract_mb: i64,
    /// A plugin's call may take this long before its process is ended.
    #[serde(default = "default_plugin_timeout_secs")]
    pub(super) plugin_timeout_secs: i64,
}

fn default_plugin_timeout_secs() -> i64 {
    60
}

fn default_max_attempts() -> i64 {
    6
}
fn default_delivery_sla_days() -> i64 {
    10
}
fn default_max_extract_mb() -> i64 {
    1024
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStaff {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) unit: String,
    pub(super) email: Option<String>,
    pub(super) personnummer: Option<String>,
    #[serde(default)]
    pub(super) usernames: BTreeMap<String, String>,
    pub(super) active: Option<bool>,
    /// First and last day of employment, `YYYY-MM-DD`.
    pub(super) active_from: Option<String>,
    pub(super) active_to: Option<String>,
    pub(super) working_hours: Option<String>,
}

// Integers are read signed so that `min = -1` gets our message, not serde's.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoutine {
    pub(super) id: String,
    pub(super) kind: String,
    pub(super) system: String,
    #[serde(default = "all_units")]
    pub(super) units: Vec<String>,
    #[serde(default = "monthly")]
    pub(super) cadence: String,
    #[serde(default)]
    pub(super) window: RawWindow,
    #[serde(default)]
    pub(super) sample: RawSample,
    #[serde(default = "default_review_hours")]
    pub(super) review_period_hours: i64,
    #[serde(default = "default_deadline_days")]
    pub(super) deadline_days: i64,
}

fn all_units() -> Vec<String> {
    vec!["*".into()]
}
fn monthly() -> String {
    "monthly".into()
}
fn default_review_hours() -> i64 {
    24
}
fn default_deadline_days() -> i64 {
    14
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawWindow {
    pub(super) first_days: i64,
    pub(super) weekdays_only: bool,
    pub(super) skip_holidays: bool,
}

impl Default for RawWindow {
    fn default() -> Self {
        Self {
            first_days: 7,
            weekdays_only: true,
            skip_holidays: true,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawSample {
    pub(super) fraction: f64,
    pub(super) min: i64,
}

impl Default for RawSample {
    fn default() -> Self {
        Self {
            fraction: 0.10,
            min: 1,
        }
    }
}
