//! The random draw of a stickprov (DESIGN.md §5): computing it from a seed, planning a
//! month's draws, running them when their day comes, and verifying them afterwards.

mod compute;
mod plan;
mod run;
mod seeds;
mod verify;

pub use compute::{Outcome, compute};
pub use plan::{PlanError, PlanReport, orphaned_work, orphans, plan_due, plan_month};
pub use run::{DrawsRun, run_due};
pub use seeds::Seeds;
pub use verify::{Verification, verify_draw};
