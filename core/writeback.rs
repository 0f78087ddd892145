//! The write-back stage: a closed review's outcome recorded in the source system where its
//! connector can (a Lifecare note, "utan/med anmärkning"). A system that is unreachable is
//! tried again at the next tick; the idempotency key lets the peer recognise a retry.

use loggvakt_connector::{Period, Subject, UserRef, WriteBack};
use serde_json::json;

use crate::connectors::Connectors;
use crate::model::task::{TaskState, task_object};
use crate::stage::Stage;
use crate::store::StoreError;

/// The write-back work, in one stage context.
pub struct WriteBacks<'a> {
    pub cx: Stage<'a>,
}

impl WriteBacks<'_> {
    /// Retries the write-backs still pending.
    pub async fn retry_pending(&self, connectors: &Connectors) -> Result<usize, StoreError> {
        let store = self.cx.store;
        let mut done = 0;
        for task in store.tasks(Some(TaskState::Closed)).await? {
            if task.write_back.as_deref() == Some("pending")
                && self.attempt(task.id, connectors).await? == "done"
            {
                done += 1;
            }
        }
        Ok(done)
    }

    /// Records the outcome in the source system (a Lifecare note) and what that gave:
    /// `done`, `pending` (will be retried) or `failed: …`.
    pub async fn attempt(&self, id: i64, connectors: &Connectors) -> Result<String, StoreError> {
        let (store, clock, actor) = (self.cx.store, self.cx.clock, self.cx.actor);
        let Some(task) = store.task(id).await? else {
            return Ok("failed: the task vanished".into());
        };
        let (Some(draw_id), Some(outcome)) = (task.draw_id, task.outcome) else {
            return Ok("failed: nothing to write back".into());
        };
        let Ok(connector) = connectors.get(task.system.as_str()) else {
            return Ok("pending".into());
        };
        let Some(draw) = store.draw(draw_id).await? else {
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
        let now = clock.now();
        let mut tx = store.begin_write(now, actor).await?;
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
