//! The append-only audit trail. It lives in the store because every write transaction
//! extends it (`WriteTx::audit`). Each record's hash covers its own fields and the previous
//! record's hash, so editing, inserting or deleting any record breaks the chain from there
//! on, and `audit verify` names the first record that no longer fits.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;

use super::{Batching, Result, Store, ts};

/// The hash that the first record chains to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The last record's sequence number and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: String,
}

pub struct NewRecord<'a> {
    /// The clock's time (which `--now` may set); the real time is recorded beside it.
    pub at: DateTime<Utc>,
    pub actor: &'a str,
    pub action: &'a str,
    pub object: &'a str,
    /// Never personal data about patients; ids and counts only.
    pub details: serde_json::Value,
}

/// A stored record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Record {
    pub seq: i64,
    pub at: String,
    pub recorded_at: String,
    pub actor: String,
    pub action: String,
    pub object: String,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

impl Record {
    /// The hash this record should carry, computed from its fields.
    pub fn expected_hash(&self) -> String {
        let mut h = Sha256::new();
        // Length-prefixed fields, so no two different records hash the same input.
        for field in [
            self.seq.to_string().as_str(),
            &self.at,
            &self.recorded_at,
            &self.actor,
            &self.action,
            &self.object,
            &self.details,
            &self.prev_hash,
        ] {
            h.update((field.len() as u64).to_le_bytes());
            h.update(field.as_bytes());
        }
        hex::encode(h.finalize())
    }

    pub fn details_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.details).unwrap_or(serde_json::Value::Null)
    }
}

pub(crate) async fn head(conn: &mut AnyConnection) -> Result<ChainHead> {
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(conn)
            .await?;
    Ok(match row {
        Some((seq, hash)) => ChainHead { seq, hash },
        None => ChainHead {
            seq: 0,
            hash: GENESIS.to_owned(),
        },
    })
}

/// Appends records after `head`, chained in order, and advances it; one statement for all.
/// The caller holds the write lock (see `Store::begin_write`), so nobody else can extend
/// the chain meanwhile.
pub(crate) async fn append(
    conn: &mut AnyConnection,
    batching: Batching,
    head: &mut ChainHead,
    new: Vec<NewRecord<'_>>,
) -> Result<i64> {
    if new.is_empty() {
        return Ok(head.seq);
    }
    let recorded_at = ts(Utc::now());
    let mut records = Vec::with_capacity(new.len());
    for n in new {
        let mut record = Record {
            seq: head.seq + 1,
            at: ts(n.at),
            recorded_at: recorded_at.clone(),
            actor: n.actor.to_owned(),
            action: n.action.to_owned(),
            object: n.object.to_owned(),
            details: n.details.to_string(),
            prev_hash: head.hash.clone(),
            hash: String::new(),
        };
        record.hash = record.expected_hash();
        *head = ChainHead {
            seq: record.seq,
            hash: record.hash.clone(),
        };
        records.push(record);
    }
    let record_bytes = |r: &Record| 200 + r.details.len() + r.object.len() + r.actor.len();
    for batch in batching.batches(&records, 9, record_bytes) {
        let sql = format!(
            "INSERT INTO audit_log (seq, at, recorded_at, actor, action, object, details, prev_hash, hash) \
             VALUES {}",
            batching.placeholders(batch.len(), 9)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in batch {
            query = query
                .bind(r.seq)
                .bind(&r.at)
                .bind(&r.recorded_at)
                .bind(&r.actor)
                .bind(&r.action)
                .bind(&r.object)
                .bind(&r.details)
                .bind(&r.prev_hash)
                .bind(&r.hash);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(head.seq)
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Intact { records: i64, head: ChainHead },
    Broken { seq: i64, reason: String },
}

const PAGE: i64 = 5_000;

/// Walks the whole chain in pages, so memory stays flat however long the trail is.
pub async fn verify(store: &Store) -> Result<Verdict> {
    let genesis = ChainHead {
        seq: 0,
        hash: GENESIS.to_owned(),
    };
    verify_from(store, genesis).await
}

/// Walks the chain after `from`, a record already known to be good (its sequence number and
/// hash), so that checking what was added since costs only the new records.
pub async fn verify_from(store: &Store, from: ChainHead) -> Result<Verdict> {
    let mut expected = from;
    loop {
        let page: Vec<Record> = sqlx::query_as(
            "SELECT seq, at, recorded_at, actor, action, object, details, prev_hash, hash \
             FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(expected.seq)
        .bind(PAGE)
        .fetch_all(store.pool())
        .await?;
        let Some(last) = page.last().map(|r| r.seq) else {
            return Ok(Verdict::Intact {
                records: expected.seq,
                head: expected,
            });
        };
        for r in page {
            let broken = |reason: String| Ok(Verdict::Broken { seq: r.seq, reason });
            if r.seq != expected.seq + 1 {
                return broken(format!(
                    "records {} to {} are missing",
                    expected.seq + 1,
                    r.seq - 1
                ));
            }
            if r.prev_hash != expected.hash {
                return broken("its link to the previous record does not match".into());
            }
            if r.hash != r.expected_hash() {
                return broken("its content was changed after it was written".into());
            }
            expected = ChainHead {
                seq: r.seq,
                hash: r.hash,
            };
        }
        debug_assert_eq!(expected.seq, last);
    }
}

/// The hash of record `seq`, if the trail holds it.
pub async fn hash_at(store: &Store, seq: i64) -> Result<Option<String>> {
    let row: Option<(String,)> = sqlx::query_as("SELECT hash FROM audit_log WHERE seq = $1")
        .bind(seq)
        .fetch_optional(store.pool())
        .await?;
    Ok(row.map(|(h,)| h))
}

/// The records about one object, oldest first.
pub async fn for_object(store: &Store, object: &str) -> Result<Vec<Record>> {
    Ok(sqlx::query_as(
        "SELECT seq, at, recorded_at, actor, action, object, details, prev_hash, hash \
         FROM audit_log WHERE object = $1 ORDER BY seq",
    )
    .bind(object)
    .fetch_all(store.pool())
    .await?)
}

/// The newest records, at most `limit`, those before `before` (a sequence number) when given.
pub async fn page(store: &Store, before: Option<i64>, limit: i64) -> Result<Vec<Record>> {
    Ok(sqlx::query_as(
        "SELECT seq, at, recorded_at, actor, action, object, details, prev_hash, hash \
         FROM audit_log WHERE seq < $1 ORDER BY seq DESC LIMIT $2",
    )
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(store.pool())
    .await?)
}

/// The last record's sequence number: every state change writes a record, so this is a
/// version of everything stored, and what the web caches are keyed by.
/// The chain's head now (for caching what depends on the whole trail).
pub async fn current_head(store: &Store) -> Result<ChainHead> {
    let mut conn = store.pool().acquire().await?;
    head(&mut conn).await
}

pub async fn head_seq(store: &Store) -> Result<i64> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT seq FROM audit_log ORDER BY seq DESC LIMIT 1")
        .fetch_optional(store.pool())
        .await?;
    Ok(row.map_or(0, |(s,)| s))
}
