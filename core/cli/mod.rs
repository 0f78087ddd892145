//! The command line: argument parsing and the commands' output. Commands load and validate
//! configuration before they open the database, so a bad configuration writes nothing.
//!
//! [`run`] hands each command to the module of its group; what they share is in `common`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};

use crate::calendar::Month;
use crate::clock::Clock;
use common::{Globals, parse_instant, parse_month};

mod analyze;
mod audit;
mod case;
mod check;
mod common;
mod config;
mod health;
mod orders;
mod plan;
mod report;
mod request;
mod review;
mod serve;
mod staff;
mod tokens;
mod users;

pub use common::{Format, cli_actor};
pub use config::summary;

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
    /// The ed25519 key that signs audit checkpoints (`audit keygen` makes one). Keep it
    /// outside the database's reach; with --audit-checkpoints, `tick` and `serve` anchor the
    /// audit trail after every tick and `audit verify` checks the trail against the file.
    #[arg(long, global = true, env = "LOGGVAKT_AUDIT_KEY")]
    pub audit_key: Option<PathBuf>,
    /// The append-only file of signed audit checkpoints (one JSON line each).
    #[arg(long, global = true, env = "LOGGVAKT_AUDIT_CHECKPOINTS")]
    pub audit_checkpoints: Option<PathBuf>,
    /// A PEM bundle of CA certificates trusted, beside the operating system's store, by every
    /// outgoing TLS connection (care systems over HTTPS, SMTP, PostgreSQL): for systems behind
    /// the organisation's own CA.
    #[arg(long, global = true, env = "LOGGVAKT_EXTRA_CA")]
    pub extra_ca: Option<PathBuf>,
    /// Log lines on stderr as text, or as one JSON object per line for a log collector.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "LOGGVAKT_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check the configuration.
    Config {
        #[command(subcommand)]
        action: config::ConfigAction,
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
        action: plan::DrawAction,
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
        /// Seconds a connection may take to send a whole request head before it is closed.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=300))]
        header_timeout_secs: u64,
        /// Seconds a request body may send nothing before it is cut off.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
        body_timeout_secs: u64,
        /// Connections served at once; more wait until one closes.
        #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=100_000))]
        max_connections: u64,
        /// Seconds a web session may sit unused before it ends (it ends after 10 hours anyway).
        #[arg(long, default_value_t = 1800, value_parser = clap::value_parser!(u64).range(1..=36_000))]
        session_idle_secs: u64,
        /// A file holding the bearer token /metrics asks for (16+ characters). Without it,
        /// /metrics answers only to the local machine.
        #[arg(long, env = "LOGGVAKT_METRICS_TOKEN_FILE")]
        metrics_token_file: Option<PathBuf>,
    },
    /// Runs one plugin library in this process for a parent loggvakt (over stdin and
    /// stdout); started by loggvakt itself, not by hand.
    #[command(hide = true)]
    PluginHost { library: PathBuf },
    /// Ask a running `serve` whether it is ready (GET /health/ready); exit 0 when it is.
    Health {
        /// The readiness address of serve's own listener.
        #[arg(long, default_value = "http://127.0.0.1:8480/health/ready")]
        url: String,
    },
    /// Bring in a delivered extract file.
    Extract {
        #[command(subcommand)]
        action: orders::ExtractAction,
    },
    /// Inspect and resolve extract orders.
    Order {
        #[command(subcommand)]
        action: orders::OrderAction,
    },
    /// Review tasks: list them, show one with its flagged rows, close it with its outcome.
    Review {
        #[command(subcommand)]
        action: review::ReviewAction,
    },
    /// Cases opened from reviews with remark: steps and decision.
    Case {
        #[command(subcommand)]
        action: case::CaseAction,
    },
    /// Targeted checks (riktad kontroll) by user or by patient over any period, ordered at once.
    Check {
        #[command(subcommand)]
        action: check::CheckAction,
    },
    /// People who log in to the web pages, with their roles.
    User {
        #[command(subcommand)]
        action: users::UserAction,
    },
    /// API tokens for service accounts (BI, case systems): create, list, revoke.
    Token {
        #[command(subcommand)]
        action: tokens::TokenAction,
    },
    /// The staff register from the directory or an HR export, and systems' user lists
    /// held against it.
    Staff {
        #[command(subcommand)]
        action: staff::StaffAction,
    },
    /// Patients' requests for the log of who read their record.
    Request {
        #[command(subcommand)]
        action: request::RequestAction,
    },
    /// Reports for management (counts only, no names).
    Report {
        #[command(subcommand)]
        action: report::ReportAction,
    },
    /// Check the audit trail.
    Audit {
        #[command(subcommand)]
        action: audit::AuditAction,
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
        #[arg(long, value_enum, default_value_t = analyze::AnalyzeFormat::Json)]
        format: analyze::AnalyzeFormat,
        /// Each flagged line with its codes but without the reasons text: the same lines,
        /// a third of the size, for a first look at an extract with millions of flags.
        #[arg(long, conflicts_with = "summary")]
        codes_only: bool,
        /// No flagged lines, only the counts: per user (rows, flagged rows, distinct
        /// patients, rows per code, volume spike) and per code, and the 20 users with most
        /// flagged rows. json: {"summary","top_users","user_flags"}; csv: one row per user,
        /// most flagged rows first, the totals on stderr.
        #[arg(long)]
        summary: bool,
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
    /// Print a shell completion script, e.g.
    /// `loggvakt completions bash > /etc/bash_completion.d/loggvakt`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `loggvakt man > /usr/local/share/man/man1/loggvakt.1`.
    Man,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Parses the arguments and runs the command; errors become one line on stderr and exit 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::PluginHost { library } = &cli.command {
        // Before any runtime or logger: the child's stdout is its frame pipe.
        return crate::plugin_host::child::run(library);
    }
    init_tracing(matches!(cli.command, Command::Serve { .. }), cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        // The reader went away (`loggvakt order list | head`): it has what it wanted.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(errors) = e.downcast_ref::<crate::config::ConfigErrors>() {
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

fn init_tracing(serving: bool, format: LogFormat) {
    let default = if serving { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => logs.try_init(),
        LogFormat::Json => logs.json().flatten_event(true).try_init(),
    };
}

pub async fn run(cli: Cli) -> Result<ExitCode> {
    if let Some(path) = &cli.extra_ca {
        let count = loggvakt_connector::tls::trust_extra_roots_file(path)
            .map_err(|e| anyhow::anyhow!("--extra-ca: {e}"))?;
        tracing::info!(certificates = count, "extra CA bundle trusted");
    }
    let ctx = Globals {
        clock: cli.now.map_or_else(Clock::system, Clock::starting_at),
        db: cli.db,
        config: cli.config,
        now: cli.now,
        audit_key: cli.audit_key,
        audit_checkpoints: cli.audit_checkpoints,
    };
    let ctx = &ctx;
    match cli.command {
        Command::Config { action } => config::run(ctx, action).await,
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            // Into a buffer first: clap_complete panics when its writer fails, and a closed
            // pipe (`| head`) is no reason to.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "loggvakt", &mut script);
            std::io::Write::write_all(&mut std::io::stdout().lock(), &script)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(cmd).render(&mut std::io::stdout().lock())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Init => config::init(ctx).await,
        Command::Plan { month, format } => plan::plan(ctx, month, format).await,
        Command::Draw { action } => plan::draw(ctx, action).await,
        Command::Tick => plan::tick(ctx).await,
        Command::Serve {
            listen,
            tick_every,
            header_timeout_secs,
            body_timeout_secs,
            max_connections,
            session_idle_secs,
            metrics_token_file,
        } => {
            let metrics_token = metrics_token_file
                .map(|path| crate::server::MetricsToken::from_file(&path))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--metrics-token-file: {e}"))?;
            let options = crate::server::ServeOptions {
                listen,
                config_path: Some(ctx.config.clone()),
                tick_every: std::time::Duration::from_secs(tick_every),
                header_timeout: std::time::Duration::from_secs(header_timeout_secs),
                body_timeout: std::time::Duration::from_secs(body_timeout_secs),
                max_connections: max_connections as usize,
                session_idle: chrono::TimeDelta::seconds(session_idle_secs as i64),
                anchor: ctx.anchor()?,
                metrics_token,
                stop: None,
            };
            serve::serve(ctx, options).await
        }
        Command::Health { url } => health::run(&url).await,
        Command::PluginHost { library } => Ok(crate::plugin_host::child::run(&library)),
        Command::Extract { action } => orders::extract(ctx, action).await,
        Command::Order { action } => orders::order(ctx, action).await,
        Command::Review { action } => review::run(ctx, action).await,
        Command::Case { action } => case::run(ctx, action).await,
        Command::Check { action } => check::run(ctx, action).await,
        Command::User { action } => users::run(ctx, action).await,
        Command::Token { action } => tokens::run(ctx, action).await,
        Command::Staff { action } => staff::run(ctx, action).await,
        Command::Request { action } => request::run(ctx, action).await,
        Command::Report { action } => report::run(ctx, action).await,
        Command::Audit { action } => audit::run(ctx, action).await,
        Command::Simulate { seed } => serve::simulate(ctx, seed).await,
        Command::Analyze {
            file,
            staff,
            protected,
            watchlist,
            format,
            codes_only,
            summary,
        } => {
            let detail = match (codes_only, summary) {
                (_, true) => crate::analyze::Detail::None,
                (true, false) => crate::analyze::Detail::Codes,
                (false, false) => crate::analyze::Detail::Reasons,
            };
            analyze::run(ctx, file, staff, protected, watchlist, format, detail)
        }
        Command::Demo { dir, seed, start } => serve::demo(ctx, dir, seed, start).await,
    }
}
