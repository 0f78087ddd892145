//! `loggvakt demo`: the example organisation taken through two months on an accelerated
//! clock, in a fresh SQLite database, against the four simulated care systems (in-process, on
//! loopback ports): draws, orders by mail, portal, log overview and message, deliveries and
//! imports, reviews by the managers. It ends with a summary a newcomer can check.
//!
//! `--seed N` makes the run repeatable: the draws' seeds come from a stream derived from N
//! (each is stored with its draw, so verification is unchanged) and the simulators use N.

mod managers;
mod summary;
mod users;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use crate::calendar::{Month, local_date, start_of_day};
use crate::clock::Clock;
use crate::config;
use crate::connectors::Connectors;
use crate::draw::Seeds;
use crate::model::order::{DeliveryVia, OrderState};
use crate::model::org::{NotifyTransport, Organisation};
use crate::orders;
use crate::review::Review;
use crate::rules::Rules;
use crate::simulation;
use crate::stage::Stage;
use crate::store::Store;
use crate::tick::{Tick, TickReport};
use managers::Managers;

/// The example configuration, built in so the demo runs from any folder.
const EXAMPLE_TOML: &str = include_str!("../../schedules/example.toml");
const EXAMPLE_STAFF: &str = include_str!("../../schedules/staff.csv");
/// The simulators' seed when none is given.
const DEFAULT_SIM_SEED: u64 = 2027;

/// What the demo is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Its folder: configuration, database, notices, mails and extracts.
    pub dir: PathBuf,
    /// Its first month starts here (default: the current month).
    pub start: Option<DateTime<Utc>>,
    /// Repeatable draws and simulators; `None` draws from the OS as in production.
    pub seed: Option<u64>,
}

/// A running demo: the organisation, its database and the simulated systems.
struct Demo {
    dir: PathBuf,
    schedules: PathBuf,
    db: PathBuf,
    url: String,
    org: Organisation,
    sim: loggvakt_simulator::Simulator,
    store: Store,
    connectors: Connectors,
    rules: Rules,
    seeds: Seeds,
    inbox: PathBuf,
    notices: PathBuf,
    cosmic_imported: usize,
    /// The Cosmic report that came by post instead of as a file.
    by_post: Option<i64>,
}

pub async fn run(options: &Options) -> Result<()> {
    let mut demo = Demo::prepare(options).await?;
    let first = Month::of(local_date(options.start.unwrap_or_else(Utc::now)));
    let months = [first, first.next()];
    let mut managers = Managers::default();
    for month in months {
        println!("\n{month}");
        for day in month.days() {
            demo.day(day, &mut managers).await?;
        }
    }
    // The demo ends on the 7th of the third month: its draws have run and their tasks wait
    // for the managers, so whoever logs in as a reviewer has something to do.
    let third = months[1].next();
    println!("\n{third} (first week; the managers have not started)");
    managers.idle = true;
    for day in third.days().take(7) {
        demo.day(day, &mut managers).await?;
    }
    summary::print(&demo, months).await
}

/// Empties the files of an earlier demo in `dir`.
fn remove_previous(dir: &Path) -> Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let file = dir.join(format!("loggvakt.db{suffix}"));
        if file.exists() {
            std::fs::remove_file(&file)
                .with_context(|| format!("cannot remove the previous demo's {}", file.display()))?;
        }
    }
    let notices = dir.join("notices");
    if notices.exists() {
        std::fs::remove_dir_all(&notices)
            .with_context(|| format!("cannot empty the previous demo's {}", notices.display()))?;
    }
    Ok(())
}

impl Demo {
    async fn prepare(options: &Options) -> Result<Self> {
        let dir = options.dir.clone();
        let schedules = dir.join("schedules");
        std::fs::create_dir_all(&schedules)
            .with_context(|| format!("cannot create {}", schedules.display()))?;
        std::fs::write(schedules.join("example.toml"), EXAMPLE_TOML)?;
        std::fs::write(schedules.join("staff.csv"), EXAMPLE_STAFF)?;
        remove_previous(&dir)?;
        let mut org = config::load(&schedules)?;
        let sim_seed = options.seed.unwrap_or(DEFAULT_SIM_SEED);
        let sim = simulation::start(&org, sim_seed, loggvakt_simulator::Ports::any())
            .await
            .context("cannot start the simulated care systems")?;
        simulation::point_at(&mut org, &sim);
        let notices = dir.join("notices");
        org.notify.transport = NotifyTransport::Outbox(notices.clone());
        let inbox = dir.join("inbox");
        std::fs::create_dir_all(&inbox)?;
        let db = dir.join("loggvakt.db");
        let url = format!("sqlite://{}", db.display());
        let store = Store::open(&url).await?;
        println!(
            "{}: {} staff in {} units, {} systems, {} routines",
            org.name,
            org.staff.len(),
            org.units.len(),
            org.systems.len(),
            org.routines.len()
        );
        match options.seed {
            Some(seed) => println!("Seed {seed}: this run can be repeated with --seed {seed}"),
            None => println!(
                "Seeds from the operating system, as in production (--seed N repeats a run)"
            ),
        }
        let connectors = Connectors::for_org(&org);
        connectors.require_all().map_err(anyhow::Error::msg)?;
        Ok(Self {
            rules: Rules::for_org(&org),
            seeds: options.seed.map_or(Seeds::Os, Seeds::fixed),
            dir,
            schedules,
            db,
            url,
            org,
            sim,
            store,
            connectors,
            inbox,
            notices,
            cosmic_imported: 0,
            by_post: None,
        })
    }

    /// One simulated day: the tick at 06:00, the administrator's imports at 10:00, the
    /// managers' reviews at 14:00.
    async fn day(&mut self, day: NaiveDate, managers: &mut Managers) -> Result<()> {
        let at = start_of_day(day).with_timezone(&Utc) + TimeDelta::hours(6);
        let report = Tick {
            store: &self.store,
            org: &self.org,
            connectors: &self.connectors,
            clock: &Clock::starting_at(at),
            instance: "demo",
            seeds: &self.seeds,
        }
        .run()
        .await?;
        print_day(day, &report);
        self.import_cosmic(&Clock::starting_at(at + TimeDelta::hours(4)))
            .await?;
        let clock = Clock::starting_at(at + TimeDelta::hours(8));
        let review = Review::new(
            Stage::new(&self.store, &self.org, &clock, "demo:manager"),
            &self.rules,
        );
        managers.work(&review, &self.connectors).await
    }

    /// The journal unit answers Cosmic orders out of band; the administrator saves each
    /// encrypted file and imports it, as `extract import` does.
    async fn import_cosmic(&mut self, clock: &Clock) -> Result<()> {
        for order in self
            .store
            .orders(Some(OrderState::AwaitingDelivery))
            .await?
        {
            let Some(bytes) = self.sim.cosmic_extract(&order.idempotency_key) else {
                continue;
            };
            let cx = Stage::new(&self.store, &self.org, clock, "demo:administrator");
            let pipeline = orders::Pipeline::new(cx, &self.connectors);
            // The first report comes on paper (seed 000): it is marked delivered by post and
            // the manager records the review made from the paper.
            if self.by_post.is_none() {
                pipeline
                    .mark_delivered(order.id, DeliveryVia::Paper)
                    .await?;
                self.by_post = Some(order.id);
                continue;
            }
            let file = self.inbox.join(format!("{}.csv", order.reference));
            std::fs::write(&file, bytes)?;
            pipeline
                .import_file(order.id, &file)
                .await
                .with_context(|| format!("importing {}", file.display()))?;
            self.cosmic_imported += 1;
        }
        Ok(())
    }
}

/// What a day's tick did, in a line per kind of work.
fn print_day(day: NaiveDate, r: &TickReport) {
    if r.created > 0 {
        println!("  {day}  {} draws made for {}", r.created, Month::of(day));
    }
    let ran = r.done.len() + r.late.len();
    if ran > 0 || !r.missed.is_empty() {
        println!(
            "  {day}  {ran} draws ran ({} late), {} missed",
            r.late.len(),
            r.missed.len()
        );
    }
    let v = &r.review;
    if v.tasks_created + v.reminders + v.escalations + v.tasks_purged > 0 {
        println!(
            "  {day}  reviews: {} tasks handed to managers, {} reminders, {} escalations, rows of {} reviews purged",
            v.tasks_created, v.reminders, v.escalations, v.tasks_purged
        );
    }
    let o = &r.orders;
    if o.sent + o.fetched + o.delivered + o.failed + o.retried > 0 {
        println!(
            "  {day}  orders: {} sent, {} fetched at once (Sesam 2), {} delivered and imported, {} to retry, {} failed",
            o.sent, o.fetched, o.delivered, o.retried, o.failed
        );
    }
}
