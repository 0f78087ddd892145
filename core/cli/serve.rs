//! `serve`, `simulate` and `demo`: the long-running service, the simulated care systems for
//! trials, and the accelerated demonstration.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::Utc;

use super::common::{Globals, load_config, open_store};
use crate::calendar::{Month, start_of_day};
use crate::server::{self, ServeOptions};
use crate::{demo, simulation};

pub(super) async fn serve(ctx: &Globals, options: ServeOptions) -> Result<ExitCode> {
    let org = load_config(&ctx.config)?;
    let store = open_store(&ctx.db).await?;
    server::serve(store, org, ctx.clock, options).await?;
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn simulate(ctx: &Globals, seed: u64) -> Result<ExitCode> {
    let org = load_config(&ctx.config)?;
    let sim = simulation::start(&org, seed, loggvakt_simulator::Ports::fixed())
        .await
        .context("cannot start the simulated systems (are ports 2525 and 8481-8483 free?)")?;
    println!(
        "Simulated care systems for {} ({} staff accounts):",
        org.name,
        simulation::sim_config(&org, seed).staff.len()
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

pub(super) async fn demo(
    ctx: &Globals,
    dir: PathBuf,
    seed: Option<u64>,
    start: Option<Month>,
) -> Result<ExitCode> {
    let start = start.map(|m| start_of_day(m.first_day()).with_timezone(&Utc));
    let options = demo::Options {
        dir,
        start: start.or(ctx.now),
        seed,
    };
    demo::run(&options).await.context("demo failed")?;
    Ok(ExitCode::SUCCESS)
}
