//! `user add|list`: the people who log in to the web pages.

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;

use super::common::{Globals, cli_actor, load_config, open_store};
use crate::auth;
use crate::model::org::Organisation;
use crate::model::user::{Role, User};
use crate::store::users::NewUser;

#[derive(Subcommand, Debug)]
pub enum UserAction {
    /// Add a user, or change an existing one (their sessions end). The password is read from
    /// standard input with --password-stdin, else from LOGGVAKT_PASSWORD, else one is made
    /// and printed once.
    Add {
        username: String,
        /// admin, reviewer (enhetschef), executive (ledning) or auditor (revisor).
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Full name, shown on the pages.
        #[arg(long)]
        name: String,
        /// E-mail; a reviewer sees the tasks of the units they manage by this address.
        #[arg(long)]
        email: String,
        /// Further units a reviewer sees (comma-separated unit ids), e.g. as a deputy.
        #[arg(long, value_delimiter = ',')]
        units: Vec<String>,
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users and their roles.
    List,
}

fn parse_role(raw: &str) -> Result<Role, String> {
    Role::parse(raw)
        .ok_or_else(|| format!("'{raw}' is not a role: admin, reviewer, executive, auditor"))
}

pub(super) async fn run(ctx: &Globals, action: UserAction) -> Result<ExitCode> {
    match action {
        UserAction::Add {
            username,
            role,
            name,
            email,
            units,
            password_stdin,
        } => {
            let org = load_config(&ctx.config)?;
            let probe = User {
                id: 0,
                username: username.clone(),
                name: name.clone(),
                email: email.clone(),
                role,
                units: units.clone(),
                disabled: false,
            };
            check_new_user(&org, &probe)?;
            let (password, generated) = password(password_stdin)?;
            if let Some(problem) = auth::password_problem(&password, &username) {
                bail!("user {username}: {problem}");
            }
            let to_hash = password.clone();
            let hash = crate::blocking::run(move || auth::hash_password(&to_hash)).await?;
            let store = open_store(&ctx.db).await?;
            let id = store
                .upsert_user(
                    &NewUser {
                        username: username.trim(),
                        name: name.trim(),
                        email: email.trim(),
                        role,
                        units: &units,
                        password_hash: &hash,
                    },
                    ctx.clock.now(),
                    &cli_actor(),
                )
                .await?;
            println!("user {username} ({}) saved as id {id}", role.as_str());
            if generated {
                println!("password: {password}");
            }
            Ok(ExitCode::SUCCESS)
        }
        UserAction::List => {
            let store = open_store(&ctx.db).await?;
            for u in store.users().await? {
                println!(
                    "{:<20} {:<10} {:<28} {}{}",
                    u.username,
                    u.role.as_str(),
                    u.email,
                    u.name,
                    if u.disabled { " (disabled)" } else { "" }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Refuses a user the web pages could not serve: a bad name or address, an unknown unit,
/// or a reviewer without units to review.
fn check_new_user(org: &Organisation, user: &User) -> Result<()> {
    let User {
        username,
        email,
        units,
        ..
    } = user;
    if username.trim().is_empty() || username.contains(char::is_whitespace) {
        bail!("the username must be one word");
    }
    if !email.contains('@') {
        bail!("'{email}' is not an e-mail address");
    }
    for u in units {
        if org.unit(u).is_none() {
            bail!("there is no unit '{u}' in the configuration");
        }
    }
    if user.role == Role::Reviewer && user.reviewer_units(org).is_empty() {
        bail!(
            "reviewer {email} manages no unit in the configuration; give --units to say whose tasks they review"
        );
    }
    Ok(())
}

/// The password from standard input, else LOGGVAKT_PASSWORD, else a made-up one (`true`:
/// to be printed once).
fn password(from_stdin: bool) -> Result<(String, bool)> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        Ok((line.trim_end_matches(['\r', '\n']).to_owned(), false))
    } else if let Ok(p) = std::env::var("LOGGVAKT_PASSWORD") {
        Ok((p, false))
    } else {
        Ok((auth::generated_password(), true))
    }
}
