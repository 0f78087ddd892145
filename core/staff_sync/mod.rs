//! `staff sync`: the staff register (the configuration's `staff_csv`) brought in line with a
//! directory over LDAP or an HR export file, and `staff reconcile`: a system's own user list
//! held against the register.
//!
//! A sync reads the source, maps each entry to a person (`person`), works out the changes
//! (`diff`: joiners, changed fields, leavers) and refuses one that would deactivate more
//! than the configured share. Then it rewrites the register in one atomic step
//! (`register`), checks that the configuration still loads (else it puts the old file
//! back), and audits every change in the same database transaction. Leavers keep their row
//! with `active_to` set: a draw's snapshot names them, and `draw verify` needs nothing from
//! the register, so earlier draws stay verifiable.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::config::ConfigErrors;
use crate::model::org::Organisation;
use crate::store::{Store, StoreError};

pub mod diff;
mod file;
mod ldap;
pub mod person;
pub mod reconcile;
mod register;

pub use diff::{Change, Plan, Provided, TooManyLeavers};
pub use person::Problem;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{0}")]
    Setup(String),
    #[error("{0}")]
    Source(String),
    #[error("{0}")]
    Register(String),
    #[error(transparent)]
    TooManyLeavers(#[from] TooManyLeavers),
    #[error("the synced staff register does not validate, so the old one was put back:\n{0}")]
    Invalid(ConfigErrors),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where the staff come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// `[staff_sync.ldap]`.
    Directory,
    /// An HR system's export, with the mapping's attribute names as its column names.
    Export(PathBuf),
}

impl Source {
    fn label(&self) -> String {
        match self {
            Self::Directory => "ldap".into(),
            Self::Export(path) => format!(
                "file {}",
                path.file_name().unwrap_or_default().to_string_lossy()
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Work out and report the changes, change nothing.
    pub dry_run: bool,
    /// Go ahead even when more than the allowed share would be deactivated.
    pub force: bool,
}

/// What a sync found and did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub plan: Plan,
    /// Entries that could not be read; their people were left as they are.
    pub problems: Vec<Problem>,
    pub entries: usize,
    /// Whether the register was rewritten.
    pub written: bool,
    /// A dry run that the guard would refuse: the changes are shown, and why they would not
    /// be made without `--force`.
    pub refused: Option<TooManyLeavers>,
    pub register: PathBuf,
}

/// Syncs the register of `org` (loaded from `config`) from `source` at `now`.
pub async fn sync(
    store: &Store,
    org: &Organisation,
    config: &Path,
    source: &Source,
    options: Options,
    now: DateTime<Utc>,
    actor: &str,
) -> Result<Outcome, SyncError> {
    let today = crate::calendar::local_date(now);
    let settings = org
        .staff_sync
        .as_ref()
        .ok_or_else(|| SyncError::Setup("the configuration has no [staff_sync] table".into()))?;
    let path = org.staff_csv.clone().ok_or_else(|| {
        SyncError::Setup(
            "the configuration names no staff register: set [organisation] staff_csv".into(),
        )
    })?;
    let mapping = &settings.mapping;
    let attributes = mapping.attributes();
    let entries = match source {
        Source::Directory => {
            let ldap = settings.ldap.as_ref().ok_or_else(|| {
                SyncError::Setup("the configuration has no [staff_sync.ldap] table; give --file for an HR export".into())
            })?;
            ldap::entries(ldap, &attributes).await?
        }
        Source::Export(file) => file::entries(file, &attributes)?,
    };
    let (people, problems) = person::people(&entries, mapping, |u| org.unit(u.as_str()).is_some());
    let keep: HashSet<_> = problems.iter().filter_map(|p| p.id.clone()).collect();
    let provided = Provided {
        email: mapping.email.is_some(),
        personnummer: mapping.personnummer.is_some(),
        systems: mapping.usernames.keys().cloned().collect(),
    };
    let mut register = register::Register::read(&path)?;
    let plan = diff::diff(&register.listed()?, &people, &keep, &provided, today);
    let mut outcome = Outcome {
        plan,
        problems,
        entries: entries.len(),
        written: false,
        refused: None,
        register: path,
    };
    if !options.force {
        match diff::guard(&outcome.plan, settings.max_deactivate_share) {
            Err(refused) if options.dry_run => outcome.refused = Some(refused),
            refused => refused?,
        }
    }
    if options.dry_run || outcome.plan.changes.is_empty() {
        return Ok(outcome);
    }
    register.apply(&outcome.plan, &provided, today);
    let bytes = register.render()?;
    let mut tx = store.begin_write(now, actor).await?;
    audit(&mut tx, &outcome.plan, source, options).await?;
    register.write(&bytes)?;
    // The register is only part of the configuration: a joiner may take a username that
    // someone current holds, or land in a unit that was removed. The old file goes back
    // then, and the transaction with its audit records is dropped.
    if let Err(errors) = crate::config::load(config) {
        register.restore()?;
        return Err(SyncError::Invalid(errors));
    }
    tx.commit().await?;
    outcome.written = true;
    Ok(outcome)
}

/// One audit record per change (staff ids and field names, never names or personnummer),
/// and one for the sync.
async fn audit(
    tx: &mut crate::store::WriteTx,
    plan: &Plan,
    source: &Source,
    options: Options,
) -> Result<(), StoreError> {
    let object = |id: &crate::ident::StaffId| format!("staff:{id}");
    let mut added = Vec::new();
    let mut changed = Vec::new();
    let mut deactivated = Vec::new();
    for change in &plan.changes {
        match change {
            Change::Added(p) => added.push((
                object(&p.id),
                json!({"unit": p.unit, "systems": p.usernames.keys().collect::<Vec<_>>()}),
            )),
            Change::Changed {
                person,
                fields,
                reactivated,
            } => changed.push((
                object(&person.id),
                json!({"fields": fields, "reactivated": reactivated}),
            )),
            Change::Deactivated { id, active_to } => {
                deactivated.push((object(id), json!({"active_to": active_to})))
            }
        }
    }
    for (action, entries) in [
        ("staff.added", added),
        ("staff.changed", changed),
        ("staff.deactivated", deactivated),
    ] {
        if !entries.is_empty() {
            tx.audit_many(action, entries).await?;
        }
    }
    tx.audit(
        "staff.synced",
        "staff",
        json!({
            "source": source.label(), "added": plan.added(), "changed": plan.changed(),
            "deactivated": plan.deactivated(), "forced": options.force,
        }),
    )
    .await?;
    Ok(())
}
