//! `review`, `case`, `check` and `request`: the review work from the command line (the
//! administrator's view; managers get the same through the web).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Subcommand, ValueEnum};
use loggvakt_connector::ReviewOutcome;
use serde_json::json;

use super::{Format, cli_actor, load_config, open_store};
use crate::cases;
use crate::checks;
use crate::clock::Clock;
use crate::connectors::Connectors;
use crate::model::case::{Decision, Step};
use crate::model::check::{CheckKind, NewCheck};
use crate::model::task::{Task, TaskState, outcome_str};
use crate::orders;
use crate::review::Review;
use crate::rules::Rules;
use crate::store::Store;

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

#[derive(Subcommand, Debug)]
pub enum CaseAction {
    /// List cases opened from reviews with remark.
    List {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Show a case with its steps and decision.
    Show {
        id: i64,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Record a follow-up step: contact_employee, targeted_check or inform_chief.
    Step {
        id: i64,
        #[arg(value_parser = parse_step)]
        step: Step,
        #[arg(long)]
        note: String,
    },
    /// Decide the case: no_breach, breach_labour_law or police_report. The case and its
    /// evidence are then kept ten years.
    Decide {
        id: i64,
        #[arg(value_parser = parse_decision)]
        decision: Decision,
        #[arg(long)]
        note: String,
    },
}

fn parse_step(raw: &str) -> Result<Step, String> {
    Step::parse(raw).ok_or_else(|| {
        let all: Vec<&str> = Step::ALL.iter().map(|s| s.as_str()).collect();
        format!("'{raw}' is not a step: {}", all.join(", "))
    })
}

fn parse_decision(raw: &str) -> Result<Decision, String> {
    Decision::parse(raw).ok_or_else(|| {
        let all: Vec<&str> = Decision::ALL.iter().map(|s| s.as_str()).collect();
        format!("'{raw}' is not a decision: {}", all.join(", "))
    })
}

fn parse_date(raw: &str) -> Result<NaiveDate, String> {
    raw.parse()
        .map_err(|_| format!("'{raw}' is not a date like 2027-05-01"))
}

/// The period and reason every targeted check needs.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// The system to ask (its id in the configuration).
    #[arg(long)]
    system: String,
    /// First day of the period.
    #[arg(long, value_parser = parse_date)]
    from: NaiveDate,
    /// Last day of the period (included).
    #[arg(long, value_parser = parse_date)]
    to: NaiveDate,
    /// Why the check is made (kept with the check).
    #[arg(long)]
    reason: String,
    /// The unit whose manager reviews the result; a user's own unit by default.
    #[arg(long)]
    unit: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum CheckAction {
    /// Everything a user did in a period (by username in the system).
    User {
        username: String,
        #[command(flatten)]
        args: CheckArgs,
    },
    /// Every access to a patient's record in a period (by personnummer).
    Patient {
        personnummer: String,
        #[command(flatten)]
        args: CheckArgs,
    },
    /// List targeted checks and patient requests with their orders and tasks.
    List {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Subcommand, Debug)]
pub enum RequestAction {
    /// Record a patient's request for the log of their record, the identity check, and
    /// order the log by patient.
    New {
        personnummer: String,
        #[arg(long)]
        system: String,
        #[arg(long, value_parser = parse_date)]
        from: NaiveDate,
        #[arg(long, value_parser = parse_date)]
        to: NaiveDate,
        /// The unit whose manager (verksamhetschef) reviews and sends the extract.
        #[arg(long)]
        unit: String,
        /// The day the request came in.
        #[arg(long, value_parser = parse_date)]
        received: NaiveDate,
        /// The ID document shown, e.g. "pass" or "körkort".
        #[arg(long)]
        identity_document: String,
        /// Who checked the identity.
        #[arg(long)]
        identity_checked_by: String,
    },
    /// Print the patient's extract: when, which care unit and who accessed the record.
    Show {
        id: i64,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Record that the extract was sent by registered mail.
    Dispatch {
        id: i64,
        /// The registered mail's number.
        #[arg(long)]
        registered_mail: String,
    },
    /// Record the registered mail's delivery receipt.
    Receipt {
        id: i64,
        /// The day the receipt says it was delivered.
        #[arg(long, value_parser = parse_date)]
        on: NaiveDate,
    },
}

use crate::calendar::local_minute as local;

pub async fn review_command(
    db: &str,
    config: &Path,
    clock: &Clock,
    action: ReviewAction,
) -> Result<ExitCode> {
    match action {
        ReviewAction::List {
            state,
            unit,
            format,
        } => {
            let store = open_store(db).await?;
            let state = TaskState::parse(&state);
            let tasks: Vec<Task> = store
                .tasks(state)
                .await?
                .into_iter()
                .filter(|t| unit.as_ref().is_none_or(|u| &t.unit == u))
                .collect();
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&tasks)?),
                Format::Table => print_tasks(&tasks, clock.now()),
            }
            Ok(ExitCode::SUCCESS)
        }
        ReviewAction::Show {
            id,
            flagged,
            format,
        } => {
            let store = open_store(db).await?;
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
            let mut tx = store.begin_write(clock.now(), &cli_actor()).await?;
            tx.audit(
                "review.rows_shown",
                &crate::model::task::task_object(id),
                json!({"rows": events.len()}),
            )
            .await?;
            tx.commit().await?;
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "task": task, "users": users, "events": events, "case": case,
                        "checklist": crate::model::task::CHECKLIST,
                    }))?
                ),
                Format::Table => {
                    print_task(&task, case);
                    println!("\nGranskade användare:");
                    for u in &users {
                        println!(
                            "  {:<18} {:>5} rader {:>4} patienter  {}",
                            u.username,
                            u.events,
                            u.distinct_patients,
                            u.flags
                                .iter()
                                .map(|f| format!("[{}] {}", f.code.as_str(), f.reason))
                                .collect::<Vec<_>>()
                                .join("; ")
                        );
                    }
                    if task.rows_purged_at.is_some() {
                        println!(
                            "\nLoggraderna är gallrade ({}); kvar finns kontrollen, utfallet och antalen.",
                            task.rows_purged_at.map(local).unwrap_or_default()
                        );
                    } else {
                        println!("\nLoggrader{}:", if flagged { " med flaggor" } else { "" });
                        for e in &events {
                            println!(
                                "  {}  {:<10} {:<13} {:<24} {:<22} {}",
                                e.time.format("%Y-%m-%d %H:%M:%S"),
                                e.user_id,
                                e.patient_id.digits(),
                                e.patient_name.as_deref().unwrap_or("-"),
                                e.care_unit.as_deref().unwrap_or("-"),
                                e.event_text
                            );
                            for f in &e.flags {
                                println!("      ⚑ {}: {}", f.code.as_str(), f.reason);
                            }
                        }
                    }
                    println!("\nChecklista:");
                    for (i, q) in crate::model::task::CHECKLIST.iter().enumerate() {
                        println!("  {}. {q}", i + 1);
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ReviewAction::Complete {
            id,
            outcome,
            comment,
            by,
        } => {
            let org = load_config(config)?;
            let connectors = Connectors::for_org(&org);
            let store = open_store(db).await?;
            let rules = Rules::for_org(&org);
            let actor = cli_actor();
            let review = Review {
                store: &store,
                org: &org,
                rules: &rules,
                clock,
                actor: &actor,
            };
            let by = by.unwrap_or_else(|| actor.clone());
            let done = review
                .complete(
                    id,
                    outcome.into(),
                    comment.as_deref(),
                    &by,
                    false,
                    &connectors,
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
    }
}

fn print_tasks(tasks: &[Task], now: DateTime<Utc>) {
    println!(
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
    );
    for t in tasks {
        let status = match (t.state, t.outcome) {
            (TaskState::Closed, Some(o)) => outcome_str(o).to_owned(),
            _ if now > t.deadline => "OVERDUE".to_owned(),
            _ => "open".to_owned(),
        };
        println!(
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
        );
    }
    println!("{} task(s)", tasks.len());
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

pub async fn case_command(db: &str, clock: &Clock, action: CaseAction) -> Result<ExitCode> {
    let store = open_store(db).await?;
    let actor = cli_actor();
    match action {
        CaseAction::List { format } => {
            let all = store.cases().await?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&all)?),
                Format::Table => {
                    println!(
                        "{:>5}  {:>5}  {:<22} {:<9} {:<8} {:<18} {:<17} steps",
                        "id", "task", "unit", "system", "state", "decision", "opened"
                    );
                    for c in &all {
                        println!(
                            "{:>5}  {:>5}  {:<22} {:<9} {:<8} {:<18} {:<17} {}",
                            c.id,
                            c.task_id,
                            c.unit,
                            c.system,
                            c.state,
                            c.decision.map_or("-", Decision::as_str),
                            local(c.opened_at),
                            c.steps
                                .iter()
                                .map(|s| s.step.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        );
                    }
                    println!("{} case(s)", all.len());
                }
            }
        }
        CaseAction::Show { id, format } => {
            let case = store
                .case(id)
                .await?
                .with_context(|| format!("there is no case {id}"))?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&case)?),
                Format::Table => {
                    println!("Ärende {} (granskning G-{})", case.id, case.task_id);
                    println!("  Enhet:    {} ({})", case.unit, case.system);
                    println!(
                        "  Öppnat:   {} av {}",
                        local(case.opened_at),
                        case.opened_by
                    );
                    println!("  Anmärkning: {}", case.summary);
                    for step in Step::ALL {
                        match case.steps.iter().find(|s| s.step == step) {
                            Some(s) => println!(
                                "  [x] {}: {} ({}, {})",
                                step.label_sv(),
                                s.note,
                                s.by,
                                local(s.at)
                            ),
                            None => println!("  [ ] {}", step.label_sv()),
                        }
                    }
                    match case.decision {
                        Some(d) => println!(
                            "  Beslut:   {} ({}, {}): {}\n  Sparas till: {}",
                            d.as_str(),
                            case.decided_by.as_deref().unwrap_or("-"),
                            case.decided_at.map(local).unwrap_or_default(),
                            case.decision_note.as_deref().unwrap_or(""),
                            case.retain_until.map(local).unwrap_or_default()
                        ),
                        None => println!("  Beslut:   inte fattat"),
                    }
                }
            }
        }
        CaseAction::Step { id, step, note } => {
            cases::record_step(&store, clock, &actor, id, step, &note).await?;
            println!("case {id}: {} recorded", step.as_str());
        }
        CaseAction::Decide { id, decision, note } => {
            let until = cases::decide(&store, clock, &actor, id, decision, &note).await?;
            println!(
                "case {id} decided {}; it and its evidence are kept until {}",
                decision.as_str(),
                local(until)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Creates the check and sends its order at once: a targeted check is made when there is
/// suspicion, not at the next tick.
async fn start_check(
    db: &str,
    config: &Path,
    clock: &Clock,
    new: NewCheck,
) -> Result<(i64, i64, Store)> {
    let org = load_config(config)?;
    let connectors = Connectors::for_org(&org);
    if let Err(reason) = connectors.get(&new.system) {
        bail!("system {}: {reason}", new.system);
    }
    let store = open_store(db).await?;
    let actor = cli_actor();
    let (check, order) = checks::create(&store, &org, clock, &actor, new).await?;
    orders::process(&store, &org, &connectors, clock, &actor).await?;
    Ok((check, order, store))
}

async fn describe_order(store: &Store, check: i64, order: i64) -> Result<ExitCode> {
    let o = store
        .order(order)
        .await?
        .context("the check's order vanished")?;
    println!(
        "check {check}: order {order} ({}) is {}{}",
        o.reference,
        o.state.as_str(),
        o.last_error
            .as_deref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default()
    );
    Ok(if o.state == crate::model::order::OrderState::Failed {
        ExitCode::FAILURE
    } else {
        println!("the review task is made when the extract is in (the next tick after delivery)");
        ExitCode::SUCCESS
    })
}

pub async fn check_command(
    db: &str,
    config: &Path,
    clock: &Clock,
    action: CheckAction,
) -> Result<ExitCode> {
    let (kind, subject, args) = match action {
        CheckAction::User { username, args } => (CheckKind::User, username, args),
        CheckAction::Patient { personnummer, args } => (CheckKind::Patient, personnummer, args),
        CheckAction::List { format } => {
            let store = open_store(db).await?;
            return list_checks(&store, format).await;
        }
    };
    let new = NewCheck {
        kind,
        system: args.system,
        unit: args.unit,
        subject,
        from: args.from,
        to: args.to,
        reason: args.reason,
        request: None,
    };
    let (check, order, store) = start_check(db, config, clock, new).await?;
    describe_order(&store, check, order).await
}

async fn list_checks(store: &Store, format: Format) -> Result<ExitCode> {
    let all = store.checks().await?;
    let mut rows = Vec::new();
    for c in &all {
        let task = store.task_of_check(c.id).await?;
        let orders = store.orders_of_check(c.id).await?;
        let mut states = Vec::new();
        for o in &orders {
            if let Some(o) = store.order(*o).await? {
                states.push(o.state.as_str());
            }
        }
        rows.push((c, task, orders, states));
    }
    match format {
        Format::Json => {
            let v: Vec<_> = rows
                .iter()
                .map(|(c, t, o, s)| json!({"check": c, "task": t.as_ref().map(|t| t.id), "orders": o, "order_states": s}))
                .collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Format::Table => {
            println!(
                "{:>5}  {:<16} {:<9} {:<22} {:<10} {:<10} {:<18} {:<6} reason",
                "id", "kind", "system", "unit", "from", "to", "orders", "task"
            );
            for (c, t, _, s) in &rows {
                println!(
                    "{:>5}  {:<16} {:<9} {:<22} {:<10} {:<10} {:<18} {:<6} {}",
                    c.id,
                    c.kind.as_str(),
                    c.system,
                    c.unit,
                    c.from.date(),
                    (c.to - chrono::TimeDelta::seconds(1)).date(),
                    s.join(","),
                    t.as_ref().map_or("-".into(), |t| t.id.to_string()),
                    c.reason
                );
            }
            println!("{} check(s)", rows.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn request_command(
    db: &str,
    config: &Path,
    clock: &Clock,
    action: RequestAction,
) -> Result<ExitCode> {
    let actor = cli_actor();
    match action {
        RequestAction::New {
            personnummer,
            system,
            from,
            to,
            unit,
            received,
            identity_document,
            identity_checked_by,
        } => {
            let new = NewCheck {
                kind: CheckKind::PatientRequest,
                system,
                unit: Some(unit),
                subject: personnummer,
                from,
                to,
                reason: "patientens begäran om loggutdrag".into(),
                request: Some((received, identity_document, identity_checked_by)),
            };
            let (check, order, store) = start_check(db, config, clock, new).await?;
            describe_order(&store, check, order).await
        }
        RequestAction::Show { id, format } => {
            let store = open_store(db).await?;
            let check = store
                .check(id)
                .await?
                .with_context(|| format!("there is no check {id}"))?;
            let Some(request) = &check.request else {
                bail!("check {id} is not a patient request");
            };
            let events = store.events_of(None, Some(id)).await?;
            let mut tx = store.begin_write(clock.now(), &actor).await?;
            tx.audit(
                "request.extract_shown",
                &crate::model::check::check_object(id),
                json!({"rows": events.len()}),
            )
            .await?;
            tx.commit().await?;
            let task = store.task_of_check(id).await?;
            match format {
                Format::Json => {
                    let rows: Vec<_> = events
                        .iter()
                        .map(|e| json!({"time": e.time, "care_unit": e.care_unit, "user_name": e.user_name, "user_id": e.user_id, "action": e.action, "event_text": e.event_text}))
                        .collect();
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&json!({
                            "request": check.id, "system": check.system,
                            "from": check.from, "to": check.to, "documentation": request,
                            "review": task.as_ref().map(|t| json!({"task": t.id, "outcome": t.outcome})),
                            "accesses": rows,
                        }))?
                    );
                }
                Format::Table => {
                    println!(
                        "Loggutdrag: åtkomster till patientens journal i {} ({} – {})",
                        check.system,
                        check.from.date(),
                        (check.to - chrono::TimeDelta::seconds(1)).date()
                    );
                    println!(
                        "Begäran mottagen {}; identitet kontrollerad ({}) av {}",
                        request.received_on, request.identity_document, request.identity_checked_by
                    );
                    if events.is_empty() {
                        println!(
                            "\nInga åtkomster registrerade under perioden (eller utdraget ännu inte levererat)."
                        );
                    } else {
                        println!(
                            "\n{:<19}  {:<28} {:<24} händelse",
                            "tid", "vårdenhet", "användare"
                        );
                        for e in &events {
                            println!(
                                "{:<19}  {:<28} {:<24} {}",
                                e.time.format("%Y-%m-%d %H:%M:%S"),
                                e.care_unit.as_deref().unwrap_or("-"),
                                e.user_name.as_deref().unwrap_or(&e.user_id),
                                e.event_text
                            );
                        }
                    }
                    match (&request.registered_mail, request.dispatched_at) {
                        (Some(no), Some(at)) => println!(
                            "\nSkickat med rekommenderat brev {no} {}{}",
                            local(at),
                            request
                                .receipt_at
                                .map(|d| format!(", mottagningsbevis {d}"))
                                .unwrap_or_default()
                        ),
                        _ => println!("\nEj skickat ännu."),
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        RequestAction::Dispatch {
            id,
            registered_mail,
        } => {
            let store = open_store(db).await?;
            checks::record_dispatch(&store, clock, &actor, id, &registered_mail).await?;
            println!("request {id}: sent by registered mail {registered_mail}");
            Ok(ExitCode::SUCCESS)
        }
        RequestAction::Receipt { id, on } => {
            let store = open_store(db).await?;
            checks::record_receipt(&store, clock, &actor, id, on).await?;
            println!("request {id}: delivery receipt of {on} recorded");
            Ok(ExitCode::SUCCESS)
        }
    }
}
