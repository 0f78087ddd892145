//! The retention job of the tick: extract rows are personal data and are kept no longer than
//! their purpose needs. A review closed without remark loses its rows at once (the fact of
//! the check, its outcome and its counts stay); rows kept with a case go ten years after its
//! decision.

use serde_json::json;

use crate::clock::Clock;
use crate::model::task::task_object;
use crate::store::{Store, StoreError};

/// Purges the rows of every closed task whose retention has ended. Returns (tasks, rows).
pub async fn purge(store: &Store, clock: &Clock, actor: &str) -> Result<(usize, u64), StoreError> {
    let now = clock.now();
    let (mut tasks, mut rows) = (0, 0);
    for task in store.tasks_to_purge(now).await? {
        let mut tx = store.begin_write(now, actor).await?;
        let deleted = tx.purge_task_rows(&task, now).await?;
        tx.commit_audited(
            "retention.purged",
            &task_object(task.id),
            json!({
                "rows": deleted,
                "outcome": task.outcome.map(crate::model::task::outcome_str),
                "retain_until": task.retain_until.map(crate::store::ts),
            }),
        )
        .await?;
        tasks += 1;
        rows += deleted;
    }
    Ok((tasks, rows))
}
