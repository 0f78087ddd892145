//! Anchors of the audit trail outside the database (DESIGN.md §9). The hash chain shows any
//! record changed or removed in the middle, but whoever can write the database can also
//! delete the newest records, and the shortened chain still holds. A checkpoint is the
//! chain's head (sequence number and hash) signed with an ed25519 key that lives outside the
//! database, appended to a file outside it; `audit verify` then checks that the trail still
//! reaches every checkpoint with the same hash.
//!
//! What each anchor protects against:
//! - the key file: nobody without it can write a checkpoint that passes, so a forged file of
//!   checkpoints is refused;
//! - the checkpoint file (append-only; keep a copy where the database's administrators cannot
//!   write, e.g. mailed to the auditor or on another host): the trail cannot be cut back past
//!   the latest checkpoint, nor rewritten up to it, without `audit verify` saying so.
//!
//! Records written after the latest checkpoint are protected by the chain alone until the
//! next checkpoint (every tick of `serve` and `tick`, and `audit checkpoint` on demand).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::store::audit::{self, Verdict};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: not an audit key (64 hex digits, as `audit keygen` writes); refusing to guess")]
    BadKey(PathBuf),
    #[error("{0} exists; an audit key is never overwritten (move it away first)")]
    KeyExists(PathBuf),
    #[error("{path}:{line}: not a checkpoint: {reason}")]
    BadCheckpoint {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

type Result<T> = std::result::Result<T, AnchorError>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AnchorError + '_ {
    move |source| AnchorError::Io {
        path: path.to_owned(),
        source,
    }
}

/// One signed head of the chain, a line of JSON in the checkpoint file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    pub at: DateTime<Utc>,
    /// The signer's public key, hex.
    pub key: String,
    /// ed25519 over [`Checkpoint::message`], hex.
    pub signature: String,
}

impl Checkpoint {
    fn message(seq: i64, hash: &str, at: DateTime<Utc>) -> Vec<u8> {
        format!(
            "loggvakt audit checkpoint\n{seq}\n{hash}\n{}",
            at.to_rfc3339()
        )
        .into_bytes()
    }

    fn signed_by(&self, key: &VerifyingKey) -> bool {
        let Ok(bytes) = hex::decode(&self.signature) else {
            return false;
        };
        let Ok(signature) = Signature::from_slice(&bytes) else {
            return false;
        };
        key.verify(&Self::message(self.seq, &self.hash, self.at), &signature)
            .is_ok()
    }
}

/// Makes a new signing key in `path` (readable by its owner only) and returns its public half.
pub fn generate_key(path: &Path) -> Result<VerifyingKey> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| AnchorError::Io {
        path: path.to_owned(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = match options.open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(AnchorError::KeyExists(path.to_owned()));
        }
        other => other.map_err(io(path))?,
    };
    writeln!(file, "{}", hex::encode(secret)).map_err(io(path))?;
    Ok(SigningKey::from_bytes(&secret).verifying_key())
}

pub fn load_key(path: &Path) -> Result<SigningKey> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let mut secret = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut secret)
        .map_err(|_| AnchorError::BadKey(path.to_owned()))?;
    Ok(SigningKey::from_bytes(&secret))
}

/// Every checkpoint in the file, oldest first; a missing file has none.
pub fn read_checkpoints(path: &Path) -> Result<Vec<Checkpoint>> {
    let file = match File::open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        other => other.map_err(io(path))?,
    };
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(io(path))?;
        if line.trim().is_empty() {
            continue;
        }
        let checkpoint = serde_json::from_str(&line).map_err(|e| AnchorError::BadCheckpoint {
            path: path.to_owned(),
            line: i + 1,
            reason: e.to_string(),
        })?;
        out.push(checkpoint);
    }
    Ok(out)
}

/// Appends a checkpoint of the chain's current head, unless the latest one already has it.
/// Refuses to sign a chain that does not hold. Only the records since the latest checkpoint
/// are walked when the trail still holds that checkpoint's record unchanged: this runs after
/// every tick, and the whole trail can be millions of records.
pub async fn write_checkpoint(
    store: &Store,
    key: &SigningKey,
    path: &Path,
    now: DateTime<Utc>,
) -> Result<Option<Checkpoint>> {
    let latest = read_checkpoints(path)?.pop();
    let from = match &latest {
        Some(c) if audit::hash_at(store, c.seq).await?.as_deref() == Some(c.hash.as_str()) => {
            Some(audit::ChainHead {
                seq: c.seq,
                hash: c.hash.clone(),
            })
        }
        _ => None,
    };
    let verdict = match from {
        Some(from) => audit::verify_from(store, from).await?,
        None => audit::verify(store).await?,
    };
    let head = match verdict {
        Verdict::Intact { head, .. } => head,
        Verdict::Broken { seq, reason } => {
            return Err(AnchorError::BadCheckpoint {
                path: path.to_owned(),
                line: 0,
                reason: format!("the trail is broken at record #{seq} ({reason}); not signing it"),
            });
        }
    };
    if latest.is_some_and(|c| c.seq == head.seq) {
        return Ok(None);
    }
    let signature = key.sign(&Checkpoint::message(head.seq, &head.hash, now));
    let checkpoint = Checkpoint {
        seq: head.seq,
        hash: head.hash,
        at: now,
        key: hex::encode(key.verifying_key().as_bytes()),
        signature: hex::encode(signature.to_bytes()),
    };
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(io(path))?;
    let line = serde_json::to_string(&checkpoint).expect("checkpoints serialise");
    writeln!(file, "{line}").map_err(io(path))?;
    file.sync_data().map_err(io(path))?;
    Ok(Some(checkpoint))
}

/// What the checkpoints say about the trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchored {
    /// The trail reaches the latest checkpoint with the same hash.
    Holds { checkpoints: usize, seq: i64 },
    /// No checkpoint was written yet.
    NoCheckpoint,
    /// A checkpoint's signature does not verify with the trusted key: the file was forged.
    Forged { line: usize },
    /// The trail ends before a checkpoint: its newest records were deleted.
    CutShort { checkpoint: i64, head: i64 },
    /// The record a checkpoint names has another hash now: the trail was rewritten.
    Rewritten { seq: i64 },
}

/// Checks every checkpoint's signature against the trusted key and the trail against the
/// latest one (the chain itself links it to the earlier ones).
pub async fn check(
    store: &Store,
    checkpoints: &[Checkpoint],
    key: &VerifyingKey,
) -> Result<Anchored> {
    if let Some(i) = checkpoints.iter().position(|c| !c.signed_by(key)) {
        return Ok(Anchored::Forged { line: i + 1 });
    }
    let Some(latest) = checkpoints.last() else {
        return Ok(Anchored::NoCheckpoint);
    };
    match audit::hash_at(store, latest.seq).await? {
        None => Ok(Anchored::CutShort {
            checkpoint: latest.seq,
            head: audit::head_seq(store).await?,
        }),
        Some(hash) if hash != latest.hash => Ok(Anchored::Rewritten { seq: latest.seq }),
        Some(_) => Ok(Anchored::Holds {
            checkpoints: checkpoints.len(),
            seq: latest.seq,
        }),
    }
}

/// Where a process writes its checkpoints: the signing key and the checkpoint file.
pub struct Anchor {
    pub key: SigningKey,
    pub file: PathBuf,
}

impl Anchor {
    pub fn load(key: &Path, file: &Path) -> Result<Self> {
        Ok(Self {
            key: load_key(key)?,
            file: file.to_owned(),
        })
    }

    /// A checkpoint of the current head, logged rather than failed: a tick's work is done
    /// whether or not its checkpoint could be written, and the next tick tries again.
    pub async fn checkpoint_after_tick(&self, store: &Store, now: DateTime<Utc>) {
        match write_checkpoint(store, &self.key, &self.file, now).await {
            Ok(Some(c)) => tracing::debug!(seq = c.seq, "audit checkpoint written"),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "audit checkpoint not written"),
        }
    }
}
