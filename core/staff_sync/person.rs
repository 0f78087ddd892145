//! A directory entry or an HR export row, and the staff member the mapping makes of it.
//!
//! Problems name the entry (its DN or file line) and the field, never a value: names and
//! personnummer are personal data and these lines end up in terminals and logs.

use std::collections::{BTreeMap, HashMap};

use crate::ident::{Personnummer, StaffId, SystemId, UnitId};
use crate::model::staff_sync::Mapping;

/// What a source says about one person: attribute (or column) names, lower-cased, to the
/// first value.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    /// Where it came from, for messages: a DN, or `file:line`.
    pub origin: String,
    pub values: HashMap<String, String>,
}

impl Entry {
    fn get(&self, name: &str) -> Option<&str> {
        self.values.get(&name.to_lowercase()).map(String::as_str)
    }
}

/// A staff member as the source describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: StaffId,
    pub name: String,
    pub unit: UnitId,
    pub email: Option<String>,
    pub personnummer: Option<Personnummer>,
    /// Only the systems the mapping names.
    pub usernames: BTreeMap<SystemId, String>,
}

/// An entry the mapping could not make a person of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The id, when it could be read: that person's register row is then left alone rather
    /// than deactivated for a fault in one attribute.
    pub id: Option<StaffId>,
    pub message: String,
}

/// The person `entry` describes; `is_unit` says whether a unit id is configured.
pub fn person(
    entry: &Entry,
    mapping: &Mapping,
    is_unit: impl Fn(&UnitId) -> bool,
) -> Result<Person, Problem> {
    let value = |name: &str| entry.get(name);
    let fail = |id: Option<StaffId>, what: String| Problem {
        id,
        message: format!("{}: {what}", entry.origin),
    };
    let id = match mapping.id.render(value).map(|v| StaffId::new(&v)) {
        Some(Ok(id)) => id,
        Some(Err(e)) => return Err(fail(None, format!("id: {e}"))),
        None => return Err(fail(None, "no id".into())),
    };
    let some_id = || Some(id.clone());
    let name = mapping
        .name
        .render(value)
        .ok_or_else(|| fail(some_id(), "no name".into()))?;
    let unit_value = mapping
        .unit
        .render(value)
        .ok_or_else(|| fail(some_id(), "no unit".into()))?;
    let unit = match mapping.unit_map.get(&unit_value) {
        Some(unit) => unit.clone(),
        None => UnitId::new(&unit_value)
            .ok()
            .filter(&is_unit)
            .ok_or_else(|| {
                fail(
                    some_id(),
                    format!(
                        "unit '{unit_value}' is neither in [staff_sync.unit_map] nor a unit id"
                    ),
                )
            })?,
    };
    let email = mapping.email.as_ref().and_then(|p| p.render(value));
    if let Some(e) = &email
        && (!e.contains('@') || e.contains(char::is_whitespace))
    {
        return Err(fail(some_id(), "email is not an e-mail address".into()));
    }
    let personnummer = match mapping.personnummer.as_ref().and_then(|p| p.render(value)) {
        Some(raw) => Some(
            Personnummer::parse(&raw)
                .map_err(|_| fail(some_id(), "personnummer is not valid".into()))?,
        ),
        None => None,
    };
    let usernames = mapping
        .usernames
        .iter()
        .filter_map(|(system, p)| p.render(value).map(|u| (system.clone(), u)))
        .collect();
    Ok(Person {
        id,
        name,
        unit,
        email,
        personnummer,
        usernames,
    })
}

/// Every entry as a person, and the entries that could not be made one (a second entry with
/// an id already seen is one of those).
pub fn people(
    entries: &[Entry],
    mapping: &Mapping,
    is_unit: impl Fn(&UnitId) -> bool,
) -> (Vec<Person>, Vec<Problem>) {
    let mut seen = std::collections::HashSet::new();
    let mut people = Vec::new();
    let mut problems = Vec::new();
    for entry in entries {
        match person(entry, mapping, &is_unit) {
            Ok(p) if !seen.insert(p.id.clone()) => problems.push(Problem {
                id: Some(p.id.clone()),
                message: format!("{}: id '{}' appears twice", entry.origin, p.id),
            }),
            Ok(p) => people.push(p),
            Err(problem) => problems.push(problem),
        }
    }
    (people, problems)
}
