//! `audit verify`, `audit keygen` and `audit checkpoint`: the hash chain of the audit trail
//! walked and judged, and anchored outside the database by signed checkpoints.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use ed25519_dalek::VerifyingKey;

use super::common::{Globals, open_store};
use crate::anchor::{self, Anchored};
use crate::store::Store;
use crate::store::audit::{self, Verdict};

#[derive(Subcommand, Debug)]
pub enum AuditAction {
    /// Walk the hash chain, and check it against the signed checkpoints when
    /// --audit-checkpoints is given; exit 1 and say what is wrong if it does not hold.
    Verify {
        /// The checkpoints' public key (hex), for an auditor who does not hold the signing
        /// key; by default the public half of --audit-key.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Make a new signing key for audit checkpoints in FILE (never overwrites one).
    Keygen { file: PathBuf },
    /// Sign the trail's current head now and append it to --audit-checkpoints.
    Checkpoint,
}

pub(super) async fn run(ctx: &Globals, action: AuditAction) -> Result<ExitCode> {
    match action {
        AuditAction::Verify { public_key } => verify(ctx, public_key.as_deref()).await,
        AuditAction::Keygen { file } => {
            let key = anchor::generate_key(&file)?;
            println!(
                "audit key written to {} (owner-only); public key {}",
                file.display(),
                hex::encode(key.as_bytes())
            );
            Ok(ExitCode::SUCCESS)
        }
        AuditAction::Checkpoint => {
            let anchor = ctx
                .anchor()?
                .context("audit checkpoint needs --audit-key and --audit-checkpoints")?;
            let store = open_store(&ctx.db).await?;
            match anchor::write_checkpoint(&store, &anchor.key, &anchor.file, ctx.clock.now())
                .await?
            {
                Some(c) => println!("checkpoint of record #{} written", c.seq),
                None => println!("the latest checkpoint already has the trail's head"),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn verify(ctx: &Globals, public_key: Option<&str>) -> Result<ExitCode> {
    let store = open_store(&ctx.db).await?;
    match audit::verify(&store).await? {
        Verdict::Intact { records, head } => println!(
            "audit trail intact: {records} records, head {}",
            &head.hash[..16]
        ),
        Verdict::Broken { seq, reason } => {
            println!("audit trail BROKEN at record #{seq}: {reason}");
            return Ok(ExitCode::FAILURE);
        }
    }
    let Some(file) = &ctx.audit_checkpoints else {
        return Ok(ExitCode::SUCCESS);
    };
    let key = trusted_key(ctx, public_key)?;
    check_anchor(&store, file, &key).await
}

fn trusted_key(ctx: &Globals, public_key: Option<&str>) -> Result<VerifyingKey> {
    if let Some(hex_key) = public_key {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_key.trim(), &mut bytes)
            .context("--public-key: expected 64 hex digits")?;
        return VerifyingKey::from_bytes(&bytes).context("--public-key: not an ed25519 key");
    }
    match &ctx.audit_key {
        Some(file) => Ok(anchor::load_key(file)?.verifying_key()),
        None => bail!("checking the checkpoints needs --public-key or --audit-key"),
    }
}

async fn check_anchor(
    store: &Store,
    file: &std::path::Path,
    key: &VerifyingKey,
) -> Result<ExitCode> {
    let checkpoints = anchor::read_checkpoints(file)?;
    let (ok, says) = match anchor::check(store, &checkpoints, key).await? {
        Anchored::Holds { checkpoints, seq } => (
            true,
            format!(
                "anchored: the trail reaches checkpoint #{checkpoints} (record #{seq}) unchanged"
            ),
        ),
        Anchored::NoCheckpoint => (true, format!("no checkpoint in {} yet", file.display())),
        Anchored::Forged { line } => (
            false,
            format!(
                "checkpoint on line {line} of {} is not signed by the trusted key",
                file.display()
            ),
        ),
        Anchored::CutShort { checkpoint, head } => (
            false,
            format!(
                "audit trail CUT SHORT: a checkpoint names record #{checkpoint}, the trail ends at #{head}"
            ),
        ),
        Anchored::Rewritten { seq } => (
            false,
            format!("audit trail REWRITTEN: record #{seq} differs from its signed checkpoint"),
        ),
    };
    println!("{says}");
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
