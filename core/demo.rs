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
use crate::review::Review;
use crate::scheduler;
use crate::simulation;
use crate::store::Store;
use loggvakt_connector::ReviewOutcome;

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
    let notices = dir.join("notices");
    if notices.exists() {
        std::fs::remove_dir_all(&notices)
            .with_context(|| format!("cannot empty the previous demo's {}", notices.display()))?;
    }
    org.notify.transport = crate::org::NotifyTransport::Outbox(notices.clone());
    let rules = crate::rules::Rules::for_org(&org);
    let mut managers = Managers::default();
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
            // The managers at work, later the same day.
            let clock = Clock::starting_at(at + TimeDelta::hours(8));
            let review = Review {
                store: &store,
                org: &org,
                rules: &rules,
                clock: &clock,
                actor: "demo:manager",
            };
            managers.work(&review, &connectors).await?;
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
    let tasks = store.tasks(None).await?;
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
    let count = |f: &dyn Fn(&crate::review::Task) -> bool| tasks.iter().filter(|t| f(t)).count();
    println!(
        "  closed utan anmärkning {}, med anmärkning {}, open {}; reminded {}, escalated {}; rows purged for {}",
        count(&|t| t.outcome == Some(ReviewOutcome::UtanAnmarkning)),
        count(&|t| t.outcome == Some(ReviewOutcome::MedAnmarkning)),
        count(&|t| t.state == crate::review::TaskState::Open),
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
            c.decision
                .map_or("none yet", crate::cases::Decision::as_str)
        );
    }
    let notes = store.notices(None).await?;
    let by_kind = |k: crate::review::NoticeKind| notes.iter().filter(|n| n.kind == k).count();
    println!(
        "  notices in {}: {} new tasks, {} reminders, {} escalations",
        notices.display(),
        by_kind(crate::review::NoticeKind::Assigned),
        by_kind(crate::review::NoticeKind::Reminder),
        by_kind(crate::review::NoticeKind::Escalation)
    );
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
    let logins = demo_users(&store, &org, &tasks).await?;
    println!("\nWeb logins (`serve`, then http://127.0.0.1:8480/):");
    for (username, role, password, note) in &logins {
        println!("  {role:<9} {username:<22} {password}  {note}");
    }
    println!("\nDatabase: {}", db.display());
    println!("Configuration: {}", schedules.display());
    println!(
        "Mail outbox (the Cosmic order mails as the journal unit received them): {}",
        outbox.display()
    );
    println!("Delivered Cosmic extracts: {}", inbox.display());
    println!("Notices to managers: {}", notices.display());
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
    println!("  {exe} --db {url} review list --state all");
    if let Some(t) = tasks.iter().find(|t| t.rows_purged_at.is_none()) {
        println!("  {exe} --db {url} review show {} --flagged", t.id);
    }
    println!("  {exe} --db {url} case list");
    println!("  {exe} --db {url} audit verify");
    println!("  {exe} --db {url} --config {} serve", schedules.display());
    Ok(())
}

/// The unit managers of the demo, acting on a fixed pattern so that every part of the review
/// flow shows: most review within two days; every fifth waits for the reminder; the first
/// task waits for the escalation; the first task with flagged rows (other than that one) is
/// closed with a remark, and its case is followed to a decision.
#[derive(Default)]
struct Managers {
    remark_given: bool,
}

impl Managers {
    async fn work(&mut self, review: &Review<'_>, connectors: &Connectors) -> Result<()> {
        let now = review.clock.now();
        let open = review
            .store
            .tasks(Some(crate::review::TaskState::Open))
            .await?;
        let first = review.store.tasks(None).await?.first().map(|t| t.id);
        for (i, task) in open.iter().enumerate() {
            let due = if Some(task.id) == first {
                task.escalated_at.is_some()
            } else if task.id % 5 == 1 {
                task.reminded_at.is_some()
            } else {
                now - task.created_at >= TimeDelta::days(2)
            };
            if !due {
                continue;
            }
            let remark = !self.remark_given && Some(task.id) != first && task.flagged_events > 0;
            let by = task.reviewer_email.clone();
            if remark {
                self.remark_given = true;
                let done = review
                    .complete(
                        task.id,
                        ReviewOutcome::MedAnmarkning,
                        Some("Flaggad åtkomst som inte kan förklaras av schema eller uppdrag; samtal med medarbetaren bokat."),
                        &by,
                        true,
                        connectors,
                    )
                    .await?;
                if let Some(case) = done.case {
                    use crate::cases::{Decision, Step, decide, record_step};
                    for (step, note) in [
                        (
                            Step::ContactEmployee,
                            "Samtal hållet: medarbetaren täckte upp för en kollega på natten.",
                        ),
                        (
                            Step::TargetedCheck,
                            "Riktad kontroll av användaren över två veckor: inget mer avvikande.",
                        ),
                        (Step::InformChief, "Verksamhetschefen informerad."),
                    ] {
                        record_step(review.store, review.clock, &by, case, step, note).await?;
                    }
                    decide(
                        review.store,
                        review.clock,
                        "demo:verksamhetschef",
                        case,
                        Decision::NoBreach,
                        "Åtkomsten hade stöd i ett tillfälligt uppdrag; ingen överträdelse.",
                    )
                    .await?;
                }
            } else {
                review
                    .complete(
                        task.id,
                        ReviewOutcome::UtanAnmarkning,
                        None,
                        &by,
                        true,
                        connectors,
                    )
                    .await?;
            }
            let _ = i;
        }
        Ok(())
    }
}

/// One web user per role, with generated passwords, printed once.
async fn demo_users(
    store: &Store,
    org: &crate::org::Organisation,
    tasks: &[crate::review::Task],
) -> Result<Vec<(String, &'static str, String, String)>> {
    use crate::auth::{Role, hash_password};
    use crate::store::users::NewUser;
    let mut per_manager: BTreeMap<&str, usize> = BTreeMap::new();
    for t in tasks {
        *per_manager.entry(t.reviewer_email.as_str()).or_default() += 1;
    }
    // The manager of the task closed with remark: its rows and flags are kept with the
    // case, so their pages have rows to show; else the manager with the most tasks.
    let with_case = match store.cases().await?.first() {
        Some(c) => store.task(c.task_id).await?.map(|t| t.reviewer_email),
        None => None,
    };
    let reviewer = with_case.or_else(|| {
        per_manager
            .iter()
            .max_by_key(|(email, n)| (**n, std::cmp::Reverse(**email)))
            .map(|(e, _)| (*e).to_owned())
    });
    let reviewer_unit = org
        .units
        .iter()
        .find(|u| Some(&u.manager.email) == reviewer.as_ref());
    let mut out = Vec::new();
    let mut people = vec![
        (
            "admin".to_owned(),
            Role::Admin,
            "Systemförvaltare Demo".to_owned(),
            "admin@example.se".to_owned(),
            String::new(),
        ),
        (
            "ledning".to_owned(),
            Role::Executive,
            "Ledningen Demo".to_owned(),
            "ledning@example.se".to_owned(),
            String::new(),
        ),
        (
            "revisor".to_owned(),
            Role::Auditor,
            "Revisor Demo".to_owned(),
            "revisor@example.se".to_owned(),
            String::new(),
        ),
    ];
    if let Some(unit) = reviewer_unit {
        let username = unit
            .manager
            .email
            .split('@')
            .next()
            .unwrap_or("granskare")
            .to_owned();
        people.insert(
            1,
            (
                username,
                Role::Reviewer,
                unit.manager.name.clone(),
                unit.manager.email.clone(),
                format!("(enhetschef, {})", unit.name),
            ),
        );
    }
    for (username, role, name, email, note) in people {
        let password = crate::cli::generated_password();
        let hash = hash_password(&password)?;
        store
            .upsert_user(
                &NewUser {
                    username: &username,
                    name: &name,
                    email: &email,
                    role,
                    units: &[],
                    password_hash: &hash,
                },
                Utc::now(),
                "demo",
            )
            .await?;
        out.push((username, role.as_str(), password, note));
    }
    Ok(out)
}
