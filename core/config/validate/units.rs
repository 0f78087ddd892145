//! `[[unit]]`: ids, names, the parent tree, the manager and escalation contacts every
//! unit's review tasks need, and the orderers its extract orders go out in the name of.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{FirstSeen, Problems, valid_email};
use crate::config::ConfigError;
use crate::config::collect::Located;
use crate::config::raw::{RawContact, RawOrderer, RawUnit};
use crate::config::rules;
use crate::ident::{SystemId, UnitId};
use crate::model::org::{Contact, OrdererContact, Unit};

type ById<'a> = HashMap<&'a str, &'a RawUnit>;

pub(super) fn validate(
    raw: &[Located<RawUnit>],
    systems: &HashSet<&str>,
    errors: &mut Vec<ConfigError>,
) -> Vec<Unit> {
    let mut seen = FirstSeen::default();
    let by_id: ById = raw.iter().map(|u| (u.raw.id.as_str(), &u.raw)).collect();
    let mut units = Vec::new();
    for u in raw {
        let item = format!("[[unit]] '{}'", u.raw.id);
        let mut p = Problems::of(errors, &u.file, u.line, &item);
        let id = UnitId::new(&u.raw.id)
            .map_err(|e| p.fail("id", e.to_string()))
            .ok();
        seen.check(&u.raw.id, &u.file, u.line, "unit", &mut p);
        if u.raw.name.trim().is_empty() {
            p.fail("name", "is empty".into());
        }
        check_parent(&u.raw, &by_id, &mut p);
        check_contacts(&u.raw, &mut p);
        check_orderers(&u.raw, systems, &mut p);
        // Only judged when the parent chain resolves; otherwise the parent error says it all.
        if chain_resolves(&u.raw.id, &by_id) && !has_escalation(&u.raw.id, &by_id) {
            p.fail(
                "escalate_to",
                "missing here and on every parent: overdue reviews would have nobody to go to"
                    .into(),
            );
        }
        if let (Some(id), Some(manager)) = (id, contact(&u.raw.manager)) {
            units.push(Unit {
                id,
                name: u.raw.name.trim().to_owned(),
                parent: u.raw.parent.as_deref().and_then(|p| UnitId::new(p).ok()),
                manager,
                escalate_to: contact(&u.raw.escalate_to),
                working_hours: rules::working_hours(u.raw.working_hours.as_deref(), &mut p),
                orderer: u.raw.orderer.as_ref().map(orderer),
                orderer_by_system: u
                    .raw
                    .orderer_by_system
                    .iter()
                    .filter_map(|(system, o)| Some((SystemId::new(system).ok()?, orderer(o))))
                    .collect(),
            });
        }
    }
    units
}

fn check_parent(u: &RawUnit, by_id: &ById, p: &mut Problems) {
    let Some(parent) = &u.parent else { return };
    if !by_id.contains_key(parent.as_str()) {
        p.fail("parent", format!("unknown unit '{parent}'"));
    } else if in_cycle(&u.id, by_id) {
        p.fail("parent", "the parent chain loops back to this unit".into());
    }
}

fn check_contacts(u: &RawUnit, p: &mut Problems) {
    if u.manager.is_none() {
        p.fail(
            "manager",
            "missing: every unit needs a manager to receive its review tasks".into(),
        );
    }
    for (field, contact) in [("manager", &u.manager), ("escalate_to", &u.escalate_to)] {
        if let Some(c) = contact {
            check_person(field, &c.name, &c.email, p);
        }
    }
}

fn check_person(field: &str, name: &str, email: &str, p: &mut Problems) {
    if name.trim().is_empty() {
        p.fail(&format!("{field}.name"), "is empty".into());
    }
    if !valid_email(email.trim()) {
        p.fail(
            &format!("{field}.email"),
            format!("'{email}' is not an e-mail address"),
        );
    }
}

/// `orderer` and each `orderer_by_system.<system>`: a person with an address, and systems
/// that exist, because an order in a wrong or unknown name is refused by the peer (or, worse,
/// answered to the wrong person).
fn check_orderers(u: &RawUnit, systems: &HashSet<&str>, p: &mut Problems) {
    let general = u.orderer.iter().map(|o| ("orderer".to_owned(), None, o));
    let by_system = u
        .orderer_by_system
        .iter()
        .map(|(system, o)| (format!("orderer_by_system.{system}"), Some(system), o));
    for (field, system, o) in general.chain(by_system) {
        if let Some(system) = system
            && !systems.contains(system.as_str())
        {
            p.fail(&field, format!("unknown system '{system}'"));
        }
        check_person(&field, &o.name, &o.email, p);
        if o.phone.as_deref().is_some_and(|ph| ph.trim().is_empty()) {
            p.fail(&format!("{field}.phone"), "is empty".into());
        }
        for (system, username) in &o.usernames {
            let at = format!("{field}.usernames.{system}");
            if !systems.contains(system.as_str()) {
                p.fail(&at, format!("unknown system '{system}'"));
            } else if username.trim().is_empty() || username.trim().contains(char::is_whitespace) {
                p.fail(&at, format!("'{username}' is not a username"));
            }
        }
    }
}

fn orderer(o: &RawOrderer) -> OrdererContact {
    OrdererContact {
        contact: Contact {
            name: o.name.trim().to_owned(),
            email: o.email.trim().to_owned(),
        },
        phone: o.phone.as_deref().map(str::trim).map(str::to_owned),
        usernames: o
            .usernames
            .iter()
            .filter_map(|(s, n)| Some((SystemId::new(s).ok()?, n.trim().to_owned())))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn contact(c: &Option<RawContact>) -> Option<Contact> {
    c.as_ref().map(|c| Contact {
        name: c.name.trim().to_owned(),
        email: c.email.trim().to_owned(),
    })
}

fn in_cycle(start: &str, by_id: &ById) -> bool {
    let mut current = by_id.get(start).and_then(|u| u.parent.as_deref());
    for _ in 0..=by_id.len() {
        match current {
            None => return false,
            Some(id) if id == start => return true,
            Some(id) => current = by_id.get(id).and_then(|u| u.parent.as_deref()),
        }
    }
    // A loop above this unit that does not include it: its members report it.
    false
}

/// The chain of parents ends at a root without naming an unknown unit or looping.
fn chain_resolves(start: &str, by_id: &ById) -> bool {
    let mut current = by_id.get(start);
    for _ in 0..=by_id.len() {
        match current.map(|u| u.parent.as_deref()) {
            None => return false,
            Some(None) => return true,
            Some(Some(parent)) => current = by_id.get(parent),
        }
    }
    false
}

fn has_escalation(start: &str, by_id: &ById) -> bool {
    let mut current = by_id.get(start);
    for _ in 0..=by_id.len() {
        match current {
            None => return false,
            Some(u) if u.escalate_to.is_some() => return true,
            Some(u) => current = u.parent.as_deref().and_then(|p| by_id.get(p)),
        }
    }
    false
}
