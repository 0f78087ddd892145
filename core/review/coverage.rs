//! Where each sampled user of a task stands: rows in loggvakt, reviewed outside it, or still
//! missing (issue 10, parts 1 and 3); and recording a review made outside loggvakt.

use loggvakt_connector::Subject;
use serde_json::json;

use super::{Review, ReviewError};
use crate::model::order::{DeliveryVia, OrderState};
use crate::model::task::{Coverage, OutsideReview, Task, TaskState, UserCoverage, task_object};
use crate::store::{Store, StoreError};

/// The longest note kept with an outside review.
pub const NOTE_MAX_CHARS: usize = 2000;
/// More rows than anyone reads by hand in a day's log.
pub const ROWS_SEEN_MAX: i64 = 1_000_000;

/// What a reviewer records about a log read outside loggvakt.
#[derive(Debug, Clone)]
pub struct OutsideRecord {
    pub username: String,
    pub via: DeliveryVia,
    pub rows_seen: i64,
    /// The checklist (DOMAIN.md) was gone through.
    pub checklist_done: bool,
    pub remark: bool,
    pub note: String,
}

/// Each sampled user of a task, in the draw's order. A targeted check's task is made only
/// when its extract is in, so its users all have rows.
pub async fn coverage(store: &Store, task: &Task) -> Result<Vec<UserCoverage>, StoreError> {
    let outside = store.outside_reviews(task.id).await?;
    let mut list = Vec::new();
    let Some(draw) = task.draw_id else {
        return Ok(list);
    };
    let orders = store.orders_of_draw(draw).await?;
    let Some(draw) = store.draw(draw).await? else {
        return Ok(list);
    };
    for s in &draw.selected {
        let order = orders.iter().find(|o| match &o.request.subject {
            Subject::Users(users) => users
                .iter()
                .any(|u| u.username.eq_ignore_ascii_case(&s.username)),
            Subject::Patient(_) => false,
        });
        let recorded = outside
            .iter()
            .find(|r| r.username.eq_ignore_ascii_case(&s.username));
        let coverage = match (recorded, order) {
            (Some(r), _) => Coverage::Outside(r.clone()),
            (None, Some(o)) if o.state == OrderState::Imported => Coverage::Rows,
            (None, o) => Coverage::Waiting {
                order: o.map(|o| o.id),
                order_state: o.map(|o| o.state),
            },
        };
        list.push(UserCoverage {
            username: s.username.clone(),
            part: order.map(|o| o.part),
            coverage,
        });
    }
    Ok(list)
}

/// Why a task cannot be closed utan anmärkning yet: the users still missing, and those whose
/// outside review found something.
pub fn blocks_utan(list: &[UserCoverage]) -> Option<ReviewError> {
    let missing: Vec<String> = list
        .iter()
        .filter(|u| !u.coverage.is_reviewable())
        .map(|u| u.username.clone())
        .collect();
    if !missing.is_empty() {
        return Some(ReviewError::Incomplete(missing));
    }
    let remarks: Vec<String> = list
        .iter()
        .filter(|u| matches!(&u.coverage, Coverage::Outside(r) if r.remark))
        .map(|u| u.username.clone())
        .collect();
    (!remarks.is_empty()).then_some(ReviewError::RemarkRecorded(remarks))
}

impl Review<'_> {
    /// Records that a sampled user's log was reviewed outside loggvakt. `as_reviewer`
    /// demands that `by` is the task's reviewer (the web); the command line acts as the
    /// administrator.
    pub async fn record_outside(
        &self,
        id: i64,
        record: OutsideRecord,
        by: &str,
        as_reviewer: bool,
    ) -> Result<(), ReviewError> {
        let (store, clock, actor) = (self.cx.store, self.cx.clock, self.cx.actor);
        let task = self.open_task(id, by, as_reviewer).await?;
        let note = record.note.trim().to_owned();
        let bad = |why: &str| Err(ReviewError::BadRecord(why.to_owned()));
        if !record.checklist_done {
            return bad("go through the checklist first and confirm it (--checklist-done)");
        }
        if !(0..=ROWS_SEEN_MAX).contains(&record.rows_seen) {
            return bad(&format!("rows seen must be 0..={ROWS_SEEN_MAX}"));
        }
        if note.chars().count() > NOTE_MAX_CHARS {
            return bad(&format!(
                "the note is longer than {NOTE_MAX_CHARS} characters"
            ));
        }
        if record.remark && note.is_empty() {
            return bad("a remark needs a note that says what was found (--note \"...\")");
        }
        let list = coverage(store, &task).await?;
        let Some(user) = list
            .iter()
            .find(|u| u.username.eq_ignore_ascii_case(record.username.trim()))
        else {
            return Err(ReviewError::NotSampled {
                id,
                username: record.username,
            });
        };
        let now = clock.now();
        let review = OutsideReview {
            username: user.username.clone(),
            via: record.via,
            rows_seen: record.rows_seen,
            remark: record.remark,
            note,
            recorded_by: by.to_owned(),
            recorded_at: now,
        };
        let mut tx = store.begin_write(now, actor).await?;
        if !tx.insert_outside_review(id, &review).await? {
            return Err(ReviewError::AlreadyRecorded {
                id,
                username: review.username,
            });
        }
        tx.commit_audited(
            "review.outside_recorded",
            &task_object(id),
            json!({
                "username": review.username, "via": review.via, "rows_seen": review.rows_seen,
                "remark": review.remark, "by": by,
            }),
        )
        .await?;
        Ok(())
    }

    /// The task, if it is open and `by` may act on it.
    pub(super) async fn open_task(
        &self,
        id: i64,
        by: &str,
        as_reviewer: bool,
    ) -> Result<Task, ReviewError> {
        let store = self.cx.store;
        let task = store.task(id).await?.ok_or(ReviewError::NoSuchTask(id))?;
        if task.state == TaskState::Closed {
            return Err(ReviewError::Closed {
                id,
                outcome: task.outcome.map_or("closed".into(), |o| {
                    crate::model::task::outcome_str(o).to_owned()
                }),
            });
        }
        if as_reviewer && !task.is_reviewer(by) {
            return Err(ReviewError::NotReviewer {
                id,
                who: by.to_owned(),
                reviewer: task.reviewer_email.clone(),
            });
        }
        Ok(task)
    }
}
