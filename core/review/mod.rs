//! Review tasks (DESIGN.md §7): made when a draw's (or a targeted check's) extracts are all
//! in, with every row run through the rules (`tasks`), and closed by the reviewer with an
//! outcome that opens a case when there was a remark. Announcing, reminding and escalating
//! is the notice stage's job (`crate::notify`); writing the outcome back to the source system
//! is `crate::writeback`'s.

mod coverage;
mod instruction;
mod tasks;

pub use coverage::{NOTE_MAX_CHARS, OutsideRecord, ROWS_SEEN_MAX, blocks_utan, coverage};
pub use instruction::instruction;

use chrono::TimeDelta;
use loggvakt_connector::ReviewOutcome;
use serde::Serialize;
use serde_json::json;

use crate::cases;
use crate::connectors::Connectors;
use crate::model::task::{Task, TaskKind, outcome_str, task_object};
use crate::rules::Rules;
use crate::stage::Stage;
use crate::store::StoreError;
use crate::writeback::WriteBacks;

/// Rows of a task closed without remark are purged this long after closing (the next
/// retention run); the fact of the check, its outcome and its counts stay.
const UTAN_RETENTION: TimeDelta = TimeDelta::zero();

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
    #[error(
        "not every sampled user is reviewed yet: {}; upload their extract or record a review made outside loggvakt, or close the task med_anmarkning",
        .0.join(", ")
    )]
    Incomplete(Vec<String>),
    #[error(
        "the review of {} outside loggvakt found something: the task can only be closed med_anmarkning",
        .0.join(", ")
    )]
    RemarkRecorded(Vec<String>),
    #[error("{username} is not a sampled user of task {id}")]
    NotSampled { id: i64, username: String },
    #[error("the review of {username} in task {id} is already recorded")]
    AlreadyRecorded { id: i64, username: String },
    #[error("{0}")]
    BadRecord(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The review work: the stage context and the organisation's rules.
pub struct Review<'a> {
    pub cx: Stage<'a>,
    pub rules: &'a Rules,
}

impl<'a> Review<'a> {
    pub fn new(cx: Stage<'a>, rules: &'a Rules) -> Self {
        Self { cx, rules }
    }
}

impl Review<'_> {
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
        let (store, clock, actor) = (self.cx.store, self.cx.clock, self.cx.actor);
        let comment = comment.map(str::trim).filter(|c| !c.is_empty());
        if outcome == ReviewOutcome::MedAnmarkning && comment.is_none() {
            return Err(ReviewError::CommentRequired);
        }
        let task = self.open_task(id, by, as_reviewer).await?;
        if outcome == ReviewOutcome::UtanAnmarkning
            && let Some(e) = blocks_utan(&coverage(store, &task).await?)
        {
            return Err(e);
        }
        let now = clock.now();
        let write_back = self.can_write_back(&task, connectors).then_some("pending");
        // Rows of a check without remark go at the next retention run; a remark keeps
        // them with the case until ten years after its decision; a patient's request keeps
        // them until the extract has been dispatched to the patient.
        let retain_until = match (outcome, task.kind) {
            (ReviewOutcome::MedAnmarkning, _) => None,
            (_, TaskKind::PatientRequest) => None,
            (ReviewOutcome::UtanAnmarkning, _) => Some(now + UTAN_RETENTION),
        };
        let mut tx = store.begin_write(now, actor).await?;
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
        // The user waits for the outcome to reach the source system; the tick's write-back
        // stage retries it if the system is unreachable now.
        let write_back = if write_back.is_some() {
            Some(self.write_backs().attempt(id, connectors).await?)
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
                .get(task.system.as_str())
                .is_ok_and(|c| c.manifest().capabilities.write_back)
    }

    fn write_backs(&self) -> WriteBacks<'_> {
        WriteBacks { cx: self.cx }
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
