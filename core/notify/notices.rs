//! The notice stage of the tick: new tasks announced to their reviewer, reminders before the
//! deadline, escalations after it, and delivery of whatever is due. A notice is queued in the
//! same transaction that marks its task, so each is made once per task, kind and recipient.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

use super::{ASSIGNED, DELIVERY_OVERDUE, ESCALATION, Mail, MailError, Mailer, REMINDER, render};
use crate::clock::Clock;
use crate::ident::UnitId;
use crate::model::notice::{NoticeKind, NoticeState};
use crate::model::order::order_object;
use crate::model::org::{Contact, Organisation};
use crate::model::task::{CHECKLIST, Task, TaskState, task_object};
use crate::model::user::Role;
use crate::store::review::{NoticeAbout, TaskMark};
use crate::store::{Store, StoreError};

/// A failed notice is tried again after this long, up to `NOTICE_ATTEMPTS` times.
const NOTICE_RETRY: TimeDelta = TimeDelta::minutes(15);
const NOTICE_ATTEMPTS: u32 = 20;

/// The notice work, for one clock and actor.
pub struct Notices<'a> {
    pub store: &'a Store,
    pub org: &'a Organisation,
    pub clock: &'a Clock,
    pub actor: &'a str,
}

impl Notices<'_> {
    /// Queues the first notice of every open task whose reviewer has not been told yet.
    pub async fn announce(&self) -> Result<usize, StoreError> {
        let mut queued = 0;
        for task in self.store.tasks_unannounced().await? {
            let to = Contact {
                name: task.reviewer_name.clone(),
                email: task.reviewer_email.clone(),
            };
            let now = self.clock.now();
            // A part taken out by hand: the notice carries the work instruction.
            let instruction = crate::review::instruction(self.store, self.org, &task).await?;
            let (subject, body) =
                self.render(&task, NoticeKind::Assigned, &to, instruction.as_deref());
            let mut tx = self.store.begin_write(now, self.actor).await?;
            if tx
                .insert_notice(
                    NoticeAbout::Task(task.id),
                    NoticeKind::Assigned,
                    &to.email,
                    &subject,
                    &body,
                    now,
                )
                .await?
                .is_some()
            {
                queued += 1;
            }
            tx.commit().await?;
        }
        Ok(queued)
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
                // A unit gone from the configuration still has its overdue work escalated.
                let to = match self.org.unit(task.unit.as_str()) {
                    Some(u) => self.org.escalation_contact(&u.id),
                    None => self.org.fallback_escalation(),
                }
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

    /// A notice for every order flagged overdue, to whoever ordered it (the orderer stored
    /// with the order; for older orders the unit's orderer as configured now) and to the
    /// administrators, once per order and recipient. Returns how many were queued.
    pub async fn overdue_deliveries(&self) -> Result<usize, StoreError> {
        let orders = self.store.overdue_orders_untold().await?;
        if orders.is_empty() {
            return Ok(0);
        }
        let admins: Vec<Contact> = self
            .store
            .users()
            .await?
            .into_iter()
            .filter(|u| u.role == Role::Admin && !u.disabled && u.email.contains('@'))
            .map(|u| Contact {
                name: u.name,
                email: u.email,
            })
            .collect();
        let mut queued = 0;
        for order in orders {
            let unit = self.org.unit(&order.unit);
            let stored = self.store.order(order.id).await?;
            let orderer = stored
                .and_then(|o| o.request.orderer)
                .or_else(|| {
                    let id = UnitId::new(&order.unit).ok()?;
                    self.org.orderer(&id, &order.system)
                })
                .map(|o| Contact {
                    name: o.name,
                    email: o.email,
                });
            let mut to: Vec<&Contact> = orderer.iter().collect();
            for admin in &admins {
                if !to
                    .iter()
                    .any(|c| c.email.eq_ignore_ascii_case(&admin.email))
                {
                    to.push(admin);
                }
            }
            let now = self.clock.now();
            let data = |recipient: &str| {
                json!({
                    "recipient": recipient,
                    "reference": order.reference,
                    "unit": unit.map_or(order.unit.as_str(), |u| u.name.as_str()),
                    "system": order.system,
                    "deliver_by": order.deliver_by.map_or("-".to_owned(), |t| crate::calendar::local_date(t).to_string()),
                    "link": format!("{}/admin/bestallningar", self.org.notify.base_url),
                    "organisation": self.org.name,
                })
            };
            let subject = format!("Försenat loggutdrag: {}", order.reference);
            let mut tx = self.store.begin_write(now, self.actor).await?;
            for c in &to {
                let body = render(DELIVERY_OVERDUE, &data(&c.name));
                let kind = NoticeKind::DeliveryOverdue;
                if tx
                    .insert_notice(
                        NoticeAbout::Order(order.id),
                        kind,
                        &c.email,
                        &subject,
                        &body,
                        now,
                    )
                    .await?
                    .is_some()
                {
                    queued += 1;
                }
            }
            let emails: Vec<&str> = to.iter().map(|c| c.email.as_str()).collect();
            tx.commit_audited(
                "order.overdue_notified",
                &order_object(order.id),
                json!({"to": emails}),
            )
            .await?;
        }
        Ok(queued)
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
            NoticeKind::Assigned | NoticeKind::DeliveryOverdue => {
                unreachable!("made with the task, or about an order")
            }
        };
        let mut tx = self.store.begin_write(now, self.actor).await?;
        if !tx.mark_task(task.id, mark, now).await? {
            return Ok(false);
        }
        let (subject, body) = self.render(task, kind, to, None);
        tx.insert_notice(
            NoticeAbout::Task(task.id),
            kind,
            &to.email,
            &subject,
            &body,
            now,
        )
        .await?;
        tx.commit_audited(
            action,
            &task_object(task.id),
            json!({"to": to.email, "deadline": crate::store::ts(task.deadline)}),
        )
        .await?;
        Ok(true)
    }

    /// Sends the notices that are due. Delivery is at least once: a notice whose sending
    /// was cut off is sent again, which a manager can bear (orders, unlike notices, are
    /// never sent twice).
    pub async fn deliver(&self, mailer: &dyn Mailer) -> Result<(usize, usize), StoreError> {
        let (mut sent, mut failed) = (0, 0);
        for notice in self.store.notices_due(self.clock.now()).await? {
            let mail = Mail {
                key: format!("loggvakt-notice-{}-{}", notice.id, notice.kind.as_str()),
                date: self.clock.now(),
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
                        json!({"task": notice.task_id, "order": notice.order_id, "kind": notice.kind.as_str(), "to": notice.recipient, "via": mailer.describe()}),
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
                            json!({"task": notice.task_id, "order": notice.order_id, "kind": notice.kind.as_str(), "reason": message}),
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

    fn render(
        &self,
        task: &Task,
        kind: NoticeKind,
        to: &Contact,
        instruction: Option<&str>,
    ) -> (String, String) {
        let unit = self
            .org
            .unit(task.unit.as_str())
            .map_or_else(|| task.unit.to_string(), |u| u.name.clone());
        let escalate_to = self
            .org
            .unit(task.unit.as_str())
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
            "instruction": instruction,
        });
        let (template, subject) = match kind {
            NoticeKind::Assigned => (
                ASSIGNED,
                format!("Ny loggkontroll att granska: {unit}, {}", task.about()),
            ),
            NoticeKind::Reminder => (
                REMINDER,
                format!(
                    "Påminnelse: loggkontroll {} senast {}",
                    task.reference(),
                    local(task.deadline)
                ),
            ),
            NoticeKind::Escalation => (
                ESCALATION,
                format!("Försenad loggkontroll: {unit}, {}", task.about()),
            ),
            NoticeKind::DeliveryOverdue => unreachable!("about an order, not a task"),
        };
        (subject, render(template, &data))
    }
}
