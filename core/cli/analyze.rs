//! `analyze`: the anomaly rules over an extract file, with or without a configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::ValueEnum;

use super::common::Globals;
use crate::analyze::{self, Detail, Options};

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnalyzeFormat {
    Json,
    Csv,
}

pub(super) fn run(
    ctx: &Globals,
    file: PathBuf,
    staff: Option<PathBuf>,
    protected: Option<PathBuf>,
    watchlist: Option<PathBuf>,
    format: AnalyzeFormat,
    detail: Detail,
) -> Result<ExitCode> {
    analyze::run_to_stdout(&Options {
        file,
        staff,
        protected,
        watchlist,
        format: match format {
            AnalyzeFormat::Json => analyze::Format::Json,
            AnalyzeFormat::Csv => analyze::Format::Csv,
        },
        detail,
        // Only an explicit configuration counts: analyze must not depend on the default.
        config: analyze::config_given().then(|| ctx.config.clone()),
    })
}
