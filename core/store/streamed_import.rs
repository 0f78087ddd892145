//! A streamed import's own path into the store: events written in short batches outside the
//! audit chain's lock, so that ticks and web writes go on while a large extract comes in.
//!
//! The order is held by a claim (`import_claims`) from the first batch until the one write
//! transaction that marks it imported, ends the claim and appends the audit record. Readers
//! only look at events of imported orders, so the batches are invisible until then. The
//! invariant that keeps "stored once, all or nothing": an order that is not imported has
//! events only while a claim on it exists. A failed import removes its rows and its claim; an
//! import that died leaves its claim to expire, and whoever claims the order next removes the
//! leftovers first.

use chrono::{DateTime, TimeDelta, Utc};
use loggvakt_connector::AccessEvent;
use sqlx::Connection;

use super::orders::insert_event_rows;
use super::{Backend, Batching, Result, Store, StoreError, WriteTx, ts};
use crate::model::order::{Order, OrderState};

/// How long a claim lives without a batch renewing it: far longer than one batch takes, so
/// that only an import that died loses its claim.
const CLAIM_TTL: TimeDelta = TimeDelta::minutes(10);

/// An order held for one streamed import.
#[derive(Debug)]
pub struct ImportClaim {
    order_id: i64,
    holder: String,
}

/// What [`Store::claim_import`] found.
#[derive(Debug)]
pub enum Claim {
    Held(ImportClaim),
    /// The order has left the state the import was started for (imported meanwhile).
    Gone,
    /// Another import holds the order now.
    Busy,
}

/// Who holds a claim: unique per import, so that a claim taken over after expiry is told
/// apart from the one that lost it.
fn holder_token() -> String {
    let mut bytes = [0u8; 8];
    // Without the OS's randomness the process id and a clock reading still tell holders
    // apart on one machine.
    if getrandom::fill(&mut bytes).is_err() {
        bytes = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64))
        .to_le_bytes();
    }
    format!(
        "{}:{}:{:016x}",
        host_name(),
        std::process::id(),
        u64::from_le_bytes(bytes)
    )
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

impl Store {
    /// Claims `order_id` for a streamed import, if it is still in `from` and no other import
    /// holds a live claim on it; the rows of an expired claim are removed first.
    pub async fn claim_import(
        &self,
        order_id: i64,
        from: OrderState,
        now: DateTime<Utc>,
    ) -> Result<Claim> {
        // Through the write lock: claims and order transitions are serialised with each other.
        let mut tx = self.begin_write(now, "import").await?;
        let state: Option<(String,)> = sqlx::query_as("SELECT state FROM orders WHERE id = $1")
            .bind(order_id)
            .fetch_optional(&mut *tx.tx)
            .await?;
        if state.map(|(s,)| s).as_deref() != Some(from.as_str()) {
            return Ok(Claim::Gone);
        }
        let held: Option<(String,)> =
            sqlx::query_as("SELECT expires_at FROM import_claims WHERE order_id = $1")
                .bind(order_id)
                .fetch_optional(&mut *tx.tx)
                .await?;
        if let Some((expires,)) = held {
            if expires > ts(now) {
                return Ok(Claim::Busy);
            }
            tracing::warn!(
                order = order_id,
                "an earlier import of this order stopped half-way; removing its rows"
            );
            tx.exec(sqlx::query("DELETE FROM access_events WHERE order_id = $1").bind(order_id))
                .await?;
            tx.exec(sqlx::query("DELETE FROM import_claims WHERE order_id = $1").bind(order_id))
                .await?;
        }
        let holder = holder_token();
        tx.exec(
            sqlx::query(
                "INSERT INTO import_claims (order_id, holder, expires_at) VALUES ($1, $2, $3)",
            )
            .bind(order_id)
            .bind(holder.as_str())
            .bind(ts(now + CLAIM_TTL)),
        )
        .await?;
        tx.commit().await?;
        Ok(Claim::Held(ImportClaim { order_id, holder }))
    }

    /// Removes what a failed import stored and its claim, if the claim is still its own.
    pub async fn release_import(&self, claim: ImportClaim, now: DateTime<Utc>) -> Result<()> {
        let mut tx = self.begin_write(now, "import").await?;
        let own = sqlx::query("DELETE FROM import_claims WHERE order_id = $1 AND holder = $2")
            .bind(claim.order_id)
            .bind(claim.holder.as_str())
            .execute(&mut *tx.tx)
            .await?;
        if own.rows_affected() == 1 {
            tx.exec(
                sqlx::query("DELETE FROM access_events WHERE order_id = $1").bind(claim.order_id),
            )
            .await?;
        }
        tx.commit().await
    }

    /// A writer of the claimed order's events in batches, on a connection of its own: through
    /// `COPY` on PostgreSQL, through SQLite's C API on SQLite.
    pub async fn event_writer(&self, claim: &ImportClaim) -> Result<EventWriter<'_>> {
        let native = match (&self.native_url, self.backend) {
            (Some(url), Backend::Postgres) => Native::Postgres(
                sqlx::PgConnection::connect(url)
                    .await
                    .map_err(StoreError::Query)?,
            ),
            (Some(url), Backend::Sqlite) => {
                let mut conn = sqlx::SqliteConnection::connect(url)
                    .await
                    .map_err(StoreError::Query)?;
                // As the pool's connections (Store::open): wait for the lock, keep the keys.
                sqlx::raw_sql(
                    "PRAGMA busy_timeout = 30000; PRAGMA foreign_keys = ON; \
                     PRAGMA synchronous = NORMAL;",
                )
                .execute(&mut conn)
                .await?;
                Native::Sqlite(conn)
            }
            (None, _) => Native::Pool,
        };
        Ok(EventWriter {
            store: self,
            order_id: claim.order_id,
            holder: claim.holder.clone(),
            native,
        })
    }
}

impl WriteTx {
    /// Ends the claim of a streamed import in the transaction that marks its order imported;
    /// `false` when the claim is no longer this import's (it expired and was taken over).
    pub async fn end_import_claim(&mut self, claim: &ImportClaim) -> Result<bool> {
        let done = sqlx::query("DELETE FROM import_claims WHERE order_id = $1 AND holder = $2")
            .bind(claim.order_id)
            .bind(claim.holder.as_str())
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether a streamed import holds `order_id` now: a poll or fetch that finds the same
    /// delivery leaves it to that import.
    pub async fn import_claimed(&mut self, order_id: i64) -> Result<bool> {
        let held: Option<(String,)> =
            sqlx::query_as("SELECT expires_at FROM import_claims WHERE order_id = $1")
                .bind(order_id)
                .fetch_optional(&mut *self.tx)
                .await?;
        Ok(held.is_some_and(|(expires,)| expires > ts(self.at)))
    }
}

/// See [`Store::event_writer`].
pub struct EventWriter<'s> {
    store: &'s Store,
    order_id: i64,
    holder: String,
    native: Native,
}

/// The connection an [`EventWriter`] writes through.
enum Native {
    Postgres(sqlx::PgConnection),
    Sqlite(sqlx::SqliteConnection),
    /// An in-memory SQLite database: only the pool's connections see it.
    Pool,
}

/// Why a batch could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error(
        "the import's hold on the order expired and another import took it over; nothing of \
         this import is kept"
    )]
    ClaimLost,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl EventWriter<'_> {
    /// Stores one batch of the order's events in a transaction of its own, renewing the
    /// claim in it; `staff_ids` and `lines` as for [`WriteTx::insert_events`].
    pub async fn write(
        &mut self,
        order: &Order,
        events: &[AccessEvent],
        staff_ids: &[Option<String>],
        lines: &[i64],
        now: DateTime<Utc>,
    ) -> Result<(), BatchError> {
        debug_assert_eq!(order.id, self.order_id);
        let expires = ts(now + CLAIM_TTL);
        // The claim renewed in the batch's transaction, on whichever connection it runs.
        macro_rules! renew {
            ($conn:expr) => {{
                let done = sqlx::query(
                    "UPDATE import_claims SET expires_at = $1 WHERE order_id = $2 AND holder = $3",
                )
                .bind(expires.as_str())
                .bind(order.id)
                .bind(self.holder.as_str())
                .execute($conn)
                .await
                .map_err(StoreError::from)?;
                if done.rows_affected() != 1 {
                    return Err(BatchError::ClaimLost);
                }
            }};
        }
        if let Native::Postgres(pg) = &mut self.native {
            let mut tx = pg.begin().await.map_err(StoreError::from)?;
            // A batch need not wait for its WAL to reach the disk: the final transaction
            // that marks the order imported commits synchronously, which flushes every
            // batch before it, and a crash before that leaves a claim whose rows are
            // removed anyway.
            sqlx::query("SET LOCAL synchronous_commit = off")
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
            renew!(&mut *tx);
            super::copy::copy_events(&mut tx, order, events, staff_ids, lines).await?;
            tx.commit().await.map_err(StoreError::from)?;
            return Ok(());
        }
        // SQLite has one writer at a time: the batch takes this process's write gate and the
        // database's lock for one short transaction, and other writers get their turn between
        // batches.
        let _gate = self.store.write_gate.clone().lock_owned().await;
        if let Native::Sqlite(conn) = &mut self.native {
            let mut tx = conn
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(StoreError::from)?;
            renew!(&mut *tx);
            {
                let mut handle = tx.lock_handle().await.map_err(StoreError::from)?;
                let db = handle.as_raw_handle();
                // SAFETY: the handle is locked for this block and nothing else steps on it.
                off_the_workers(|| unsafe {
                    super::sqlite_bulk::insert_events(db, order, events, staff_ids, lines)
                })?;
            }
            tx.commit().await.map_err(StoreError::from)?;
            return Ok(());
        }
        let mut tx = self
            .store
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(StoreError::from)?;
        renew!(&mut *tx);
        insert_event_rows(
            &mut tx,
            Batching::for_backend(Backend::Sqlite),
            order,
            events,
            staff_ids,
            lines,
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }
}

/// Runs a batch's CPU-bound insert where it does not hold up the runtime's other tasks (a
/// web request waiting on the same worker thread): on a multi-threaded runtime the worker
/// hands its queue to another thread first.
fn off_the_workers<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}
