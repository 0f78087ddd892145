//! `extract import` and `order`: delivered extracts brought in, and extract orders listed
//! and resolved by hand.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;

use super::common::{Format, Globals, cli_actor, load_config, open_store, parse_named};
use crate::clock::Clock;
use crate::connectors::Connectors;
use crate::model::order::{DeliveryVia, OrderState};
use crate::orders::Pipeline;
use crate::stage::Stage;
use crate::store::Store;

#[derive(Subcommand, Debug)]
pub enum ExtractAction {
    /// Import the extract file (CSV or XLSX, as the order's system delivers it) for an order
    /// awaiting delivery. The whole file is checked first: an unreadable row, a row for a user
    /// who was not ordered or outside the ordered period refuses the file with line and
    /// reason, and the order keeps its state.
    Import {
        /// The order's id (see `order list`).
        #[arg(long)]
        order: i64,
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum OrderAction {
    /// List orders, newest first.
    List {
        /// Only orders in this state (pending, sending, awaiting_delivery, imported, failed,
        /// in_doubt, manual, delivered).
        #[arg(long, value_parser = parse_order_state)]
        state: Option<OrderState>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Send a failed or in-doubt order again (check first that the receiving system does not
    /// already have an in-doubt one).
    Resend { id: i64 },
    /// Record that an in-doubt order did reach the receiving system; it then awaits delivery.
    MarkSent { id: i64 },
    /// Record that an order's extract arrived outside loggvakt (by post, as a Cryptshare file,
    /// in a message, or read on screen). Its task opens; the reviewer records the review
    /// (`review record`) or uploads the file.
    Delivered {
        id: i64,
        /// screen, paper, cryptshare, message or file.
        #[arg(long, value_parser = super::common::parse_via)]
        via: DeliveryVia,
    },
    /// Record that the password of an encrypted delivery came (Cosmic phones it).
    PasswordReceived { id: i64 },
}

fn parse_order_state(raw: &str) -> Result<OrderState, String> {
    parse_named(
        raw,
        "an order state",
        OrderState::parse,
        &OrderState::ALL,
        |s| s.as_str(),
    )
}

pub(super) async fn extract(ctx: &Globals, action: ExtractAction) -> Result<ExitCode> {
    let ExtractAction::Import { order, file } = action;
    let org = load_config(&ctx.config)?;
    let connectors = Connectors::for_org(&org);
    connectors.require_all().map_err(anyhow::Error::msg)?;
    let store = open_store(&ctx.db).await?;
    let actor = cli_actor();
    let n = Pipeline::new(Stage::new(&store, &org, &ctx.clock, &actor), &connectors)
        .import_file(order, &file)
        .await?;
    println!("order {order}: {n} events imported from {}", file.display());
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn order(ctx: &Globals, action: OrderAction) -> Result<ExitCode> {
    let store = open_store(&ctx.db).await?;
    match action {
        OrderAction::List { state, format } => list(&store, state, format).await,
        OrderAction::Resend { id } => change_state(&store, &ctx.clock, id, true).await,
        OrderAction::MarkSent { id } => change_state(&store, &ctx.clock, id, false).await,
        OrderAction::Delivered { id, via } => {
            let (org, connectors) = (load_config(&ctx.config)?, Connectors::default());
            let actor = cli_actor();
            Pipeline::new(Stage::new(&store, &org, &ctx.clock, &actor), &connectors)
                .mark_delivered(id, via)
                .await?;
            println!(
                "order {id}: delivered outside loggvakt ({}); its task opens at the next tick",
                via.label_sv()
            );
            Ok(ExitCode::SUCCESS)
        }
        OrderAction::PasswordReceived { id } => {
            let (org, connectors) = (load_config(&ctx.config)?, Connectors::default());
            let actor = cli_actor();
            let noted = Pipeline::new(Stage::new(&store, &org, &ctx.clock, &actor), &connectors)
                .mark_password_received(id)
                .await?;
            println!(
                "order {id}: {}",
                if noted {
                    "password received"
                } else {
                    "the password was already noted"
                }
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn list(store: &Store, state: Option<OrderState>, format: Format) -> Result<ExitCode> {
    let list = store.orders(state).await?;
    // Written to a locked stdout rather than with `println!`, so that `order list | head`
    // ends with a BrokenPipe error (treated as success in `cli::main`), not a panic.
    let mut out = std::io::stdout().lock();
    if format == Format::Json {
        let rows: Vec<serde_json::Value> = list
            .iter()
            .map(|o| {
                serde_json::json!({
                    "id": o.id, "draw_id": o.draw_id, "part": o.part, "system": o.system,
                    "reference": o.reference, "state": o.state, "attempts": o.attempts,
                    "last_error": o.last_error,
                    "external_ref": o.receipt.as_ref().and_then(|r| r.external_ref.clone()),
                    "sent_at": o.sent_at, "delivered_at": o.delivered_at, "deliver_by": o.deliver_by,
                    "delivered_via": o.delivered_via, "password_at": o.password_at,
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
    } else {
        for o in &list {
            writeln!(
                out,
                "{:>5}  {:<10} {:<22} {:<18} attempts {}  {}",
                o.id,
                o.system,
                o.reference,
                o.state.as_str(),
                o.attempts,
                o.last_error.as_deref().unwrap_or("")
            )?;
        }
        writeln!(out, "{} orders", list.len())?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `order resend` (`resend`) or `order mark-sent`.
async fn change_state(store: &Store, clock: &Clock, id: i64, resend: bool) -> Result<ExitCode> {
    let order = store
        .order(id)
        .await?
        .with_context(|| format!("there is no order {id}"))?;
    let allowed = if resend {
        matches!(order.state, OrderState::Failed | OrderState::InDoubt)
    } else {
        order.state == OrderState::InDoubt
    };
    if !allowed {
        bail!(
            "order {id} is {}; that cannot be changed this way",
            order.state.as_str()
        );
    }
    let now = clock.now();
    let mut tx = store.begin_write(now, &cli_actor()).await?;
    let mut update = crate::store::orders::OrderUpdate::to(if resend {
        OrderState::Pending
    } else {
        OrderState::AwaitingDelivery
    });
    update.next_attempt_at = Some(now);
    // A resent order starts over: with the old count it would get one try (or none) before
    // `max_attempts` failed it again.
    update.reset_attempts = resend;
    if !resend {
        update.sent_at = Some(now);
    }
    tx.transition(id, order.state, &update).await?;
    tx.commit_audited(
        if resend {
            "order.resend"
        } else {
            "order.marked_sent"
        },
        &crate::model::order::order_object(id),
        serde_json::json!({"from": order.state}),
    )
    .await?;
    println!(
        "order {id}: {}",
        if resend {
            "will be sent again at the next tick"
        } else {
            "recorded as sent; awaiting delivery"
        }
    );
    Ok(ExitCode::SUCCESS)
}
