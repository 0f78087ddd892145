//! Turns the collected raw items into an [`Organisation`], or into problems that each name
//! the file, line, item and field they are about. Every item is checked in full, so that
//! one pass finds all its problems.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::collect::Collected;
use super::{ConfigError, TIMEZONE};
use crate::model::org::Organisation;

mod auth;
mod notify;
mod routines;
pub(super) mod staff;
mod staff_sync;
mod systems;
mod units;

/// The problems of one item; each names the item's file, line and name.
pub(super) struct Problems<'a> {
    errors: &'a mut Vec<ConfigError>,
    file: &'a Path,
    line: usize,
    item: &'a str,
}

impl<'a> Problems<'a> {
    pub(super) fn of(
        errors: &'a mut Vec<ConfigError>,
        file: &'a Path,
        line: usize,
        item: &'a str,
    ) -> Self {
        Self {
            errors,
            file,
            line,
            item,
        }
    }

    pub(super) fn fail(&mut self, field: &str, message: String) {
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            line: Some(self.line),
            item: Some(self.item.to_owned()),
            field: (!field.is_empty()).then(|| field.to_owned()),
            message,
        });
    }

    /// How many problems there are so far, in this item and before it.
    fn count(&self) -> usize {
        self.errors.len()
    }
}

/// Where each id was first defined, so that a second definition points at the first.
#[derive(Default)]
struct FirstSeen<'a>(HashMap<&'a str, (&'a Path, usize)>);

impl<'a> FirstSeen<'a> {
    /// Records `id` at `file:line`; `kind` names the ids in the message (`unit`, `system`…).
    fn check(&mut self, id: &'a str, file: &'a Path, line: usize, kind: &str, p: &mut Problems) {
        if let Some((f, l)) = self.0.insert(id, (file, line)) {
            p.fail(
                "id",
                format!("duplicate {kind} id; first defined at {}:{l}", f.display()),
            );
        }
    }
}

fn valid_email(email: &str) -> bool {
    let mut parts = email.split('@');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(local), Some(domain), None)
            if !local.is_empty() && domain.contains('.') && !email.chars().any(char::is_whitespace)
    )
}

/// The organisation, or `None` when there is no `[organisation]` or anything is wrong.
pub(super) fn organisation(c: Collected, errors: &mut Vec<ConfigError>) -> Option<Organisation> {
    let org = c.organisation.as_ref()?;
    check_organisation_table(
        &org.raw.name,
        org.raw.timezone.as_deref(),
        &mut Problems::of(errors, &org.file, org.line, "[organisation]"),
    );
    let system_ids: HashSet<&str> = c.systems.iter().map(|s| s.raw.id.as_str()).collect();
    let units = units::validate(&c.units, &system_ids, errors);
    let unit_ids: HashSet<&str> = c.units.iter().map(|u| u.raw.id.as_str()).collect();
    let systems = systems::validate(&c.systems, errors);
    let staff = staff::validate(&c.staff, &unit_ids, &system_ids, errors);
    let routines = routines::validate(&c.routines, &unit_ids, &system_ids, errors);
    let notify = c.notify.as_ref().map(|n| notify::validate(n, errors));
    let auth = c
        .auth
        .as_ref()
        .map(|a| auth::validate(a, &unit_ids, errors));
    let staff_sync = c
        .staff_sync
        .as_ref()
        .and_then(|s| staff_sync::validate(s, &unit_ids, &system_ids, errors));
    if !errors.is_empty() {
        return None;
    }
    let mut organisation = Organisation::new(org.raw.name.clone(), units, systems, staff, routines);
    if let Some(notify) = notify {
        organisation.notify = notify;
    }
    if let Some(auth) = auth {
        organisation.auth = auth;
    }
    organisation.staff_sync = staff_sync;
    Some(organisation)
}

fn check_organisation_table(name: &str, timezone: Option<&str>, p: &mut Problems) {
    if name.trim().is_empty() {
        p.fail("name", "is empty".into());
    }
    match timezone {
        None | Some(TIMEZONE) => {}
        Some(tz) if tz.parse::<chrono_tz::Tz>().is_err() => {
            p.fail("timezone", format!("unknown time zone '{tz}'"));
        }
        Some(tz) => p.fail(
            "timezone",
            format!("'{tz}' is a valid time zone, but loggvakt's calendar (Swedish holidays) only supports {TIMEZONE}"),
        ),
    }
}
