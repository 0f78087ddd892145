//! A draw (stickprov) as stored: its seed, the population snapshot it was drawn from, the
//! execution day and who was selected for which period. How a draw is computed from its
//! seed is in `crate::draw`.

use std::collections::HashSet;
use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::org::{Member, Routine, SampleRule};
use crate::calendar::{Month, WindowRule};
use crate::ident::{RoutineId, StaffId, SystemId, UnitId};

/// The audit trail's name for a draw.
pub fn draw_object(id: i64) -> String {
    format!("draw:{id}")
}

/// 256 bits of OS randomness, stored with every draw.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Seed(pub [u8; 32]);

impl Seed {
    pub fn fresh() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(Self(bytes))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(raw: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(raw, &mut bytes).ok()?;
        Some(Self(bytes))
    }
}

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Seed({})", self.to_hex())
    }
}

/// The parts of a routine that shape a draw, stored with it so that verification does not
/// depend on today's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrawParams {
    pub sample: SampleRule,
    pub window: WindowRule,
    pub review_period_hours: u32,
}

impl DrawParams {
    pub fn of(routine: &Routine) -> Self {
        Self {
            sample: routine.sample,
            window: routine.window,
            review_period_hours: routine.review_period_hours,
        }
    }
}

/// One sampled person and the period of their activity to review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selected {
    pub staff_id: StaffId,
    pub username: String,
    pub review_from: DateTime<FixedOffset>,
    pub review_to: DateTime<FixedOffset>,
}

crate::text_enum! {
    /// Where a draw stands in its lifecycle.
    ///
    /// - `planned`: Made; its execution day has not come.
    /// - `running`: Claimed by a scheduler instance that is running it.
    /// - `done`: Ran on its execution day.
    /// - `late`: Ran after its execution day but within its window.
    /// - `missed`: Its whole window passed before it could run.
    pub enum DrawStatus {
        Planned = "planned", Running = "running", Done = "done", Late = "late",
        Missed = "missed",
    }
}

/// A draw as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Draw {
    pub id: i64,
    pub routine: RoutineId,
    pub unit: UnitId,
    pub system: SystemId,
    pub month: Month,
    pub params: DrawParams,
    pub seed: Seed,
    pub population: Vec<Member>,
    /// Members of the population already checked in the current coverage cycle (DESIGN.md
    /// §5), in population order: not due, so drawn only once every due member is taken.
    pub checked: Vec<StaffId>,
    pub execution_date: NaiveDate,
    pub window_end: NaiveDate,
    pub selected: Vec<Selected>,
    pub status: DrawStatus,
    pub created_at: DateTime<Utc>,
    pub executed_at: Option<DateTime<Utc>>,
}

/// Digests of a draw's parts, recorded in the audit trail when the draw is made. A later
/// edit that keeps seed, population and selection consistent with each other still shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digests {
    pub key: String,
    pub params: String,
    pub seed: String,
    pub population: String,
    pub selection: String,
}

fn sha256_json<T: Serialize + ?Sized>(value: &T) -> String {
    let bytes = serde_json::to_vec(value).expect("draw parts serialise");
    hex::encode(Sha256::digest(bytes))
}

impl Draw {
    pub fn digests(&self) -> Digests {
        Digests {
            key: sha256_json(&(
                self.routine.as_str(),
                self.unit.as_str(),
                self.system.as_str(),
                self.month.to_string(),
            )),
            params: sha256_json(&self.params),
            seed: sha256_json(&self.seed.to_hex()),
            // Draws made before coverage cycles had no `checked`; their digest stays as it was.
            population: if self.checked.is_empty() {
                sha256_json(&self.population)
            } else {
                sha256_json(&(&self.population, &self.checked))
            },
            selection: sha256_json(&(self.execution_date, self.window_end, &self.selected)),
        }
    }
}

/// What a routine's latest draw for a unit says about its coverage cycle: enough to tell who
/// is still due at the next draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleState {
    pub population_size: usize,
    /// Checked in the cycle before that draw.
    pub checked: Vec<StaffId>,
    /// Who that draw selected.
    pub selected: Vec<StaffId>,
}

impl CycleState {
    /// Who counts as checked in the current cycle after that draw. When the draw took more
    /// people than were due, it took every due one (ending the cycle) and began a new cycle
    /// with the rest, who are then the only ones checked in it.
    pub fn checked_after(&self) -> HashSet<StaffId> {
        let due = self.population_size.saturating_sub(self.checked.len());
        let before: HashSet<&StaffId> = self.checked.iter().collect();
        if self.selected.len() > due {
            self.selected
                .iter()
                .filter(|s| before.contains(s))
                .cloned()
                .collect()
        } else {
            self.checked.iter().chain(&self.selected).cloned().collect()
        }
    }
}
