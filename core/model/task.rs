//! Review tasks: one per draw (or targeted check) whose extracts are all in, handed to the
//! unit's manager; its reviewed users and flagged rows.

use chrono::{DateTime, NaiveDateTime, Utc};
use loggvakt_connector::{AccessEvent, ReviewOutcome};
use serde::{Deserialize, Serialize};

use super::order::{DeliveryVia, OrderState};
use super::org::Contact;
use super::rules::{Code, Flag};
use crate::calendar::Month;
use crate::ident::{SystemId, UnitId};

/// What the reviewer is asked to consider for every row (DOMAIN.md, the routines' checklists).
pub const CHECKLIST: [&str; 9] = [
    "Har användaren uppdrag eller behörighet som motiverar att läsa journalen (vårdrelation)?",
    "Tyder patientens namn på en privat koppling (samma efternamn, familj)?",
    "Har användaren läst sin egen, sin partners eller sina barns journal?",
    "Är patienten en känd person eller av medialt intresse?",
    "Är patienten känd för användaren: kollega, tidigare anställd, granne?",
    "Har patienten en diagnos av särskilt intresse?",
    "Skedde åtkomsten utanför användarens arbetstid eller schema?",
    "Bryter åtkomsten användarens vanliga mönster, frekvens eller rutin?",
    "Sesam 2: gäller åtkomsten användarens egen hjälpmedelslista?",
];

crate::text_enum! {
    /// - `stickprov`: A random sample's review (S1).
    /// - `riktad`: A targeted check by user or patient (S2).
    /// - `patient_request`: A patient's request for their log (S3).
    pub enum TaskKind {
        Stickprov = "stickprov", Riktad = "riktad", PatientRequest = "patient_request",
    }
}

impl TaskKind {
    pub fn label_sv(self) -> &'static str {
        match self {
            Self::Stickprov => "stickprov",
            Self::Riktad => "riktad kontroll",
            Self::PatientRequest => "begäran om loggutdrag",
        }
    }
}

crate::text_enum! {
    pub enum TaskState {
        Open = "open", Closed = "closed",
    }
}

/// The stored and shown word for a review's outcome.
pub fn outcome_str(o: ReviewOutcome) -> &'static str {
    match o {
        ReviewOutcome::UtanAnmarkning => "utan_anmarkning",
        ReviewOutcome::MedAnmarkning => "med_anmarkning",
    }
}

pub fn parse_outcome(raw: &str) -> Option<ReviewOutcome> {
    [ReviewOutcome::UtanAnmarkning, ReviewOutcome::MedAnmarkning]
        .into_iter()
        .find(|o| outcome_str(*o) == raw)
}

#[derive(Debug, Clone, Serialize)]
pub struct Task {
    pub id: i64,
    pub kind: TaskKind,
    pub draw_id: Option<i64>,
    pub check_id: Option<i64>,
    pub unit: UnitId,
    pub system: SystemId,
    pub month: Option<Month>,
    pub reviewer_name: String,
    pub reviewer_email: String,
    pub state: TaskState,
    pub created_at: DateTime<Utc>,
    pub remind_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub reminded_at: Option<DateTime<Utc>>,
    pub escalated_at: Option<DateTime<Utc>>,
    pub outcome: Option<ReviewOutcome>,
    pub comment: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<String>,
    pub write_back: Option<String>,
    pub users: i64,
    pub events: i64,
    pub flagged_events: i64,
    pub retain_until: Option<DateTime<Utc>>,
    pub rows_purged_at: Option<DateTime<Utc>>,
}

impl Task {
    /// The reference shown to people: in notices, on pages, in the source system's note.
    pub fn reference(&self) -> String {
        format!("G-{}", self.id)
    }

    /// Who reviews the task, to be told about it.
    pub fn reviewer(&self) -> Contact {
        Contact {
            name: self.reviewer_name.clone(),
            email: self.reviewer_email.clone(),
        }
    }

    /// Whether `who` (an e-mail address) is this task's reviewer.
    pub fn is_reviewer(&self, who: &str) -> bool {
        self.reviewer_email.eq_ignore_ascii_case(who.trim())
    }

    /// What the task is about, in Swedish: "stickprov 2027-05".
    pub fn about(&self) -> String {
        match &self.month {
            Some(m) => format!("{} {m}", self.kind.label_sv()),
            None => self.kind.label_sv().to_owned(),
        }
    }
}

/// A flag as stored with a row or a reviewed user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFlag {
    pub code: Code,
    pub reason: String,
}

impl From<Flag> for StoredFlag {
    fn from(f: Flag) -> Self {
        Self {
            code: f.code,
            reason: f.reason,
        }
    }
}

/// One reviewed user of a task: counts that outlive the rows, and user-level flags.
#[derive(Debug, Clone, Serialize)]
pub struct TaskUser {
    pub username: String,
    pub staff_id: Option<String>,
    pub events: i64,
    pub distinct_patients: i64,
    pub flags: Vec<StoredFlag>,
}

/// A stored row of a task's extract with its flags. Personal data: shown to the reviewer only.
#[derive(Debug, Clone, Serialize)]
pub struct TaskEvent {
    pub id: i64,
    #[serde(skip)]
    pub staff_id: Option<String>,
    /// The row in the connector's form, so the rules read it as they read a fresh import;
    /// `raw` stays in the store and is `None` here.
    #[serde(flatten)]
    pub event: AccessEvent,
    pub flags: Vec<StoredFlag>,
}

/// The stretch of a user's activity a task reviews, in local time: a stickprov's drawn day
/// (or hours), or a targeted check's period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewedPeriod {
    /// The sampled user; `None` for a check by patient, whose period covers every user.
    pub username: Option<String>,
    pub from: NaiveDateTime,
    pub to: NaiveDateTime,
}

impl ReviewedPeriod {
    /// In Swedish, as the reviewer reads it: "2027-04-12, hela dygnet" or
    /// "2027-04-12 08:00 – 16:00".
    pub fn describe_sv(&self) -> String {
        let midnight = |t: NaiveDateTime| t.time() == chrono::NaiveTime::MIN;
        let whole_days = midnight(self.from) && midnight(self.to);
        let days = (self.to.date() - self.from.date()).num_days();
        match (whole_days, days) {
            (true, 1) => format!("{}, hela dygnet", self.from.date()),
            (true, _) => format!(
                "{} – {}",
                self.from.date(),
                self.to.date() - chrono::TimeDelta::days(1)
            ),
            (false, 0) => format!(
                "{} {} – {}",
                self.from.date(),
                self.from.format("%H:%M"),
                self.to.format("%H:%M")
            ),
            (false, _) => format!(
                "{} – {}",
                self.from.format("%Y-%m-%d %H:%M"),
                self.to.format("%Y-%m-%d %H:%M")
            ),
        }
    }
}

/// The period of `username`'s reviewed activity among `periods`.
pub fn period_of<'a>(periods: &'a [ReviewedPeriod], username: &str) -> Option<&'a ReviewedPeriod> {
    periods.iter().find(|p| {
        p.username
            .as_deref()
            .is_none_or(|u| u.eq_ignore_ascii_case(username))
    })
}

/// A task about to be stored.
pub struct NewTask {
    pub kind: TaskKind,
    pub draw_id: Option<i64>,
    pub check_id: Option<i64>,
    pub unit: UnitId,
    pub system: SystemId,
    pub month: Option<Month>,
    pub reviewer: Contact,
    pub created_at: DateTime<Utc>,
    pub remind_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub rows: TaskRows,
}

/// What a task has counted of its rows so far: made again when a later part of its draw is
/// imported.
#[derive(Default)]
pub struct TaskRows {
    pub users: Vec<TaskUser>,
    pub events: i64,
    /// `(event id, flag)`.
    pub flags: Vec<(i64, StoredFlag)>,
    /// How many of the draw's orders were imported when these were counted.
    pub parts_in: i64,
}

/// A sampled user's log reviewed outside loggvakt: read on screen in the source system, on
/// paper, from a Cryptshare file or a message (issue 10).
#[derive(Debug, Clone, Serialize)]
pub struct OutsideReview {
    pub username: String,
    pub via: DeliveryVia,
    pub rows_seen: i64,
    /// Something to follow up: the task can then only be closed med anmärkning.
    pub remark: bool,
    /// The reviewer's words; may name what was seen, so never logged.
    pub note: String,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

/// Where one sampled user of a task stands.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Coverage {
    /// Their rows are in loggvakt.
    Rows,
    /// Reviewed outside loggvakt.
    Outside(OutsideReview),
    /// Not yet: their part of the draw is in this order state.
    Waiting {
        order: Option<i64>,
        order_state: Option<OrderState>,
    },
}

impl Coverage {
    pub fn is_reviewable(&self) -> bool {
        !matches!(self, Self::Waiting { .. })
    }

    pub fn label_sv(&self) -> String {
        match self {
            Self::Rows => "Loggrader i loggvakt".into(),
            Self::Outside(o) => format!("Granskad utanför loggvakt: {}", o.via.label_sv()),
            Self::Waiting {
                order_state: Some(s),
                ..
            } => format!("Saknas: {}", s.label_sv()),
            Self::Waiting { .. } => "Saknas".into(),
        }
    }
}

/// A sampled user and where they stand.
#[derive(Debug, Clone, Serialize)]
pub struct UserCoverage {
    pub username: String,
    /// The draw's part (order) the user is in.
    pub part: Option<i64>,
    pub coverage: Coverage,
}

/// The audit trail's name for a task.
pub fn task_object(id: i64) -> String {
    format!("task:{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period(from: &str, to: &str) -> String {
        ReviewedPeriod {
            username: None,
            from: from.parse().unwrap(),
            to: to.parse().unwrap(),
        }
        .describe_sv()
    }

    #[test]
    fn periods_read_as_days_or_hours() {
        let day = period("2027-04-12T00:00:00", "2027-04-13T00:00:00");
        assert_eq!(day, "2027-04-12, hela dygnet");
        let hours = period("2027-04-12T08:00:00", "2027-04-12T16:00:00");
        assert_eq!(hours, "2027-04-12 08:00 – 16:00");
        let days = period("2027-04-01T00:00:00", "2027-05-01T00:00:00");
        assert_eq!(days, "2027-04-01 – 2027-04-30");
        let night = period("2027-04-12T20:00:00", "2027-04-13T04:00:00");
        assert_eq!(night, "2027-04-12 20:00 – 2027-04-13 04:00");
    }
}
