//! Persistence through sqlx: one [`Store`] over SQLite (the embedded default) and
//! PostgreSQL (several instances sharing one database). Queries are written once, with `$n`
//! placeholders that both backends accept; the few dialect differences are named where they
//! occur. Times are stored as fixed-width UTC text so that they compare correctly as strings
//! on both backends.

pub mod api_tokens;
pub mod audit;
mod cases;
mod copy;
mod delegations;
mod draws;
mod lease;
pub mod metrics;
mod migrations;
pub mod orders;
mod outside;
mod report;
pub mod review;
mod sqlite_bulk;
pub mod sso;
mod staff;
mod staff_information;
pub mod streamed_import;
pub mod users;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Executor, Row, Transaction};

use self::audit::ChainHead;
use crate::calendar::Month;
use crate::model::text::TextForm;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL '{0}': expected sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("cannot open database {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("cannot migrate database {url}: {source}")]
    Migrate {
        url: String,
        source: sqlx::migrate::MigrateError,
    },
    #[error(
        "the database {0} is read-only, and this command writes to it; commands that only read \
         (order list, review list, audit verify, report compliance) work on it, e.g. with \
         sqlite://FILE?mode=ro"
    )]
    ReadOnly(String),
    #[error("database error: {0}")]
    Query(sqlx::Error),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// An error of SQLite's C API on the bulk insert path (`sqlite_bulk`).
    #[error("database error: {0}")]
    Native(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl From<sqlx::Error> for StoreError {
    /// A write refused because the database is read-only says so (SQLite's `SQLITE_READONLY`,
    /// PostgreSQL's `read_only_sql_transaction`) instead of a driver's message.
    fn from(e: sqlx::Error) -> Self {
        let read_only = match &e {
            sqlx::Error::Database(db) => {
                let code = db.code();
                matches!(code.as_deref(), Some("8") | Some("25006"))
                    || db.message().contains("readonly database")
            }
            _ => false,
        };
        if read_only {
            StoreError::ReadOnly("in use".into())
        } else {
            StoreError::Query(e)
        }
    }
}

/// A query with its parameters bound, on either backend.
pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Arbitrary constants naming our PostgreSQL advisory locks.
const AUDIT_LOCK: i64 = 0x6c6f_6767_0001;
const TICK_LOCK: i64 = 0x6c6f_6767_0002;

/// The database, migrated and ready.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    notice_dir: Option<PathBuf>,
    /// One write transaction of this process at a time, taken before a connection: the
    /// database serialises writers anyway, and a writer waiting for its lock while holding a
    /// pooled connection could starve the holder of the connection it reads with.
    write_gate: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// The connection URL, for the native connection a streamed import writes through (the
    /// pool speaks sqlx's `Any`, which has neither PostgreSQL's COPY nor SQLite's handle);
    /// none for an in-memory SQLite database, which another connection would not see.
    native_url: Option<String>,
}

/// A SQLite file that cannot be written (a read-only copy or mount) is said to be so at once:
/// opened for writing, its connections would fail in the pool until its 30-second timeout.
fn refuse_read_only_file(url: &str) -> Result<()> {
    let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .and_then(|p| p.split('?').next())
        .filter(|p| !p.is_empty() && *p != ":memory:")
    else {
        return Ok(());
    };
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
            ) =>
        {
            Err(StoreError::ReadOnly(path.to_owned()))
        }
        _ => Ok(()),
    }
}

/// `sqlite://dir/loggvakt.db?mode=rwc` → `dir/loggvakt-notices`: a folder that belongs to
/// this database alone. An in-memory database has none.
fn sqlite_notice_dir(url: &str) -> Option<PathBuf> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = Path::new(path.split('?').next()?);
    let stem = path.file_stem()?.to_str()?;
    if stem.is_empty() || stem == ":memory:" {
        return None;
    }
    Some(path.with_file_name(format!("{stem}-notices")))
}

/// Hides the password of a database URL for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A PostgreSQL URL that trusts the extra CA bundle (`--extra-ca`) too, unless it names its
/// own `sslrootcert`. It matters with `sslmode=verify-ca` or `verify-full`.
fn with_extra_ca(url: &str) -> String {
    match loggvakt_connector::tls::extra_roots_path() {
        Some(path) if !url.contains("sslrootcert=") => {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}sslrootcert={}", path.display())
        }
        _ => url.to_owned(),
    }
}

impl Store {
    /// Opens (creating a SQLite file if missing) and migrates the database at `url`.
    pub async fn open(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(redact(url)));
        };
        if backend == Backend::Sqlite && !url.contains("mode=ro") {
            refuse_read_only_file(url)?;
        }
        let connect_url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            Backend::Postgres => with_extra_ca(url),
            Backend::Sqlite => url.to_owned(),
        };
        let connect_err = |source| StoreError::Connect {
            url: redact(url),
            source,
        };
        let options = AnyConnectOptions::from_str(&connect_url).map_err(connect_err)?;
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 4,
                Backend::Postgres => 8,
            })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the one writer; the busy timeout makes
                        // a second process wait for the write lock instead of failing.
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 30000; \
                             PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(connect_err)?;
        // One set of files for both backends (layout and checksums: migrations.rs).
        let migrator = match backend {
            Backend::Sqlite => &*migrations::SQLITE,
            Backend::Postgres => &*migrations::POSTGRES,
        };
        // PostgreSQL's migrator takes an advisory lock; SQLite's has none, so two processes
        // starting on a fresh file can collide. The loser retries and then finds the
        // winner's migrations applied.
        let mut tries = 0;
        loop {
            match migrator.run(&pool).await {
                Ok(()) => break,
                Err(_) if backend == Backend::Sqlite && tries < 10 => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100 * tries)).await;
                }
                Err(source) => {
                    return Err(StoreError::Migrate {
                        url: redact(url),
                        source,
                    });
                }
            }
        }
        let notice_dir = match backend {
            Backend::Sqlite => sqlite_notice_dir(url),
            Backend::Postgres => None,
        };
        Ok(Self {
            pool,
            backend,
            notice_dir,
            write_gate: Default::default(),
            native_url: (!connect_url.contains(":memory:")).then_some(connect_url),
        })
    }

    /// Where this installation's notices go when the configuration names no outbox or mail
    /// server: beside the SQLite file. PostgreSQL installations must configure one.
    pub fn notice_dir(&self) -> Option<&Path> {
        self.notice_dir.as_deref()
    }

    /// The row `query` finds, read by `read`; `None` when there is none.
    pub(crate) async fn fetch_opt<T>(
        &self,
        query: AnyQuery<'_>,
        read: impl FnOnce(&AnyRow) -> Result<T>,
    ) -> Result<Option<T>> {
        query
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(read)
            .transpose()
    }

    /// The row of `table` whose `id` is given, its `columns` read by `read`. `table` and
    /// `columns` are the store's own constants, never input.
    pub(crate) async fn fetch_by_id<T>(
        &self,
        table: &'static str,
        columns: &'static str,
        id: i64,
        read: impl FnOnce(&AnyRow) -> Result<T>,
    ) -> Result<Option<T>> {
        let sql = format!("SELECT {columns} FROM {table} WHERE id = $1");
        self.fetch_opt(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id), read)
            .await
    }

    /// Every row `query` finds, read by `read`.
    pub(crate) async fn fetch_vec<T>(
        &self,
        query: AnyQuery<'_>,
        read: impl FnMut(&AnyRow) -> Result<T>,
    ) -> Result<Vec<T>> {
        query
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(read)
            .collect()
    }

    /// Runs one statement on its own, outside any transaction.
    pub(crate) async fn exec(&self, query: AnyQuery<'_>) -> Result<()> {
        query.execute(self.pool()).await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Whether the database answers a query.
    pub async fn ping(&self) -> Result<()> {
        self.exec(sqlx::query("SELECT 1")).await
    }

    /// Starts a transaction that may write and append to the audit trail. Writers are
    /// serialised (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: a transaction-scoped advisory
    /// lock), because every write extends the one hash chain.
    pub async fn begin_write(&self, at: DateTime<Utc>, actor: &str) -> Result<WriteTx> {
        let gate = self.write_gate.clone().lock_owned().await;
        let mut tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(AUDIT_LOCK)
                    .execute(&mut *tx)
                    .await?;
                tx
            }
        };
        let head = audit::head(&mut tx).await?;
        Ok(WriteTx {
            _gate: gate,
            tx,
            batching: Batching::for_backend(self.backend),
            head,
            at,
            actor: actor.to_owned(),
        })
    }

    /// Tries to become the one instance that ticks. On PostgreSQL this is a session advisory
    /// lock on a dedicated connection, so a crashed holder releases it with its connection.
    /// SQLite serialises writers itself, and its unique keys make a second ticker harmless.
    pub async fn try_tick_lease(&self) -> Result<Option<TickLease>> {
        match self.backend {
            Backend::Sqlite => self.try_sqlite_lease().await,
            Backend::Postgres => {
                let mut conn = self.pool.acquire().await?;
                let (got,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
                    .bind(TICK_LOCK)
                    .fetch_one(&mut *conn)
                    .await?;
                Ok(got.then(|| TickLease {
                    conn: Some(conn.detach()),
                    sqlite: None,
                }))
            }
        }
    }

    /// SQLite has no advisory locks: the lease is a row in `meta` naming its holder (host and
    /// process) and expiry. It is taken by compare-and-swap on the row (the database
    /// serialises writers), when free, expired, or held by a process of this host that is
    /// gone (a crashed tick frees it at once, as PostgreSQL's session lock does). Real time,
    /// not the clock: it is about processes.
    async fn try_sqlite_lease(&self) -> Result<Option<TickLease>> {
        sqlx::query("INSERT INTO meta (key, value) VALUES ($1, '') ON CONFLICT DO NOTHING")
            .bind(SQLITE_LEASE_KEY)
            .execute(&self.pool)
            .await?;
        let current = self.meta(SQLITE_LEASE_KEY).await?.unwrap_or_default();
        let now = Utc::now();
        if !lease::is_free(&current, now) {
            return Ok(None);
        }
        let value = lease::value(now + SQLITE_LEASE);
        let taken = sqlx::query("UPDATE meta SET value = $1 WHERE key = $2 AND value = $3")
            .bind(&value)
            .bind(SQLITE_LEASE_KEY)
            .bind(&current)
            .execute(&self.pool)
            .await?
            .rows_affected()
            == 1;
        Ok(taken.then(|| TickLease {
            conn: None,
            sqlite: Some((self.pool.clone(), value)),
        }))
    }

    /// A random secret of this installation, made at its first use and shared through the
    /// database by every instance (e.g. what login tokens are signed with).
    pub async fn installation_secret(&self, key: &str) -> Result<String> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|e| StoreError::Corrupt(format!("no randomness: {e}")))?;
        sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(key)
            .bind(hex::encode(secret))
            .execute(&self.pool)
            .await?;
        self.meta(key)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("meta {key} vanished")))
    }

    pub async fn meta(&self, key: &str) -> Result<Option<String>> {
        let row: Option<(String,)> = sqlx::query_as("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|(v,)| v))
    }

    /// The first month this installation planned: the tick catches up from here.
    pub async fn plan_start(&self) -> Result<Option<Month>> {
        self.meta("plan_start")
            .await?
            .map(|v| {
                v.parse()
                    .map_err(|_| StoreError::Corrupt(format!("meta plan_start '{v}'")))
            })
            .transpose()
    }
}

/// Held while ticking; dropping it without [`TickLease::release`] still frees the lock,
/// because the connection is closed rather than returned to the pool.
pub struct TickLease {
    conn: Option<sqlx::AnyConnection>,
    /// SQLite's lease row value, cleared on release (else it expires).
    sqlite: Option<(AnyPool, String)>,
}

/// How long an SQLite tick lease holds without being released: longer than any tick, short
/// enough that another host's instance takes over soon after a holder died.
const SQLITE_LEASE: chrono::TimeDelta = chrono::TimeDelta::minutes(10);
const SQLITE_LEASE_KEY: &str = "tick_lease";

impl TickLease {
    pub async fn release(self) {
        if let Some(conn) = self.conn {
            // Closing ends the session and with it the advisory lock.
            let _ = sqlx::Connection::close(conn).await;
        }
        if let Some((pool, value)) = self.sqlite {
            let _ = sqlx::query("UPDATE meta SET value = '' WHERE key = $1 AND value = $2")
                .bind(SQLITE_LEASE_KEY)
                .bind(value)
                .execute(&pool)
                .await;
        }
    }
}

/// A write transaction that carries the audit chain's head, so each change and its audit
/// record commit together or not at all.
pub struct WriteTx {
    /// Held until the transaction ends (see `Store::write_gate`).
    _gate: tokio::sync::OwnedMutexGuard<()>,
    tx: Transaction<'static, Any>,
    batching: Batching,
    head: ChainHead,
    at: DateTime<Utc>,
    actor: String,
}

impl WriteTx {
    /// The time this transaction acts at (the clock's, for trials and tests).
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// Runs one statement in this transaction.
    pub(crate) async fn exec(&mut self, query: AnyQuery<'_>) -> Result<()> {
        query.execute(&mut *self.tx).await?;
        Ok(())
    }

    /// Runs an `INSERT … ON CONFLICT DO NOTHING RETURNING id`: the new row's id, `None` when
    /// the row was there already.
    pub(crate) async fn insert_id(&mut self, query: AnyQuery<'_>) -> Result<Option<i64>> {
        let row = query.fetch_optional(&mut *self.tx).await?;
        Ok(row.map(|r| r.try_get("id")).transpose()?)
    }

    /// Runs a guarded change: true when it changed exactly one row, false when its guard
    /// did not hold (the row had moved on, or another instance was first).
    pub(crate) async fn exec_one(&mut self, query: AnyQuery<'_>) -> Result<bool> {
        let done = query.execute(&mut *self.tx).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Appends an audit record (who, what, when) in this transaction.
    pub async fn audit(
        &mut self,
        action: &str,
        object: &str,
        details: serde_json::Value,
    ) -> Result<i64> {
        self.audit_many(action, vec![(object.to_owned(), details)])
            .await
    }

    /// Appends one audit record per `(object, details)`, all with the same action.
    pub async fn audit_many(
        &mut self,
        action: &str,
        entries: Vec<(String, serde_json::Value)>,
    ) -> Result<i64> {
        let records = entries
            .iter()
            .map(|(object, details)| audit::NewRecord {
                at: self.at,
                actor: &self.actor,
                action,
                object,
                details: details.clone(),
            })
            .collect();
        audit::append(&mut self.tx, self.batching, &mut self.head, records).await
    }

    /// Moves the recorded first planned month back to `month` if it is earlier.
    pub async fn extend_plan_start(&mut self, month: Month) -> Result<()> {
        self.exec(sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('plan_start', $1) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE meta.value > excluded.value",
        )
        .bind(month.to_string()))
.await
    }

    /// Records the change's audit record and commits: how most changes end.
    pub async fn commit_audited(
        mut self,
        action: &str,
        object: &str,
        details: serde_json::Value,
    ) -> Result<()> {
        self.audit(action, object, details).await?;
        self.commit().await
    }

    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

/// How multi-row statements are cut and written for a backend.
///
/// SQLite keeps named parameters (`$n`) in a list that it scans for every lookup, and sqlx
/// looks up each one, so binding is quadratic in the parameters per statement (measured:
/// two thirds of the time at 600). Positional `?` parameters are not in that list, so SQLite
/// gets `?` and large statements (its limit is 32 766 parameters).
///
/// PostgreSQL gets `$n`, and statements of at most 14 KiB: sqlx does not set TCP_NODELAY, and
/// over TLS it writes a larger message as several 16 KiB records in separate sends, the second
/// of which waits for the server's delayed ACK (about 40 ms a statement, measured).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Batching {
    max_params: usize,
    max_bytes: usize,
    positional: bool,
}

impl Batching {
    pub(crate) fn for_backend(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self {
                max_params: 30_000,
                max_bytes: usize::MAX,
                positional: true,
            },
            Backend::Postgres => Self {
                max_params: 30_000,
                max_bytes: 14 * 1024,
                positional: false,
            },
        }
    }

    /// Splits `items` into runs that fit one statement, by parameters (`cols` per row) and
    /// by approximate bytes (`size` per row).
    pub(crate) fn batches<'a, T>(
        &self,
        items: &'a [T],
        cols: usize,
        size: impl Fn(&T) -> usize,
    ) -> Vec<&'a [T]> {
        let max_rows = (self.max_params / cols).max(1);
        let mut batches = Vec::new();
        let (mut start, mut bytes) = (0, 0usize);
        for (i, item) in items.iter().enumerate() {
            let item_bytes = size(item);
            if i > start
                && (i - start == max_rows || bytes.saturating_add(item_bytes) > self.max_bytes)
            {
                batches.push(&items[start..i]);
                (start, bytes) = (i, 0);
            }
            bytes = bytes.saturating_add(item_bytes);
        }
        if start < items.len() {
            batches.push(&items[start..]);
        }
        batches
    }

    /// `(?, ?), (?, ?)` or `($1, $2), ($3, $4)` for `rows` rows of `cols` parameters.
    pub(crate) fn placeholders(&self, rows: usize, cols: usize) -> String {
        let mut sql = String::with_capacity(rows * cols * 5);
        for r in 0..rows {
            if r > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for c in 0..cols {
                if c > 0 {
                    sql.push_str(", ");
                }
                if self.positional {
                    sql.push('?');
                } else {
                    sql.push('$');
                    sql.push_str(&(r * cols + c + 1).to_string());
                }
            }
            sql.push(')');
        }
        sql
    }
}

/// The stored form of an instant: UTC, microseconds, fixed width, so text order is time order.
pub fn ts(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The stored form of an event's local time, `YYYY-MM-DDTHH:MM:SS`, written into `buf`
/// without chrono's formatting machinery: a streamed import writes a million of them.
pub(crate) fn event_time(buf: &mut String, t: chrono::NaiveDateTime) {
    use chrono::{Datelike, Timelike};
    buf.clear();
    let year = t.year();
    if !(0..=9999).contains(&year) {
        use std::fmt::Write;
        let _ = write!(buf, "{}", t.format("%Y-%m-%dT%H:%M:%S"));
        return;
    }
    let digits = |buf: &mut String, value: u32, width: u32| {
        for i in (0..width).rev() {
            buf.push(char::from(b'0' + (value / 10u32.pow(i) % 10) as u8));
        }
    };
    digits(buf, year as u32, 4);
    buf.push('-');
    digits(buf, t.month(), 2);
    buf.push('-');
    digits(buf, t.day(), 2);
    buf.push('T');
    digits(buf, t.hour(), 2);
    buf.push(':');
    digits(buf, t.minute(), 2);
    buf.push(':');
    digits(buf, t.second(), 2);
}

pub fn parse_ts(raw: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp '{raw}': {e}")))
}

/// A nullable timestamp column.
pub(crate) fn opt_ts(row: &AnyRow, col: &str) -> Result<Option<DateTime<Utc>>> {
    row.try_get::<Option<String>, _>(col)?
        .as_deref()
        .map(parse_ts)
        .transpose()
}

/// A text column read into a domain type; a value that does not parse is corrupt data,
/// named by what, id and column (never by its content, which may be personal data).
pub(crate) fn text_col<T: TextForm>(row: &AnyRow, col: &str, what: &str, id: i64) -> Result<T> {
    let raw: String = row.try_get(col)?;
    T::from_text(&raw).ok_or_else(|| StoreError::Corrupt(format!("{what} {id}: unreadable {col}")))
}

/// A nullable text column read into a domain type.
pub(crate) fn opt_text_col<T: TextForm>(
    row: &AnyRow,
    col: &str,
    what: &str,
    id: i64,
) -> Result<Option<T>> {
    let raw: Option<String> = row.try_get(col)?;
    raw.map(|raw| {
        T::from_text(&raw)
            .ok_or_else(|| StoreError::Corrupt(format!("{what} {id}: unreadable {col}")))
    })
    .transpose()
}

pub fn parse_date(raw: &str) -> Result<NaiveDate> {
    raw.parse()
        .map_err(|e| StoreError::Corrupt(format!("date '{raw}': {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_time_is_written_as_chrono_would() {
        let mut buf = String::new();
        for raw in [
            "2026-01-05T00:00:00",
            "2026-12-31T23:59:59",
            "0001-02-03T04:05:06",
            "9999-12-31T23:59:59",
            "2024-02-29T12:07:09",
        ] {
            let t = chrono::NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S").unwrap();
            event_time(&mut buf, t);
            assert_eq!(buf, raw);
        }
        let odd = chrono::NaiveDate::from_ymd_opt(12_345, 6, 7)
            .unwrap()
            .and_hms_opt(8, 9, 10)
            .unwrap();
        event_time(&mut buf, odd);
        assert_eq!(buf, odd.format("%Y-%m-%dT%H:%M:%S").to_string());
    }

    #[test]
    fn batches_respect_rows_and_bytes() {
        let pg = Batching::for_backend(Backend::Postgres);
        let items: Vec<usize> = vec![1; 12_000];
        let by_rows = pg.batches(&items, 6, |&n| n);
        assert_eq!(
            by_rows.iter().map(|b| b.len()).collect::<Vec<_>>(),
            [5_000, 5_000, 2_000]
        );
        let big: Vec<usize> = vec![6_000; 5];
        let by_bytes = pg.batches(&big, 6, |&n| n);
        assert_eq!(
            by_bytes.iter().map(|b| b.len()).collect::<Vec<_>>(),
            [2, 2, 1]
        );
        let huge = vec![1_000_000usize];
        assert_eq!(
            pg.batches(&huge, 6, |&n| n).len(),
            1,
            "a lone big row still goes"
        );
        assert!(pg.batches(&Vec::<usize>::new(), 6, |&n| n).is_empty());
        let lite = Batching::for_backend(Backend::Sqlite);
        assert_eq!(
            lite.batches(&big, 6, |&n| n).len(),
            1,
            "no byte cap without a network"
        );
        assert_eq!(lite.placeholders(2, 2), "(?, ?), (?, ?)");
        assert_eq!(pg.placeholders(2, 2), "($1, $2), ($3, $4)");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://app:secret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
        assert_eq!(redact("sqlite://a.db"), "sqlite://a.db");
    }
}
