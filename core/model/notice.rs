//! Notices to people about a task: assignment, reminder and escalation. Each is unique per
//! task, kind and recipient, and carries a link and no patient data.

use chrono::{DateTime, Utc};
use serde::Serialize;

crate::text_enum! {
    pub enum NoticeKind {
        Assigned = "assigned", Reminder = "reminder", Escalation = "escalation",
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
    pub task_id: i64,
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
