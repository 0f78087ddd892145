//! `review`: the review tasks listed, shown with their flagged rows, and closed with their
//! outcome (the administrator's view; managers get the same through the web).

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::{Subcommand, ValueEnum};
use loggvakt_connector::{IdKind, Personnummer, ReviewOutcome};
use serde_json::json;

use super::common::{Format, Globals, cli_actor, load_config, local, open_store};
use crate::connectors::Connectors;
use crate::model::order::DeliveryVia;
use crate::model::task::{
    CHECKLIST, Coverage, ReviewedPeriod, Task, TaskEvent, TaskState, TaskUser, UserCoverage,
    outcome_str, period_of, task_object,
};
use crate::review::{OutsideRecord, Review};
use crate::rules::Rules;
use crate::stage::Stage;

#[derive(Subcommand, Debug)]
pub enum ReviewAction {
    /// List review tasks with their deadlines and outcomes.
    List {
        /// open, closed or all.
        #[arg(long, default_value = "open", value_parser = ["open", "closed", "all"])]
        state: String,
        /// Only this unit's tasks.
        #[arg(long)]
        unit: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Show a task: its reviewed users, every row with the flags that fired and why, and the
    /// checklist. The rows are personal data; showing them is recorded in the audit trail.
    Show {
        id: i64,
        /// Only rows with at least one flag.
        #[arg(long)]
        flagged: bool,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Close a task with its outcome. `med_anmarkning` needs a comment and opens a case.
    Complete {
        id: i64,
        #[arg(long, value_enum)]
        outcome: OutcomeArg,
        #[arg(long)]
        comment: Option<String>,
        /// Who reviewed (recorded with the outcome); the command-line user by default.
        #[arg(long)]
        by: Option<String>,
    },
    /// Record that a sampled user's log was reviewed outside loggvakt: read on screen in the
    /// source system, on paper, from a Cryptshare file or a message. The user then counts as
    /// reviewed; the task is closed with `review complete` as usual.
    Record {
        id: i64,
        /// The sampled user's username.
        #[arg(long)]
        user: String,
        /// How the log was read: screen, paper, cryptshare, message or file.
        #[arg(long, value_parser = super::common::parse_via)]
        via: DeliveryVia,
        /// How many rows the log had.
        #[arg(long)]
        rows: i64,
        /// Confirms that the checklist (`review show`) was gone through.
        #[arg(long)]
        checklist_done: bool,
        /// Something to follow up: the task can then only be closed med_anmarkning.
        #[arg(long)]
        remark: bool,
        /// What was seen; required with --remark.
        #[arg(long, default_value = "")]
        note: String,
        /// Who reviewed; the command-line user by default.
        #[arg(long)]
        by: Option<String>,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
#[value(rename_all = "snake_case")]
pub enum OutcomeArg {
    UtanAnmarkning,
    MedAnmarkning,
}

impl From<OutcomeArg> for ReviewOutcome {
    fn from(o: OutcomeArg) -> Self {
        match o {
            OutcomeArg::UtanAnmarkning => ReviewOutcome::UtanAnmarkning,
            OutcomeArg::MedAnmarkning => ReviewOutcome::MedAnmarkning,
        }
    }
}

pub(super) async fn run(ctx: &Globals, action: ReviewAction) -> Result<ExitCode> {
    match action {
        ReviewAction::List {
            state,
            unit,
            format,
        } => list(ctx, &state, unit.as_deref(), format).await,
        ReviewAction::Show {
            id,
            flagged,
            format,
        } => show(ctx, id, flagged, format).await,
        ReviewAction::Complete {
            id,
            outcome,
            comment,
            by,
        } => complete(ctx, id, outcome, comment.as_deref(), by).await,
        ReviewAction::Record {
            id,
            user,
            via,
            rows,
            checklist_done,
            remark,
            note,
            by,
        } => {
            let record = OutsideRecord {
                username: user,
                via,
                rows_seen: rows,
                checklist_done,
                remark,
                note,
            };
            record_outside(ctx, id, record, by).await
        }
    }
}

async fn record_outside(
    ctx: &Globals,
    id: i64,
    record: OutsideRecord,
    by: Option<String>,
) -> Result<ExitCode> {
    let (org, store) = (load_config(&ctx.config)?, open_store(&ctx.db).await?);
    let (rules, actor) = (Rules::for_org(&org), cli_actor());
    let by = by.unwrap_or_else(|| actor.clone());
    let user = record.username.clone();
    Review::new(Stage::new(&store, &org, &ctx.clock, &actor), &rules)
        .record_outside(id, record, &by, false)
        .await?;
    println!("task {id}: the review of {user} outside loggvakt is recorded");
    Ok(ExitCode::SUCCESS)
}

async fn list(ctx: &Globals, state: &str, unit: Option<&str>, format: Format) -> Result<ExitCode> {
    let store = open_store(&ctx.db).await?;
    let state = TaskState::parse(state);
    let tasks: Vec<Task> = store
        .tasks(state)
        .await?
        .into_iter()
        .filter(|t| unit.is_none_or(|u| t.unit == u))
        .collect();
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&tasks)?)?,
        Format::Table => print_tasks(&mut out, &tasks, ctx.clock.now())?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

async fn show(ctx: &Globals, id: i64, flagged: bool, format: Format) -> Result<ExitCode> {
    let store = open_store(&ctx.db).await?;
    let task = store
        .task(id)
        .await?
        .with_context(|| format!("there is no review task {id}"))?;
    let users = store.task_users(id).await?;
    let mut events = store.events_of(task.draw_id, task.check_id).await?;
    if flagged {
        events.retain(|e| !e.flags.is_empty());
    }
    let case = store.case_of_task(id).await?;
    let periods = store.reviewed_periods(&task).await?;
    let coverage = crate::review::coverage(&store, &task).await?;
    let org = load_config(&ctx.config).ok();
    let instruction = match &org {
        Some(org) => crate::review::instruction(&store, org, &task).await?,
        None => None,
    };
    let tx = store.begin_write(ctx.clock.now(), &cli_actor()).await?;
    tx.commit_audited(
        "review.rows_shown",
        &task_object(id),
        json!({"rows": events.len()}),
    )
    .await?;
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "task": task, "users": users, "periods": periods, "events": events, "case": case,
                "checklist": CHECKLIST, "coverage": coverage, "instruction": instruction,
            }))?
        ),
        Format::Table => {
            print_task(&task, case);
            if let Some(month) = task.month {
                println!(
                    "Kontrollen {month} granskar aktivitet under {}.",
                    month.prev()
                );
            }
            print_users(&users, &periods);
            print_coverage(&coverage);
            if let Some(text) = &instruction {
                println!("\n{text}");
            }
            print_rows(&task, &events, flagged);
            println!("\nChecklista:");
            for (i, q) in CHECKLIST.iter().enumerate() {
                println!("  {}. {q}", i + 1);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn complete(
    ctx: &Globals,
    id: i64,
    outcome: OutcomeArg,
    comment: Option<&str>,
    by: Option<String>,
) -> Result<ExitCode> {
    let (org, store) = (load_config(&ctx.config)?, open_store(&ctx.db).await?);
    let (rules, actor) = (Rules::for_org(&org), cli_actor());
    let by = by.unwrap_or_else(|| actor.clone());
    let done = Review::new(Stage::new(&store, &org, &ctx.clock, &actor), &rules)
        .complete(
            id,
            outcome.into(),
            comment,
            &by,
            false,
            &Connectors::for_org(&org),
        )
        .await?;
    print!("task {id} closed {}", outcome_str(done.outcome));
    if let Some(case) = done.case {
        print!("; case {case} opened (`loggvakt case show {case}`)");
    }
    match done.write_back.as_deref() {
        Some("done") => print!("; outcome written back to the source system"),
        Some("pending") => print!("; writing back to the source system will be retried"),
        Some(other) => print!("; write-back {other}"),
        None => {}
    }
    println!();
    Ok(ExitCode::SUCCESS)
}

/// Where each sampled user stands, when any part is not in loggvakt as rows.
fn print_coverage(coverage: &[UserCoverage]) {
    if coverage
        .iter()
        .all(|u| matches!(u.coverage, Coverage::Rows))
    {
        return;
    }
    println!("\nLeverans per användare:");
    for u in coverage {
        let part = u.part.map_or(String::new(), |p| format!(" (del {p})"));
        println!("  {:<14} {}{part}", u.username, u.coverage.label_sv());
        if let Coverage::Outside(r) = &u.coverage {
            println!(
                "  {:<14} {} rader, {}, registrerat av {}",
                "",
                r.rows_seen,
                if r.remark {
                    "med anmärkning"
                } else {
                    "utan anmärkning"
                },
                r.recorded_by
            );
        }
    }
}

fn print_users(users: &[TaskUser], periods: &[ReviewedPeriod]) {
    println!("\nGranskade användare:");
    for u in users {
        let period = period_of(periods, &u.username).map_or(String::new(), |p| p.describe_sv());
        println!(
            "  {:<18} {:<34} {:>5} rader {:>4} patienter  {}",
            u.username,
            period,
            u.events,
            u.distinct_patients,
            u.flags
                .iter()
                .map(|f| format!("[{}] {}", f.code.as_str(), f.reason))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
}

/// A patient id as the reviewer reads it; a reserve number says so.
fn patient_shown(p: &Personnummer) -> String {
    match p.kind() {
        IdKind::Interim => format!("{} (reservnummer)", p.digits()),
        _ => p.digits().to_owned(),
    }
}

/// The task's log rows with their flags, or when they were purged.
fn print_rows(task: &Task, events: &[TaskEvent], flagged: bool) {
    if let Some(purged) = task.rows_purged_at {
        println!(
            "\nLoggraderna är gallrade ({}); kvar finns kontrollen, utfallet och antalen.",
            local(purged)
        );
        return;
    }
    println!("\nLoggrader{}:", if flagged { " med flaggor" } else { "" });
    for e in events {
        println!(
            "  {}  {:<10} {:<13} {:<24} {:<22} {}{}",
            e.event.time.format("%Y-%m-%d %H:%M:%S"),
            e.event.user_id,
            patient_shown(&e.event.patient_id),
            e.event.patient_name.as_deref().unwrap_or("-"),
            e.event.care_unit.as_deref().unwrap_or("-"),
            e.event.event_text,
            e.event
                .reference_number
                .as_deref()
                .map_or(String::new(), |r| format!("  (ref {r})"))
        );
        for f in &e.flags {
            println!("      ⚑ {}: {}", f.code.as_str(), f.reason);
        }
    }
}

/// The task table, written to `out` so that a closed pipe (`| head`) is an error to handle,
/// not a panic.
fn print_tasks(out: &mut impl Write, tasks: &[Task], now: DateTime<Utc>) -> std::io::Result<()> {
    writeln!(
        out,
        "{:>5}  {:<15} {:<22} {:<9} {:<8} {:<22} {:>5} {:>6} {:>7}  {:<16} status",
        "id",
        "kind",
        "unit",
        "system",
        "month",
        "reviewer",
        "users",
        "events",
        "flagged",
        "deadline"
    )?;
    for t in tasks {
        let status = match (t.state, t.outcome) {
            (TaskState::Closed, Some(o)) => outcome_str(o).to_owned(),
            _ if now > t.deadline => "OVERDUE".to_owned(),
            _ => "open".to_owned(),
        };
        writeln!(
            out,
            "{:>5}  {:<15} {:<22} {:<9} {:<8} {:<22} {:>5} {:>6} {:>7}  {:<16} {status}",
            t.id,
            t.kind.as_str(),
            t.unit,
            t.system,
            t.month.map_or_else(|| "-".to_owned(), |m| m.to_string()),
            t.reviewer_email,
            t.users,
            t.events,
            t.flagged_events,
            local(t.deadline)
        )?;
    }
    writeln!(out, "{} task(s)", tasks.len())
}

fn print_task(t: &Task, case: Option<i64>) {
    println!("Granskning {} ({})", t.reference(), t.kind.label_sv());
    println!("  Enhet:      {}", t.unit);
    println!("  System:     {}", t.system);
    if let Some(m) = &t.month {
        println!("  Månad:      {m}");
    }
    println!("  Granskare:  {} <{}>", t.reviewer_name, t.reviewer_email);
    println!("  Skapad:     {}", local(t.created_at));
    println!("  Sista dag:  {}", local(t.deadline));
    if let Some(r) = t.reminded_at {
        println!("  Påmind:     {}", local(r));
    }
    if let Some(e) = t.escalated_at {
        println!("  Eskalerad:  {}", local(e));
    }
    match t.outcome {
        Some(o) => println!(
            "  Utfall:     {} ({}, {}){}",
            outcome_str(o),
            t.closed_by.as_deref().unwrap_or("-"),
            t.closed_at.map(local).unwrap_or_default(),
            t.comment
                .as_deref()
                .map(|c| format!(": {c}"))
                .unwrap_or_default()
        ),
        None => println!("  Utfall:     ej avslutad"),
    }
    if let Some(c) = case {
        println!("  Ärende:     {c}");
    }
    println!(
        "  Omfattning: {} användare, {} loggrader, {} flaggade",
        t.users, t.events, t.flagged_events
    );
}
