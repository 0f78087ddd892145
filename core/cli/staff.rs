//! `staff sync|reconcile`: the staff register from the directory or an HR export, and a
//! system's user list held against it. Output names staff by id, never by name or
//! personnummer, as it often ends up in a scheduler's log.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;

use super::common::{Format, Globals, cli_actor, load_config, open_store};
use crate::calendar::local_date;
use crate::ident::SystemId;
use crate::staff_sync::{self, Change, Options, Outcome, Source, reconcile};

#[derive(Subcommand, Debug)]
pub enum StaffAction {
    /// Bring the staff register ([organisation] staff_csv) in line with the directory
    /// ([staff_sync.ldap]) or an HR export: joiners are added, changes made, leavers kept
    /// with their last day (active_to) so they are not drawn again. Every change is
    /// audited. A sync that would deactivate more than [staff_sync] max_deactivate_share
    /// (default 10 %) of the active staff is refused unless --force.
    Sync {
        /// An HR export (CSV or XLSX) whose columns are named as [staff_sync.attributes]
        /// says, instead of the directory.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Show the changes, make none.
        #[arg(long)]
        dry_run: bool,
        /// Deactivate even more than the allowed share (after checking the source).
        #[arg(long)]
        force: bool,
    },
    /// Hold a system's exported user list (CSV or XLSX) against the staff register: users
    /// in the system whom nobody on the staff holds (never drawn, so never checked), and
    /// staff whose username the system does not have. The result is stored for the admin
    /// page.
    Reconcile {
        /// The system the list is from.
        #[arg(long)]
        system: String,
        file: PathBuf,
        /// The username column's header (default: found by name, e.g. username,
        /// användarnamn, login, sAMAccountName).
        #[arg(long)]
        column: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

pub(super) async fn run(ctx: &Globals, action: StaffAction) -> Result<ExitCode> {
    match action {
        StaffAction::Sync {
            file,
            dry_run,
            force,
        } => sync(ctx, file, Options { dry_run, force }).await,
        StaffAction::Reconcile {
            system,
            file,
            column,
            format,
        } => reconcile_list(ctx, &system, file, column, format).await,
    }
}

async fn sync(ctx: &Globals, file: Option<PathBuf>, options: Options) -> Result<ExitCode> {
    let org = load_config(&ctx.config)?;
    let store = open_store(&ctx.db).await?;
    let source = file.map_or(Source::Directory, Source::Export);
    let outcome = staff_sync::sync(
        &store,
        &org,
        &ctx.config,
        &source,
        options,
        ctx.clock.now(),
        &cli_actor(),
    )
    .await?;
    print_outcome(&outcome, options);
    Ok(match &outcome.refused {
        Some(refused) => {
            eprintln!("error: {refused}");
            ExitCode::FAILURE
        }
        None => ExitCode::SUCCESS,
    })
}

fn print_outcome(outcome: &Outcome, options: Options) {
    for problem in &outcome.problems {
        eprintln!("skipped {}", problem.message);
    }
    for change in &outcome.plan.changes {
        match change {
            Change::Added(p) => println!("+ {} joins {}", p.id, p.unit),
            Change::Changed {
                person,
                fields,
                reactivated,
            } => println!(
                "~ {}: {}{}",
                person.id,
                fields.join(", "),
                if *reactivated {
                    " (back on the staff)"
                } else {
                    ""
                }
            ),
            Change::Deactivated { id, active_to } => {
                println!("- {id} leaves (last day {active_to})")
            }
        }
    }
    let plan = &outcome.plan;
    println!(
        "{} entries read: {} added, {} changed, {} deactivated, {} unchanged, {} skipped",
        outcome.entries,
        plan.added(),
        plan.changed(),
        plan.deactivated(),
        plan.unchanged,
        outcome.problems.len()
    );
    if options.dry_run {
        println!("dry run: {} was not changed", outcome.register.display());
    } else if outcome.written {
        println!(
            "{} rewritten; every change is in the audit trail",
            outcome.register.display()
        );
    } else {
        println!("{} is up to date", outcome.register.display());
    }
}

async fn reconcile_list(
    ctx: &Globals,
    system: &str,
    file: PathBuf,
    column: Option<String>,
    format: Format,
) -> Result<ExitCode> {
    let org = load_config(&ctx.config)?;
    let system_id: SystemId = org
        .system(system)
        .map(|s| s.id.clone())
        .with_context(|| format!("there is no system '{system}' in the configuration"))?;
    let to_read = file.clone();
    let usernames =
        crate::blocking::run(move || reconcile::read_user_list(&to_read, column.as_deref()))
            .await?;
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    let result = reconcile::reconcile(
        &org,
        &system_id,
        &name,
        &usernames,
        local_date(ctx.clock.now()),
    );
    let store = open_store(&ctx.db).await?;
    reconcile::record(&store, &result, ctx.clock.now(), &cli_actor()).await?;
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&result)?),
        Format::Table => {
            println!(
                "{}: {} users in {}",
                result.system, result.listed, result.file
            );
            println!(
                "In the system but not on the staff, so never drawn ({}):",
                result.unknown.len()
            );
            for u in &result.unknown {
                println!("  {u}");
            }
            println!(
                "Staff whose username the system does not have ({}):",
                result.stale.len()
            );
            for s in &result.stale {
                println!("  {:<12} {}", s.staff_id.as_str(), s.username);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
