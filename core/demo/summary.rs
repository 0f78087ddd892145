//! The demo's closing summary: what was drawn, ordered, reviewed and noticed, whether every
//! draw verifies and the audit trail is intact, and where to look closer.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use loggvakt_connector::ReviewOutcome;

use super::Demo;
use super::users::demo_users;
use crate::calendar::{Month, start_of_day};
use crate::draw;
use crate::model::case::Decision;
use crate::model::notice::NoticeKind;
use crate::model::task::{Task, TaskState};
use crate::store::audit::{self, Verdict};

#[derive(Default)]
struct SystemTally {
    draws: usize,
    population: usize,
    sampled: usize,
    states: BTreeMap<&'static str, usize>,
}

pub(super) async fn print(demo: &Demo, months: [Month; 2]) -> Result<()> {
    println!("\nSummary");
    let draw_ids = print_draws(demo, months).await?;
    print_orders(demo).await?;
    let tasks = demo.store.tasks(None).await?;
    print_reviews(demo, months, &tasks).await?;
    let outbox = save_order_mails(demo)?;
    match audit::verify(&demo.store).await? {
        Verdict::Intact { records, .. } => println!("  audit trail intact: {records} records"),
        Verdict::Broken { seq, reason } => println!("  audit trail BROKEN at #{seq}: {reason}"),
    }
    let logins = demo_users(&demo.store, &demo.org, &tasks).await?;
    println!("\nWeb logins (`serve`, then http://127.0.0.1:8480/):");
    for (username, role, password, note) in &logins {
        println!("  {role:<9} {username:<22} {password}  {note}");
    }
    println!("\nDatabase: {}", demo.db.display());
    println!("Configuration: {}", demo.schedules.display());
    println!(
        "Mail outbox (the Cosmic order mails as the journal unit received them): {}",
        outbox.display()
    );
    println!("Delivered Cosmic extracts: {}", demo.inbox.display());
    println!("Notices to managers: {}", demo.notices.display());
    print_hints(demo, months, &draw_ids, &tasks);
    Ok(())
}

/// Draws per system and state, and each verified from its seed; returns their ids.
async fn print_draws(demo: &Demo, months: [Month; 2]) -> Result<Vec<i64>> {
    let mut by_system: BTreeMap<String, SystemTally> = BTreeMap::new();
    let mut draw_ids = Vec::new();
    for month in months {
        for d in demo.store.draws_for_month(month).await? {
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
        let v = draw::verify_draw(&demo.store, *id)
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
    Ok(draw_ids)
}

async fn print_orders(demo: &Demo) -> Result<()> {
    println!("\n  {:<10} orders by state", "system");
    let mut per_system: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (system, state, n) in demo.store.order_counts().await? {
        per_system
            .entry(system)
            .or_default()
            .push(format!("{state} {n}"));
    }
    for (system, states) in &per_system {
        println!("  {system:<10} {}", states.join(", "));
    }
    println!(
        "  Cosmic extracts imported from files: {}",
        demo.cosmic_imported
    );
    Ok(())
}

/// Tasks and their outcomes, cases, notices, stored events and the simulators' count of
/// duplicate orders.
async fn print_reviews(demo: &Demo, months: [Month; 2], tasks: &[Task]) -> Result<()> {
    let store = &demo.store;
    let empty = store
        .draws_for_month(months[0])
        .await?
        .into_iter()
        .chain(store.draws_for_month(months[1]).await?)
        .filter(|d| d.selected.is_empty())
        .count();
    println!(
        "\n  review tasks: {} (one per draw with a sample; {empty} draws of units without staff of their own were empty)",
        tasks.len()
    );
    let count = |f: &dyn Fn(&Task) -> bool| tasks.iter().filter(|t| f(t)).count();
    println!(
        "  closed utan anmärkning {}, med anmärkning {}, open {}; reminded {}, escalated {}; rows purged for {}",
        count(&|t| t.outcome == Some(ReviewOutcome::UtanAnmarkning)),
        count(&|t| t.outcome == Some(ReviewOutcome::MedAnmarkning)),
        count(&|t| t.state == TaskState::Open),
        count(&|t| t.reminded_at.is_some()),
        count(&|t| t.escalated_at.is_some()),
        count(&|t| t.rows_purged_at.is_some()),
    );
    println!(
        "  outcomes written back to the source system (Lifecare notes): {}",
        count(&|t| t.write_back.as_deref() == Some("done"))
    );
    let flagged: i64 = tasks.iter().map(|t| t.flagged_events).sum();
    println!("  rows flagged by the rules: {flagged}");
    for c in store.cases().await? {
        println!(
            "  case {} (task G-{}, {}): {} steps, decision {}",
            c.id,
            c.task_id,
            c.unit,
            c.steps.len(),
            c.decision.map_or("none yet", Decision::as_str)
        );
    }
    let notes = store.notices(None).await?;
    let by_kind = |k: NoticeKind| notes.iter().filter(|n| n.kind == k).count();
    println!(
        "  notices in {}: {} new tasks, {} reminders, {} escalations",
        demo.notices.display(),
        by_kind(NoticeKind::Assigned),
        by_kind(NoticeKind::Reminder),
        by_kind(NoticeKind::Escalation)
    );
    println!("  access events stored: {}", store.event_count(None).await?);
    let stats = demo.sim.stats();
    println!(
        "  the simulated systems counted {} duplicate orders; the journal unit received {} order mails",
        stats.cosmic.duplicates
            + stats.treserva.duplicates
            + stats.sesam2.duplicates
            + stats.lifecare.duplicates,
        stats.mails_received
    );
    Ok(())
}

/// The Cosmic order mails as the journal unit received them, one `.eml` file each.
fn save_order_mails(demo: &Demo) -> Result<std::path::PathBuf> {
    let outbox = demo.dir.join("outbox");
    std::fs::create_dir_all(&outbox)?;
    for (i, mail) in demo.sim.mails().iter().enumerate() {
        // The bytes the journal unit's server received, as a mail client would open them.
        std::fs::write(outbox.join(format!("{:04}.eml", i + 1)), &mail.raw)?;
    }
    Ok(outbox)
}

/// Commands to look closer, naming the binary as it was started so they work without
/// loggvakt on the PATH.
fn print_hints(demo: &Demo, months: [Month; 2], draw_ids: &[i64], tasks: &[Task]) {
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
    let (url, schedules) = (&demo.url, demo.schedules.display());
    println!(
        "Look closer:\n  {exe} --db {url} --config {schedules} --now {} plan --month {}",
        start_of_day(months[1].last_day()).to_rfc3339(),
        months[1]
    );
    println!(
        "  {exe} --db {url} draw verify {}",
        draw_ids.first().copied().unwrap_or(1)
    );
    println!("  {exe} --db {url} review list --state all");
    if let Some(t) = tasks.iter().find(|t| t.rows_purged_at.is_none()) {
        println!("  {exe} --db {url} review show {} --flagged", t.id);
    }
    println!("  {exe} --db {url} case list");
    println!("  {exe} --db {url} audit verify");
    println!("  {exe} --db {url} --config {schedules} serve");
}
