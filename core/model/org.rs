//! The organisation as loaded and validated from configuration: units, staff, systems and
//! routines, and the questions the planner asks of them.

use std::collections::{BTreeMap, HashMap};

use crate::calendar::{Month, WindowRule};
use crate::ident::{Personnummer, RoutineId, StaffId, SystemId, UnitId};

/// Someone who receives notices: a manager or the person escalations go to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Contact {
    pub name: String,
    pub email: String,
}

/// How notices to managers leave loggvakt (`[notify]` in the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifySettings {
    /// The sender of notices.
    pub from: String,
    /// Where the web pages are reached; links in notices start here.
    pub base_url: String,
    pub transport: NotifyTransport,
    /// A reminder goes this many days before a task's deadline.
    pub remind_days_before: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyTransport {
    /// `.eml` files in the installation's own folder beside its SQLite database
    /// (`loggvakt.db` → `loggvakt-notices/`): the default, so that no two installations (or
    /// tests) share a folder.
    InstallationOutbox,
    /// Each notice written as an `.eml` file into this folder, for a mail system to pick up
    /// or for a trial without a mail server.
    Outbox(std::path::PathBuf),
    Smtp(SmtpServer),
}

/// An SMTP server and how to talk to it.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpServer {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    /// AUTH, when the server wants it: the username and the password.
    pub login: Option<(String, super::secret::Secret)>,
}

impl std::fmt::Debug for SmtpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpServer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("login", &self.login.as_ref().map(|(user, _)| user))
            .finish()
    }
}

/// Plain SMTP, STARTTLS required, or TLS from the first byte (SMTPS, port 465).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmtpSecurity {
    #[default]
    None,
    Starttls,
    Tls,
}

/// How users log in, besides the session cookie that every way ends in.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// `[auth] local_passwords`: whether the password form works (default yes).
    pub local_passwords: bool,
    pub header: Option<HeaderAuth>,
    /// `[auth.oidc]`: OpenID Connect sign-on.
    pub oidc: Option<super::sso::OidcAuth>,
    /// `[[auth.map]]`: the role and units each group gives a signed-on user.
    pub map: Vec<super::sso::GroupRule>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            local_passwords: true,
            header: None,
            oidc: None,
            map: Vec::new(),
        }
    }
}

/// `[auth.header]`: the username (and groups) a trusted reverse proxy sets.
#[derive(Debug, Clone)]
pub struct HeaderAuth {
    /// Lower-case header names.
    pub user_header: String,
    pub groups_header: Option<String>,
    /// Only a TCP peer in one of these networks may name the user.
    pub trusted_proxies: Vec<Network>,
}

/// An IP network, `address/prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    pub addr: std::net::IpAddr,
    pub prefix: u8,
}

impl Network {
    /// `10.0.0.0/8`, `::1/128`, or a bare address (a network of one).
    pub fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a.parse().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (text.trim().parse().ok()?, None),
        };
        let max = match addr {
            std::net::IpAddr::V4(_) => 32,
            std::net::IpAddr::V6(_) => 128,
        };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self { addr, prefix })
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr::*;
        // An IPv4 peer on a dual-stack socket arrives as `::ffff:a.b.c.d`.
        let ip = match ip {
            V6(v6) => v6.to_ipv4_mapped().map(V4).unwrap_or(V6(v6)),
            v4 => v4,
        };
        match (self.addr, ip) {
            (V4(net), V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (V6(net), V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            from: "loggvakt@localhost".into(),
            // Where `serve` listens by default, so that links in a trial's notices work.
            base_url: "http://localhost:8480".into(),
            transport: NotifyTransport::InstallationOutbox,
            remind_days_before: 3,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Unit {
    pub id: UnitId,
    pub name: String,
    pub parent: Option<UnitId>,
    pub manager: Contact,
    pub escalate_to: Option<Contact>,
    /// For the off_hours rule; inherited by child units and staff that have none.
    pub working_hours: Option<super::working_hours::WorkingHours>,
    /// Whose name this unit's extract orders go out in, for every system; inherited by
    /// child units. `None` here and above: the unit's manager.
    pub orderer: Option<OrdererContact>,
    /// The same for one system only (`orderer_by_system.<system>`); it wins over `orderer`.
    pub orderer_by_system: BTreeMap<SystemId, OrdererContact>,
}

/// A configured orderer: the source systems check who orders (CESÅ, Treserva's user
/// support) and answer that person, so a unit's orders carry a person, not a system-wide
/// identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrdererContact {
    pub contact: Contact,
    pub phone: Option<String>,
    /// The orderer's own usernames by system, where a system checks them (Treserva).
    pub usernames: BTreeMap<SystemId, String>,
}

/// How loggvakt talks to a system: a built-in connector or a plugin library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectorRef {
    BuiltIn(String),
    Plugin(String),
}

/// The connectors compiled into loggvakt.
pub const BUILT_IN_CONNECTORS: [&str; 5] = ["cosmic", "treserva", "sesam2", "lifecare", "manual"];

/// The built-in connector of a system without any API: it reads the normalised CSV/XLSX
/// form of an extract that a person exported, and nothing else.
pub const MANUAL_CONNECTOR: &str = "manual";

crate::text_enum! {
    /// How a system's extracts come in (DESIGN.md §6):
    /// - `connector`: ordered, polled or fetched through the system's connector.
    /// - `manual`: a person takes the log out by the task's work instruction, then uploads
    ///   the export or records the review made outside loggvakt.
    pub enum Delivery {
        Connector = "connector", Manual = "manual",
    }
}

#[derive(Debug, Clone)]
pub struct System {
    pub id: SystemId,
    pub connector: ConnectorRef,
    pub delivery: Delivery,
    /// Checked by the connector when it is used; planning needs none of it.
    pub settings: toml::Table,
    /// Sending an order is tried this many times before it is marked failed.
    pub max_attempts: u32,
    /// An ordered extract not delivered after this many days raises a reminder.
    pub delivery_sla_days: u32,
    /// Extract files larger than this are refused unread.
    pub max_extract_bytes: u64,
    /// A plugin call that takes longer ends the plugin's process (`plugin_timeout_secs`).
    pub plugin_timeout: std::time::Duration,
}

impl System {
    /// Why a check by patient cannot be asked of this system served by `connector` (the
    /// connector's manifest name), with what to do instead; `None` when it can search by patient (Sesam 2's *Mottagare*, Treserva's form, a
    /// plugin that says nothing against it). Cosmic's order mail and Lifecare's message name
    /// users only (seeds 000 and 003).
    pub fn patient_search_gap(&self, connector: &str) -> Option<String> {
        let instead = match connector {
            "cosmic" => {
                "ask the journal unit for the patient's log by the region's procedure for patient requests (not the order mail), then review it outside loggvakt"
            }
            "lifecare" => {
                "ask the system administrators for the patient's activity log in a Lifecare message, then review it outside loggvakt"
            }
            _ => return None,
        };
        Some(format!(
            "system '{}' ({connector}) can only be asked for users' logs: {instead}",
            self.id
        ))
    }

    /// The built-in connector's name, or `""` for a plugin.
    pub fn connector_name(&self) -> &str {
        match &self.connector {
            ConnectorRef::BuiltIn(name) => name,
            ConnectorRef::Plugin(_) => "",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Staff {
    pub id: StaffId,
    pub name: String,
    pub unit: UnitId,
    pub email: Option<String>,
    pub personnummer: Option<Personnummer>,
    pub usernames: BTreeMap<SystemId, String>,
    pub active: bool,
    /// The first day of employment, when known; a joiner is not drawn before it.
    pub active_from: Option<chrono::NaiveDate>,
    /// The last day of employment, when the person has left (or will): a leaver is not drawn
    /// after it but stays in the register, and in the snapshots of earlier draws.
    pub active_to: Option<chrono::NaiveDate>,
    /// For the off_hours rule; else the unit's (or its parents'), else `[rules]`'s.
    pub working_hours: Option<super::working_hours::WorkingHours>,
}

impl Staff {
    /// Whether the person is on the staff on `day`: marked active, and within their dates.
    pub fn active_on(&self, day: chrono::NaiveDate) -> bool {
        self.active
            && self.active_from.is_none_or(|from| from <= day)
            && self.active_to.is_none_or(|to| day <= to)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutineKind {
    /// The scheduled random sample (S1).
    Stickprov,
    /// A scheduled targeted check, e.g. of patients with protected identity (S2).
    Riktad,
}

/// How often a routine draws. Draws are keyed by month, so every cadence is a set of months.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cadence {
    Monthly,
    /// January, April, July, October.
    Quarterly,
    /// January.
    Yearly,
}

impl Cadence {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "monthly" => Some(Self::Monthly),
            "quarterly" => Some(Self::Quarterly),
            "yearly" => Some(Self::Yearly),
            _ => None,
        }
    }

    pub fn includes(self, month: Month) -> bool {
        match self {
            Self::Monthly => true,
            Self::Quarterly => month.month() % 3 == 1,
            Self::Yearly => month.month() == 1,
        }
    }
}

/// The share of a unit's population to sample.
///
/// Kept in parts per million rather than as a float: `0.1 * 30.0` is `3.0000000000000004`
/// in binary floating point, and its ceiling would wrongly sample four people instead of three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SampleRule {
    pub fraction_ppm: u32,
    pub min: u32,
}

impl SampleRule {
    pub const PPM: u64 = 1_000_000;

    /// `max(min, ceil(fraction × n))`, capped at `n`.
    pub fn size(&self, n: usize) -> usize {
        let n64 = n as u64;
        let share = (u64::from(self.fraction_ppm) * n64).div_ceil(Self::PPM);
        share.max(u64::from(self.min)).min(n64) as usize
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitSelector {
    All,
    /// Listed units; a parent includes its whole subtree.
    Listed(Vec<UnitId>),
}

#[derive(Debug, Clone)]
pub struct Routine {
    pub id: RoutineId,
    pub kind: RoutineKind,
    pub system: SystemId,
    pub units: UnitSelector,
    pub cadence: Cadence,
    pub window: WindowRule,
    pub sample: SampleRule,
    pub review_period_hours: u32,
    pub deadline_days: u32,
}

/// A sampled-from person as the draw sees them: who, and under which username.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Member {
    pub staff_id: StaffId,
    pub username: String,
}

/// A validated organisation. Built only by `config::load`, which guarantees that every
/// reference (parent, unit, system) resolves.
#[derive(Debug, Clone)]
pub struct Organisation {
    pub name: String,
    pub units: Vec<Unit>,
    pub systems: Vec<System>,
    pub staff: Vec<Staff>,
    pub routines: Vec<Routine>,
    /// Set by `config::load` after construction; the default writes beside the database.
    pub notify: NotifySettings,
    /// `[rules]` and the protected-identity and watch lists; set by `config::load`.
    pub rules: super::rules::RulesSettings,
    /// The files besides the TOML ones the configuration was read from (the staff, protected
    /// and watch lists), so `serve` can tell when they change on disk.
    pub sources: Vec<std::path::PathBuf>,
    /// `[auth]`: local passwords and the trusted-header sign-on; set by `config::load`.
    pub auth: AuthSettings,
    /// `[organisation] staff_csv`, resolved: the staff register `staff sync` rewrites.
    pub staff_csv: Option<std::path::PathBuf>,
    /// `[staff_sync]`: where `staff sync` reads the staff from; set by `config::load`.
    pub staff_sync: Option<super::staff_sync::StaffSyncSettings>,
    unit_index: HashMap<UnitId, usize>,
    children: HashMap<UnitId, Vec<UnitId>>,
    staff_by_unit: HashMap<UnitId, Vec<usize>>,
    staff_index: HashMap<StaffId, usize>,
}

impl Organisation {
    pub(crate) fn new(
        name: String,
        units: Vec<Unit>,
        systems: Vec<System>,
        staff: Vec<Staff>,
        routines: Vec<Routine>,
    ) -> Self {
        let unit_index = units
            .iter()
            .enumerate()
            .map(|(i, u)| (u.id.clone(), i))
            .collect();
        let mut children: HashMap<UnitId, Vec<UnitId>> = HashMap::new();
        for unit in &units {
            if let Some(parent) = &unit.parent {
                children
                    .entry(parent.clone())
                    .or_default()
                    .push(unit.id.clone());
            }
        }
        let mut staff_by_unit: HashMap<UnitId, Vec<usize>> = HashMap::new();
        for (i, s) in staff.iter().enumerate() {
            staff_by_unit.entry(s.unit.clone()).or_default().push(i);
        }
        let staff_index = staff
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), i))
            .collect();
        Self {
            name,
            units,
            systems,
            staff,
            routines,
            notify: NotifySettings::default(),
            sources: Vec::new(),
            rules: super::rules::RulesSettings::default(),
            auth: AuthSettings::default(),
            staff_csv: None,
            staff_sync: None,
            unit_index,
            children,
            staff_by_unit,
            staff_index,
        }
    }

    pub fn unit(&self, id: &str) -> Option<&Unit> {
        self.unit_index.get(id).map(|&i| &self.units[i])
    }

    pub fn staff_member(&self, id: &str) -> Option<&Staff> {
        self.staff_index.get(id).map(|&i| &self.staff[i])
    }

    pub fn system(&self, id: &str) -> Option<&System> {
        self.systems.iter().find(|s| s.id.as_str() == id)
    }

    pub fn routine(&self, id: &str) -> Option<&Routine> {
        self.routines.iter().find(|r| r.id.as_str() == id)
    }

    /// The units above `unit`, nearest first.
    pub fn ancestors<'a>(&'a self, unit: &str) -> impl Iterator<Item = &'a Unit> + 'a {
        let parent = |u: &Unit| u.parent.as_ref().and_then(|p| self.unit(p.as_str()));
        std::iter::successors(self.unit(unit).and_then(parent), move |u| parent(u))
    }

    /// The chiefs above a unit (verksamhetschef, förvaltningschef): the managers of the
    /// units above it, nearest first, then its escalation contact, each once. Empty for a
    /// unit that is not configured.
    pub fn chiefs_above(&self, unit: &str) -> Vec<&Contact> {
        let Some(own) = self.unit(unit) else {
            return Vec::new();
        };
        let mut chiefs: Vec<&Contact> = Vec::new();
        let escalation = self.escalation_contact(&own.id);
        for c in self.ancestors(unit).map(|u| &u.manager).chain(escalation) {
            let known = chiefs
                .iter()
                .any(|k| k.email.eq_ignore_ascii_case(&c.email));
            if !known && !c.email.eq_ignore_ascii_case(&own.manager.email) {
                chiefs.push(c);
            }
        }
        chiefs
    }

    /// The person overdue work goes to: the unit's own `escalate_to`, else the nearest
    /// ancestor's. Validation guarantees every unit has one.
    /// Whom an overdue task goes to when its unit is no longer in the configuration (removed,
    /// or renamed with work open): the escalation contact of the organisation's top unit.
    pub fn fallback_escalation(&self) -> Option<&Contact> {
        self.units
            .iter()
            .filter(|u| u.parent.is_none())
            .find_map(|u| self.escalation_contact(&u.id))
    }

    pub fn escalation_contact(&self, unit: &UnitId) -> Option<&Contact> {
        let mut current = self.unit(unit.as_str());
        while let Some(u) = current {
            if let Some(c) = &u.escalate_to {
                return Some(c);
            }
            current = u.parent.as_ref().and_then(|p| self.unit(p.as_str()));
        }
        None
    }

    /// Whose name `unit`'s orders from `system` go out in: the per-system orderer, else the
    /// general one, of the unit or its nearest ancestor that names one; else the unit's own
    /// manager. The username in `system` is the configured one, else that of the staff
    /// member with the orderer's e-mail (a manager is often on the staff list too).
    pub fn orderer(&self, unit: &UnitId, system: &str) -> Option<loggvakt_connector::Orderer> {
        let own = self.unit(unit.as_str())?;
        let mut configured = None;
        let mut current = Some(own);
        while let Some(u) = current {
            configured = u.orderer_by_system.get(system).or(u.orderer.as_ref());
            if configured.is_some() {
                break;
            }
            current = u.parent.as_ref().and_then(|p| self.unit(p.as_str()));
        }
        let (contact, phone) = match configured {
            Some(o) => (&o.contact, o.phone.clone()),
            None => (&own.manager, None),
        };
        let username = configured
            .and_then(|o| o.usernames.get(system).cloned())
            .or_else(|| self.username_by_email(&contact.email, system));
        Some(loggvakt_connector::Orderer {
            name: contact.name.clone(),
            email: contact.email.clone(),
            username,
            phone,
            unit: own.name.clone(),
        })
    }

    fn username_by_email(&self, email: &str, system: &str) -> Option<String> {
        if email.is_empty() {
            return None;
        }
        self.staff
            .iter()
            .filter(|s| s.active)
            .filter(|s| {
                s.email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email))
            })
            .find_map(|s| s.usernames.get(system).cloned())
    }

    fn has_own_staff(&self, unit: &UnitId) -> bool {
        self.staff_by_unit.contains_key(unit)
    }

    fn is_leaf(&self, unit: &UnitId) -> bool {
        !self.children.contains_key(unit)
    }

    /// The units whose own chef informs staff (a unit with staff of its own, or a leaf), in
    /// configuration order: a parent that only groups other units has no staff to inform.
    pub fn staffed_units(&self) -> impl Iterator<Item = &Unit> {
        self.units
            .iter()
            .filter(|u| self.has_own_staff(&u.id) || self.is_leaf(&u.id))
    }

    /// The units a routine draws for, in configuration order. A unit is drawn for when it
    /// holds staff of its own or is a leaf; a parent that only groups other units would
    /// otherwise get an empty draw every month.
    pub fn routine_units(&self, routine: &Routine) -> Vec<&Unit> {
        let selected: Vec<bool> = match &routine.units {
            UnitSelector::All => vec![true; self.units.len()],
            UnitSelector::Listed(ids) => {
                let mut sel = vec![false; self.units.len()];
                let mut stack: Vec<&UnitId> = ids.iter().collect();
                while let Some(id) = stack.pop() {
                    if let Some(&i) = self.unit_index.get(id)
                        && !sel[i]
                    {
                        sel[i] = true;
                        stack.extend(self.children.get(id).into_iter().flatten());
                    }
                }
                sel
            }
        };
        self.units
            .iter()
            .zip(selected)
            .filter(|(u, sel)| *sel && (self.has_own_staff(&u.id) || self.is_leaf(&u.id)))
            .map(|(u, _)| u)
            .collect()
    }

    /// The unit's active staff with an account in `system`, sorted by staff id: the canonical
    /// order the draw's snapshot is stored in. Dates of employment are not looked at: see
    /// [`Organisation::population_on`] for a given day.
    pub fn population(&self, unit: &UnitId, system: &SystemId) -> Vec<Member> {
        self.members(unit, system, |s| s.active)
    }

    /// [`Organisation::population`] of those on the staff on `day` (a draw asks on its
    /// month's first day): a leaver whose last day came before it, or a joiner whose first
    /// day comes after it, is not drawn.
    pub fn population_on(
        &self,
        unit: &UnitId,
        system: &SystemId,
        day: chrono::NaiveDate,
    ) -> Vec<Member> {
        self.members(unit, system, |s| s.active_on(day))
    }

    fn members(
        &self,
        unit: &UnitId,
        system: &SystemId,
        keep: impl Fn(&Staff) -> bool,
    ) -> Vec<Member> {
        let mut members: Vec<Member> = self
            .staff_by_unit
            .get(unit)
            .into_iter()
            .flatten()
            .map(|&i| &self.staff[i])
            .filter(|s| keep(s))
            .filter_map(|s| {
                s.usernames.get(system).map(|username| Member {
                    staff_id: s.id.clone(),
                    username: username.clone(),
                })
            })
            .collect();
        members.sort();
        members
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_size_is_exact_for_decimal_fractions() {
        let ten_percent = SampleRule {
            fraction_ppm: 100_000,
            min: 1,
        };
        assert_eq!(ten_percent.size(30), 3);
        assert_eq!(ten_percent.size(31), 4);
        assert_eq!(ten_percent.size(5), 1);
        assert_eq!(ten_percent.size(0), 0);
        assert_eq!(ten_percent.size(100), 10);
        let at_least_five = SampleRule {
            fraction_ppm: 100_000,
            min: 5,
        };
        assert_eq!(at_least_five.size(3), 3, "capped at the population");
        let all = SampleRule {
            fraction_ppm: 1_000_000,
            min: 0,
        };
        assert_eq!(all.size(17), 17);
    }

    #[test]
    fn cadences_pick_their_months() {
        let m = |s: &str| s.parse::<Month>().unwrap();
        assert!(Cadence::Monthly.includes(m("2027-02")));
        assert!(Cadence::Quarterly.includes(m("2027-04")));
        assert!(!Cadence::Quarterly.includes(m("2027-05")));
        assert!(Cadence::Yearly.includes(m("2027-01")));
        assert!(!Cadence::Yearly.includes(m("2027-12")));
    }
}
