//! The administrator's pages: the configuration with its validation state, the draws, and
//! the orders with their attempts and failures.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Session, Shared, WebError};
use crate::calendar::{Month, local_date};
use crate::config::DiskState;
use crate::ident::{SystemId, UnitId};
use crate::model::order::{Order, OrderState};
use crate::model::org::RoutineKind;
use crate::model::user::Role;
use crate::store::StoreError;

use crate::calendar::local_minute as local;

pub async fn overview(State(state): State<Shared>, session: Session) -> Result<Response, WebError> {
    session.require(&[Role::Admin])?;
    let org = &state.org;
    let problems = state.connectors.problems();
    let today = local_date(state.clock.now());
    // Counted in one pass: a unit-by-unit scan is units × staff, 80 million steps a request
    // for a region.
    let mut active_by_unit: HashMap<&UnitId, usize> = HashMap::new();
    for s in org.staff.iter().filter(|s| s.active_on(today)) {
        *active_by_unit.entry(&s.unit).or_default() += 1;
    }
    let units: Vec<_> = org
        .units
        .iter()
        .map(|u| {
            let staff = active_by_unit.get(&u.id).copied().unwrap_or(0);
            json!({
                "id": u.id, "name": u.name, "parent": u.parent, "manager": u.manager.name,
                "manager_email": u.manager.email,
                "escalate_to": org.escalation_contact(&u.id).map(|c| c.name.clone()),
                "staff": staff,
            })
        })
        .collect();
    let mut accounts_by_system: HashMap<&SystemId, usize> = HashMap::new();
    for id in org.staff.iter().flat_map(|st| st.usernames.keys()) {
        *accounts_by_system.entry(id).or_default() += 1;
    }
    let systems: Vec<_> = org
        .systems
        .iter()
        .map(|s| {
            let problem = problems.iter().find(|(id, _)| id == s.id.as_str()).map(|(_, p)| p.clone());
            let capabilities = state.connectors.get(s.id.as_str()).ok().map(|c| {
                let caps = c.manifest().capabilities;
                [("beställning", caps.order), ("hämtning", caps.poll), ("fråga", caps.fetch), ("import", caps.import), ("återskrivning", caps.write_back)]
                    .iter()
                    .filter(|(_, on)| *on)
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            });
            let accounts = accounts_by_system.get(&s.id).copied().unwrap_or(0);
            json!({
                "id": s.id, "connector": s.connector_name(), "ok": problem.is_none(), "problem": problem,
                "capabilities": capabilities, "accounts": accounts, "max_attempts": s.max_attempts,
                "delivery_sla_days": s.delivery_sla_days,
            })
        })
        .collect();
    let routines: Vec<_> = org
        .routines
        .iter()
        .map(|r| {
            json!({
                "id": r.id, "kind": if r.kind == RoutineKind::Stickprov { "stickprov" } else { "riktad" },
                "system": r.system, "units": org.routine_units(r).len(),
                "fraction": format!("{} %", f64::from(r.sample.fraction_ppm) / 10_000.0),
                "min": r.sample.min, "hours": r.review_period_hours, "deadline_days": r.deadline_days,
            })
        })
        .collect();
    let staff_total = org.staff.len();
    let staff_active = org.staff.iter().filter(|s| s.active_on(today)).count();
    let config = loaded_config(&state).await;
    // Work a removed or renamed unit or system left: no draws are made until it is resolved.
    let orphans: Vec<_> = crate::draw::orphans(&state.store, org)
        .await?
        .iter()
        .map(|w| json!({"owner": w.owner.label_sv(), "id": w.id, "what": w.describe_sv()}))
        .collect();
    let users: Vec<_> = state
        .store
        .users()
        .await?
        .iter()
        .map(|u| json!({"username": u.username, "name": u.name, "role": u.role.label_sv(), "disabled": u.disabled}))
        .collect();
    let reconciliations = reconciliations(&state).await?;
    Ok(state.page(
        Some(&session),
        "Konfiguration",
        "admin",
        json!({
            "organisation": org.name, "units": units, "systems": systems, "routines": routines,
            "staff_total": staff_total, "staff_active": staff_active, "users": users,
            "valid": problems.is_empty(), "disk_changed": config["changed"] == true, "config": config,
            "orphans": orphans, "reconciliations": reconciliations,
        }),
    ))
}

/// Usernames shown per list; a list of thousands says what it needs to in its count.
const RECONCILE_SHOWN: usize = 200;

/// Each system's latest `staff reconcile`: users in the system whom nobody on the staff
/// holds, and staff whose username the system lacks.
async fn reconciliations(state: &Shared) -> Result<Vec<Value>, StoreError> {
    Ok(state
        .store
        .reconciliations()
        .await?
        .iter()
        .map(|r| {
            let (unknown, stale) = (&r.result.unknown, &r.result.stale);
            json!({
                "system": r.result.system, "file": r.result.file, "listed": r.result.listed,
                "made_at": local(r.made_at), "made_by": r.made_by,
                "unknown_count": unknown.len(),
                "unknown": unknown.iter().take(RECONCILE_SHOWN).collect::<Vec<_>>(),
                "unknown_more": unknown.len().saturating_sub(RECONCILE_SHOWN),
                "stale_count": stale.len(),
                "stale": stale.iter().take(RECONCILE_SHOWN).map(|s| json!({
                    "staff_id": s.staff_id, "username": s.username,
                    "name": state.org.staff_member(s.staff_id.as_str()).map(|m| m.name.clone()),
                })).collect::<Vec<_>>(),
                "stale_more": stale.len().saturating_sub(RECONCILE_SHOWN),
            })
        })
        .collect())
}

/// The loaded configuration against the files on disk (read, and checked when changed, off
/// the request workers); null when the server was not given a configuration path.
async fn loaded_config(state: &Shared) -> Value {
    let Some(watch) = state.config_watch.clone() else {
        return Value::Null;
    };
    let s = crate::blocking::run(move || watch.state()).await;
    let (changed, disk_problems, disk_more) = match s.disk {
        DiskState::Same => (false, Vec::new(), 0),
        DiskState::ChangedValid => (true, Vec::new(), 0),
        DiskState::ChangedInvalid { problems, count } => {
            let more = count - problems.len();
            (true, problems, more)
        }
    };
    json!({
        "path": state.config_watch.as_ref().map(|w| w.path.display().to_string()),
        "loaded_at": local(s.at), "fingerprint": &s.fingerprint[..12],
        "changed": changed, "disk_valid": disk_problems.is_empty(),
        "disk_problems": disk_problems, "disk_more": disk_more,
        "refused": s.refused.map(|r| json!({
            "at": local(r.at), "more": r.count - r.problems.len(), "problems": r.problems,
        })),
    })
}

#[derive(Deserialize, Default)]
pub struct MonthQuery {
    month: Option<String>,
}

pub async fn draws(
    State(state): State<Shared>,
    session: Session,
    Query(q): Query<MonthQuery>,
) -> Result<Response, WebError> {
    session.require(&[Role::Admin])?;
    let today = local_date(state.clock.now());
    let month = match q.month.as_deref().filter(|m| !m.is_empty()) {
        Some(m) => m
            .parse::<Month>()
            .map_err(|_| WebError::BadRequest(format!("'{m}' är ingen månad (ÅÅÅÅ-MM).")))?,
        None => Month::of(today),
    };
    let draws: Vec<_> = state
        .store
        .draws_for_month(month)
        .await?
        .iter()
        .map(|d| {
            // The day is secret until it comes: staff must not be able to predict it.
            let day_known = today >= d.execution_date;
            json!({
                "id": d.id, "routine": d.routine, "unit": state.org.unit(d.unit.as_str()).map_or(d.unit.to_string(), |u| u.name.clone()),
                "system": d.system, "population": d.population.len(), "due": d.population.len() - d.checked.len(), "sample": d.selected.len(),
                "execution_date": if day_known { d.execution_date.to_string() } else { "dold till dagen".into() },
                "status": d.status.as_str(), "executed_at": d.executed_at.map(local),
            })
        })
        .collect();
    Ok(state.page(
        Some(&session),
        "Dragningar",
        "draws",
        json!({"month": month.to_string(), "prev": month.prev().to_string(), "next": month.next().to_string(), "draws": draws}),
    ))
}

pub async fn orders(State(state): State<Shared>, session: Session) -> Result<Response, WebError> {
    session.require(&[Role::Admin])?;
    let orders = orders_json(&state, |t| json!(local(t))).await?;
    let overdue = orders.iter().filter(|o| o["overdue"] == true).count();
    Ok(state.page(
        Some(&session),
        "Beställningar",
        "orders",
        json!({"orders": orders, "overdue": overdue}),
    ))
}

/// Every order as the admin page and the API list them; `time` renders each instant (local
/// text on the page, RFC 3339 in the API).
pub(super) async fn orders_json(
    state: &Shared,
    time: impl Fn(DateTime<Utc>) -> Value,
) -> Result<Vec<Value>, StoreError> {
    let orders = state.store.orders(None).await?;
    Ok(orders.iter().map(|o| order_json(o, &time)).collect())
}

fn order_json(o: &Order, time: impl Fn(DateTime<Utc>) -> Value) -> Value {
    json!({
        "id": o.id, "reference": o.reference, "draw_id": o.draw_id, "system": o.system,
        "state": o.state.as_str(),
        "failed": matches!(o.state, OrderState::Failed | OrderState::InDoubt),
        // Flagged by the poll that found it still waiting past its delivery date.
        "overdue": matches!(o.state, OrderState::AwaitingDelivery | OrderState::Manual) && o.reminded_at.is_some(),
        "attempts": o.attempts, "last_error": o.last_error, "created_at": time(o.created_at),
        "sent_at": o.sent_at.map(&time), "delivered_at": o.delivered_at.map(&time),
        "deliver_by": o.deliver_by.map(&time),
    })
}

#[derive(Deserialize, Default)]
pub struct UnitQuery {
    enhet: Option<String>,
}

/// One unit's staff with their accounts per system; personnummer are only marked as known.
pub async fn staff(
    State(state): State<Shared>,
    session: Session,
    Query(q): Query<UnitQuery>,
) -> Result<Response, WebError> {
    session.require(&[Role::Admin])?;
    let org = &state.org;
    let unit = q
        .enhet
        .as_deref()
        .and_then(|u| org.unit(u))
        .ok_or_else(|| {
            WebError::BadRequest("Välj en enhet i listan på konfigurationssidan.".into())
        })?;
    let systems: Vec<&str> = org.systems.iter().map(|s| s.id.as_str()).collect();
    let staff: Vec<_> = org
        .staff
        .iter()
        .filter(|s| s.unit == unit.id)
        .map(|s| {
            json!({
                "id": s.id, "name": s.name, "email": s.email, "active": s.active,
                "personnummer": s.personnummer.is_some(),
                "accounts": systems.iter().map(|sys| s.usernames.iter().find(|(k, _)| k.as_str() == *sys).map(|(_, u)| u.clone()).unwrap_or_default()).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(state.page(
        Some(&session),
        &format!("Personal: {}", unit.name),
        "staff",
        json!({"unit": unit.name, "systems": systems, "staff": staff}),
    ))
}

/// How long the connections page waits for one system.
const HEALTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// `/admin/anslutningar`: every system's connector asked, side by side, whether it reaches its
/// system (a plugin's `health` in its own process, a portal's address, a mail server).
pub async fn connections(
    State(state): State<Shared>,
    session: Session,
) -> Result<Response, WebError> {
    session.require(&[Role::Admin])?;
    let checks = state.org.systems.iter().map(|system| {
        let connector = state.connectors.get(system.id.as_str());
        async move {
            let (name, version, answer) = match connector {
                Err(e) => (String::new(), String::new(), Err(e)),
                Ok(c) => {
                    let manifest = c.manifest();
                    let answer = match tokio::time::timeout(HEALTH_TIMEOUT, c.health()).await {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(_) => Err(format!("inget svar inom {} s", HEALTH_TIMEOUT.as_secs())),
                    };
                    (manifest.name, manifest.version, answer)
                }
            };
            json!({
                "id": system.id, "name": name, "version": version, "ok": answer.is_ok(),
                "problem": answer.err(),
            })
        }
    });
    let systems = futures_util::future::join_all(checks).await;
    Ok(state.page(
        Some(&session),
        "Anslutningar",
        "connections",
        json!({"systems": systems, "timeout": HEALTH_TIMEOUT.as_secs()}),
    ))
}
