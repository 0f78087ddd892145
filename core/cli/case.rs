//! `case`: the cases opened from reviews with remark, their follow-up steps and decision.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;

use super::common::{Format, Globals, cli_actor, load_config, local, open_store, parse_named};
use crate::cases;
use crate::model::case::{Case, Decision, Step};
use crate::stage::Stage;
use crate::store::Store;

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
    parse_named(raw, "a step", Step::parse, &Step::ALL, |s| s.as_str())
}

fn parse_decision(raw: &str) -> Result<Decision, String> {
    parse_named(raw, "a decision", Decision::parse, &Decision::ALL, |d| {
        d.as_str()
    })
}

pub(super) async fn run(ctx: &Globals, action: CaseAction) -> Result<ExitCode> {
    let store = open_store(&ctx.db).await?;
    let actor = cli_actor();
    match action {
        CaseAction::List { format } => list(&store, format).await?,
        CaseAction::Show { id, format } => {
            let case = store
                .case(id)
                .await?
                .with_context(|| format!("there is no case {id}"))?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&case)?),
                Format::Table => print_case(&case),
            }
        }
        CaseAction::Step { id, step, note } => {
            // The configuration says whom informing the chief notifies.
            let org = load_config(&ctx.config)?;
            let cx = Stage::new(&store, &org, &ctx.clock, &actor);
            cases::record_step(&cx, id, step, &note).await?;
            println!("case {id}: {} recorded", step.as_str());
        }
        CaseAction::Decide { id, decision, note } => {
            let org = load_config(&ctx.config)?;
            let cx = Stage::new(&store, &org, &ctx.clock, &actor);
            let until = cases::decide(&cx, id, decision, &note).await?;
            println!(
                "case {id} decided {}; it and its evidence are kept until {}",
                decision.as_str(),
                local(until)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(store: &Store, format: Format) -> Result<()> {
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
    Ok(())
}

fn print_case(case: &Case) {
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
    if let Some(d) = &case.deviation {
        println!("  Loggavvikelse ({}, {}):", d.by, local(d.at));
        println!("    Iakttaget:  {}", d.text.seen);
        println!("    Åtkomster:  {}", d.text.accesses);
        println!("    Förklaring: {}", d.text.explanation);
        println!("    Bedömning:  {}", d.text.assessment);
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
