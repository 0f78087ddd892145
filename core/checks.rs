//! Targeted checks (S2) and patient requests (S3): an order by user or by patient over any
//! period, through the same connectors and order pipeline as the random samples, and a
//! review task once the extract is in. A scheduled targeted routine (`kind = "riktad"`)
//! checks every patient on the protected-identity list each month.

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use loggvakt_connector::{OrderRequest, Orderer, Period, Personnummer, Subject, UserRef};
use serde_json::json;

use crate::calendar::{Month, local_date};
use crate::clock::Clock;
use crate::ident::UnitId;
use crate::model::check::{CheckKind, NewCheck, check_object};
use crate::model::org::{Organisation, RoutineKind, UnitSelector};
use crate::store::orders::NewOrder;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("there is no system '{0}' in the configuration (systems: {1})")]
    NoSuchSystem(String, String),
    #[error("there is no unit '{0}' in the configuration")]
    NoSuchUnit(String),
    #[error(
        "no staff member has username '{0}' in system {1}; give --unit to say whose manager reviews the check"
    )]
    UnknownUser(String, String),
    #[error("a check by patient needs --unit: the unit whose manager reviews it")]
    UnitRequired,
    #[error("the patient id {0}")]
    BadPersonnummer(String),
    #[error("the period is empty: --from {from} is after --to {to}")]
    EmptyPeriod { from: NaiveDate, to: NaiveDate },
    #[error("--to {to} is in the future; a log can only be asked for up to today ({today})")]
    FuturePeriod { to: NaiveDate, today: NaiveDate },
    #[error("{0} is empty")]
    Empty(&'static str),
    #[error("there is no check {0}")]
    NoSuchCheck(i64),
    #[error("check {0} is not a patient request")]
    NotARequest(i64),
    #[error("{0}")]
    Order(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn start(date: NaiveDate) -> NaiveDateTime {
    date.and_hms_opt(0, 0, 0)
        .expect("midnight exists as a naive time")
}

/// The staff member with `username` in `system`: someone on the staff now before a leaver who
/// once had the same username. A user check goes to their unit unless another is given.
pub fn staff_with_username<'a>(
    org: &'a Organisation,
    system: &str,
    username: &str,
) -> Option<&'a crate::model::org::Staff> {
    org.staff
        .iter()
        .filter(|s| {
            s.usernames
                .get(system)
                .is_some_and(|u| u.eq_ignore_ascii_case(username.trim()))
        })
        .min_by_key(|s| s.active_to.is_some())
}

/// Creates the check, its patient request record (if any) and its order in one transaction.
pub async fn create(
    store: &Store,
    org: &Organisation,
    clock: &Clock,
    actor: &str,
    new: NewCheck,
) -> Result<(i64, i64), CheckError> {
    if org.system(&new.system).is_none() {
        let known: Vec<&str> = org.systems.iter().map(|s| s.id.as_str()).collect();
        return Err(CheckError::NoSuchSystem(new.system, known.join(", ")));
    }
    if new.from > new.to {
        return Err(CheckError::EmptyPeriod {
            from: new.from,
            to: new.to,
        });
    }
    let today = local_date(clock.now());
    if new.to > today {
        return Err(CheckError::FuturePeriod { to: new.to, today });
    }
    if new.reason.trim().is_empty() {
        return Err(CheckError::Empty("--reason"));
    }
    if let Some(u) = &new.unit
        && org.unit(u).is_none()
    {
        return Err(CheckError::NoSuchUnit(u.clone()));
    }
    let period = Period {
        from: start(new.from),
        to: start(new.to + TimeDelta::days(1)),
    };
    let (subject, stored_subject, unit) = match new.kind {
        CheckKind::User => {
            let username = new.subject.trim();
            if username.is_empty() {
                return Err(CheckError::Empty("the username"));
            }
            let staff = staff_with_username(org, &new.system, username);
            let unit = match (&new.unit, staff) {
                (Some(u), _) => u.clone(),
                (None, Some(s)) => s.unit.to_string(),
                (None, None) => {
                    return Err(CheckError::UnknownUser(username.into(), new.system.clone()));
                }
            };
            let subject = Subject::Users(vec![UserRef {
                username: username.to_owned(),
                name: staff.map(|s| s.name.clone()),
                period: None,
            }]);
            (subject, username.to_owned(), unit)
        }
        CheckKind::Patient | CheckKind::PatientRequest => {
            let pnr = Personnummer::parse(new.subject.trim())
                .map_err(|e| CheckError::BadPersonnummer(e.to_string()))?;
            let unit = new.unit.clone().ok_or(CheckError::UnitRequired)?;
            (Subject::Patient(pnr.clone()), pnr.digits().to_owned(), unit)
        }
    };
    let now = clock.now();
    let mut tx = store.begin_write(now, actor).await?;
    let id = tx
        .insert_check(
            new.kind,
            None,
            None,
            &new.system,
            &unit,
            &stored_subject,
            period,
            new.reason.trim(),
            actor,
        )
        .await?
        .ok_or_else(|| StoreError::Corrupt("a new check collided with an existing one".into()))?;
    if let Some((received_on, document, checked_by)) = &new.request {
        if document.trim().is_empty() {
            return Err(CheckError::Empty("--identity-document"));
        }
        if checked_by.trim().is_empty() {
            return Err(CheckError::Empty("--identity-checked-by"));
        }
        tx.insert_patient_request(id, *received_on, document.trim(), checked_by.trim())
            .await?;
    }
    let orderer = orderer_of(org, &unit, &new.system);
    let order = order_for(&mut tx, id, new.kind, &new.system, subject, period, orderer).await?;
    tx.commit_audited(
        "check.created",
        &check_object(id),
        json!({
            "kind": new.kind.as_str(), "system": new.system, "unit": unit,
            "from": new.from, "to": new.to, "order": order,
            // A username is not patient data; a patient's number stays out of the trail.
            "user": (new.kind == CheckKind::User).then_some(&stored_subject),
        }),
    )
    .await?;
    Ok((id, order))
}

/// The reviewing unit's orderer: a check is ordered in the name of whoever reviews it (the
/// verksamhetschef orders a patient's log, seed 002).
fn orderer_of(org: &Organisation, unit: &str, system: &str) -> Option<Orderer> {
    org.orderer(&UnitId::new(unit).ok()?, system)
}

async fn order_for(
    tx: &mut crate::store::WriteTx,
    id: i64,
    kind: CheckKind,
    system: &str,
    subject: Subject,
    period: Period,
    orderer: Option<Orderer>,
) -> Result<i64, StoreError> {
    let mut tag = [0u8; 6];
    getrandom::fill(&mut tag).map_err(|e| StoreError::Corrupt(format!("no randomness: {e}")))?;
    let prefix = if kind == CheckKind::PatientRequest {
        "B"
    } else {
        "R"
    };
    let request = OrderRequest {
        idempotency_key: format!("lv-chk-{id}-{}", hex::encode(tag)),
        reference: format!("LV-{prefix}-{id}"),
        subject,
        period,
        orderer,
    };
    let order = tx
        .insert_order(&NewOrder {
            draw_id: None,
            check_id: Some(id),
            part: 1,
            system_id: system,
            request: &request,
        })
        .await?
        .ok_or_else(|| StoreError::Corrupt("the check's order collided".into()))?;
    tx.audit(
        "order.created",
        &crate::model::order::order_object(order),
        json!({"check": id, "system": system, "reference": request.reference}),
    )
    .await?;
    Ok(order)
}

/// The patients a scheduled targeted routine checks: those on the protected-identity list.
fn protected_patients(org: &Organisation) -> Vec<Personnummer> {
    let mut keys: Vec<u64> = org.rules.protected.iter().copied().collect();
    keys.sort_unstable();
    keys.into_iter()
        .filter_map(|k| Personnummer::parse(&format!("{k:012}")).ok())
        .collect()
}

/// Whose manager reviews a protected patient's check: the first unit the protected list names
/// for the patient, else the unit whose staff opened the patient's record most often in the
/// extracts loggvakt holds, else `None` (the routine's first unit). Each patient goes to
/// their own unit, never all of them to one manager.
async fn responsible_unit(
    store: &Store,
    org: &Organisation,
    patient: &Personnummer,
) -> Result<Option<String>, StoreError> {
    let key = crate::model::rules::pnr_key(patient);
    if let Some(unit) = org
        .rules
        .protected_units
        .get(&key)
        .and_then(|units| units.iter().find(|u| org.unit(u).is_some()))
    {
        return Ok(Some(unit.clone()));
    }
    let mut per_unit: std::collections::BTreeMap<String, i64> = Default::default();
    for (staff, n) in store.staff_accessing(patient.digits()).await? {
        if let Some(member) = org.staff_member(&staff) {
            *per_unit.entry(member.unit.to_string()).or_default() += n;
        }
    }
    Ok(per_unit
        .into_iter()
        .max_by_key(|(unit, n)| (*n, std::cmp::Reverse(unit.clone())))
        .map(|(unit, _)| unit))
}

/// The scheduled targeted routines: once a month (per cadence), a check by patient of each
/// patient with protected identity over the previous month, reviewed by the manager of the
/// patient's responsible unit ([`responsible_unit`]). Idempotent per routine, month and
/// patient.
pub async fn schedule_protected(
    store: &Store,
    org: &Organisation,
    connectors: &crate::connectors::Connectors,
    clock: &Clock,
    actor: &str,
) -> Result<usize, StoreError> {
    let now = clock.now();
    let month = Month::of(local_date(now));
    let patients = protected_patients(org);
    let mut created = 0;
    for routine in org
        .routines
        .iter()
        .filter(|r| r.kind == RoutineKind::Riktad && r.cadence.includes(month))
    {
        // Its orders could never go out; `config check` says so and what to do instead.
        if org
            .system(routine.system.as_str())
            .is_some_and(|s| connectors.patient_search_gap(s).is_some())
        {
            tracing::debug!(routine = %routine.id, "no checks by patient in this system");
            continue;
        }
        let fallback = match &routine.units {
            UnitSelector::Listed(units) => units.first().map(ToString::to_string),
            UnitSelector::All => org.routine_units(routine).first().map(|u| u.id.to_string()),
        };
        let Some(fallback) = fallback else { continue };
        let prev = month.prev();
        let period = Period {
            from: start(prev.first_day()),
            to: start(month.first_day()),
        };
        // The routine runs every tick; a patient checked this month already is skipped before
        // anything is looked up for them (finding their unit scans the stored rows).
        let done = store
            .routine_subjects(routine.id.as_str(), &month.to_string())
            .await?;
        for patient in patients.iter().filter(|p| !done.contains(p.digits())) {
            let unit = responsible_unit(store, org, patient)
                .await?
                .unwrap_or_else(|| fallback.clone());
            let mut tx = store.begin_write(now, actor).await?;
            let Some(id) = tx
                .insert_check(
                    CheckKind::Patient,
                    Some(routine.id.as_str()),
                    Some(&month.to_string()),
                    routine.system.as_str(),
                    &unit,
                    patient.digits(),
                    period,
                    "schemalagd riktad kontroll: skyddade personuppgifter",
                    actor,
                )
                .await?
            else {
                continue;
            };
            let order = order_for(
                &mut tx,
                id,
                CheckKind::Patient,
                routine.system.as_str(),
                Subject::Patient(patient.clone()),
                period,
                orderer_of(org, &unit, routine.system.as_str()),
            )
            .await?;
            tx.commit_audited(
                "check.created",
                &check_object(id),
                json!({"kind": "patient", "routine": routine.id, "month": month.to_string(), "system": routine.system, "unit": unit, "order": order}),
            ).await?;
            created += 1;
        }
    }
    Ok(created)
}

/// Records that the extract was sent to the patient by registered mail.
pub async fn record_dispatch(
    store: &Store,
    clock: &Clock,
    actor: &str,
    id: i64,
    registered_mail: &str,
) -> Result<(), CheckError> {
    let check = store.check(id).await?.ok_or(CheckError::NoSuchCheck(id))?;
    if check.request.is_none() {
        return Err(CheckError::NotARequest(id));
    }
    if registered_mail.trim().is_empty() {
        return Err(CheckError::Empty("--registered-mail"));
    }
    let now = clock.now();
    let mut tx = store.begin_write(now, actor).await?;
    tx.set_request_dispatch(id, registered_mail.trim(), now)
        .await?;
    // Once sent, the copy we kept has served its purpose, unless a remark keeps it.
    if let Some(task) = store.task_of_check(id).await?
        && task.outcome == Some(loggvakt_connector::ReviewOutcome::UtanAnmarkning)
    {
        tx.set_retain_until(task.id, now).await?;
    }
    tx.commit_audited(
        "request.dispatched",
        &check_object(id),
        json!({"registered_mail": registered_mail.trim()}),
    )
    .await?;
    Ok(())
}

/// Records the delivery receipt of the registered mail.
pub async fn record_receipt(
    store: &Store,
    clock: &Clock,
    actor: &str,
    id: i64,
    on: NaiveDate,
) -> Result<(), CheckError> {
    let check = store.check(id).await?.ok_or(CheckError::NoSuchCheck(id))?;
    if check.request.is_none() {
        return Err(CheckError::NotARequest(id));
    }
    let now = clock.now();
    let mut tx = store.begin_write(now, actor).await?;
    tx.set_request_receipt(id, on).await?;
    tx.commit_audited("request.receipt", &check_object(id), json!({"on": on}))
        .await?;
    Ok(())
}
