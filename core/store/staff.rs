//! The latest reconciliation of each system's user list with the staff register.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Result, Store, StoreError, WriteTx, parse_ts, ts};
use crate::ident::SystemId;
use crate::model::staff_sync::{Reconciliation, StaleAccount, StoredReconciliation};

fn from_row(row: &AnyRow) -> Result<StoredReconciliation> {
    let system: String = row.try_get("system")?;
    let corrupt = |what: &str| StoreError::Corrupt(format!("reconciliation of {system}: {what}"));
    let unknown: Vec<String> = serde_json::from_str(&row.try_get::<String, _>("unknown")?)
        .map_err(|_| corrupt("unknown"))?;
    let stale: Vec<(String, String)> =
        serde_json::from_str(&row.try_get::<String, _>("stale")?).map_err(|_| corrupt("stale"))?;
    let stale = stale
        .into_iter()
        .map(|(id, username)| {
            Ok(StaleAccount {
                staff_id: crate::ident::StaffId::new(&id).map_err(|_| corrupt("staff id"))?,
                username,
            })
        })
        .collect::<Result<_>>()?;
    Ok(StoredReconciliation {
        result: Reconciliation {
            system: SystemId::new(&system).map_err(|_| corrupt("system"))?,
            file: row.try_get("file_name")?,
            listed: row.try_get::<i64, _>("listed")? as usize,
            unknown,
            stale,
        },
        made_by: row.try_get("made_by")?,
        made_at: parse_ts(&row.try_get::<String, _>("made_at")?)?,
    })
}

impl WriteTx {
    /// Stores `r` as the system's latest reconciliation, replacing the one before.
    pub async fn save_reconciliation(&mut self, r: &Reconciliation) -> Result<()> {
        let stale: Vec<(&str, &str)> = r
            .stale
            .iter()
            .map(|s| (s.staff_id.as_str(), s.username.as_str()))
            .collect();
        let (at, actor) = (ts(self.at), self.actor.clone());
        self.exec(
            sqlx::query(
                "INSERT INTO staff_reconciliations (system, file_name, listed, unknown, stale, \
                 made_by, made_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (system) DO UPDATE SET file_name = excluded.file_name, \
                 listed = excluded.listed, unknown = excluded.unknown, stale = excluded.stale, \
                 made_by = excluded.made_by, made_at = excluded.made_at",
            )
            .bind(r.system.as_str().to_owned())
            .bind(r.file.clone())
            .bind(r.listed as i64)
            .bind(serde_json::json!(r.unknown).to_string())
            .bind(serde_json::json!(stale).to_string())
            .bind(actor)
            .bind(at),
        )
        .await
    }
}

impl Store {
    /// Every system's latest reconciliation, by system id.
    pub async fn reconciliations(&self) -> Result<Vec<StoredReconciliation>> {
        self.fetch_vec(
            sqlx::query(
                "SELECT system, file_name, listed, unknown, stale, made_by, made_at \
                 FROM staff_reconciliations ORDER BY system",
            ),
            from_row,
        )
        .await
    }
}
