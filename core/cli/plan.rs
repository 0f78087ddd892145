//! `plan`, `draw verify` and `tick`: the month's draws made and shown, a draw recomputed
//! from its seed, and one scheduler tick.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Subcommand;
use serde::Serialize;

use super::common::{Format, Globals, cli_actor, load_config, open_store};
use crate::calendar::{Month, local_date};
use crate::clock::Clock;
use crate::connectors::Connectors;
use crate::draw::{self, Seeds};
use crate::model::draw::Draw;
use crate::server;
use crate::tick::{self, TickReport};

#[derive(Subcommand, Debug)]
pub enum DrawAction {
    /// Recompute a draw from its stored seed and population and compare it with what was
    /// stored and audited; exit 1 on any difference.
    Verify {
        /// The draw's id (see `plan`).
        id: i64,
    },
}

pub(super) async fn plan(ctx: &Globals, month: Option<Month>, format: Format) -> Result<ExitCode> {
    let org = load_config(&ctx.config)?;
    let clock = &ctx.clock;
    let month = month.unwrap_or_else(|| Month::of(local_date(clock.now())));
    if let Some(today) = not_begun(month, clock) {
        bail!(draw::PlanError::FutureMonth { month, today });
    }
    let store = open_store(&ctx.db).await?;
    let report = draw::plan_month(&store, &org, month, clock, &cli_actor(), &Seeds::Os).await?;
    let draws = store.draws_for_month(month).await?;
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&plan_json(&draws))?),
        Format::Table => {
            print_plan_table(&draws);
            println!(
                "{month}: {} draws ({} made now, {} already stored)",
                draws.len(),
                report.created,
                report.existing
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn not_begun(month: Month, clock: &Clock) -> Option<chrono::NaiveDate> {
    let today = local_date(clock.now());
    (month > Month::of(today)).then_some(today)
}

pub(super) async fn draw(ctx: &Globals, action: DrawAction) -> Result<ExitCode> {
    let DrawAction::Verify { id } = action;
    let store = open_store(&ctx.db).await?;
    let Some(v) = draw::verify_draw(&store, id).await? else {
        bail!("there is no draw {id}");
    };
    if v.differences.is_empty() {
        println!(
            "draw {id} verified: recomputed from its seed and population, it matches what was stored and what audit record #{} recorded",
            v.audit_seq.unwrap_or_default()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!("draw {id} does NOT verify:");
        for d in &v.differences {
            println!("  - {d}");
        }
        Ok(ExitCode::FAILURE)
    }
}

pub(super) async fn tick(ctx: &Globals) -> Result<ExitCode> {
    let org = load_config(&ctx.config)?;
    let connectors = Connectors::for_org(&org);
    connectors.require_all().map_err(anyhow::Error::msg)?;
    let store = open_store(&ctx.db).await?;
    let clock = &ctx.clock;
    let anchor = ctx.anchor()?;
    let r = tick::tick(&store, &org, &connectors, clock, &server::instance_name()).await?;
    if let Some(anchor) = anchor {
        anchor.checkpoint_after_tick(&store, clock.now()).await;
    }
    if r.skipped {
        println!("another instance is ticking; nothing done");
    } else {
        print_tick(&r, clock);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_tick(r: &TickReport, clock: &Clock) {
    let o = &r.orders;
    println!(
        "tick at {}: {} draws made, {} ran on their day, {} ran late, {} missed; \
         orders: {} created, {} sent, {} fetched, {} delivered, {} to retry, {} failed, {} in doubt, {} overdue",
        clock.now().with_timezone(&crate::calendar::TZ).to_rfc3339(),
        r.created,
        r.done.len(),
        r.late.len(),
        r.missed.len(),
        r.orders_created,
        o.sent,
        o.fetched,
        o.delivered,
        o.retried,
        o.failed,
        o.in_doubt,
        o.overdue
    );
    let v = &r.review;
    println!(
        "reviews: {} tasks made, {} updated with a later part, {} reminders, {} escalations, {} notices sent, {} notices failed, \
         {} written back, {} checks scheduled, rows of {} closed tasks purged ({} rows)",
        v.tasks_created,
        v.tasks_updated,
        v.reminders,
        v.escalations,
        v.notices_sent,
        v.notices_failed,
        v.write_backs,
        v.checks_created,
        v.tasks_purged,
        v.rows_purged
    );
}

/// The stable JSON form of a month's draws (field names are part of the CLI contract).
#[derive(Serialize)]
struct DrawJson<'a> {
    id: i64,
    routine: &'a str,
    unit: &'a str,
    system: &'a str,
    month: String,
    execution_date: String,
    window_end: String,
    status: &'a str,
    population_size: usize,
    /// Members not yet checked in the current coverage cycle when the draw was made.
    due_size: usize,
    sample_size: usize,
    selected: Vec<SelectedJson<'a>>,
    seed: String,
    created_at: String,
    executed_at: Option<String>,
}

#[derive(Serialize)]
struct SelectedJson<'a> {
    staff_id: &'a str,
    username: &'a str,
    review_from: String,
    review_to: String,
}

fn plan_json(draws: &[Draw]) -> Vec<DrawJson<'_>> {
    draws
        .iter()
        .map(|d| DrawJson {
            id: d.id,
            routine: d.routine.as_str(),
            unit: d.unit.as_str(),
            system: d.system.as_str(),
            month: d.month.to_string(),
            execution_date: d.execution_date.to_string(),
            window_end: d.window_end.to_string(),
            status: d.status.as_str(),
            population_size: d.population.len(),
            due_size: d.population.len() - d.checked.len(),
            sample_size: d.selected.len(),
            selected: d
                .selected
                .iter()
                .map(|s| SelectedJson {
                    staff_id: s.staff_id.as_str(),
                    username: &s.username,
                    review_from: s.review_from.to_rfc3339(),
                    review_to: s.review_to.to_rfc3339(),
                })
                .collect(),
            seed: d.seed.to_hex(),
            created_at: d.created_at.to_rfc3339(),
            executed_at: d.executed_at.map(|t| t.to_rfc3339()),
        })
        .collect()
}

fn print_plan_table(draws: &[Draw]) {
    let rows: Vec<[String; 8]> = draws
        .iter()
        .map(|d| {
            [
                d.id.to_string(),
                d.routine.to_string(),
                d.unit.to_string(),
                d.execution_date.to_string(),
                d.status.as_str().to_owned(),
                d.population.len().to_string(),
                d.selected.len().to_string(),
                d.selected
                    .iter()
                    .map(|s| format!("{} ({})", s.username, s.review_from.date_naive()))
                    .collect::<Vec<_>>()
                    .join(", "),
            ]
        })
        .collect();
    let header = [
        "id",
        "routine",
        "unit",
        "day",
        "status",
        "staff",
        "sample",
        "selected (review day)",
    ]
    .map(String::from);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (cell, w))| {
                if i == row.len() - 1 {
                    cell.clone()
                } else {
                    format!("{cell:<w$}")
                }
            })
            .collect();
        println!("{}", line.join("  "));
    }
}
