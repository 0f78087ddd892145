//! What a sync changes in the register, worked out without touching anything: joiners,
//! changed fields, leavers; and the guard that refuses a sync deactivating too many.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;

use super::person::Person;
use crate::ident::{StaffId, SystemId};

/// A register row as the diff sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The person as the register has them, with every system's username, mapped or not.
    pub person: Person,
    /// The register's own `active` column (set by hand; the sync leaves it).
    pub active: bool,
    pub active_from: Option<NaiveDate>,
    pub active_to: Option<NaiveDate>,
}

impl Listed {
    /// On the staff on `day`, or later (a joiner whose first day is still to come).
    fn current(&self, day: NaiveDate) -> bool {
        self.active && self.active_to.is_none_or(|to| to >= day)
    }
}

/// Which of a person's fields the source provides; the others stay as the register has them.
#[derive(Debug, Clone, Default)]
pub struct Provided {
    pub email: bool,
    pub personnummer: bool,
    pub systems: Vec<SystemId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A joiner: a new row, on the staff from the sync's day.
    Added(Person),
    /// A known person whose fields differ (named in `fields`, never with values); a leaver
    /// back in the source is `reactivated` from the sync's day.
    Changed {
        person: Person,
        fields: Vec<String>,
        reactivated: bool,
    },
    /// A leaver: no longer in the source. The row stays, with its last day set.
    Deactivated { id: StaffId, active_to: NaiveDate },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub changes: Vec<Change>,
    /// Rows on the staff before the sync: the base of the deactivation share.
    pub active_before: usize,
    pub unchanged: usize,
}

impl Plan {
    pub fn count(&self, which: fn(&Change) -> bool) -> usize {
        self.changes.iter().filter(|c| which(c)).count()
    }

    pub fn added(&self) -> usize {
        self.count(|c| matches!(c, Change::Added(_)))
    }

    pub fn changed(&self) -> usize {
        self.count(|c| matches!(c, Change::Changed { .. }))
    }

    pub fn deactivated(&self) -> usize {
        self.count(|c| matches!(c, Change::Deactivated { .. }))
    }
}

/// The changes that make `register` say what `source` says on `today`. People in `keep`
/// (entries the source had but the mapping could not read) are left as they are rather than
/// deactivated.
pub fn diff(
    register: &[Listed],
    source: &[Person],
    keep: &HashSet<StaffId>,
    provided: &Provided,
    today: NaiveDate,
) -> Plan {
    let listed: HashMap<&StaffId, &Listed> = register.iter().map(|r| (&r.person.id, r)).collect();
    let present: HashSet<&StaffId> = source.iter().map(|p| &p.id).collect();
    let mut plan = Plan {
        active_before: register.iter().filter(|r| r.current(today)).count(),
        ..Plan::default()
    };
    for person in source {
        let Some(row) = listed.get(&person.id) else {
            plan.changes.push(Change::Added(person.clone()));
            continue;
        };
        let fields = changed_fields(&row.person, person, provided);
        // A leaver back in the source, whose last day has passed, joins again.
        let reactivated = row.active_to.is_some_and(|to| to < today);
        if fields.is_empty() && !reactivated {
            plan.unchanged += 1;
            continue;
        }
        let mut fields = fields;
        if reactivated {
            fields.push("active_to".into());
        }
        plan.changes.push(Change::Changed {
            person: person.clone(),
            fields,
            reactivated,
        });
    }
    // The last day of a leaver is the day before the source first lacked them.
    let yesterday = today.pred_opt().unwrap_or(today);
    for row in register {
        if present.contains(&row.person.id) || keep.contains(&row.person.id) || !row.current(today)
        {
            continue;
        }
        let active_to = match (row.active_from, row.active_to) {
            // Never before their first day, which would make the row invalid.
            (Some(from), _) if from > yesterday => from,
            (_, Some(to)) if to < yesterday => to,
            _ => yesterday,
        };
        plan.changes.push(Change::Deactivated {
            id: row.person.id.clone(),
            active_to,
        });
    }
    plan
}

fn changed_fields(listed: &Person, person: &Person, provided: &Provided) -> Vec<String> {
    let mut fields = Vec::new();
    if listed.name != person.name {
        fields.push("name".to_owned());
    }
    if listed.unit != person.unit {
        fields.push("unit".to_owned());
    }
    if provided.email && listed.email != person.email {
        fields.push("email".to_owned());
    }
    if provided.personnummer && listed.personnummer != person.personnummer {
        fields.push("personnummer".to_owned());
    }
    for system in &provided.systems {
        if listed.usernames.get(system) != person.usernames.get(system) {
            fields.push(format!("usernames.{system}"));
        }
    }
    fields
}

/// A sync that would deactivate more than the allowed share of the active staff.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "the sync would deactivate {deactivated} of {active} active staff, more than the {percent} % \
     that [staff_sync] max_deactivate_share allows; nothing was changed. Check the directory \
     query or the export, and run again with --force if this is right"
)]
pub struct TooManyLeavers {
    pub deactivated: usize,
    pub active: usize,
    pub percent: f64,
}

/// Refuses `plan` when it deactivates more than `share` of the active staff, so that a
/// broken directory query (a wrong base DN, an empty export) cannot empty the population.
pub fn guard(plan: &Plan, share: f64) -> Result<(), TooManyLeavers> {
    let deactivated = plan.deactivated();
    if deactivated as f64 > share * plan.active_before as f64 {
        return Err(TooManyLeavers {
            deactivated,
            active: plan.active_before,
            percent: (share * 1000.0).round() / 10.0,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ident::{Personnummer, UnitId};

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn system(s: &str) -> SystemId {
        SystemId::new(s).unwrap()
    }

    fn person(id: &str, username: &str) -> Person {
        Person {
            id: StaffId::new(id).unwrap(),
            name: format!("Person {id}"),
            unit: UnitId::new("hemtjanst").unwrap(),
            email: None,
            personnummer: None,
            usernames: [(system("treserva"), username.to_owned())].into(),
        }
    }

    fn listed(p: &Person) -> Listed {
        Listed {
            person: p.clone(),
            active: true,
            active_from: None,
            active_to: None,
        }
    }

    fn provided() -> Provided {
        Provided {
            email: true,
            personnummer: false,
            systems: vec![system("treserva")],
        }
    }

    /// The plan of a sync on 2027-05-20 with every entry readable.
    fn sync(register: &[Listed], source: &[Person]) -> Plan {
        diff(
            register,
            source,
            &HashSet::new(),
            &provided(),
            day("2027-05-20"),
        )
    }

    fn staff(n: usize) -> Vec<Person> {
        (0..n)
            .map(|i| person(&format!("s{i:02}"), &format!("u{i:02}")))
            .collect()
    }

    #[test]
    fn joiners_changes_and_leavers() {
        let people = staff(3);
        let register: Vec<Listed> = people.iter().map(listed).collect();
        let mut source = vec![people[0].clone(), person("s01", "renamed")];
        source.push(person("s09", "new"));
        let plan = sync(&register, &source);
        assert_eq!(plan.active_before, 3);
        assert_eq!(plan.unchanged, 1);
        assert_eq!(
            plan.changes,
            vec![
                Change::Changed {
                    person: person("s01", "renamed"),
                    fields: vec!["usernames.treserva".into()],
                    reactivated: false
                },
                Change::Added(person("s09", "new")),
                Change::Deactivated {
                    id: StaffId::new("s02").unwrap(),
                    active_to: day("2027-05-19")
                },
            ]
        );
    }

    #[test]
    fn fields_the_source_does_not_provide_are_left_alone() {
        let p = person("s01", "u1");
        let mut row = listed(&p);
        row.person.personnummer = Some(Personnummer::parse("19121212-1212").unwrap());
        row.person.usernames.insert(system("cosmic"), "C1".into());
        let plan = sync(&[row], &[p]);
        assert!(plan.changes.is_empty(), "{plan:?}");
    }

    #[test]
    fn leavers_stay_gone_and_come_back() {
        let p = person("s01", "u1");
        let mut row = listed(&p);
        row.active_to = Some(day("2027-04-30"));
        let none = sync(&[row.clone()], &[]);
        assert!(none.changes.is_empty(), "a leaver is not deactivated again");
        assert_eq!(none.active_before, 0);
        let back = sync(&[row], &[p]);
        assert!(matches!(
            &back.changes[..],
            [Change::Changed { reactivated: true, fields, .. }] if fields == &["active_to"]
        ));
    }

    #[test]
    fn unreadable_entries_are_not_deactivated() {
        let people = staff(2);
        let register: Vec<Listed> = people.iter().map(listed).collect();
        let keep = [StaffId::new("s01").unwrap()].into();
        let plan = diff(
            &register,
            &people[..1],
            &keep,
            &provided(),
            day("2027-05-20"),
        );
        assert_eq!(plan.deactivated(), 0);
    }

    #[test]
    fn the_guard_refuses_more_than_the_share() {
        let people = staff(10);
        let register: Vec<Listed> = people.iter().map(listed).collect();
        let one_left = sync(&register, &people[1..]);
        assert_eq!(guard(&one_left, 0.10), Ok(()), "one in ten is 10 %");
        let half = sync(&register, &people[5..]);
        let refused = guard(&half, 0.10).unwrap_err();
        assert_eq!((refused.deactivated, refused.active), (5, 10));
        assert!(refused.to_string().contains("--force"));
        let empty = sync(&[], &[]);
        assert_eq!(guard(&empty, 0.0), Ok(()));
    }
}
