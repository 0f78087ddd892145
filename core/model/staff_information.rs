//! The yearly staff information (seed 002): every year, and at hiring, the närmaste chef
//! tells the staff that loggkontroll is done. One record per unit and year, open until the
//! chef confirms the day and how.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::ident::UnitId;

#[derive(Debug, Clone, Serialize)]
pub struct StaffInformation {
    pub id: i64,
    pub unit: UnitId,
    pub year: i32,
    pub created_at: DateTime<Utc>,
    pub confirmation: Option<Confirmation>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Confirmation {
    /// The day the staff were informed.
    pub informed_on: NaiveDate,
    /// How: at a workplace meeting (APT), by e-mail, at the introduction, …
    pub how: String,
    pub confirmed_at: DateTime<Utc>,
    pub confirmed_by: String,
}

/// The longest description of how the staff were informed.
pub const MAX_HOW_CHARS: usize = 500;

/// The audit trail's name for one unit's yearly information.
pub fn staff_information_object(id: i64) -> String {
    format!("staff_information:{id}")
}
