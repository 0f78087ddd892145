//! `check`: targeted checks (riktad kontroll) of a user or of a patient over a period,
//! ordered at once, and the list of them.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use clap::Subcommand;
use serde_json::json;

use super::common::{Format, Globals, cli_actor, load_config, open_store, parse_date};
use crate::checks;
use crate::connectors::Connectors;
use crate::model::check::{CheckKind, NewCheck};
use crate::orders::Pipeline;
use crate::stage::Stage;
use crate::store::Store;

/// Which system's log, over which days: what every check and patient request asks for.
#[derive(clap::Args, Debug)]
pub struct LogPeriod {
    /// The system to ask (its id in the configuration).
    #[arg(long)]
    pub system: String,
    /// First day of the period.
    #[arg(long, value_parser = parse_date)]
    pub from: NaiveDate,
    /// Last day of the period (included).
    #[arg(long, value_parser = parse_date)]
    pub to: NaiveDate,
}

/// The period and reason every targeted check needs.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    period: LogPeriod,
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

/// Creates the check and sends its order at once: a targeted check is made when there is
/// suspicion, not at the next tick.
pub(super) async fn start_check(ctx: &Globals, new: NewCheck) -> Result<(i64, i64, Store)> {
    let clock = &ctx.clock;
    let org = load_config(&ctx.config)?;
    let connectors = Connectors::for_org(&org);
    if let Err(reason) = connectors.get(&new.system) {
        bail!("system {}: {reason}", new.system);
    }
    if new.kind != crate::model::check::CheckKind::User
        && let Some(gap) = org
            .system(&new.system)
            .and_then(|s| connectors.patient_search_gap(s))
    {
        bail!("a check by patient cannot be ordered here: {gap}");
    }
    let store = open_store(&ctx.db).await?;
    let actor = cli_actor();
    let (check, order) = checks::create(&store, &org, clock, &actor, new).await?;
    Pipeline::new(Stage::new(&store, &org, clock, &actor), &connectors)
        .process()
        .await?;
    Ok((check, order, store))
}

pub(super) async fn describe_order(store: &Store, check: i64, order: i64) -> Result<ExitCode> {
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

pub(super) async fn run(ctx: &Globals, action: CheckAction) -> Result<ExitCode> {
    let (kind, subject, args) = match action {
        CheckAction::User { username, args } => (CheckKind::User, username, args),
        CheckAction::Patient { personnummer, args } => (CheckKind::Patient, personnummer, args),
        CheckAction::List { format } => {
            let store = open_store(&ctx.db).await?;
            return list_checks(&store, format).await;
        }
    };
    let new = NewCheck {
        kind,
        system: args.period.system,
        unit: args.unit,
        subject,
        from: args.period.from,
        to: args.period.to,
        reason: args.reason,
        request: None,
    };
    let (check, order, store) = start_check(ctx, new).await?;
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
