//! Web users and their roles (DOMAIN.md): the administrator configures and sees everything;
//! a reviewer (enhetschef) sees the tasks of their own units only; the executive sees
//! counts, never patient data; the auditor sees the audit trail and verifies draws.

use serde::Serialize;

use super::org::Organisation;
use super::task::Task;

crate::text_enum! {
    pub enum Role {
        Admin = "admin", Reviewer = "reviewer", Executive = "executive", Auditor = "auditor",
    }
}

impl Role {
    pub fn label_sv(self) -> &'static str {
        match self {
            Self::Admin => "Administratör",
            Self::Reviewer => "Granskare",
            Self::Executive => "Ledning",
            Self::Auditor => "Revisor",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    /// Units a reviewer sees besides those they manage (e.g. a deputy's).
    pub units: Vec<String>,
    pub disabled: bool,
}

impl User {
    /// The units whose tasks and cases this reviewer sees: those they manage by e-mail in
    /// the configuration and those given to them explicitly, each with every unit below it;
    /// and those whose chief above they are as escalation contact (a förvaltningschef
    /// outside the unit tree). A chief of a parent unit sees the work of the units below.
    pub fn reviewer_units(&self, org: &Organisation) -> Vec<String> {
        let me = |email: &str| !self.email.is_empty() && email.eq_ignore_ascii_case(&self.email);
        let own = |u: &super::org::Unit| {
            me(&u.manager.email) || self.units.iter().any(|given| given == u.id.as_str())
        };
        org.units
            .iter()
            .filter(|u| {
                own(u)
                    || org.ancestors(u.id.as_str()).any(own)
                    || org.escalation_contact(&u.id).is_some_and(|c| me(&c.email))
            })
            .map(|u| u.id.to_string())
            .chain(self.units.iter().cloned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    /// Whether this user is a chief above `unit` (its verksamhetschef or förvaltningschef
    /// by the unit tree), who alone decides labour-law measures and police reports.
    pub fn is_chief_above(&self, unit: &str, org: &Organisation) -> bool {
        self.role == Role::Reviewer
            && !self.email.trim().is_empty()
            && org
                .chiefs_above(unit)
                .iter()
                .any(|c| c.email.eq_ignore_ascii_case(&self.email))
    }

    /// Whether this user may read a task's rows and act on it.
    pub fn may_review(&self, task: &Task, org: &Organisation) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Reviewer => {
                task.is_reviewer(&self.email)
                    || self
                        .reviewer_units(org)
                        .iter()
                        .any(|u| u == task.unit.as_str())
            }
            Role::Executive | Role::Auditor => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ident::UnitId;
    use crate::model::org::{Contact, Unit};

    fn contact(name: &str) -> Contact {
        Contact {
            name: name.into(),
            email: format!("{name}@example.se"),
        }
    }

    fn unit(id: &str, parent: Option<&str>, manager: &str, escalate_to: Option<&str>) -> Unit {
        Unit {
            id: UnitId::new(id).unwrap(),
            name: id.into(),
            parent: parent.map(|p| UnitId::new(p).unwrap()),
            manager: contact(manager),
            escalate_to: escalate_to.map(contact),
            working_hours: None,
            orderer: None,
            orderer_by_system: Default::default(),
        }
    }

    fn reviewer(name: &str, units: &[&str]) -> User {
        User {
            id: 1,
            username: name.into(),
            name: name.into(),
            email: format!("{name}@example.se"),
            role: Role::Reviewer,
            units: units.iter().map(|u| u.to_string()).collect(),
            disabled: false,
        }
    }

    /// förvaltning (fc, escalation fc) > vard (vera) > hemtjanst (hanna), boende (bo).
    fn org() -> Organisation {
        Organisation::new(
            "Testkommunen".into(),
            vec![
                unit("forvaltning", None, "fc", Some("fc")),
                unit("vard", Some("forvaltning"), "vera", None),
                unit("hemtjanst", Some("vard"), "hanna", None),
                unit("boende", Some("vard"), "bo", None),
            ],
            Vec::new(),
            Vec::new(),
            Vec::new(),
        )
    }

    #[test]
    fn a_chief_sees_the_units_below_and_alone_decides_for_them() {
        let org = org();
        assert_eq!(reviewer("hanna", &[]).reviewer_units(&org), ["hemtjanst"]);
        assert_eq!(
            reviewer("vera", &[]).reviewer_units(&org),
            ["boende", "hemtjanst", "vard"]
        );
        assert_eq!(reviewer("fc", &[]).reviewer_units(&org).len(), 4);
        // A deputy given a unit sees it and what is below it.
        assert_eq!(
            reviewer("ditte", &["vard"]).reviewer_units(&org),
            ["boende", "hemtjanst", "vard"]
        );

        let chiefs: Vec<&str> = org
            .chiefs_above("hemtjanst")
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(chiefs, ["vera", "fc"], "nearest first, each once");
        assert!(reviewer("vera", &[]).is_chief_above("hemtjanst", &org));
        assert!(reviewer("fc", &[]).is_chief_above("hemtjanst", &org));
        assert!(!reviewer("hanna", &[]).is_chief_above("hemtjanst", &org));
        assert!(!reviewer("bo", &[]).is_chief_above("hemtjanst", &org));
        assert!(!reviewer("vera", &[]).is_chief_above("vard", &org));
        // The top unit's own manager is its escalation contact: no one above but them.
        assert!(org.chiefs_above("forvaltning").is_empty());
        let mut admin = reviewer("vera", &[]);
        admin.role = Role::Admin;
        assert!(
            !admin.is_chief_above("hemtjanst", &org),
            "a role, not a chief"
        );
    }
}
