//! `report compliance`: management's compliance report on stdout, as a printable HTML page,
//! CSV or JSON (see `crate::report` for what each figure means).

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Result, anyhow};
use clap::{Subcommand, ValueEnum};

use super::common::{Globals, load_config, open_store};
use crate::clock::Clock;
use crate::report;

#[derive(Subcommand, Debug)]
pub enum ReportAction {
    /// Compliance per unit, system and month of a year: checks planned, done on time, late,
    /// missed, in progress, overdue and waiting; outcomes; open cases; and the share of each
    /// unit's staff sampled in the last 12 months. Counts only: no names, no personnummer.
    Compliance {
        /// The year, YYYY; the clock's current year by default.
        // Taken as text so that "abc" gets the same one-line error and exit 1 as 1800,
        // rather than clap's usage message.
        #[arg(long, value_name = "YYYY")]
        year: Option<String>,
        /// html: a page to print or save; csv: one row per unit, system and month; json: the
        /// whole report (the web API's answer).
        #[arg(long, value_enum, default_value = "html")]
        format: ReportFormat,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    Html,
    Csv,
    Json,
}

fn parse_year(raw: &str, clock: &Clock) -> Result<i32> {
    let year: i32 = raw
        .trim()
        .parse()
        .map_err(|_| anyhow!("--year '{raw}' is not a year (YYYY)"))?;
    report::check_year(year, clock).map_err(|e| anyhow!("--year {e}"))
}

pub(super) async fn run(ctx: &Globals, action: ReportAction) -> Result<ExitCode> {
    let clock = &ctx.clock;
    match action {
        ReportAction::Compliance { year, format } => {
            let year = match year {
                Some(raw) => parse_year(&raw, clock)?,
                None => report::current_year(clock),
            };
            let org = load_config(&ctx.config)?;
            let store = open_store(&ctx.db).await?;
            let r = report::compliance(&store, &org, year, clock).await?;
            let text = match format {
                ReportFormat::Html => report::to_html(&r),
                ReportFormat::Csv => report::to_csv(&r),
                ReportFormat::Json => serde_json::to_string_pretty(&r)? + "\n",
            };
            // A reader that stops early (`| head`) is not an error of ours.
            match std::io::stdout().lock().write_all(text.as_bytes()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    Err(anyhow!("cannot write the report: {e}"))
                }
                _ => Ok(ExitCode::SUCCESS),
            }
        }
    }
}
