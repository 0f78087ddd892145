//! `audit verify`: the hash chain of the audit trail walked and judged.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;

use super::common::{Globals, open_store};
use crate::store::audit::{self, Verdict};

#[derive(Subcommand, Debug)]
pub enum AuditAction {
    /// Walk the hash chain; exit 1 and name the first broken record if it does not hold.
    Verify,
}

pub(super) async fn run(ctx: &Globals, action: AuditAction) -> Result<ExitCode> {
    let AuditAction::Verify = action;
    let store = open_store(&ctx.db).await?;
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
