//! Delegations (seeds 000, 004): a manager hands one review task, or all loggkontroll of a
//! unit for a period, to another named chef. The delegation is written down: who, to whom,
//! from when, why. A task's reviewer changes with it, so its reminders, escalation and
//! write-back follow the new reviewer.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::org::Contact;
use crate::ident::UnitId;

/// What is delegated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum Scope {
    /// One task, from the moment of delegation.
    Task { task: i64 },
    /// Every task of a unit made from `from` through `until` (local dates, both included),
    /// and its open tasks when the period starts at once.
    Unit {
        unit: UnitId,
        from: NaiveDate,
        until: NaiveDate,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Delegation {
    pub id: i64,
    #[serde(flatten)]
    pub scope: Scope,
    /// Whose work it was: the reviewer of the task, or the unit's manager.
    pub from_email: String,
    pub to: Contact,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    /// Who delegated, as the audit trail names them (the manager, or a chief above).
    pub created_by: String,
}

/// The longest reason a delegation may give.
pub const MAX_REASON_CHARS: usize = 2000;

/// The longest period a unit's work may be delegated for at once: a year, renewed in
/// writing after that.
pub const MAX_UNIT_DAYS: i64 = 366;

impl Delegation {
    /// Whether a unit delegation covers `unit` on `day`.
    pub fn covers(&self, unit: &str, day: NaiveDate) -> bool {
        matches!(&self.scope, Scope::Unit { unit: u, from, until }
            if u.as_str() == unit && *from <= day && day <= *until)
    }
}
