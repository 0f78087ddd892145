//! Notices to people about a task (assignment, reminder, escalation) or an order (its
//! delivery is overdue). Each is unique per task or order, kind and recipient, and carries
//! a link and no patient data.

use chrono::{DateTime, Utc};
use serde::Serialize;

crate::text_enum! {
    pub enum NoticeKind {
        Assigned = "assigned", Reminder = "reminder", Escalation = "escalation",
        DeliveryOverdue = "delivery_overdue", CaseChiefInformed = "case_chief_informed",
        CaseDecided = "case_decided",
    }
}

crate::text_enum! {
    pub enum NoticeState {
        Pending = "pending", Sent = "sent", Failed = "failed",
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Notice {
    pub id: i64,
    /// The task it is about, or `None` for a notice about an order.
    pub task_id: Option<i64>,
    pub order_id: Option<i64>,
    pub kind: NoticeKind,
    pub recipient: String,
    pub subject: String,
    #[serde(skip)]
    pub body: String,
    pub state: NoticeState,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}
