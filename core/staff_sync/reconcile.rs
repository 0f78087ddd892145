//! `staff reconcile`: a system's exported user list against the staff register. Users in
//! the system whom no one on the staff holds are never drawn, so never checked (seed 002:
//! every user with access must be checkable); staff whose username the system no longer
//! has are drawn for logs that do not exist.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use loggvakt_connector::ImportLimits;
use loggvakt_tabular::{Column, read_table};
use serde_json::json;

use super::SyncError;
use crate::ident::SystemId;
use crate::model::org::Organisation;
use crate::model::staff_sync::{Reconciliation, StaleAccount};
use crate::store::{Store, StoreError};

/// A user list larger than this is refused unread.
pub const MAX_LIST_BYTES: u64 = 64 << 20;
/// More users than this is not one system's user list.
pub const MAX_USERS: usize = 500_000;

/// The username column's names in the exports seen (Swedish and English, AD's own); the
/// first that the header has is taken, unless `--column` names one.
const USERNAME_COLUMN: Column = Column::required(
    "username",
    &[
        "användarnamn",
        "anvandarnamn",
        "användar-id",
        "användarid",
        "användare",
        "user",
        "userid",
        "user_id",
        "user id",
        "login",
        "inloggning",
        "konto",
        "account",
        "samaccountname",
        "uid",
    ],
);

/// The distinct usernames of a user list (CSV or the first sheet of an XLSX workbook).
pub fn read_user_list(file: &Path, column: Option<&str>) -> Result<Vec<String>, SyncError> {
    let shown = file.display();
    let mut input = std::fs::File::open(file)
        .map_err(|e| SyncError::Source(format!("{shown}: cannot read: {e}")))?;
    let columns = [match column {
        // Named once per command; the tabular reader's names are static text.
        Some(name) => Column::required(Box::leak(name.to_owned().into_boxed_str()), &[]),
        None => USERNAME_COLUMN,
    }];
    let limits = ImportLimits {
        max_bytes: MAX_LIST_BYTES,
    };
    let mut count = 0usize;
    let table = read_table(&mut input, &limits, &columns, |row| {
        count += 1;
        if count > MAX_USERS {
            return Err(row.error(0, format!("more than {MAX_USERS} users")));
        }
        row.required(0).map(str::to_owned)
    })
    .map_err(|e| SyncError::Source(format!("{shown}: {}", e.message)))?;
    // An empty cell is a row without an account (a heading, a separator row), not an error.
    let real: Vec<_> = table
        .rejected
        .iter()
        .filter(|r| !r.reason.contains("empty"))
        .collect();
    if let Some(bad) = real.first() {
        return Err(SyncError::Source(format!(
            "{shown}:{}: {} ({} row(s) unreadable); nothing was recorded",
            bad.line,
            bad.reason,
            real.len()
        )));
    }
    let mut seen = BTreeSet::new();
    Ok(table
        .items
        .into_iter()
        .filter(|u| seen.insert(u.to_lowercase()))
        .collect())
}

/// The list of `system`'s users held against the staff on `today`. Usernames are compared
/// without regard to case, as the systems' logins are.
pub fn reconcile(
    org: &Organisation,
    system: &SystemId,
    file: &str,
    usernames: &[String],
    today: NaiveDate,
) -> Reconciliation {
    let staff: HashMap<String, &crate::model::org::Staff> = org
        .staff
        .iter()
        .filter(|s| s.active_on(today))
        .filter_map(|s| s.usernames.get(system).map(|u| (u.to_lowercase(), s)))
        .collect();
    let listed: BTreeSet<String> = usernames.iter().map(|u| u.to_lowercase()).collect();
    let mut unknown: Vec<String> = usernames
        .iter()
        .filter(|u| !staff.contains_key(&u.to_lowercase()))
        .cloned()
        .collect();
    unknown.sort();
    let mut stale: Vec<StaleAccount> = staff
        .iter()
        .filter(|(u, _)| !listed.contains(*u))
        .map(|(_, s)| StaleAccount {
            staff_id: s.id.clone(),
            username: s.usernames[system].clone(),
        })
        .collect();
    stale.sort_by(|a, b| a.staff_id.cmp(&b.staff_id));
    Reconciliation {
        system: system.clone(),
        file: file.to_owned(),
        listed: listed.len(),
        unknown,
        stale,
    }
}

/// Stores `r` as the system's latest reconciliation, audited with its counts and the stale
/// staff's ids.
pub async fn record(
    store: &Store,
    r: &Reconciliation,
    now: DateTime<Utc>,
    actor: &str,
) -> Result<(), StoreError> {
    let mut tx = store.begin_write(now, actor).await?;
    tx.save_reconciliation(r).await?;
    let stale: Vec<&str> = r.stale.iter().map(|s| s.staff_id.as_str()).collect();
    tx.commit_audited(
        "staff.reconciled",
        &format!("system:{}", r.system),
        json!({"file": r.file, "listed": r.listed, "unknown": r.unknown.len(), "stale": r.stale.len(), "stale_staff": stale}),
    )
    .await
}
