//! The yearly staff information (seed 002: the närmaste chef informs the staff that
//! loggkontroll is done, at hiring and every year). When a year begins the tick makes one
//! record per staffed unit; the unit's chef confirms the day and how, and sees who joined
//! since the staff were last informed. The report counts the confirmed units.

use chrono::{Datelike, NaiveDate};
use serde_json::json;

use crate::calendar::local_date;
use crate::model::org::{Organisation, Staff};
use crate::model::staff_information::{MAX_HOW_CHARS, staff_information_object};
use crate::model::user::{Role, User};
use crate::stage::Stage;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum StaffInformationError {
    #[error("there is no staff information record {0}")]
    NoSuchRecord(i64),
    #[error("only the unit's chef, a chief above it or an administrator may confirm it")]
    NotAllowed,
    #[error("the staff information of this unit and year is already confirmed")]
    Confirmed,
    #[error("say how the staff were informed (at most {MAX_HOW_CHARS} characters)")]
    How,
    #[error("the day must be in {year} and not after today")]
    BadDay { year: i32 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Makes this year's record of every staffed unit that has none; returns how many.
pub async fn create_yearly(cx: &Stage<'_>) -> Result<usize, StoreError> {
    let now = cx.clock.now();
    let year = local_date(now).year();
    let units: Vec<&str> = cx.org.staffed_units().map(|u| u.id.as_str()).collect();
    // Every tick asks; one count answers it for the rest of the year.
    if cx.store.staff_information_count(year).await? >= units.len() as i64 {
        return Ok(0);
    }
    let mut tx = cx.store.begin_write(now, cx.actor).await?;
    let mut made = 0;
    for unit in units {
        if tx.insert_staff_information(unit, year).await? {
            made += 1;
        }
    }
    if made == 0 {
        tx.commit().await?;
    } else {
        tx.commit_audited(
            "staff_information.created",
            &format!("year:{year}"),
            json!({"units": made}),
        )
        .await?;
    }
    Ok(made)
}

/// Whether `user` may confirm a unit's staff information: its chef (by the configuration,
/// or given the unit as a deputy), a chief above it, an administrator.
pub fn may_confirm(user: &User, unit: &str, org: &Organisation) -> bool {
    let own = org
        .unit(unit)
        .is_some_and(|u| u.manager.email.eq_ignore_ascii_case(&user.email));
    user.role == Role::Admin
        || (user.role == Role::Reviewer && (own || user.units.iter().any(|u| u == unit)))
        || user.is_chief_above(unit, org)
}

/// Records that the staff of a unit were informed on `informed_on`, and how.
pub async fn confirm(
    cx: &Stage<'_>,
    by: &User,
    id: i64,
    informed_on: NaiveDate,
    how: &str,
) -> Result<(), StaffInformationError> {
    let record = cx
        .store
        .staff_information_by_id(id)
        .await?
        .ok_or(StaffInformationError::NoSuchRecord(id))?;
    if !may_confirm(by, record.unit.as_str(), cx.org) {
        return Err(StaffInformationError::NotAllowed);
    }
    if record.confirmation.is_some() {
        return Err(StaffInformationError::Confirmed);
    }
    let how = how.trim();
    if how.is_empty() || how.chars().count() > MAX_HOW_CHARS {
        return Err(StaffInformationError::How);
    }
    let now = cx.clock.now();
    if informed_on.year() != record.year || informed_on > local_date(now) {
        return Err(StaffInformationError::BadDay { year: record.year });
    }
    let mut tx = cx.store.begin_write(now, cx.actor).await?;
    if !tx
        .confirm_staff_information(id, informed_on, how, now)
        .await?
    {
        return Err(StaffInformationError::Confirmed);
    }
    tx.commit_audited(
        "staff_information.confirmed",
        &staff_information_object(id),
        json!({"unit": record.unit, "year": record.year, "informed_on": informed_on}),
    )
    .await?;
    Ok(())
}

/// The unit's active staff who started after its staff were last informed (to be told at
/// hiring); none when they never were (then everyone is to be informed).
pub fn new_since<'a>(org: &'a Organisation, unit: &str, last: Option<NaiveDate>) -> Vec<&'a Staff> {
    let Some(last) = last else {
        return Vec::new();
    };
    org.staff
        .iter()
        .filter(|s| s.active && s.unit.as_str() == unit)
        .filter(|s| s.active_from.is_some_and(|from| from > last))
        .collect()
}
