//! Targeted checks (S2) and patient requests (S3): an order by user or by patient over any
//! period, reviewed like a random sample once the extract is in.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Serialize;

use crate::calendar::Month;
use crate::ident::{SystemId, UnitId};

crate::text_enum! {
    /// - `user`: Everything one user did in the period.
    /// - `patient`: Every access to one patient's record in the period.
    /// - `patient_request`: A patient's own request for the log of their record.
    pub enum CheckKind {
        User = "user", Patient = "patient", PatientRequest = "patient_request",
    }
}

/// The documentation of a patient's request (DOMAIN.md S3).
#[derive(Debug, Clone, Serialize)]
pub struct PatientRequest {
    pub received_on: NaiveDate,
    /// Which ID document was shown, e.g. "pass", "körkort".
    pub identity_document: String,
    pub identity_checked_by: String,
    pub dispatched_at: Option<DateTime<Utc>>,
    /// The registered mail's number (rekommenderat brev).
    pub registered_mail: Option<String>,
    pub receipt_at: Option<NaiveDate>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub id: i64,
    pub kind: CheckKind,
    pub routine: Option<String>,
    pub month: Option<Month>,
    pub system: SystemId,
    pub unit: UnitId,
    /// A username, or a patient's personnummer: personal data, never logged.
    #[serde(skip)]
    pub subject: String,
    pub from: NaiveDateTime,
    pub to: NaiveDateTime,
    pub reason: String,
    pub requested_by: String,
    pub created_at: DateTime<Utc>,
    pub request: Option<PatientRequest>,
}

impl Check {
    pub fn reference(&self) -> String {
        match self.kind {
            CheckKind::PatientRequest => format!("LV-B-{}", self.id),
            CheckKind::User | CheckKind::Patient => format!("LV-R-{}", self.id),
        }
    }
}

/// A check to be made.
pub struct NewCheck {
    pub kind: CheckKind,
    pub system: String,
    /// Whose manager reviews it; for a user check, the user's own unit by default.
    pub unit: Option<String>,
    pub subject: String,
    /// The first and last day of the period, both included.
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub reason: String,
    pub request: Option<(NaiveDate, String, String)>,
}

/// The audit trail's name for a check.
pub fn check_object(id: i64) -> String {
    format!("check:{id}")
}
