//! `config check` and `init`: the configuration checked and summarised, and the database
//! made ready.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Subcommand;

use super::common::{Globals, load_config, open_store};
use crate::connectors::Connectors;
use crate::model::org::{Organisation, RoutineKind};

#[derive(Subcommand, Debug)]
pub enum ConfigAction {
    /// Validate and summarise; every problem is printed on its own line and the exit code is 1.
    /// When the database exists, also names every unit or system that the configuration no
    /// longer has but that still has open work there (removed, or renamed).
    Check {
        /// Also ask every system's connector whether it reaches its system (a plugin's
        /// `health`, a portal's address, a mail server's greeting), side by side, 10 s each.
        #[arg(long)]
        health: bool,
    },
}

pub(super) async fn run(ctx: &Globals, action: ConfigAction) -> Result<ExitCode> {
    match action {
        ConfigAction::Check { health } => check(ctx, health).await,
    }
}

/// How long one system's health check may take.
const HEALTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Each system's answer to `health`, in the configuration's order; `false` if any failed.
async fn health_of(org: &Organisation, connectors: &Connectors) -> bool {
    let checks = org.systems.iter().map(|system| async move {
        let id = system.id.as_str();
        let answer = match connectors.get(id) {
            Err(e) => Err(e),
            Ok(c) => match tokio::time::timeout(HEALTH_TIMEOUT, c.health()).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no answer within {} s", HEALTH_TIMEOUT.as_secs())),
            },
        };
        (id, answer)
    });
    let mut healthy = true;
    for (id, answer) in futures_util::future::join_all(checks).await {
        match answer {
            Ok(()) => println!("system {id}: reachable"),
            Err(e) => {
                healthy = false;
                println!("system {id}: NOT reachable: {e}");
            }
        }
    }
    healthy
}

/// Whether `config check` should look at the database: a SQLite file only if it exists (a
/// check must not create one), a server database always.
fn database_exists(url: &str) -> bool {
    match url.strip_prefix("sqlite://") {
        Some(path) => {
            let path = path.split('?').next().unwrap_or(path);
            path != ":memory:" && Path::new(path).exists()
        }
        None => true,
    }
}

async fn check(ctx: &Globals, health: bool) -> Result<ExitCode> {
    let org = load_config(&ctx.config)?;
    // Each connector checks its own settings (no network): part of the check.
    let connectors = Connectors::for_org(&org);
    let problems = connectors.problems();
    if !problems.is_empty() {
        for (_, problem) in &problems {
            eprintln!("{}: {problem}", ctx.config.display());
        }
        bail!(
            "{} system(s) cannot be used as configured; nothing was changed",
            problems.len()
        );
    }
    if database_exists(&ctx.db) {
        let store = open_store(&ctx.db).await?;
        let orphans = crate::draw::orphaned_work(&store, &org).await?;
        if !orphans.is_empty() {
            for line in &orphans {
                eprintln!("{}: {line}", ctx.config.display());
            }
            bail!(
                "{} unit(s) or system(s) with open work are missing from the configuration; \
                 no draws are made until they are back or their work is done",
                orphans.len()
            );
        }
    }
    print!("{}", summary(&org, &ctx.config));
    for warning in patient_check_warnings(&org, &connectors) {
        eprintln!("{}: warning: {warning}", ctx.config.display());
    }
    if health && !health_of(&org, &connectors).await {
        bail!("one or more systems cannot be reached; see above");
    }
    Ok(ExitCode::SUCCESS)
}

/// Scheduled checks by patient (the protected-identity routines) from a system that cannot
/// be searched by patient: not an error, since the checks can be made by hand, but the
/// administrator must know that the orders will not go out.
fn patient_check_warnings(org: &Organisation, connectors: &Connectors) -> Vec<String> {
    org.routines
        .iter()
        .filter(|r| r.kind == RoutineKind::Riktad)
        .filter_map(|r| {
            let gap = connectors.patient_search_gap(org.system(r.system.as_str())?)?;
            Some(format!(
                "routine '{}' checks patients with protected identity, but {gap}; the routine \
                 makes no checks there, so make them by hand, or point it at a system that \
                 can search by patient (e.g. Sesam 2's Mottagare)",
                r.id
            ))
        })
        .collect()
}

pub(super) async fn init(ctx: &Globals) -> Result<ExitCode> {
    let org = load_config(&ctx.config)?;
    open_store(&ctx.db).await?;
    print!("{}", summary(&org, &ctx.config));
    println!("database {} is ready", crate::store::redact(&ctx.db));
    Ok(ExitCode::SUCCESS)
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
    out.push_str(&orderer_notes(org));
    out
}

/// Treserva's user support checks that the orderer's username belongs to a verksamhetschef:
/// a note for each Treserva system whose routines' units would order without one.
fn orderer_notes(org: &Organisation) -> String {
    let mut out = String::new();
    for system in org
        .systems
        .iter()
        .filter(|s| s.connector_name() == "treserva")
    {
        let shared = system.settings.get("orderer").and_then(|v| v.as_str()) == Some("shared");
        if shared {
            continue;
        }
        let units: std::collections::BTreeSet<&str> = org
            .routines
            .iter()
            .filter(|r| r.system == system.id)
            .flat_map(|r| org.routine_units(r))
            // Only units that order: those with staff in the system.
            .filter(|u| !org.population(&u.id, &system.id).is_empty())
            .filter(|u| {
                org.orderer(&u.id, system.id.as_str())
                    .is_some_and(|o| o.username.is_none())
            })
            .map(|u| u.id.as_str())
            .collect();
        if !units.is_empty() {
            out.push_str(&format!(
                "  note: {}: the orderer of {} unit(s) has no {0} username, which user support checks ({}); \
                 give the orderer `usernames = {{ {0} = \"…\" }}`, or the manager a staff entry with that username\n",
                system.id,
                units.len(),
                units.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    out
}
