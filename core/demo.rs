//! `loggvakt demo`: the example organisation taken through two months on an accelerated
//! clock, in a fresh SQLite database, ending with a summary a newcomer can check.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, TimeDelta, Utc};

use crate::audit::{self, Verdict};
use crate::calendar::{Month, local_date, start_of_day};
use crate::clock::Clock;
use crate::config;
use crate::connectors::Connectors;
use crate::scheduler;
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
    let org = config::load(&schedules)?;
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
    match audit::verify(&store).await? {
        Verdict::Intact { records, .. } => println!("  audit trail intact: {records} records"),
        Verdict::Broken { seq, reason } => println!("  audit trail BROKEN at #{seq}: {reason}"),
    }
    println!("\nDatabase: {}", db.display());
    println!("Configuration: {}", schedules.display());
    println!(
        "Look closer:\n  loggvakt --db {url} --config {} --now {} plan --month {}",
        schedules.display(),
        start_of_day(months[1].last_day()).to_rfc3339(),
        months[1]
    );
    println!(
        "  loggvakt --db {url} draw verify {}",
        draw_ids.first().copied().unwrap_or(1)
    );
    println!("  loggvakt --db {url} audit verify");
    Ok(())
}
