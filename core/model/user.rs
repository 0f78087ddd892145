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
    /// The units whose tasks this reviewer sees: those they manage by e-mail in the
    /// configuration, and those given to them explicitly.
    pub fn reviewer_units(&self, org: &Organisation) -> Vec<String> {
        let mut units: Vec<String> = org
            .units
            .iter()
            .filter(|u| u.manager.email.eq_ignore_ascii_case(&self.email))
            .map(|u| u.id.to_string())
            .collect();
        units.extend(self.units.iter().cloned());
        units.sort();
        units.dedup();
        units
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
