//! What the busiest pages read, kept in memory while nothing changes. Every state change
//! appends to the audit trail, so the trail's last sequence number versions all stored data,
//! also across instances sharing a database; one cheap query tells whether a copy is current.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::model::task::{ReviewedPeriod, Task, TaskEvent, TaskUser, UserCoverage};
use crate::report::Compliance;
use crate::store::audit::Verdict;

/// A task with everything its page shows.
pub struct TaskData {
    pub task: Task,
    pub users: Vec<TaskUser>,
    pub events: Vec<TaskEvent>,
    pub periods: Vec<ReviewedPeriod>,
    pub case: Option<i64>,
    /// Where each sampled user stands (rows, reviewed outside loggvakt, missing).
    pub coverage: Vec<UserCoverage>,
    /// The work instruction for parts a person takes out by hand.
    pub instruction: Option<String>,
    /// The rows' HTML per filter `(user, flag)`, with how many rows it shows: valid exactly
    /// as long as this data, so it lives here.
    pub rows_html: Mutex<HashMap<RowsFilter, (Arc<String>, usize)>>,
}

/// A task page's filter: the user and the flag asked for.
pub type RowsFilter = (Option<String>, Option<String>);

/// Filters kept per task; the query string is the visitor's, so the map is bounded.
const MAX_FILTERS: usize = 64;

impl TaskData {
    pub fn rows_html(&self, filter: &RowsFilter) -> Option<(Arc<String>, usize)> {
        let map = self.rows_html.lock().ok()?;
        map.get(filter).cloned()
    }

    pub fn keep_rows_html(&self, filter: RowsFilter, html: Arc<String>, shown: usize) {
        if let Ok(mut map) = self.rows_html.lock() {
            if map.len() >= MAX_FILTERS {
                map.clear();
            }
            map.insert(filter, (html, shown));
        }
    }
}

/// A year's report and its page; the clock's minute is part of the key because overdue
/// work and the coverage window move with time.
pub struct ReportData {
    pub compliance: Compliance,
    pub html: String,
}

/// `(audit sequence number, minute)`: the version a report was computed at.
type ReportKey = (i64, i64);

#[derive(Default)]
pub struct Cache {
    pub tasks: Versioned<i64, i64, TaskData>,
    pub reports: Versioned<i32, ReportKey, ReportData>,
    /// Held while a report is computed: one computation at a time, never fifty readers each
    /// computing the same report when the minute turns.
    pub report_build: tokio::sync::Mutex<()>,
    chain: Mutex<Option<ChainEntry>>,
}

impl Cache {
    /// The verdict computed at this head, unless older than [`CHAIN_TTL`].
    pub fn chain(&self, head: &(i64, String)) -> Option<Verdict> {
        let entry = self.chain.lock().ok()?;
        entry
            .as_ref()
            .filter(|(h, at, _)| h == head && at.elapsed() < CHAIN_TTL)
            .map(|(_, _, v)| v.clone())
    }

    pub fn put_chain(&self, head: (i64, String), verdict: Verdict) {
        if let Ok(mut entry) = self.chain.lock() {
            *entry = Some((head, Instant::now(), verdict));
        }
    }
}

/// The chain's verdict, the head `(seq, hash)` it was computed at, and when.
type ChainEntry = ((i64, String), Instant, Verdict);

/// How long a verdict of an unchanged head is trusted. Walking the whole chain on every view
/// of `/revision` costs seconds on a long trail; a record changed in the middle (the head
/// unchanged) is still found within this time, and at once by `audit verify`.
pub const CHAIN_TTL: Duration = Duration::from_secs(300);

/// Few entries are hot at once; beyond this many the map is simply emptied.
const MAX_ENTRIES: usize = 512;

/// Values by key, each valid only at the version it was computed at.
pub struct Versioned<K, Ver, V>(Mutex<HashMap<K, (Ver, Arc<V>)>>);

impl<K, Ver, V> Default for Versioned<K, Ver, V> {
    fn default() -> Self {
        Self(Mutex::new(HashMap::new()))
    }
}

impl<K: Eq + Hash, Ver: PartialEq, V> Versioned<K, Ver, V> {
    pub fn get(&self, key: &K, version: &Ver) -> Option<Arc<V>> {
        let map = self.0.lock().ok()?;
        map.get(key)
            .filter(|(v, _)| v == version)
            .map(|(_, d)| d.clone())
    }

    /// The value kept for `key` at whatever version, with that version.
    pub fn latest(&self, key: &K) -> Option<(Ver, Arc<V>)>
    where
        Ver: Clone,
    {
        let map = self.0.lock().ok()?;
        map.get(key).map(|(v, d)| (v.clone(), d.clone()))
    }

    pub fn put(&self, key: K, version: Ver, data: Arc<V>) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(key, (version, data));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::audit::ChainHead;

    #[test]
    fn a_chain_verdict_holds_for_its_head_only() {
        let cache = Cache::default();
        let head = (7, "abc".to_owned());
        assert!(cache.chain(&head).is_none());
        let verdict = Verdict::Intact {
            records: 7,
            head: ChainHead {
                seq: 7,
                hash: "abc".into(),
            },
        };
        cache.put_chain(head.clone(), verdict.clone());
        assert_eq!(cache.chain(&head), Some(verdict));
        assert!(
            cache.chain(&(8, "def".to_owned())).is_none(),
            "a new record"
        );
        assert!(
            cache.chain(&(7, "xyz".to_owned())).is_none(),
            "the same length, another last record"
        );
    }
}
