//! `token create|list|revoke`: API tokens for service accounts (a BI tool reading the
//! report, a case system reading tasks). A token acts with its user's role and units.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use chrono::{NaiveDate, TimeZone};
use clap::Subcommand;

use super::common::{Format, Globals, cli_actor, open_store, parse_date};
use crate::auth;
use crate::web::API_TOKEN_PREFIX;

#[derive(Subcommand, Debug)]
pub enum TokenAction {
    /// Make a token for USERNAME (a user from `user add`, usually a service account with the
    /// role the service needs: executive for a BI tool). The token is printed once.
    Create {
        username: String,
        /// What the token is for, shown by `token list`.
        #[arg(long)]
        name: String,
        /// The last day the token works (YYYY-MM-DD); none: until revoked.
        #[arg(long, value_parser = parse_date)]
        expires: Option<NaiveDate>,
    },
    /// List tokens (never the tokens themselves).
    List {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Revoke a token by its id; it stops working at once.
    Revoke { id: i64 },
}

pub(super) async fn run(ctx: &Globals, action: TokenAction) -> Result<ExitCode> {
    let store = open_store(&ctx.db).await?;
    let now = ctx.clock.now();
    match action {
        TokenAction::Create {
            username,
            name,
            expires,
        } => {
            let name = name.trim();
            if name.is_empty() || name.len() > 200 {
                bail!("--name must say what the token is for (at most 200 characters)");
            }
            let Some((user, _)) = store.user_by_name(username.trim()).await? else {
                bail!("there is no user '{username}' (add one with `user add`)");
            };
            if user.disabled {
                bail!("user '{username}' is disabled");
            }
            // The end of the last day, Swedish time.
            let expires_at = match expires {
                None => None,
                Some(day) => {
                    let end = day
                        .succ_opt()
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                        .context("--expires is out of range")?;
                    let end = crate::calendar::TZ
                        .from_local_datetime(&end)
                        .earliest()
                        .context("--expires is out of range")?;
                    Some(end.with_timezone(&chrono::Utc))
                }
            };
            if let Some(e) = expires_at
                && e <= now
            {
                bail!("--expires is in the past");
            }
            let token = format!("{API_TOKEN_PREFIX}{}", auth::random_token());
            let id = store
                .create_api_token(
                    user.id,
                    name,
                    &auth::token_hash(&token),
                    expires_at,
                    now,
                    &cli_actor(),
                )
                .await?;
            println!(
                "token {id} for {} ({}): keep it now, it is not shown again",
                user.username,
                user.role.as_str()
            );
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
        TokenAction::List { format } => {
            let tokens = store.api_tokens().await?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&tokens)?),
                Format::Table => {
                    for t in tokens {
                        let state = match (t.revoked_at, t.expires_at) {
                            (Some(_), _) => "revoked",
                            (None, Some(e)) if e <= now => "expired",
                            _ => "active",
                        };
                        println!(
                            "{:>4} {:<8} {:<16} {:<10} {:<40} last used {}",
                            t.id,
                            state,
                            t.username,
                            t.role,
                            t.name,
                            t.last_used_at.map_or("never".to_owned(), |u| u
                                .format("%Y-%m-%d %H:%M")
                                .to_string())
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        TokenAction::Revoke { id } => {
            if !store.revoke_api_token(id, now, &cli_actor()).await? {
                bail!("there is no active token {id}");
            }
            println!("token {id} revoked");
            Ok(ExitCode::SUCCESS)
        }
    }
}
