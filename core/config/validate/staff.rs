//! Staff, from `[[staff]]` tables and from staff CSV rows alike: ids, units, e-mail,
//! personnummer, working hours, and usernames that name one person per system.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{FirstSeen, Problems, valid_email};
use crate::config::ConfigError;
use crate::config::collect::StaffSource;
use crate::config::raw::RawStaff;
use crate::config::rules;
use crate::ident::{Personnummer, StaffId, SystemId, UnitId};
use crate::model::org::Staff;

/// The ids a staff entry may name.
enum Known<'a> {
    /// Those of the configuration.
    Ids(&'a HashSet<&'a str>),
    /// Any valid id: a staff list read without a configuration has nothing to check against
    /// (its system columns were checked as ids when its header was read).
    AnyValid,
}

/// (system, username) -> staff id: a username names one person in a system.
type Usernames<'a> = HashMap<(&'a str, &'a str), &'a str>;

pub(super) fn validate(
    raw: &[StaffSource],
    unit_ids: &HashSet<&str>,
    system_ids: &HashSet<&str>,
    errors: &mut Vec<ConfigError>,
) -> Vec<Staff> {
    validate_with(raw, &Known::Ids(unit_ids), &Known::Ids(system_ids), errors)
}

/// Staff of a list without a configuration, whose units and systems are any valid ids.
pub(in crate::config) fn standalone(
    raw: &[StaffSource],
    errors: &mut Vec<ConfigError>,
) -> Vec<Staff> {
    validate_with(raw, &Known::AnyValid, &Known::AnyValid, errors)
}

fn validate_with(
    raw: &[StaffSource],
    units: &Known,
    systems: &Known,
    errors: &mut Vec<ConfigError>,
) -> Vec<Staff> {
    let mut seen = FirstSeen::default();
    let mut usernames = Usernames::new();
    let mut staff = Vec::new();
    for s in raw {
        let r = &s.raw;
        let item = format!("staff '{}'", r.id);
        let mut p = Problems::of(errors, &s.file, s.line, &item);
        let before = p.count();
        let id = StaffId::new(&r.id)
            .map_err(|e| p.fail("id", e.to_string()))
            .ok();
        seen.check(&r.id, &s.file, s.line, "staff", &mut p);
        if r.name.trim().is_empty() {
            p.fail("name", "is empty".into());
        }
        check_unit(&r.unit, units, &mut p);
        if let Some(email) = r.email.as_deref().filter(|e| !valid_email(e)) {
            p.fail("email", format!("'{email}' is not an e-mail address"));
        }
        // The number itself is never echoed: it is personal data and errors end up in logs.
        let personnummer = r
            .personnummer
            .as_deref()
            .map(Personnummer::parse)
            .transpose()
            .map_err(|e| p.fail("personnummer", e.to_string()))
            .ok()
            .flatten();
        let active_from = date(r.active_from.as_deref(), "active_from", &mut p);
        let active_to = date(r.active_to.as_deref(), "active_to", &mut p);
        if let (Some(from), Some(to)) = (active_from, active_to)
            && to < from
        {
            p.fail("active_to", format!("{to} is before active_from {from}"));
        }
        // A leaver's usernames may be given to someone else later: only the current staff's
        // must name one person each.
        let names = accounts(s, systems, &mut usernames, active_to.is_none(), &mut p);
        if let (true, Some(id), Ok(unit)) = (p.count() == before, id, UnitId::new(&r.unit)) {
            staff.push(Staff {
                id,
                name: r.name.trim().to_owned(),
                unit,
                email: r.email.clone(),
                personnummer,
                usernames: names,
                active: r.active.unwrap_or(true),
                active_from,
                active_to,
                working_hours: rules::working_hours(r.working_hours.as_deref(), &mut p),
            });
        }
    }
    staff
}

/// A `YYYY-MM-DD` date field, when given.
fn date(raw: Option<&str>, field: &str, p: &mut Problems) -> Option<chrono::NaiveDate> {
    let raw = raw.map(str::trim).filter(|r| !r.is_empty())?;
    raw.parse()
        .map_err(|_| p.fail(field, format!("'{raw}' is not a date like 2027-05-01")))
        .ok()
}

fn check_unit(unit: &str, units: &Known, p: &mut Problems) {
    match units {
        Known::Ids(ids) if !ids.contains(unit) => {
            p.fail("unit", format!("unknown unit '{unit}'"));
        }
        Known::AnyValid => {
            if let Err(e) = UnitId::new(unit) {
                p.fail("unit", e.to_string());
            }
        }
        Known::Ids(_) => {}
    }
}

/// The person's usernames by system, each checked to name a known system and nobody else.
fn accounts<'a>(
    s: &'a StaffSource,
    systems: &Known,
    taken: &mut Usernames<'a>,
    current: bool,
    p: &mut Problems,
) -> BTreeMap<SystemId, String> {
    let r: &RawStaff = &s.raw;
    let mut names = BTreeMap::new();
    for (system, username) in &r.usernames {
        let field = if s.from_csv {
            system.clone()
        } else {
            format!("usernames.{system}")
        };
        if let Known::Ids(ids) = systems
            && !ids.contains(system.as_str())
        {
            p.fail(&field, format!("unknown system '{system}'"));
            continue;
        }
        let username = username.trim();
        if username.is_empty() {
            continue;
        }
        if current && let Some(other) = taken.insert((system.as_str(), username), r.id.as_str()) {
            p.fail(
                &field,
                format!("username '{username}' is also used by staff '{other}' in {system}"),
            );
        }
        if let Ok(sys) = SystemId::new(system) {
            names.insert(sys, username.to_owned());
        }
    }
    names
}
