//! Making review tasks: every stored row of the parts delivered so far run through the rules,
//! the reviewed users counted (with the volume rule against their own history), and the task
//! stored for the unit's manager; counted again when a later part of its draw comes in. The
//! task is announced by the notice stage.

use std::collections::{BTreeMap, HashSet};

use chrono::TimeDelta;
use serde_json::json;

use super::Review;
use crate::calendar::Month;
use crate::ident::{StaffId, SystemId, UnitId};
use crate::model::check::CheckKind;
use crate::model::draw::Draw;
use crate::model::task::{
    NewTask, StoredFlag, TaskEvent, TaskKind, TaskRows, TaskUser, task_object,
};
use crate::store::StoreError;

/// Deadline of a targeted check or patient request without a routine.
const CHECK_DEADLINE_DAYS: i64 = 14;

/// What a task is made from: a draw's sample or a check.
struct TaskSource {
    kind: TaskKind,
    draw_id: Option<i64>,
    check_id: Option<i64>,
    unit: UnitId,
    system: SystemId,
    month: Option<Month>,
    deadline_days: i64,
    /// `(username, staff id)` of everyone sampled: each gets a line, also one who opened no
    /// record that day.
    sampled: Vec<(String, Option<String>)>,
}

impl TaskSource {
    fn of_draw(draw: &Draw, deadline_days: i64) -> Self {
        TaskSource {
            kind: TaskKind::Stickprov,
            draw_id: Some(draw.id),
            check_id: None,
            sampled: draw
                .selected
                .iter()
                .map(|s| (s.username.clone(), Some(s.staff_id.to_string())))
                .collect(),
            unit: draw.unit.clone(),
            system: draw.system.clone(),
            month: Some(draw.month),
            deadline_days,
        }
    }
}

/// How many rows got at least one flag.
fn flagged_count(rows: &TaskRows) -> usize {
    rows.flags
        .iter()
        .map(|(id, _)| *id)
        .collect::<HashSet<_>>()
        .len()
}

/// One reviewed user while the rows are counted.
struct UserTally<'e> {
    shown: String,
    staff_id: Option<String>,
    events: i64,
    patients: HashSet<&'e str>,
}

impl Review<'_> {
    /// Makes a task for every draw and check whose extracts are all in.
    pub async fn make_tasks(&self) -> Result<usize, StoreError> {
        let (store, org) = (self.cx.store, self.cx.org);
        let mut sources = Vec::new();
        for draw_id in store.draws_ready_for_review().await? {
            let Some(draw) = store.draw(draw_id).await? else {
                continue;
            };
            let deadline_days = org
                .routine(draw.routine.as_str())
                .map_or(CHECK_DEADLINE_DAYS, |r| i64::from(r.deadline_days));
            sources.push(TaskSource::of_draw(&draw, deadline_days));
        }
        for check_id in store.checks_ready_for_review().await? {
            let Some(check) = store.check(check_id).await? else {
                continue;
            };
            sources.push(TaskSource {
                kind: if check.kind == CheckKind::PatientRequest {
                    TaskKind::PatientRequest
                } else {
                    TaskKind::Riktad
                },
                draw_id: None,
                check_id: Some(check_id),
                unit: check.unit,
                system: check.system,
                month: check.month,
                deadline_days: CHECK_DEADLINE_DAYS,
                sampled: Vec::new(),
            });
        }
        let mut created = 0;
        for source in sources {
            if self.make_task(source).await? {
                created += 1;
            }
        }
        Ok(created)
    }

    /// Runs the rules over the stored rows and stores the task; false when the unit is gone
    /// from the configuration (the task waits) or another instance made it first.
    async fn make_task(&self, source: TaskSource) -> Result<bool, StoreError> {
        let (store, org, clock, actor) = (self.cx.store, self.cx.org, self.cx.clock, self.cx.actor);
        let Some(manager) = org.unit(source.unit.as_str()).map(|u| u.manager.clone()) else {
            tracing::warn!(unit = %source.unit, "no such unit in the configuration; its task waits");
            return Ok(false);
        };
        let now = clock.now();
        // A unit whose loggkontroll is delegated for today has its new tasks go to the chef
        // it is delegated to (seed 004).
        let day = crate::calendar::local_date(now);
        let reviewer = match store.unit_delegate(source.unit.as_str(), day).await? {
            Some(delegate) => delegate,
            None => manager,
        };
        let rows = self.count_rows(&source, None).await?;
        let deadline = now + TimeDelta::days(source.deadline_days);
        let remind_at =
            (deadline - TimeDelta::days(i64::from(org.notify.remind_days_before))).max(now);
        let new = NewTask {
            kind: source.kind,
            draw_id: source.draw_id,
            check_id: source.check_id,
            unit: source.unit,
            system: source.system,
            month: source.month,
            reviewer,
            created_at: now,
            remind_at,
            deadline,
            rows,
        };
        let mut tx = store.begin_write(now, actor).await?;
        let Some(id) = tx.insert_task(&new).await? else {
            return Ok(false);
        };
        tx.commit_audited(
            "review.task_created",
            &task_object(id),
            json!({
                "kind": new.kind.as_str(), "draw": new.draw_id, "check": new.check_id,
                "unit": new.unit, "system": new.system, "reviewer": new.reviewer.email,
                "users": new.rows.users.len(), "events": new.rows.events,
                "flagged_events": flagged_count(&new.rows), "parts_in": new.rows.parts_in,
                "deadline": crate::store::ts(deadline),
            }),
        )
        .await?;
        Ok(true)
    }

    /// Counts again the rows of open tasks whose draw has had another part imported since.
    pub async fn add_new_parts(&self) -> Result<usize, StoreError> {
        let (store, clock, actor) = (self.cx.store, self.cx.clock, self.cx.actor);
        let mut updated = 0;
        for (task_id, draw_id) in store.tasks_with_new_parts().await? {
            let Some(draw) = store.draw(draw_id).await? else {
                continue;
            };
            let source = TaskSource::of_draw(&draw, 0);
            let rows = self.count_rows(&source, Some(task_id)).await?;
            let mut tx = store.begin_write(clock.now(), actor).await?;
            tx.store_task_rows(task_id, &rows).await?;
            tx.commit_audited(
                "review.task_updated",
                &task_object(task_id),
                json!({
                    "users": rows.users.len(), "events": rows.events,
                    "flagged_events": flagged_count(&rows), "parts_in": rows.parts_in,
                }),
            )
            .await?;
            updated += 1;
        }
        Ok(updated)
    }

    /// The rows of a draw or check as they stand, run through the rules. The imported parts
    /// are counted before the rows are read, so a part imported meanwhile is counted at the
    /// next pass rather than missed. `task` is the task being counted again, whose own users
    /// are no history of themselves.
    async fn count_rows(
        &self,
        source: &TaskSource,
        task: Option<i64>,
    ) -> Result<TaskRows, StoreError> {
        let store = self.cx.store;
        let parts_in = match source.draw_id {
            Some(draw) => store.imported_parts(draw).await?,
            None => 0,
        };
        let events = store.events_of(source.draw_id, source.check_id).await?;
        let flags = self.flag_rows(&events);
        let users = self
            .task_users(source, &events, task.unwrap_or(i64::MAX))
            .await?;
        Ok(TaskRows {
            users,
            events: events.len() as i64,
            flags,
            parts_in,
        })
    }

    /// The rules' flags on every row, as `(row id, flag)`.
    fn flag_rows(&self, events: &[TaskEvent]) -> Vec<(i64, StoredFlag)> {
        let mut flags = Vec::new();
        for e in events {
            let staff = e.staff_id.as_deref().and_then(|s| StaffId::new(s).ok());
            for f in self.rules.check(&e.event, staff.as_ref()) {
                flags.push((e.id, StoredFlag::from(f)));
            }
        }
        flags
    }

    /// One line per reviewed user: rows, distinct patients, and the volume rule's flag
    /// against their own earlier reviews (or, without history, the others in this task).
    async fn task_users(
        &self,
        source: &TaskSource,
        events: &[TaskEvent],
        before_task: i64,
    ) -> Result<Vec<TaskUser>, StoreError> {
        let store = self.cx.store;
        let mut users: BTreeMap<String, UserTally> = source
            .sampled
            .iter()
            .map(|(u, s)| {
                let tally = UserTally {
                    shown: u.clone(),
                    staff_id: s.clone(),
                    events: 0,
                    patients: HashSet::new(),
                };
                (u.to_lowercase(), tally)
            })
            .collect();
        for e in events {
            let tally = users
                .entry(e.event.user_id.to_lowercase())
                .or_insert_with(|| UserTally {
                    shown: e.event.user_id.clone(),
                    staff_id: e.staff_id.clone(),
                    events: 0,
                    patients: HashSet::new(),
                });
            tally.events += 1;
            tally.patients.insert(e.event.patient_id.digits());
        }
        let peers: Vec<usize> = users.values().map(|u| u.patients.len()).collect();
        let mut task_users = Vec::new();
        for tally in users.values() {
            let own = tally.patients.len();
            let mut baseline: Vec<usize> = store
                .user_history(&tally.shown, source.system.as_str(), before_task)
                .await?
                .into_iter()
                .map(|n| n as usize)
                .collect();
            if baseline.is_empty() {
                baseline = peers_without_one(&peers, own);
            }
            task_users.push(TaskUser {
                username: tally.shown.clone(),
                staff_id: tally.staff_id.clone(),
                events: tally.events,
                distinct_patients: own as i64,
                flags: self
                    .rules
                    .volume_spike(own, &baseline)
                    .into_iter()
                    .map(StoredFlag::from)
                    .collect(),
            });
        }
        Ok(task_users)
    }
}

/// The other users' counts: `peers` without one occurrence of `own`.
fn peers_without_one(peers: &[usize], own: usize) -> Vec<usize> {
    let mut skipped = false;
    peers
        .iter()
        .copied()
        .filter(|&p| {
            let same = p == own && !skipped;
            skipped |= same;
            !same
        })
        .collect()
}
