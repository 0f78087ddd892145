//! `loggvakt demo`: the example organisation taken through two months on an accelerated
//! clock, in a fresh SQLite database, against the four simulated care systems (in-process, on
//! loopback ports): draws, orders by mail, portal, log overview and message, deliveries and
//! imports. It ends with a summary a newcomer can check.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, TimeDelta, Utc};

use crate::audit::{self, Verdict};
use crate::calendar::{Month, local_date, start_of_day};
use crate::clock::Clock;
use crate::config;
use crate::connectors::Connectors;
use crate::orders::{self, OrderState};
use crate::scheduler;
use crate::simulation;
use crate::store::Store;

/// The example configuration, built in so the demo runs from any folder.
const EXAMPLE_TOML: &str = include_str!("../schedules/example.toml");
const EXAMPLE_STAFF: &str = include_str!("../schedules/staff.csv");

#[derive(Default)]
struct SystemTally {
    draws: usize,
    population: usize,
    sampled: usize,
    states: BTreeMap<&'static str, usize>,
}

pub async fn run(dir: &Path, start: Option<DateTime<Utc>>) -> Result<()> {
    let schedules = dir.join("schedules");
    std::fs::create_dir_all(&schedules)
        .with_context(|| format!("cannot create {}", schedules.display()))?;
    std::fs::write(schedules.join("example.toml"), EXAMPLE_TOML)?;
    std::fs::write(schedules.join("staff.csv"), EXAMPLE_STAFF)?;
    let db = dir.join("loggvakt.db");
    for suffix in ["", "-wal", "-shm"] {
        let file = dir.join(format!("loggvakt.db{suffix}"));
        if file.exists() {
            std::fs::remove_file(&file)
                .with_context(|| format!("cannot remove the previous demo's {}", file.display()))?;
        }
    }
    let mut org = config::load(&schedules)?;
    let sim = simulation::start(&org, 2027, loggvakt_simulator::Ports::any())
        .await
        .context("cannot start the simulated care systems")?;
    simulation::point_at(&mut org, &sim);
    let inbox = dir.join("inbox");
    std::fs::create_dir_all(&inbox)?;
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

    let first = Month::of(local_date(start.unwrap_or_else(Utc::now)));
    let months = [first, first.next()];
    let instance = "demo";
    let connectors = Connectors::for_org(&org);
    connectors.require_all().map_err(anyhow::Error::msg)?;
    let mut cosmic_imported = 0;
    for month in months {
        println!("\n{month}");
        for day in month.days() {
            // Each day's tick at 06:00 local time.
            let at = start_of_day(day).with_timezone(&Utc) + TimeDelta::hours(6);
            let r = scheduler::tick(&store, &org, &connectors, &Clock::starting_at(at), instance)
                .await?;
            if r.created > 0 {
                println!("  {day}  {} draws made for {month}", r.created);
            }
            let ran = r.done.len() + r.late.len();
            if ran > 0 || !r.missed.is_empty() {
                println!(
                    "  {day}  {ran} draws ran ({} late), {} missed",
                    r.late.len(),
                    r.missed.len()
                );
            }
            let o = &r.orders;
            if o.sent + o.fetched + o.delivered + o.failed + o.retried > 0 {
                println!(
                    "  {day}  orders: {} sent, {} fetched at once (Sesam 2), {} delivered and imported, {} to retry, {} failed",
                    o.sent, o.fetched, o.delivered, o.retried, o.failed
                );
            }
            // The journal unit answers Cosmic orders out of band; the administrator saves
            // each encrypted file and imports it, as `extract import` does.
            let clock = Clock::starting_at(at + TimeDelta::hours(4));
            for order in store.orders(Some(OrderState::AwaitingDelivery)).await? {
                let Some(bytes) = sim.cosmic_extract(&order.idempotency_key) else {
                    continue;
                };
                let file = inbox.join(format!("{}.csv", order.reference));
                std::fs::write(&file, bytes)?;
                let pipeline = orders::Pipeline {
                    store: &store,
                    org: &org,
                    connectors: &connectors,
                    clock: &clock,
                    actor: "demo:administrator",
                };
                pipeline
                    .import_file(order.id, &file)
                    .await
                    .with_context(|| format!("importing {}", file.display()))?;
                cosmic_imported += 1;
            }
        }
    }

    println!("\nSummary");
    let mut by_system: BTreeMap<String, SystemTally> = BTreeMap::new();
    let mut draw_ids = Vec::new();
    for month in months {
        for d in store.draws_for_month(month).await? {
            let e = by_system.entry(d.system.to_string()).or_default();
            e.draws += 1;
            e.population += d.population.len();
            e.sampled += d.selected.len();
            *e.states.entry(d.status.as_str()).or_default() += 1;
            draw_ids.push(d.id);
        }
    }
    println!(
        "  {:<10} {:>6} {:>11} {:>8}  states",
        "system", "draws", "population", "sampled"
    );
    for (system, t) in &by_system {
        let (draws, population, sampled) = (t.draws, t.population, t.sampled);
        let states: Vec<String> = t.states.iter().map(|(s, n)| format!("{s} {n}")).collect();
        println!(
            "  {system:<10} {draws:>6} {population:>11} {sampled:>8}  {}",
            states.join(", ")
        );
    }
    let mut verified = 0;
    for id in &draw_ids {
        let v = scheduler::verify_draw(&store, *id)
            .await?
            .context("a listed draw vanished")?;
        if v.differences.is_empty() {
            verified += 1;
        }
    }
    println!(
        "  draws verified from their seeds: {verified} of {}",
        draw_ids.len()
    );
    println!("\n  {:<10} orders by state", "system");
    let mut per_system: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (system, state, n) in store.order_counts().await? {
        per_system
            .entry(system)
            .or_default()
            .push(format!("{state} {n}"));
    }
    for (system, states) in &per_system {
        println!("  {system:<10} {}", states.join(", "));
    }
    println!("  Cosmic extracts imported from files: {cosmic_imported}");
    println!("  access events stored: {}", store.event_count(None).await?);
    let stats = sim.stats();
    println!(
        "  the simulated systems counted {} duplicate orders; the journal unit received {} order mails",
        stats.cosmic.duplicates
            + stats.treserva.duplicates
            + stats.sesam2.duplicates
            + stats.lifecare.duplicates,
        stats.mails_received
    );
    let outbox = dir.join("outbox");
    std::fs::create_dir_all(&outbox)?;
    for (i, mail) in sim.mails().iter().enumerate() {
        let text = format!(
            "From: {}\nTo: {}\nSubject: {}\nMessage-ID: {}\n\n{}",
            mail.from,
            mail.to.join(", "),
            mail.subject,
            mail.message_id.as_deref().unwrap_or(""),
            mail.body
        );
        std::fs::write(outbox.join(format!("{:04}.eml", i + 1)), text)?;
    }
    match audit::verify(&store).await? {
        Verdict::Intact { records, .. } => println!("  audit trail intact: {records} records"),
        Verdict::Broken { seq, reason } => println!("  audit trail BROKEN at #{seq}: {reason}"),
    }
    println!("\nDatabase: {}", db.display());
    println!("Configuration: {}", schedules.display());
    println!(
        "Mail outbox (the Cosmic order mails as the journal unit received them): {}",
        outbox.display()
    );
    println!("Delivered Cosmic extracts: {}", inbox.display());
    // The binary as it was started, so the hints work without loggvakt on the PATH.
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| {
            let cwd = std::env::current_dir().ok()?;
            Some(
                p.strip_prefix(&cwd)
                    .map(|r| format!("./{}", r.display()))
                    .unwrap_or_else(|_| p.display().to_string()),
            )
        })
        .unwrap_or_else(|| "loggvakt".into());
    println!(
        "Look closer:\n  {exe} --db {url} --config {} --now {} plan --month {}",
        schedules.display(),
        start_of_day(months[1].last_day()).to_rfc3339(),
        months[1]
    );
    println!(
        "  {exe} --db {url} draw verify {}",
        draw_ids.first().copied().unwrap_or(1)
    );
    println!("  {exe} --db {url} audit verify");
    Ok(())
}
