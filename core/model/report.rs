//! The compliance report's figures of one unit × system × month (definitions in
//! `crate::report`), as the store counts them and the report adds them up.

use std::ops::AddAssign;

use serde::{Deserialize, Serialize};

/// The counts of a unit × system × month, and of every total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub planned: i64,
    pub empty: i64,
    pub done_on_time: i64,
    pub late: i64,
    pub missed: i64,
    pub in_progress: i64,
    pub overdue: i64,
    pub waiting: i64,
    pub utan_anmarkning: i64,
    pub med_anmarkning: i64,
    pub open_cases: i64,
    /// Closed reviews in which at least one sampled user's log was read outside loggvakt
    /// (on screen, on paper, from a Cryptshare file or a message): how the review was made.
    #[serde(default)]
    pub reviewed_outside: i64,
    /// Closed reviews made by hand: a part taken out by a person (manual mode) or delivered
    /// outside loggvakt (post, Cryptshare, a message), or a user reviewed outside it.
    #[serde(default)]
    pub by_hand: i64,
}

impl AddAssign for Counts {
    fn add_assign(&mut self, o: Self) {
        self.planned += o.planned;
        self.empty += o.empty;
        self.done_on_time += o.done_on_time;
        self.late += o.late;
        self.missed += o.missed;
        self.in_progress += o.in_progress;
        self.overdue += o.overdue;
        self.waiting += o.waiting;
        self.utan_anmarkning += o.utan_anmarkning;
        self.med_anmarkning += o.med_anmarkning;
        self.open_cases += o.open_cases;
        self.reviewed_outside += o.reviewed_outside;
        self.by_hand += o.by_hand;
    }
}
