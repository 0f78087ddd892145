//! Sampled users' logs reviewed outside loggvakt (on screen, on paper, from a Cryptshare file
//! or a message): one record per task and user.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Result, Store, StoreError, WriteTx, parse_ts, ts};
use crate::model::order::DeliveryVia;
use crate::model::task::OutsideReview;

fn outside_from_row(row: &AnyRow) -> Result<OutsideReview> {
    let via: String = row.try_get("via")?;
    Ok(OutsideReview {
        username: row.try_get("username")?,
        via: DeliveryVia::parse(&via)
            .ok_or_else(|| StoreError::Corrupt(format!("outside review: via '{via}'")))?,
        rows_seen: row.try_get("rows_seen")?,
        remark: row.try_get::<i64, _>("remark")? != 0,
        note: row.try_get("note")?,
        recorded_by: row.try_get("recorded_by")?,
        recorded_at: parse_ts(&row.try_get::<String, _>("recorded_at")?)?,
    })
}

impl WriteTx {
    /// Records a user's outside review; false when one is recorded already (a record is
    /// evidence and is not overwritten).
    pub async fn insert_outside_review(&mut self, task: i64, r: &OutsideReview) -> Result<bool> {
        self.exec_one(
            sqlx::query(
                "INSERT INTO outside_reviews (task_id, username, via, rows_seen, remark, note, \
                 recorded_by, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(task)
            .bind(r.username.as_str())
            .bind(r.via.as_str())
            .bind(r.rows_seen)
            .bind(i64::from(r.remark))
            .bind(r.note.as_str())
            .bind(r.recorded_by.as_str())
            .bind(ts(r.recorded_at)),
        )
        .await
    }
}

impl Store {
    pub async fn outside_reviews(&self, task: i64) -> Result<Vec<OutsideReview>> {
        self.fetch_vec(
            sqlx::query(
                "SELECT username, via, rows_seen, remark, note, recorded_by, recorded_at \
                 FROM outside_reviews WHERE task_id = $1 ORDER BY username",
            )
            .bind(task),
            outside_from_row,
        )
        .await
    }
}
