//! What the busiest pages read, kept in memory while nothing changes. Every state change
//! appends to the audit trail, so the trail's last sequence number versions all stored data,
//! also across instances sharing a database; one cheap query tells whether a copy is current.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::model::task::{Task, TaskEvent, TaskUser};
use crate::report::Compliance;

/// A task with everything its page shows.
pub struct TaskData {
    pub task: Task,
    pub users: Vec<TaskUser>,
    pub events: Vec<TaskEvent>,
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
    tasks: Mutex<HashMap<i64, (i64, Arc<TaskData>)>>,
    reports: Mutex<HashMap<i32, (ReportKey, Arc<ReportData>)>>,
}

/// Few entries are hot at once; beyond this many the map is simply emptied.
const MAX_ENTRIES: usize = 512;

impl Cache {
    pub fn task(&self, id: i64, version: i64) -> Option<Arc<TaskData>> {
        let map = self.tasks.lock().ok()?;
        map.get(&id)
            .filter(|(v, _)| *v == version)
            .map(|(_, d)| d.clone())
    }

    pub fn put_task(&self, id: i64, version: i64, data: Arc<TaskData>) {
        if let Ok(mut map) = self.tasks.lock() {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(id, (version, data));
        }
    }

    pub fn report(&self, year: i32, key: ReportKey) -> Option<Arc<ReportData>> {
        let map = self.reports.lock().ok()?;
        map.get(&year)
            .filter(|(k, _)| *k == key)
            .map(|(_, d)| d.clone())
    }

    pub fn put_report(&self, year: i32, key: ReportKey, data: Arc<ReportData>) {
        if let Ok(mut map) = self.reports.lock() {
            map.insert(year, (key, data));
        }
    }
}
