//! One scheduler tick (DESIGN.md §1, §5): the stages of the plan, in order, each a function
//! of its own module that does one job and calls no later stage:
//!
//! 1. plan: the missing draws of every month up to the current one, and the scheduled
//!    targeted checks (whose orders then go out in this same tick);
//! 2. draws: run those whose execution day has come, creating their orders;
//! 3. orders: send, poll, fetch and import;
//! 4. tasks: a review task for every draw or check whose extracts are all in, and each
//!    staffed unit's yearly staff-information record when a year begins;
//! 5. notices: announce new tasks, remind, escalate, tell about overdue deliveries, deliver
//!    what is due;
//! 6. write-backs: retry outcomes not yet recorded in their source system;
//! 7. retention: purge the rows whose purpose has ended.
//!
//! Only one instance ticks at a time (the store's tick lease); the others skip.

use serde::Serialize;

use crate::checks;
use crate::clock::Clock;
use crate::connectors::Connectors;
use crate::draw::{self, PlanError, Seeds};
use crate::model::org::Organisation;
use crate::notify::{self, Notices};
use crate::orders::{OrderReport, Pipeline};
use crate::retention;
use crate::review::Review;
use crate::rules::Rules;
use crate::staff_information;
use crate::stage::Stage;
use crate::store::Store;
use crate::writeback::WriteBacks;

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Another instance was ticking; this one did nothing.
    pub skipped: bool,
    pub created: usize,
    pub done: Vec<i64>,
    pub late: Vec<i64>,
    pub missed: Vec<i64>,
    pub orders_created: usize,
    pub orders: OrderReport,
    pub review: ReviewReport,
}

/// What the tick did after the orders: tasks, notices, write-backs, retention.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReviewReport {
    pub tasks_created: usize,
    /// Open tasks that counted a later part of their draw.
    pub tasks_updated: usize,
    pub reminders: usize,
    pub escalations: usize,
    /// Notices queued about overdue deliveries (to whoever ordered, and the administrators).
    pub delivery_notices: usize,
    pub notices_sent: usize,
    pub notices_failed: usize,
    pub write_backs: usize,
    pub rows_purged: u64,
    pub tasks_purged: usize,
    pub checks_created: usize,
    /// Units given their yearly staff-information record (when a year begins).
    pub staff_information_created: usize,
}

/// Everything a tick works with.
pub struct Tick<'a> {
    pub store: &'a Store,
    pub org: &'a Organisation,
    pub connectors: &'a Connectors,
    pub clock: &'a Clock,
    /// Names this process in claims and in the audit trail (`scheduler:<instance>`).
    pub instance: &'a str,
    pub seeds: &'a Seeds,
}

/// One tick at the clock's time, with fresh OS seeds for any draw it makes.
pub async fn tick(
    store: &Store,
    org: &Organisation,
    connectors: &Connectors,
    clock: &Clock,
    instance: &str,
) -> Result<TickReport, PlanError> {
    Tick {
        store,
        org,
        connectors,
        clock,
        instance,
        seeds: &Seeds::Os,
    }
    .run()
    .await
}

impl Tick<'_> {
    /// Runs every stage, holding the tick lease; skips when another instance holds it.
    pub async fn run(&self) -> Result<TickReport, PlanError> {
        let Some(lease) = self.store.try_tick_lease().await? else {
            return Ok(TickReport {
                skipped: true,
                ..TickReport::default()
            });
        };
        let result = self.stages().await;
        lease.release().await;
        result
    }

    async fn stages(&self) -> Result<TickReport, PlanError> {
        let (store, org, clock) = (self.store, self.org, self.clock);
        let actor = format!("scheduler:{}", self.instance);
        let actor = actor.as_str();
        let mut laps = Laps::start();
        let mut report = TickReport {
            created: draw::plan_due(store, org, clock, actor, self.seeds).await?,
            ..TickReport::default()
        };
        report.review.checks_created =
            checks::schedule_protected(store, org, self.connectors, clock, actor).await?;
        laps.lap("plan");

        let run = draw::run_due(store, org, self.connectors, clock, self.instance, actor).await?;
        (report.done, report.late, report.missed) = (run.done, run.late, run.missed);
        report.orders_created = run.orders_created;
        laps.lap("draws");

        let cx = Stage::new(store, org, clock, actor);
        report.orders = Pipeline::new(cx, self.connectors).process().await?;
        laps.lap("orders");

        let rules = Rules::for_org(org);
        let review = Review::new(cx, &rules);
        report.review.tasks_updated = review.add_new_parts().await?;
        report.review.tasks_created = review.make_tasks().await?;
        report.review.staff_information_created = staff_information::create_yearly(&cx).await?;
        laps.lap("tasks");

        self.notices(cx, &mut report.review).await?;
        laps.lap("notices");

        let write_backs = WriteBacks { cx };
        report.review.write_backs = write_backs.retry_pending(self.connectors).await?;

        let (tasks, rows) = retention::purge(store, clock, actor).await?;
        report.review.tasks_purged = tasks;
        report.review.rows_purged = rows;
        laps.lap("write-backs and retention");
        Ok(report)
    }

    /// The notice stage: new tasks announced, reminders and escalations queued, and what is
    /// due delivered (unless no mailer can be made: then the notices wait, and say why).
    async fn notices(&self, cx: Stage<'_>, report: &mut ReviewReport) -> Result<(), PlanError> {
        let notices = Notices { cx };
        notices.announce().await?;
        (report.reminders, report.escalations) = notices.follow_up().await?;
        report.delivery_notices = notices.overdue_deliveries().await?;
        match notify::mailer(&self.org.notify, self.store.notice_dir()) {
            Ok(mailer) => {
                (report.notices_sent, report.notices_failed) =
                    notices.deliver(mailer.as_ref()).await?;
            }
            Err(e) => tracing::error!("notices cannot be sent: {e}"),
        }
        Ok(())
    }
}

/// Times a tick's stages. A stage that takes a second or more is logged with its time, so an
/// operator whose ticks grow long sees where (a region's first draw day takes minutes); the
/// tick of an ordinary minute logs nothing.
struct Laps(std::time::Instant);

impl Laps {
    fn start() -> Self {
        Self(std::time::Instant::now())
    }

    fn lap(&mut self, stage: &str) {
        let took = self.0.elapsed();
        if took >= std::time::Duration::from_secs(1) {
            tracing::info!(stage, seconds = took.as_secs_f64(), "tick stage took long");
        }
        self.0 = std::time::Instant::now();
    }
}
