//! Cases: a review closed `med_anmarkning` followed to a decision (DOMAIN.md "Outcome and
//! follow-up"). A decided case and its evidence are kept ten years.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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

impl Decision {
    pub fn label_sv(self) -> &'static str {
        match self {
            Self::NoBreach => "Utrett: ingen överträdelse",
            Self::BreachLabourLaw => "Överträdelse: arbetsrättsliga åtgärder",
            Self::PoliceReport => "Överträdelse: polisanmälan",
        }
    }

    /// Whether only a chief above the unit (verksamhetschef, förvaltningschef) may decide
    /// it: labour-law measures and a police report are theirs (seeds 002, 003, 004); the
    /// enhetschef may close a case found to be no breach.
    pub fn needs_chief(self) -> bool {
        !matches!(self, Self::NoBreach)
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
    /// The latest saved loggavvikelse, if one is written.
    pub deviation: Option<DeviationReport>,
}

/// The longest text of one field of a case's forms: a page of prose, not a document.
pub const MAX_FIELD_CHARS: usize = 8000;

/// A *loggavvikelse* (seed 003): the structured account of what a case found, written by
/// the chief who follows it up.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Deviation {
    /// What was seen in the log.
    pub seen: String,
    /// Which accesses: times, patients' record parts, as the reviewer identifies them.
    pub accesses: String,
    /// The employee's explanation (empty when none was given).
    #[serde(default)]
    pub explanation: String,
    /// The chief's assessment.
    pub assessment: String,
}

impl Deviation {
    /// The fields trimmed, or the Swedish names of those that are missing or too long.
    pub fn checked(self) -> Result<Self, Vec<String>> {
        let trimmed = Self {
            seen: self.seen.trim().to_owned(),
            accesses: self.accesses.trim().to_owned(),
            explanation: self.explanation.trim().to_owned(),
            assessment: self.assessment.trim().to_owned(),
        };
        let mut problems = Vec::new();
        for (value, name, required) in [
            (&trimmed.seen, "Vad som iakttogs", true),
            (&trimmed.accesses, "Vilka åtkomster", true),
            (&trimmed.explanation, "Medarbetarens förklaring", false),
            (&trimmed.assessment, "Bedömning", true),
        ] {
            if required && value.is_empty() {
                problems.push(format!("{name} saknas"));
            } else if value.chars().count() > MAX_FIELD_CHARS {
                problems.push(format!("{name} är längre än {MAX_FIELD_CHARS} tecken"));
            }
        }
        if problems.is_empty() {
            Ok(trimmed)
        } else {
            Err(problems)
        }
    }
}

/// A saved loggavvikelse: each save is kept, the latest is the case's.
#[derive(Debug, Clone, Serialize)]
pub struct DeviationReport {
    #[serde(flatten)]
    pub text: Deviation,
    pub at: DateTime<Utc>,
    pub by: String,
}

/// The audit trail's name for a case.
pub fn case_object(id: i64) -> String {
    format!("case:{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deviation_is_trimmed_and_its_missing_or_long_fields_are_named() {
        let ok = Deviation {
            seen: " sett ".into(),
            accesses: "kl 23".into(),
            explanation: String::new(),
            assessment: "bedömt".into(),
        }
        .checked()
        .unwrap();
        assert_eq!(ok.seen, "sett");
        let problems = Deviation {
            seen: "x".repeat(MAX_FIELD_CHARS + 1),
            ..Default::default()
        }
        .checked()
        .unwrap_err();
        assert_eq!(
            problems,
            [
                format!("Vad som iakttogs är längre än {MAX_FIELD_CHARS} tecken"),
                "Vilka åtkomster saknas".into(),
                "Bedömning saknas".into(),
            ]
        );
        assert!(Decision::PoliceReport.needs_chief() && !Decision::NoBreach.needs_chief());
    }
}
