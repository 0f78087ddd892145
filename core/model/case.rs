//! Cases: a review closed `med_anmarkning` followed to a decision (DOMAIN.md "Outcome and
//! follow-up"). A decided case and its evidence are kept ten years.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::ident::{SystemId, UnitId};

/// How long a case and its evidence are kept after its decision (Treserva routine, 002).
pub const RETENTION_YEARS: u32 = 10;

crate::text_enum! {
    /// - `contact_employee`: The manager has talked to the employee.
    /// - `targeted_check`: The suspicion was verified with a further (targeted) log check.
    /// - `inform_chief`: The förvaltningschef / verksamhetschef has been informed.
    pub enum Step {
        ContactEmployee = "contact_employee", TargetedCheck = "targeted_check",
        InformChief = "inform_chief",
    }
}

impl Step {
    pub fn label_sv(self) -> &'static str {
        match self {
            Self::ContactEmployee => "Samtal med medarbetaren",
            Self::TargetedCheck => "Riktad loggkontroll för att verifiera",
            Self::InformChief => "Förvaltningschef/verksamhetschef informerad",
        }
    }
}

crate::text_enum! {
    /// - `no_breach`: Investigated: no breach.
    /// - `breach_labour_law`: A breach: labour-law measures.
    /// - `police_report`: A breach reported to the police (by the
    ///   förvaltningschef/verksamhetschef).
    pub enum Decision {
        NoBreach = "no_breach", BreachLabourLaw = "breach_labour_law",
        PoliceReport = "police_report",
    }
}

crate::text_enum! {
    /// A case is open until it is decided; a decided case cannot change.
    pub enum CaseState {
        Open = "open", Decided = "decided",
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseStep {
    pub step: Step,
    pub at: DateTime<Utc>,
    pub by: String,
    pub note: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Case {
    pub id: i64,
    pub task_id: i64,
    pub unit: UnitId,
    pub system: SystemId,
    pub opened_at: DateTime<Utc>,
    pub opened_by: String,
    pub summary: String,
    pub state: CaseState,
    pub decision: Option<Decision>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: Option<String>,
    pub decision_note: Option<String>,
    pub retain_until: Option<DateTime<Utc>>,
    pub steps: Vec<CaseStep>,
}

/// The audit trail's name for a case.
pub fn case_object(id: i64) -> String {
    format!("case:{id}")
}
