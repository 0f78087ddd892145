//! The time loggvakt acts on. `--now` moves it for trials and tests; it then runs on from
//! there at normal speed, so `serve --now …` behaves like a server started at that instant.
//! Audit records keep the real time beside the clock's.

use chrono::{DateTime, TimeDelta, Utc};

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    offset: TimeDelta,
}

impl Clock {
    pub fn system() -> Self {
        Self {
            offset: TimeDelta::zero(),
        }
    }

    /// A clock that reads `start` now.
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Self {
            offset: start - Utc::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset
    }
}
