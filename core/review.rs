//! Review tasks (DESIGN.md §7): made when a draw's (or a targeted check's) extracts are all
//! in, with every row run through the rules; handed to the unit's manager by notice;
//! reminded before the deadline and escalated after it; closed with an outcome that is
//! written back to the source system where it can be, and that opens a case when there was
//! a remark.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use loggvakt_connector::{
    AccessEvent, Action, Period, Personnummer, ReviewOutcome, Subject, UserRef, WriteBack,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::cases;
use crate::clock::Clock;
use crate::connectors::Connectors;
use crate::ident::StaffId;
use crate::notify::{self, Mail, MailError, Mailer};
use crate::org::{Contact, Organisation};
use crate::rules::{Code, Rules};
use crate::store::review::TaskMark;
use crate::store::{Store, StoreError};

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

/// Rows of a task closed without remark are purged this long after closing (the next
/// retention run); the fact of the check, its outcome and its counts stay.
const UTAN_RETENTION: TimeDelta = TimeDelta::zero();
/// Deadline of a targeted check or patient request without a routine.
const CHECK_DEADLINE_DAYS: i64 = 14;
/// A failed notice is tried again after this long, up to `NOTICE_ATTEMPTS` times.
const NOTICE_RETRY: TimeDelta = TimeDelta::minutes(15);
const NOTICE_ATTEMPTS: u32 = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// A random sample's review (S1).
    Stickprov,
    /// A targeted check by user or patient (S2).
    Riktad,
    /// A patient's request for their log (S3).
    PatientRequest,
}

impl TaskKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stickprov => "stickprov",
            Self::Riktad => "riktad",
            Self::PatientRequest => "patient_request",
        }
    }
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Stickprov, Self::Riktad, Self::PatientRequest]
            .into_iter()
            .find(|k| k.as_str() == raw)
    }
    pub fn label_sv(self) -> &'static str {
        match self {
            Self::Stickprov => "stickprov",
            Self::Riktad => "riktad kontroll",
            Self::PatientRequest => "begäran om loggutdrag",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Open,
    Closed,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
        }
    }
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "open" => Some(Self::Open),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }
}

pub fn outcome_str(o: ReviewOutcome) -> &'static str {
    match o {
        ReviewOutcome::UtanAnmarkning => "utan_anmarkning",
        ReviewOutcome::MedAnmarkning => "med_anmarkning",
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Task {
    pub id: i64,
    pub kind: TaskKind,
    pub draw_id: Option<i64>,
    pub check_id: Option<i64>,
    pub unit: String,
    pub system: String,
    pub month: Option<String>,
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

    /// Whether `who` (an e-mail address) is this task's reviewer.
    pub fn is_reviewer(&self, who: &str) -> bool {
        self.reviewer_email.eq_ignore_ascii_case(who.trim())
    }

    fn about(&self) -> String {
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

impl From<crate::rules::Flag> for StoredFlag {
    fn from(f: crate::rules::Flag) -> Self {
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
    pub time: String,
    pub system: String,
    pub user_id: String,
    pub user_name: Option<String>,
    pub patient_id: String,
    pub patient_name: Option<String>,
    pub care_unit: Option<String>,
    pub action: String,
    pub event_text: String,
    pub system_part: Option<String>,
    pub protected_identity: bool,
    pub flags: Vec<StoredFlag>,
}

impl TaskEvent {
    /// Back to the connector's form, for the rules; `None` for a row that no longer parses
    /// (it was checked on import, so only a hand-edited database gets here).
    fn as_access_event(&self) -> Option<AccessEvent> {
        Some(AccessEvent {
            time: NaiveDateTime::parse_from_str(&self.time, "%Y-%m-%dT%H:%M:%S").ok()?,
            system: self.system.clone(),
            user_id: self.user_id.clone(),
            user_name: self.user_name.clone(),
            patient_id: Personnummer::parse(&self.patient_id).ok()?,
            patient_name: self.patient_name.clone(),
            care_unit: self.care_unit.clone(),
            action: Action::parse(&self.action).unwrap_or(Action::Other),
            event_text: self.event_text.clone(),
            system_part: self.system_part.clone(),
            raw: None,
            protected_identity: self.protected_identity,
        })
    }
}

/// A task about to be stored.
pub struct NewTask {
    pub kind: TaskKind,
    pub draw_id: Option<i64>,
    pub check_id: Option<i64>,
    pub unit: String,
    pub system: String,
    pub month: Option<String>,
    pub reviewer: Contact,
    pub created_at: DateTime<Utc>,
    pub remind_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub users: Vec<TaskUser>,
    pub events: i64,
    /// `(event id, flag)`.
    pub flags: Vec<(i64, StoredFlag)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    Assigned,
    Reminder,
    Escalation,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Assigned => "assigned",
            Self::Reminder => "reminder",
            Self::Escalation => "escalation",
        }
    }
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Assigned, Self::Reminder, Self::Escalation]
            .into_iter()
            .find(|k| k.as_str() == raw)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeState {
    Pending,
    Sent,
    Failed,
}

impl NoticeState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::Sent, Self::Failed]
            .into_iter()
            .find(|k| k.as_str() == raw)
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

pub fn task_object(id: i64) -> String {
    format!("task:{id}")
}

/// What one pass of the review work did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReviewReport {
    pub tasks_created: usize,
    pub reminders: usize,
    pub escalations: usize,
    pub notices_sent: usize,
    pub notices_failed: usize,
    pub write_backs: usize,
    pub rows_purged: u64,
    pub tasks_purged: usize,
    pub checks_created: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("there is no review task {0}")]
    NoSuchTask(i64),
    #[error("review task {id} is already closed ({outcome})")]
    Closed { id: i64, outcome: String },
    #[error(
        "an outcome med_anmarkning needs a comment that says what was found (--comment \"...\")"
    )]
    CommentRequired,
    #[error("{who} is not the reviewer of task {id}; only its reviewer ({reviewer}) may close it")]
    NotReviewer {
        id: i64,
        who: String,
        reviewer: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The review work, for one clock and actor.
pub struct Review<'a> {
    pub store: &'a Store,
    pub org: &'a Organisation,
    pub rules: &'a Rules,
    pub clock: &'a Clock,
    pub actor: &'a str,
}

impl Review<'_> {
    /// Everything the tick does for reviews: tasks for complete extracts, reminders and
    /// escalations, notices, write-backs and retention.
    pub async fn tick(&self, connectors: &Connectors) -> Result<ReviewReport, StoreError> {
        let mut report = ReviewReport {
            checks_created: crate::checks::schedule_protected(
                self.store, self.org, self.clock, self.actor,
            )
            .await?,
            ..ReviewReport::default()
        };
        report.tasks_created = self.make_tasks().await?;
        let (reminders, escalations) = self.follow_up().await?;
        report.reminders = reminders;
        report.escalations = escalations;
        match notify::mailer(&self.org.notify) {
            Ok(mailer) => {
                let (sent, failed) = self.deliver_notices(mailer.as_ref()).await?;
                report.notices_sent = sent;
                report.notices_failed = failed;
            }
            Err(e) => tracing::error!("notices cannot be sent: {e}"),
        }
        report.write_backs = self.write_backs(connectors).await?;
        let (tasks, rows) = crate::retention::purge(self.store, self.clock, self.actor).await?;
        report.tasks_purged = tasks;
        report.rows_purged = rows;
        Ok(report)
    }

    /// Makes a task for every draw and check whose extracts are all in.
    pub async fn make_tasks(&self) -> Result<usize, StoreError> {
        let mut created = 0;
        for draw_id in self.store.draws_ready_for_review().await? {
            let Some(draw) = self.store.draw(draw_id).await? else {
                continue;
            };
            let deadline_days = self
                .org
                .routine(draw.routine.as_str())
                .map_or(CHECK_DEADLINE_DAYS, |r| i64::from(r.deadline_days));
            let usernames: Vec<(String, Option<String>)> = draw
                .selected
                .iter()
                .map(|s| (s.username.clone(), Some(s.staff_id.to_string())))
                .collect();
            if self
                .make_task(
                    TaskKind::Stickprov,
                    Some(draw_id),
                    None,
                    draw.unit.as_str(),
                    draw.system.as_str(),
                    Some(draw.month.to_string()),
                    deadline_days,
                    &usernames,
                )
                .await?
            {
                created += 1;
            }
        }
        for check_id in self.store.checks_ready_for_review().await? {
            let Some(check) = self.store.check(check_id).await? else {
                continue;
            };
            let kind = if check.kind == crate::checks::CheckKind::PatientRequest {
                TaskKind::PatientRequest
            } else {
                TaskKind::Riktad
            };
            if self
                .make_task(
                    kind,
                    None,
                    Some(check_id),
                    &check.unit,
                    &check.system,
                    check.month.clone(),
                    CHECK_DEADLINE_DAYS,
                    &[],
                )
                .await?
            {
                created += 1;
            }
        }
        Ok(created)
    }

    /// Runs the rules over the stored rows and stores the task with its first notice.
    #[allow(clippy::too_many_arguments)]
    async fn make_task(
        &self,
        kind: TaskKind,
        draw_id: Option<i64>,
        check_id: Option<i64>,
        unit: &str,
        system: &str,
        month: Option<String>,
        deadline_days: i64,
        sampled: &[(String, Option<String>)],
    ) -> Result<bool, StoreError> {
        let Some(reviewer) = self.org.unit(unit).map(|u| u.manager.clone()) else {
            tracing::warn!(unit, "no such unit in the configuration; its task waits");
            return Ok(false);
        };
        let events = self.store.events_of(draw_id, check_id).await?;
        let mut flags = Vec::new();
        // Every sampled user gets a line, also one who opened no record that day.
        let mut users: BTreeMap<String, (Option<String>, i64, HashSet<&str>)> = sampled
            .iter()
            .map(|(u, s)| (u.to_lowercase(), (s.clone(), 0, HashSet::new())))
            .collect();
        let mut display: BTreeMap<String, String> = sampled
            .iter()
            .map(|(u, _)| (u.to_lowercase(), u.clone()))
            .collect();
        let mut flagged = HashSet::new();
        for e in &events {
            let key = e.user_id.to_lowercase();
            display
                .entry(key.clone())
                .or_insert_with(|| e.user_id.clone());
            let entry = users
                .entry(key)
                .or_insert_with(|| (e.staff_id.clone(), 0, HashSet::new()));
            entry.1 += 1;
            entry.2.insert(e.patient_id.as_str());
            let Some(access) = e.as_access_event() else {
                continue;
            };
            let staff = e.staff_id.as_deref().and_then(|s| StaffId::new(s).ok());
            for f in self.rules.check(&access, staff.as_ref()) {
                flagged.insert(e.id);
                flags.push((e.id, StoredFlag::from(f)));
            }
        }
        let peers: Vec<usize> = users.values().map(|u| u.2.len()).collect();
        let mut task_users = Vec::new();
        for (key, (staff_id, n, patients)) in &users {
            let username = display.get(key).cloned().unwrap_or_else(|| key.clone());
            let mut baseline: Vec<usize> = self
                .store
                .user_history(&username, system, i64::MAX)
                .await?
                .into_iter()
                .map(|n| n as usize)
                .collect();
            if baseline.is_empty() {
                // No history yet: compare with the others reviewed in the same task.
                let own = patients.len();
                let mut skipped = false;
                baseline = peers
                    .iter()
                    .copied()
                    .filter(|&p| {
                        let same = p == own && !skipped;
                        skipped |= same;
                        !same
                    })
                    .collect();
            }
            let user_flags: Vec<StoredFlag> = self
                .rules
                .volume_spike(patients.len(), &baseline)
                .into_iter()
                .map(StoredFlag::from)
                .collect();
            task_users.push(TaskUser {
                username,
                staff_id: staff_id.clone(),
                events: *n,
                distinct_patients: patients.len() as i64,
                flags: user_flags,
            });
        }
        let now = self.clock.now();
        let deadline = now + TimeDelta::days(deadline_days);
        let remind_at =
            (deadline - TimeDelta::days(i64::from(self.org.notify.remind_days_before))).max(now);
        let new = NewTask {
            kind,
            draw_id,
            check_id,
            unit: unit.to_owned(),
            system: system.to_owned(),
            month,
            reviewer: reviewer.clone(),
            created_at: now,
            remind_at,
            deadline,
            users: task_users,
            events: events.len() as i64,
            flags,
        };
        let mut tx = self.store.begin_write(now, self.actor).await?;
        let Some(id) = tx.insert_task(&new).await? else {
            return Ok(false);
        };
        tx.audit(
            "review.task_created",
            &task_object(id),
            json!({
                "kind": kind.as_str(), "draw": draw_id, "check": check_id, "unit": unit,
                "system": system, "reviewer": reviewer.email, "users": new.users.len(),
                "events": new.events, "flagged_events": flagged.len(),
                "deadline": crate::store::ts(deadline),
            }),
        )
        .await?;
        let task = Task {
            id,
            kind,
            draw_id,
            check_id,
            unit: unit.to_owned(),
            system: system.to_owned(),
            month: new.month.clone(),
            reviewer_name: reviewer.name.clone(),
            reviewer_email: reviewer.email.clone(),
            state: TaskState::Open,
            created_at: now,
            remind_at,
            deadline,
            reminded_at: None,
            escalated_at: None,
            outcome: None,
            comment: None,
            closed_at: None,
            closed_by: None,
            write_back: None,
            users: new.users.len() as i64,
            events: new.events,
            flagged_events: flagged.len() as i64,
            retain_until: None,
            rows_purged_at: None,
        };
        let (subject, body) = self.render(&task, NoticeKind::Assigned, &reviewer);
        tx.insert_notice(
            id,
            NoticeKind::Assigned,
            &reviewer.email,
            &subject,
            &body,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    fn render(&self, task: &Task, kind: NoticeKind, to: &Contact) -> (String, String) {
        let h = notify::templates();
        let unit = self
            .org
            .unit(&task.unit)
            .map_or(task.unit.clone(), |u| u.name.clone());
        let escalate_to = self
            .org
            .unit(&task.unit)
            .and_then(|u| self.org.escalation_contact(&u.id))
            .map_or("verksamhetschefen".to_owned(), |c| c.name.clone());
        let local = |t: DateTime<Utc>| crate::calendar::local_date(t).to_string();
        let data = json!({
            "reviewer": task.reviewer_name,
            "reviewer_email": task.reviewer_email,
            "recipient": to.name,
            "task_ref": task.reference(),
            "unit": unit,
            "system": task.system,
            "about": task.about(),
            "users": task.users,
            "events": task.events,
            "flagged": task.flagged_events,
            "deadline": local(task.deadline),
            "created": local(task.created_at),
            "reminded": task.reminded_at.map_or("ingen".to_owned(), local),
            "link": format!("{}/granskningar/{}", self.org.notify.base_url, task.id),
            "checklist": CHECKLIST,
            "organisation": self.org.name,
            "escalate_to": escalate_to,
        });
        let (template, subject) = match kind {
            NoticeKind::Assigned => (
                notify::ASSIGNED,
                format!("Ny loggkontroll att granska: {unit}, {}", task.about()),
            ),
            NoticeKind::Reminder => (
                notify::REMINDER,
                format!(
                    "Påminnelse: loggkontroll {} senast {}",
                    task.reference(),
                    local(task.deadline)
                ),
            ),
            NoticeKind::Escalation => (
                notify::ESCALATION,
                format!("Försenad loggkontroll: {unit}, {}", task.about()),
            ),
        };
        (subject, notify::render(&h, template, &data))
    }

    /// Reminders for open tasks past their reminder date, escalations for those past their
    /// deadline; each at most once per task.
    pub async fn follow_up(&self) -> Result<(usize, usize), StoreError> {
        let now = self.clock.now();
        let (mut reminders, mut escalations) = (0, 0);
        for task in self.store.tasks(Some(TaskState::Open)).await? {
            if task.reminded_at.is_none() && now >= task.remind_at && now <= task.deadline {
                let to = Contact {
                    name: task.reviewer_name.clone(),
                    email: task.reviewer_email.clone(),
                };
                if self.notice_once(&task, NoticeKind::Reminder, &to).await? {
                    reminders += 1;
                }
            }
            if task.escalated_at.is_none() && now > task.deadline {
                let to = self
                    .org
                    .unit(&task.unit)
                    .and_then(|u| self.org.escalation_contact(&u.id))
                    .cloned();
                if let Some(to) = to
                    && self.notice_once(&task, NoticeKind::Escalation, &to).await?
                {
                    escalations += 1;
                }
            }
        }
        Ok((reminders, escalations))
    }

    /// Marks the task reminded or escalated and queues the notice, in one transaction; false
    /// when another instance did it first.
    async fn notice_once(
        &self,
        task: &Task,
        kind: NoticeKind,
        to: &Contact,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let (mark, action) = match kind {
            NoticeKind::Reminder => (TaskMark::Reminded, "review.reminded"),
            NoticeKind::Escalation => (TaskMark::Escalated, "review.escalated"),
            NoticeKind::Assigned => unreachable!("the first notice is made with the task"),
        };
        let mut tx = self.store.begin_write(now, self.actor).await?;
        if !tx.mark_task(task.id, mark, now).await? {
            return Ok(false);
        }
        let (subject, body) = self.render(task, kind, to);
        tx.insert_notice(task.id, kind, &to.email, &subject, &body, now)
            .await?;
        tx.audit(
            action,
            &task_object(task.id),
            json!({"to": to.email, "deadline": crate::store::ts(task.deadline)}),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Sends the notices that are due. Delivery is at least once: a notice whose sending
    /// was cut off is sent again, which a manager can bear (orders, unlike notices, are
    /// never sent twice).
    pub async fn deliver_notices(&self, mailer: &dyn Mailer) -> Result<(usize, usize), StoreError> {
        let (mut sent, mut failed) = (0, 0);
        for notice in self.store.notices_due(self.clock.now()).await? {
            let mail = Mail {
                key: format!("loggvakt-notice-{}-{}", notice.id, notice.kind.as_str()),
                from: self.org.notify.from.clone(),
                to: notice.recipient.clone(),
                subject: notice.subject.clone(),
                body: notice.body.clone(),
            };
            let result = mailer.send(&mail).await;
            let now = self.clock.now();
            let mut tx = self.store.begin_write(now, self.actor).await?;
            match result {
                Ok(()) => {
                    tx.notice_attempted(notice.id, NoticeState::Sent, None, now, now)
                        .await?;
                    tx.audit(
                        "notice.sent",
                        &format!("notice:{}", notice.id),
                        json!({"task": notice.task_id, "kind": notice.kind.as_str(), "to": notice.recipient, "via": mailer.describe()}),
                    )
                    .await?;
                    sent += 1;
                }
                Err(e) => {
                    let give_up = matches!(e, MailError::Permanent(_))
                        || notice.attempts + 1 >= NOTICE_ATTEMPTS;
                    let state = if give_up {
                        NoticeState::Failed
                    } else {
                        NoticeState::Pending
                    };
                    let message = e.to_string();
                    tracing::warn!(notice = notice.id, "notice not sent: {message}");
                    tx.notice_attempted(notice.id, state, Some(&message), now + NOTICE_RETRY, now)
                        .await?;
                    if give_up {
                        tx.audit(
                            "notice.failed",
                            &format!("notice:{}", notice.id),
                            json!({"task": notice.task_id, "kind": notice.kind.as_str(), "reason": message}),
                        )
                        .await?;
                        failed += 1;
                    }
                }
            }
            tx.commit().await?;
        }
        Ok((sent, failed))
    }

    /// Closes a task with its outcome. `by` is who closed it (an e-mail address when it is
    /// the reviewer); `as_reviewer` demands that `by` is the task's reviewer (the web), while
    /// the command line acts as the administrator. A remark opens a case.
    pub async fn complete(
        &self,
        id: i64,
        outcome: ReviewOutcome,
        comment: Option<&str>,
        by: &str,
        as_reviewer: bool,
        connectors: &Connectors,
    ) -> Result<Completion, ReviewError> {
        let comment = comment.map(str::trim).filter(|c| !c.is_empty());
        if outcome == ReviewOutcome::MedAnmarkning && comment.is_none() {
            return Err(ReviewError::CommentRequired);
        }
        let task = self
            .store
            .task(id)
            .await?
            .ok_or(ReviewError::NoSuchTask(id))?;
        if let Some(o) = task.outcome.filter(|_| task.state == TaskState::Closed) {
            return Err(ReviewError::Closed {
                id,
                outcome: outcome_str(o).into(),
            });
        }
        if as_reviewer && !task.is_reviewer(by) {
            return Err(ReviewError::NotReviewer {
                id,
                who: by.to_owned(),
                reviewer: task.reviewer_email.clone(),
            });
        }
        let now = self.clock.now();
        let write_back = self.can_write_back(&task, connectors).then_some("pending");
        // Rows of a check without remark go at the next retention run; a remark keeps
        // them with the case until ten years after its decision; a patient's request keeps
        // them until the extract has been dispatched to the patient.
        let retain_until = match (outcome, task.kind) {
            (ReviewOutcome::MedAnmarkning, _) => None,
            (_, TaskKind::PatientRequest) => None,
            (ReviewOutcome::UtanAnmarkning, _) => Some(now + UTAN_RETENTION),
        };
        let mut tx = self.store.begin_write(now, self.actor).await?;
        if !tx
            .close_task(id, outcome, comment, by, now, write_back, retain_until)
            .await?
        {
            return Err(ReviewError::Closed {
                id,
                outcome: "by someone else just now".into(),
            });
        }
        tx.audit(
            "review.completed",
            &task_object(id),
            json!({"outcome": outcome_str(outcome), "by": by, "commented": comment.is_some()}),
        )
        .await?;
        let case = if outcome == ReviewOutcome::MedAnmarkning {
            Some(cases::open_in(&mut tx, &task, comment.unwrap_or_default(), by, now).await?)
        } else {
            None
        };
        tx.commit().await?;
        let write_back = if write_back.is_some() {
            Some(self.write_back(id, connectors).await?)
        } else {
            None
        };
        Ok(Completion {
            task: id,
            outcome,
            case,
            write_back,
        })
    }

    fn can_write_back(&self, task: &Task, connectors: &Connectors) -> bool {
        task.draw_id.is_some()
            && connectors
                .get(&task.system)
                .is_ok_and(|c| c.manifest().capabilities.write_back)
    }

    /// Retries the write-backs still pending.
    pub async fn write_backs(&self, connectors: &Connectors) -> Result<usize, StoreError> {
        let mut done = 0;
        for task in self.store.tasks(Some(TaskState::Closed)).await? {
            if task.write_back.as_deref() == Some("pending")
                && self.write_back(task.id, connectors).await? == "done"
            {
                done += 1;
            }
        }
        Ok(done)
    }

    /// Records the outcome in the source system (a Lifecare note) and what that gave:
    /// `done`, `pending` (will be retried) or `failed: …`.
    async fn write_back(&self, id: i64, connectors: &Connectors) -> Result<String, StoreError> {
        let Some(task) = self.store.task(id).await? else {
            return Ok("failed: the task vanished".into());
        };
        let (Some(draw_id), Some(outcome)) = (task.draw_id, task.outcome) else {
            return Ok("failed: nothing to write back".into());
        };
        let Ok(connector) = connectors.get(&task.system) else {
            return Ok("pending".into());
        };
        let Some(draw) = self.store.draw(draw_id).await? else {
            return Ok("failed: the draw vanished".into());
        };
        let users: Vec<UserRef> = draw
            .selected
            .iter()
            .map(|s| UserRef {
                username: s.username.clone(),
                name: None,
                period: Some(Period {
                    from: s.review_from.naive_local(),
                    to: s.review_to.naive_local(),
                }),
            })
            .collect();
        let (Some(from), Some(to)) = (
            users.iter().filter_map(|u| u.period).map(|p| p.from).min(),
            users.iter().filter_map(|u| u.period).map(|p| p.to).max(),
        ) else {
            return Ok("failed: nothing to write back".into());
        };
        let wb = WriteBack {
            // Per draw and seed, so a retry after a lost answer is recognised by the peer.
            idempotency_key: format!("lv-wb-{}-{}", draw.id, &draw.seed.to_hex()[..12]),
            reference: format!("LV-{}-{}", draw.month, draw.id),
            subject: Subject::Users(users),
            period: Period { from, to },
            outcome,
            comment: task.comment.clone(),
        };
        let state = match connector.write_back(&wb).await {
            Ok(()) => "done".to_owned(),
            Err(e) if e.is_retryable() => {
                tracing::warn!(task = id, "write-back will be retried: {e}");
                "pending".to_owned()
            }
            Err(e) => format!("failed: {e}"),
        };
        let now = self.clock.now();
        let mut tx = self.store.begin_write(now, self.actor).await?;
        tx.set_write_back(id, &state).await?;
        if state != "pending" {
            tx.audit(
                "review.written_back",
                &task_object(id),
                json!({"system": task.system, "result": state}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(state)
    }
}

/// What closing a task did.
#[derive(Debug, Clone, Serialize)]
pub struct Completion {
    pub task: i64,
    pub outcome: ReviewOutcome,
    pub case: Option<i64>,
    pub write_back: Option<String>,
}
