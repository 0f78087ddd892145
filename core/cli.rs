//! The command line: argument parsing and the commands' output. Commands load and validate
//! configuration before they open the database, so a bad configuration writes nothing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;

use crate::calendar::{Month, local_date, start_of_day};
use crate::clock::Clock;
use crate::config;
use crate::connectors::Connectors;
use crate::demo;
use crate::draw;
use crate::model::draw::Draw;
use crate::model::order::OrderState;
use crate::model::org::{Organisation, RoutineKind};
use crate::orders;
use crate::server::{self, ServeOptions};
use crate::store::Store;
use crate::store::audit::{self, Verdict};
use crate::tick;

mod report;
mod review;
mod users;

#[derive(Parser, Debug)]
#[command(
    name = "loggvakt",
    version,
    about = "Plans, runs and proves the recurring access-log reviews (loggkontroll) of Swedish care units",
    long_about = "loggvakt plans the monthly random checks (stickprov) of who read which patient's \
record: in the first week of each month, on a random day per unit, it draws 10 % of each unit's \
staff and 24 hours of each one's activity, keeps the draw verifiable, and records every step in \
a hash-chained audit trail.\n\nStart with `loggvakt demo`, or `loggvakt config check` on your \
own schedules/ folder."
)]
pub struct Cli {
    /// Database URL: sqlite://PATH (created if missing) or postgres://USER@HOST/DB.
    #[arg(
        long,
        global = true,
        env = "LOGGVAKT_DB",
        default_value = "sqlite://loggvakt.db"
    )]
    pub db: String,
    /// Configuration: a TOML file or a folder of *.toml files.
    #[arg(
        long,
        global = true,
        env = "LOGGVAKT_CONFIG",
        default_value = "schedules/"
    )]
    pub config: PathBuf,
    /// Act as if the time were this instant (RFC 3339, e.g. 2027-05-01T00:00:00+02:00), for
    /// trials and tests. Audit records keep the real time beside it.
    #[arg(long, global = true, value_parser = parse_instant)]
    pub now: Option<DateTime<Utc>>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check the configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Create (or migrate) the database and check the configuration.
    Init,
    /// Make the missing draws of a month and show the month's plan.
    Plan {
        /// The month, YYYY-MM; the current month by default. Never a month not yet begun.
        #[arg(long, value_parser = parse_month)]
        month: Option<Month>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Inspect draws.
    Draw {
        #[command(subcommand)]
        action: DrawAction,
    },
    /// Run one scheduler tick at the clock's time (use --now to choose it), then exit.
    Tick,
    /// Run the scheduler (a tick every minute) and the HTTP service until stopped.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8480")]
        listen: SocketAddr,
        /// Seconds between ticks (1–60); for trials.
        #[arg(long, default_value_t = 60, hide = true)]
        tick_every: u64,
    },
    /// Bring in a delivered extract file.
    Extract {
        #[command(subcommand)]
        action: ExtractAction,
    },
    /// Inspect and resolve extract orders.
    Order {
        #[command(subcommand)]
        action: OrderAction,
    },
    /// Review tasks: list them, show one with its flagged rows, close it with its outcome.
    Review {
        #[command(subcommand)]
        action: review::ReviewAction,
    },
    /// Cases opened from reviews with remark: steps and decision.
    Case {
        #[command(subcommand)]
        action: review::CaseAction,
    },
    /// Targeted checks (riktad kontroll) by user or by patient over any period, ordered at once.
    Check {
        #[command(subcommand)]
        action: review::CheckAction,
    },
    /// People who log in to the web pages, with their roles.
    User {
        #[command(subcommand)]
        action: users::UserAction,
    },
    /// Patients' requests for the log of who read their record.
    Request {
        #[command(subcommand)]
        action: review::RequestAction,
    },
    /// Reports for management (counts only, no names).
    Report {
        #[command(subcommand)]
        action: report::ReportAction,
    },
    /// Check the audit trail.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Run the four simulated care systems on loopback for a manual trial: the Cosmic journal
    /// unit's SMTP listener on 2525, Treserva's portal on 8481, Sesam 2's log overview on 8482
    /// and Lifecare's message service on 8483 (the example configuration's addresses), with
    /// access logs for the configured staff. Runs until Ctrl-C.
    Simulate {
        /// Seed of the generated access logs.
        #[arg(long, default_value_t = 2027)]
        seed: u64,
    },
    /// Flag anomalies in a normalised CSV extract of any size: off-hours access, own record,
    /// same surname, coworker, protected identity, watch list, no care relation, volume
    /// spike. Works without configuration; an explicit --config adds its units, staff and
    /// [rules]. Flags go to stdout; malformed rows are listed on stderr (exit code 1).
    Analyze {
        /// The extract, in the normalised CSV form (header time,system,user_id,user_name,
        /// patient_id,patient_name,care_unit,action,event_text,system_part; one record per line).
        file: PathBuf,
        /// A staff.csv (id,name,unit,email,personnummer,<system id>…[,working_hours]) that
        /// maps usernames to people, units and working hours.
        #[arg(long)]
        staff: Option<PathBuf>,
        /// A CSV with a personnummer column: patients with protected identity.
        #[arg(long)]
        protected: Option<PathBuf>,
        /// A CSV with a personnummer column: people of media interest, locally known people.
        #[arg(long)]
        watchlist: Option<PathBuf>,
        /// json: flags and a summary per user and code; csv: one row per flagged line, the
        /// summary on stderr.
        #[arg(long, value_enum, default_value_t = AnalyzeFormat::Json)]
        format: AnalyzeFormat,
    },
    /// Run the example organisation through two months on an accelerated clock, in a fresh
    /// SQLite database, and summarise what happened.
    Demo {
        /// Folder for the demo's database and configuration (emptied of a previous demo).
        #[arg(long, default_value = "demo-out")]
        dir: PathBuf,
        /// Repeat a run: the draws' seeds and the simulators come from this number instead of
        /// the operating system, so the same seed (and start) gives the same demo every time.
        #[arg(long)]
        seed: Option<u64>,
        /// The first of the two months, e.g. 2027-05 (default: the month of --now, or today).
        #[arg(long, value_name = "YYYY-MM", value_parser = parse_month)]
        start: Option<Month>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigAction {
    /// Validate and summarise; every problem is printed on its own line and the exit code is 1.
    Check,
}

#[derive(Subcommand, Debug)]
pub enum DrawAction {
    /// Recompute a draw from its stored seed and population and compare it with what was
    /// stored and audited; exit 1 on any difference.
    Verify {
        /// The draw's id (see `plan`).
        id: i64,
    },
}

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
        /// Only orders in this state (pending, sending, awaiting_delivery, imported, failed, in_doubt).
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
}

fn parse_order_state(raw: &str) -> Result<OrderState, String> {
    OrderState::parse(raw).ok_or_else(|| {
        let all: Vec<&str> = OrderState::ALL.iter().map(|s| s.as_str()).collect();
        format!("'{raw}' is not an order state: {}", all.join(", "))
    })
}

#[derive(Subcommand, Debug)]
pub enum AuditAction {
    /// Walk the hash chain; exit 1 and name the first broken record if it does not hold.
    Verify,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnalyzeFormat {
    Json,
    Csv,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

fn parse_instant(raw: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!("'{raw}' is not an RFC 3339 instant like 2027-05-01T00:00:00+02:00 ({e})")
        })
}

fn parse_month(raw: &str) -> Result<Month, String> {
    raw.parse()
        .map_err(|e: crate::calendar::MonthParseError| e.to_string())
}

/// Parses the arguments and runs the command; errors become one line on stderr and exit 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(matches!(cli.command, Command::Serve { .. }));
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            if let Some(errors) = e.downcast_ref::<config::ConfigErrors>() {
                eprintln!("{errors}");
                eprintln!(
                    "error: the configuration has {} problem(s); nothing was changed",
                    errors.0.len()
                );
            } else {
                eprintln!("error: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(serving: bool) {
    let default = if serving { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Who is acting, for the audit trail.
pub fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

fn load_config(path: &Path) -> Result<Organisation> {
    Ok(config::load(path)?)
}

async fn open_store(url: &str) -> Result<Store> {
    Ok(Store::open(url).await?)
}

pub async fn run(cli: Cli) -> Result<ExitCode> {
    let clock = cli.now.map_or_else(Clock::system, Clock::starting_at);
    match cli.command {
        Command::Config {
            action: ConfigAction::Check,
        } => {
            let org = load_config(&cli.config)?;
            // Each connector checks its own settings (no network): part of the check.
            let problems = Connectors::for_org(&org).problems();
            if !problems.is_empty() {
                for (_, problem) in &problems {
                    eprintln!("{}: {problem}", cli.config.display());
                }
                bail!(
                    "{} system(s) cannot be used as configured; nothing was changed",
                    problems.len()
                );
            }
            print!("{}", summary(&org, &cli.config));
            Ok(ExitCode::SUCCESS)
        }
        Command::Init => {
            let org = load_config(&cli.config)?;
            open_store(&cli.db).await?;
            print!("{}", summary(&org, &cli.config));
            println!("database {} is ready", crate::store::redact(&cli.db));
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan { month, format } => {
            let org = load_config(&cli.config)?;
            let month = month.unwrap_or_else(|| Month::of(local_date(clock.now())));
            if let Some(today) = not_begun(month, &clock) {
                bail!(draw::PlanError::FutureMonth { month, today });
            }
            let store = open_store(&cli.db).await?;
            let report =
                draw::plan_month(&store, &org, month, &clock, &cli_actor(), &draw::Seeds::Os)
                    .await?;
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
        Command::Draw {
            action: DrawAction::Verify { id },
        } => {
            let store = open_store(&cli.db).await?;
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
        Command::Tick => {
            let org = load_config(&cli.config)?;
            let connectors = Connectors::for_org(&org);
            connectors.require_all().map_err(anyhow::Error::msg)?;
            let store = open_store(&cli.db).await?;
            let r = tick::tick(&store, &org, &connectors, &clock, &server::instance_name()).await?;
            if r.skipped {
                println!("another instance is ticking; nothing done");
            } else {
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
                    "reviews: {} tasks made, {} reminders, {} escalations, {} notices sent, {} notices failed, \
                     {} written back, {} checks scheduled, rows of {} closed tasks purged ({} rows)",
                    v.tasks_created,
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
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { listen, tick_every } => {
            let org = load_config(&cli.config)?;
            let store = open_store(&cli.db).await?;
            server::serve(
                store,
                org,
                clock,
                ServeOptions {
                    listen,
                    tick_every: Duration::from_secs(tick_every),
                },
            )
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            action: AuditAction::Verify,
        } => {
            let store = open_store(&cli.db).await?;
            match audit::verify(&store).await? {
                Verdict::Intact { records, head } => {
                    println!(
                        "audit trail intact: {records} records, head {}",
                        &head.hash[..16]
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Verdict::Broken { seq, reason } => {
                    println!("audit trail BROKEN at record #{seq}: {reason}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Extract {
            action: ExtractAction::Import { order, file },
        } => {
            let org = load_config(&cli.config)?;
            let connectors = Connectors::for_org(&org);
            connectors.require_all().map_err(anyhow::Error::msg)?;
            let store = open_store(&cli.db).await?;
            let n = orders::import_file(
                &store,
                &org,
                &connectors,
                &clock,
                &cli_actor(),
                order,
                &file,
            )
            .await?;
            println!("order {order}: {n} events imported from {}", file.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Order { action } => order_command(&cli.db, &clock, action).await,
        Command::Analyze {
            file,
            staff,
            protected,
            watchlist,
            format,
        } => crate::analyze::run_to_stdout(&crate::analyze::Options {
            file,
            staff,
            protected,
            watchlist,
            format: match format {
                AnalyzeFormat::Json => crate::analyze::Format::Json,
                AnalyzeFormat::Csv => crate::analyze::Format::Csv,
            },
            config: crate::analyze::config_given().then_some(cli.config),
        }),
        Command::Review { action } => {
            review::review_command(&cli.db, &cli.config, &clock, action).await
        }
        Command::Case { action } => review::case_command(&cli.db, &clock, action).await,
        Command::User { action } => users::user_command(&cli.db, &cli.config, &clock, action).await,
        Command::Check { action } => {
            review::check_command(&cli.db, &cli.config, &clock, action).await
        }
        Command::Report { action } => {
            report::report_command(&cli.db, &cli.config, &clock, action).await
        }
        Command::Request { action } => {
            review::request_command(&cli.db, &cli.config, &clock, action).await
        }
        Command::Simulate { seed } => {
            let org = load_config(&cli.config)?;
            let sim = crate::simulation::start(&org, seed, loggvakt_simulator::Ports::fixed())
                .await
                .context(
                    "cannot start the simulated systems (are ports 2525 and 8481-8483 free?)",
                )?;
            println!(
                "Simulated care systems for {} ({} staff accounts):",
                org.name,
                crate::simulation::sim_config(&org, seed).staff.len()
            );
            println!("  Cosmic journal unit (SMTP)   {}", sim.smtp_addr());
            println!("  Treserva portal              {}", sim.treserva_url());
            println!("  Sesam 2 log overview         {}", sim.sesam2_url());
            println!("  Lifecare messages            {}", sim.lifecare_url());
            println!(
                "Ctrl-C stops. In another terminal: loggvakt tick (or serve) with the same configuration."
            );
            tokio::signal::ctrl_c().await.ok();
            let stats = sim.stats();
            println!(
                "mails received {}, duplicate orders {}",
                stats.mails_received,
                stats.cosmic.duplicates
                    + stats.treserva.duplicates
                    + stats.sesam2.duplicates
                    + stats.lifecare.duplicates
            );
            sim.shutdown().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { dir, seed, start } => {
            let start = start.map(|m| start_of_day(m.first_day()).with_timezone(&Utc));
            let options = demo::Options {
                dir,
                start: start.or(cli.now),
                seed,
            };
            demo::run(&options).await.context("demo failed")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn order_command(db: &str, clock: &Clock, action: OrderAction) -> Result<ExitCode> {
    let store = open_store(db).await?;
    match action {
        OrderAction::List { state, format } => {
            let list = store.orders(state).await?;
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
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for o in &list {
                    println!(
                        "{:>5}  {:<10} {:<22} {:<18} attempts {}  {}",
                        o.id,
                        o.system,
                        o.reference,
                        o.state.as_str(),
                        o.attempts,
                        o.last_error.as_deref().unwrap_or("")
                    );
                }
                println!("{} orders", list.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        OrderAction::Resend { id } | OrderAction::MarkSent { id } => {
            let resend = matches!(action, OrderAction::Resend { .. });
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
            if !resend {
                update.sent_at = Some(now);
            }
            tx.transition(id, order.state, &update).await?;
            tx.audit(
                if resend {
                    "order.resend"
                } else {
                    "order.marked_sent"
                },
                &crate::model::order::order_object(id),
                serde_json::json!({"from": order.state}),
            )
            .await?;
            tx.commit().await?;
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
    }
}

fn not_begun(month: Month, clock: &Clock) -> Option<chrono::NaiveDate> {
    let today = local_date(clock.now());
    (month > Month::of(today)).then_some(today)
}

/// The configuration summary of `config check` and `init`.
pub fn summary(org: &Organisation, path: &Path) -> String {
    let mut out = format!(
        "{}: {} — {} units, {} staff, {} systems, {} routines: OK\n",
        path.display(),
        org.name,
        org.units.len(),
        org.staff.len(),
        org.systems.len(),
        org.routines.len()
    );
    for r in &org.routines {
        let units = org.routine_units(r);
        let (population, sample) = units.iter().fold((0, 0), |(p, s), u| {
            let n = org.population(&u.id, &r.system).len();
            (p + n, s + r.sample.size(n))
        });
        let kind = match r.kind {
            RoutineKind::Stickprov => "stickprov",
            RoutineKind::Riktad => "riktad (scheduled targeted checks are not drawn by plan)",
        };
        out.push_str(&format!(
            "  routine {}: {kind} in {}, {} units, {population} staff with an account, {sample} sampled per draw\n",
            r.id,
            r.system,
            units.len()
        ));
    }
    out
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
