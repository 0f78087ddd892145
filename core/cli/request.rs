//! `request`: a patient's request for the log of who read their record, from the identity
//! check through the extract to the registered mail's receipt.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use clap::Subcommand;
use serde_json::json;

use super::check::{LogPeriod, describe_order, start_check};
use super::common::{Format, Globals, cli_actor, local, open_store, parse_date};
use crate::checks;
use crate::model::check::{Check, CheckKind, NewCheck, PatientRequest};
use crate::model::task::TaskEvent;

#[derive(Subcommand, Debug)]
pub enum RequestAction {
    /// Record a patient's request for the log of their record, the identity check, and
    /// order the log by patient.
    New {
        personnummer: String,
        #[command(flatten)]
        period: LogPeriod,
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

pub(super) async fn run(ctx: &Globals, action: RequestAction) -> Result<ExitCode> {
    match action {
        RequestAction::New {
            personnummer,
            period,
            unit,
            received,
            identity_document,
            identity_checked_by,
        } => {
            let new = NewCheck {
                kind: CheckKind::PatientRequest,
                system: period.system,
                unit: Some(unit),
                subject: personnummer,
                from: period.from,
                to: period.to,
                reason: "patientens begäran om loggutdrag".into(),
                request: Some((received, identity_document, identity_checked_by)),
            };
            let (check, order, store) = start_check(ctx, new).await?;
            describe_order(&store, check, order).await
        }
        RequestAction::Show { id, format } => show(ctx, id, format).await,
        RequestAction::Dispatch {
            id,
            registered_mail,
        } => {
            let store = open_store(&ctx.db).await?;
            checks::record_dispatch(&store, &ctx.clock, &cli_actor(), id, &registered_mail).await?;
            println!("request {id}: sent by registered mail {registered_mail}");
            Ok(ExitCode::SUCCESS)
        }
        RequestAction::Receipt { id, on } => {
            let store = open_store(&ctx.db).await?;
            checks::record_receipt(&store, &ctx.clock, &cli_actor(), id, on).await?;
            println!("request {id}: delivery receipt of {on} recorded");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The patient's extract; showing it is recorded in the audit trail.
async fn show(ctx: &Globals, id: i64, format: Format) -> Result<ExitCode> {
    let store = open_store(&ctx.db).await?;
    let check = store
        .check(id)
        .await?
        .with_context(|| format!("there is no check {id}"))?;
    let Some(request) = &check.request else {
        bail!("check {id} is not a patient request");
    };
    let events = store.events_of(None, Some(id)).await?;
    let tx = store.begin_write(ctx.clock.now(), &cli_actor()).await?;
    tx.commit_audited(
        "request.extract_shown",
        &crate::model::check::check_object(id),
        json!({"rows": events.len()}),
    )
    .await?;
    let task = store.task_of_check(id).await?;
    match format {
        Format::Json => {
            let rows: Vec<_> = events
                .iter()
                .map(|e| json!({"time": e.event.time, "care_unit": e.event.care_unit, "user_name": e.event.user_name, "user_id": e.event.user_id, "action": e.event.action, "event_text": e.event.event_text}))
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
        Format::Table => print_extract(&check, request, &events),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_extract(check: &Check, request: &PatientRequest, events: &[TaskEvent]) {
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
        for e in events {
            println!(
                "{:<19}  {:<28} {:<24} {}",
                e.event.time.format("%Y-%m-%d %H:%M:%S"),
                e.event.care_unit.as_deref().unwrap_or("-"),
                e.event.user_name.as_deref().unwrap_or(&e.event.user_id),
                e.event.event_text
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
