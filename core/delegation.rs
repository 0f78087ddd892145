//! Delegating review work (seeds 000 "kan överlåtas till annan ansvarig chef", 004
//! "delegeringen ska vara skriftlig"): a task, or a unit's loggkontroll for a period, handed
//! to another named chef in writing. The reviewer of the task changes in the same
//! transaction as the delegation is recorded, and the new reviewer is told at once; the
//! reminders and the escalation follow the task's reviewer, so they follow the delegation.
//!
//! Who may delegate: a task's own reviewer, a chief above its unit (the escalation target
//! reassigning an overdue task), an administrator; a unit's work: its manager, a chief above
//! it, an administrator. The one it goes to is a web user with the reviewer role.

use chrono::NaiveDate;
use serde_json::json;

use crate::model::delegation::{MAX_REASON_CHARS, MAX_UNIT_DAYS, Scope};
use crate::model::org::Contact;
use crate::model::task::task_object;
use crate::model::user::{Role, User};
use crate::notify::Notices;
use crate::stage::Stage;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum DelegationError {
    #[error("there is no review task {0}")]
    NoSuchTask(i64),
    #[error("review task {0} is closed; only open work can be delegated")]
    Closed(i64),
    #[error("there is no unit {0} in the configuration")]
    NoSuchUnit(String),
    #[error("only the reviewer, a chief above the unit or an administrator may delegate it")]
    NotAllowed,
    #[error("{0} is not an active web user with the reviewer role")]
    NotAChief(String),
    #[error("{0} already has this work")]
    Same(String),
    #[error("a delegation needs a reason (in writing, seed 004)")]
    ReasonRequired,
    #[error("the reason is longer than {MAX_REASON_CHARS} characters")]
    ReasonTooLong,
    #[error(
        "the period must start on or before its last day, end today or later and last at most {MAX_UNIT_DAYS} days"
    )]
    BadPeriod,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The chef work goes to, as notices address them.
fn chef(to: &User) -> Result<Contact, DelegationError> {
    if to.role != Role::Reviewer || to.disabled || !to.email.contains('@') {
        return Err(DelegationError::NotAChief(to.username.clone()));
    }
    Ok(Contact {
        name: to.name.clone(),
        email: to.email.clone(),
    })
}

fn reason(raw: &str) -> Result<&str, DelegationError> {
    let reason = raw.trim();
    if reason.is_empty() {
        return Err(DelegationError::ReasonRequired);
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(DelegationError::ReasonTooLong);
    }
    Ok(reason)
}

/// Hands one open task to `to`. Returns the delegation's id.
pub async fn delegate_task(
    cx: &Stage<'_>,
    by: &User,
    task_id: i64,
    to: &User,
    why: &str,
) -> Result<i64, DelegationError> {
    let task = cx
        .store
        .task(task_id)
        .await?
        .ok_or(DelegationError::NoSuchTask(task_id))?;
    let allowed = by.role == Role::Admin
        || (by.role == Role::Reviewer && task.is_reviewer(&by.email))
        || by.is_chief_above(task.unit.as_str(), cx.org);
    if !allowed {
        return Err(DelegationError::NotAllowed);
    }
    let why = reason(why)?;
    let to_chef = chef(to)?;
    if task.is_reviewer(&to_chef.email) {
        return Err(DelegationError::Same(to.username.clone()));
    }
    let mut tx = cx.store.begin_write(cx.clock.now(), cx.actor).await?;
    if !tx.reassign_task(task_id, &to_chef).await? {
        return Err(DelegationError::Closed(task_id));
    }
    let scope = Scope::Task { task: task_id };
    let id = tx
        .insert_delegation(&scope, &task.reviewer_email, &to_chef, why)
        .await?;
    tx.commit_audited(
        "review.delegated",
        &task_object(task_id),
        json!({"delegation": id, "from": task.reviewer_email, "to": to_chef.email}),
    )
    .await?;
    Notices { cx: *cx }.announce().await?;
    Ok(id)
}

/// Hands a unit's loggkontroll from `from` through `until` (local dates, both included) to
/// `to`: the unit's tasks made in the period go to them, and when the period has begun, its
/// open tasks that its manager reviews move now. Returns the delegation's id and how many
/// open tasks moved.
pub async fn delegate_unit(
    cx: &Stage<'_>,
    by: &User,
    unit: &str,
    (from, until): (NaiveDate, NaiveDate),
    to: &User,
    why: &str,
) -> Result<(i64, usize), DelegationError> {
    let own = cx
        .org
        .unit(unit)
        .ok_or_else(|| DelegationError::NoSuchUnit(unit.to_owned()))?;
    let allowed = by.role == Role::Admin
        || (by.role == Role::Reviewer && own.manager.email.eq_ignore_ascii_case(&by.email))
        || by.is_chief_above(unit, cx.org);
    if !allowed {
        return Err(DelegationError::NotAllowed);
    }
    let why = reason(why)?;
    let to_chef = chef(to)?;
    if own.manager.email.eq_ignore_ascii_case(&to_chef.email) {
        return Err(DelegationError::Same(to.username.clone()));
    }
    let now = cx.clock.now();
    let today = crate::calendar::local_date(now);
    if from > until || until < today || (until - from).num_days() >= MAX_UNIT_DAYS {
        return Err(DelegationError::BadPeriod);
    }
    let mut tx = cx.store.begin_write(now, cx.actor).await?;
    let scope = Scope::Unit {
        unit: own.id.clone(),
        from,
        until,
    };
    let id = tx
        .insert_delegation(&scope, &own.manager.email, &to_chef, why)
        .await?;
    let mut moved = Vec::new();
    if from <= today {
        for task in tx.open_tasks_reviewed_by(unit, &own.manager.email).await? {
            if tx.reassign_task(task, &to_chef).await? {
                tx.audit(
                    "review.delegated",
                    &task_object(task),
                    json!({"delegation": id, "from": own.manager.email, "to": to_chef.email}),
                )
                .await?;
                moved.push(task);
            }
        }
    }
    tx.commit_audited(
        "unit.delegated",
        &format!("unit:{unit}"),
        json!({
            "delegation": id, "from": from, "until": until, "to": to_chef.email,
            "tasks_moved": moved,
        }),
    )
    .await?;
    Notices { cx: *cx }.announce().await?;
    Ok((id, moved.len()))
}
