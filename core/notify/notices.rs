//! The notice stage of the tick: new tasks announced to their reviewer, reminders before the
//! deadline, escalations after it, and delivery of whatever is due. A notice is queued in the
//! same transaction that marks its task, so each is made once per task, kind and recipient.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

use super::{ASSIGNED, DELIVERY_OVERDUE, ESCALATION, Mail, MailError, Mailer, REMINDER, render};
use crate::ident::UnitId;
use crate::model::notice::{NoticeKind, NoticeState};
use crate::model::order::order_object;
use crate::model::org::Contact;
use crate::model::task::{CHECKLIST, Task, TaskState, task_object};
use crate::model::user::Role;
use crate::stage::Stage;
use crate::store::StoreError;
use crate::store::review::{NoticeAbout, TaskMark};

/// A failed notice is tried again after this long, up to `NOTICE_ATTEMPTS` times.
const NOTICE_RETRY: TimeDelta = TimeDelta::minutes(15);
const NOTICE_ATTEMPTS: u32 = 20;

/// The notice work, in one stage context.
pub struct Notices<'a> {
    pub cx: Stage<'a>,
}

impl Notices<'_> {
    /// Queues the first notice of every open task whose reviewer has not been told yet.
    pub async fn announce(&self) -> Result<usize, StoreError> {
        let (store, org, clock, actor) = (self.cx.store, self.cx.org, self.cx.clock, self.cx.actor);
        let mut queued = 0;
        for task in store.tasks_unannounced().await? {
            let to = task.reviewer();
            let now = clock.now();
            // A part taken out by hand: the notice carries the work instruction.
            let instruction = crate::review::instruction(store, org, &task).await?;
            let (subject, body) =
                self.render(&task, NoticeKind::Assigned, &to, instruction.as_deref());
            let mut tx = store.begin_write(now, actor).await?;
            if tx
                .insert_notice(
                    NoticeAbout::Task(task.id),
                    NoticeKind::Assigned,
                    &to.email,
                    &subject,
                    &body,
                )
                .await?
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
        let (store, org, clock) = (self.cx.store, self.cx.org, self.cx.clock);
        let now = clock.now();
        let (mut reminders, mut escalations) = (0, 0);
        for task in store.tasks(Some(TaskState::Open)).await? {
            if task.reminded_at.is_none()
                && now >= task.remind_at
                && now <= task.deadline
                && self
                    .notice_once(&task, NoticeKind::Reminder, &task.reviewer())
                    .await?
            {
                reminders += 1;
            }
            if task.escalated_at.is_none() && now > task.deadline {
                // A unit gone from the configuration still has its overdue work escalated.
                let to = match org.unit(task.unit.as_str()) {
                    Some(u) => org.escalation_contact(&u.id),
                    None => org.fallback_escalation(),
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
        let (store, org, clock, actor) = (self.cx.store, self.cx.org, self.cx.clock, self.cx.actor);
        let orders = store.overdue_orders_untold().await?;
        if orders.is_empty() {
            return Ok(0);
        }
        let admins: Vec<Contact> = store
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
            let unit = org.unit(&order.unit);
            let stored = store.order(order.id).await?;
            let orderer = stored
                .and_then(|o| o.request.orderer)
                .or_else(|| {
                    let id = UnitId::new(&order.unit).ok()?;
                    org.orderer(&id, &order.system)
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
            let now = clock.now();
            let data = |recipient: &str| {
                json!({
                    "recipient": recipient,
                    "reference": order.reference,
                    "unit": unit.map_or(order.unit.as_str(), |u| u.name.as_str()),
                    "system": order.system,
                    "deliver_by": order.deliver_by.map_or("-".to_owned(), |t| crate::calendar::local_date(t).to_string()),
                    "link": format!("{}/admin/bestallningar", org.notify.base_url),
                    "organisation": org.name,
                })
            };
            let subject = format!("Försenat loggutdrag: {}", order.reference);
            let mut tx = store.begin_write(now, actor).await?;
            let (about, kind) = (NoticeAbout::Order(order.id), NoticeKind::DeliveryOverdue);
            for c in &to {
                let body = render(DELIVERY_OVERDUE, &data(&c.name));
                if tx
                    .insert_notice(about, kind, &c.email, &subject, &body)
                    .await?
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
        let (store, clock, actor) = (self.cx.store, self.cx.clock, self.cx.actor);
        let now = clock.now();
        let (mark, action) = match kind {
            NoticeKind::Reminder => (TaskMark::Reminded, "review.reminded"),
            NoticeKind::Escalation => (TaskMark::Escalated, "review.escalated"),
            NoticeKind::Assigned
            | NoticeKind::DeliveryOverdue
            | NoticeKind::CaseChiefInformed
            | NoticeKind::CaseDecided => {
                unreachable!("made with the task or the case's step, or about an order")
            }
        };
        let mut tx = store.begin_write(now, actor).await?;
        if !tx.mark_task(task.id, mark, now).await? {
            return Ok(false);
        }
        let (subject, body) = self.render(task, kind, to, None);
        tx.insert_notice(NoticeAbout::Task(task.id), kind, &to.email, &subject, &body)
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
        let (store, org, clock, actor) = (self.cx.store, self.cx.org, self.cx.clock, self.cx.actor);
        let (mut sent, mut failed) = (0, 0);
        for notice in store.notices_due(clock.now()).await? {
            let mail = Mail {
                key: format!("loggvakt-notice-{}-{}", notice.id, notice.kind.as_str()),
                date: clock.now(),
                from: org.notify.from.clone(),
                to: notice.recipient.clone(),
                subject: notice.subject.clone(),
                body: notice.body.clone(),
            };
            let result = mailer.send(&mail).await;
            let now = clock.now();
            let mut tx = store.begin_write(now, actor).await?;
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
        let org = self.cx.org;
        let unit = org
            .unit(task.unit.as_str())
            .map_or_else(|| task.unit.to_string(), |u| u.name.clone());
        let escalate_to = org
            .unit(task.unit.as_str())
            .and_then(|u| org.escalation_contact(&u.id))
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
            "link": format!("{}/granskningar/{}", org.notify.base_url, task.id),
            "checklist": CHECKLIST,
            "organisation": org.name,
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
            NoticeKind::DeliveryOverdue
            | NoticeKind::CaseChiefInformed
            | NoticeKind::CaseDecided => unreachable!("about an order or a case"),
        };
        (subject, render(template, &data))
    }
}
