//! What the busiest pages read, kept in memory while nothing changes. Every state change
//! appends to the audit trail, so the trail's last sequence number versions all stored data,
//! also across instances sharing a database; one cheap query tells whether a copy is current.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use crate::model::task::{ReviewedPeriod, Task, TaskEvent, TaskUser};
use crate::report::Compliance;

/// A task with everything its page shows.
pub struct TaskData {
    pub task: Task,
    pub users: Vec<TaskUser>,
    pub events: Vec<TaskEvent>,
    pub periods: Vec<ReviewedPeriod>,
    pub case: Option<i64>,
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
}

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

    pub fn put(&self, key: K, version: Ver, data: Arc<V>) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(key, (version, data));
        }
    }
}
