//! The demo's unit managers, acting on a fixed pattern so that every part of the review flow
//! shows.

use anyhow::Result;
use chrono::TimeDelta;
use loggvakt_connector::ReviewOutcome;

use crate::cases::{decide, record_step};
use crate::connectors::Connectors;
use crate::model::case::{Decision, Step};
use crate::model::order::{DeliveryVia, OrderState};
use crate::model::task::{Coverage, Task, TaskState};
use crate::review::{OutsideRecord, Review};
use crate::stage::Stage;

/// The unit managers of the demo, acting on a fixed pattern so that every part of the review
/// flow shows: most review within two days; every fifth waits for the reminder; the first
/// task waits for the escalation; the first task with flagged rows (other than that one) is
/// closed with a remark, and its case is followed to a decision. Logs read outside loggvakt
/// (a system in manual mode, a report by post) are recorded before the task is closed.
#[derive(Default)]
pub(super) struct Managers {
    remark_given: bool,
    /// The last days of the demo: the tasks wait for whoever logs in.
    pub(super) idle: bool,
}

impl Managers {
    pub(super) async fn work(
        &mut self,
        review: &Review<'_>,
        connectors: &Connectors,
    ) -> Result<()> {
        if self.idle {
            return Ok(());
        }
        let now = review.cx.clock.now();
        let open = review.cx.store.tasks(Some(TaskState::Open)).await?;
        let first = review.cx.store.tasks(None).await?.first().map(|t| t.id);
        for task in &open {
            let due = if Some(task.id) == first {
                task.escalated_at.is_some()
            } else if task.id % 5 == 1 {
                task.reminded_at.is_some()
            } else {
                now - task.created_at >= TimeDelta::days(2)
            };
            if !due {
                continue;
            }
            let by = task.reviewer_email.clone();
            if !record_outside_reviews(review, task, &by).await? {
                // A part is still on its way: the manager waits for it.
                continue;
            }
            let remark = !self.remark_given && Some(task.id) != first && task.flagged_events > 0;
            if remark {
                self.remark_given = true;
                close_with_remark(review, connectors, task.id, &by).await?;
            } else {
                review
                    .complete(
                        task.id,
                        ReviewOutcome::UtanAnmarkning,
                        None,
                        &by,
                        true,
                        connectors,
                    )
                    .await?;
            }
        }
        Ok(())
    }
}

/// The users whose log a manager read outside loggvakt (on screen in a system in manual
/// mode, or from a report that came by post) are recorded as reviewed there; false while a
/// part is still on its way.
async fn record_outside_reviews(review: &Review<'_>, task: &Task, by: &str) -> Result<bool> {
    let mut complete = true;
    for user in crate::review::coverage(review.cx.store, task).await? {
        let via = match user.coverage {
            Coverage::Waiting {
                order_state: Some(OrderState::Manual),
                ..
            } => DeliveryVia::Screen,
            Coverage::Waiting {
                order_state: Some(OrderState::Delivered),
                ..
            } => DeliveryVia::Paper,
            Coverage::Waiting { .. } => {
                complete = false;
                continue;
            }
            Coverage::Rows | Coverage::Outside(_) => continue,
        };
        let record = OutsideRecord {
            // A made-up but stable count: the demo repeats with --seed.
            rows_seen: 6 + user.username.len() as i64,
            username: user.username,
            via,
            checklist_done: true,
            remark: false,
            note: String::new(),
        };
        review.record_outside(task.id, record, by, true).await?;
    }
    Ok(complete)
}

/// A task closed with a remark, and its case followed through every step to a decision.
async fn close_with_remark(
    review: &Review<'_>,
    connectors: &Connectors,
    task: i64,
    by: &str,
) -> Result<()> {
    let done = review
        .complete(
            task,
            ReviewOutcome::MedAnmarkning,
            Some("Flaggad åtkomst som inte kan förklaras av schema eller uppdrag; samtal med medarbetaren bokat."),
            by,
            true,
            connectors,
        )
        .await?;
    let Some(case) = done.case else {
        return Ok(());
    };
    for (step, note) in [
        (
            Step::ContactEmployee,
            "Samtal hållet: medarbetaren täckte upp för en kollega på natten.",
        ),
        (
            Step::TargetedCheck,
            "Riktad kontroll av användaren över två veckor: inget mer avvikande.",
        ),
        (Step::InformChief, "Verksamhetschefen informerad."),
    ] {
        record_step(
            &Stage {
                actor: by,
                ..review.cx
            },
            case,
            step,
            note,
        )
        .await?;
    }
    decide(
        &Stage {
            actor: "demo:verksamhetschef",
            ..review.cx
        },
        case,
        Decision::NoBreach,
        "Åtkomsten hade stöd i ett tillfälligt uppdrag; ingen överträdelse.",
    )
    .await?;
    Ok(())
}
