//! Stored state that a test needs and the pipeline would take long to reach, one named
//! helper per situation: through the store's own writes where it has one, else in SQL here,
//! so that test bodies say what they set up rather than how.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use loggvakt::ident::{RoutineId, StaffId, SystemId, UnitId};
use loggvakt::model::case::Decision;
use loggvakt::model::draw::{Draw, DrawParams, DrawStatus, Seed, Selected};
use loggvakt::model::order::OrderState;
use loggvakt::model::org::{Contact, Organisation};
use loggvakt::model::task::{NewTask, TaskKind, TaskRows};
use loggvakt::store::orders::OrderUpdate;
use loggvakt::store::{Store, ts};
use loggvakt_connector::ReviewOutcome;

use super::exec;

const ACTOR: &str = "test";

/// Moves an order, from whatever state it is in, to `update`'s state.
async fn move_order(store: &Store, id: i64, at: DateTime<Utc>, update: OrderUpdate) {
    let from = store.order(id).await.unwrap().expect("the order").state;
    let mut tx = store.begin_write(at, ACTOR).await.unwrap();
    assert!(
        tx.transition(id, from, &update).await.unwrap(),
        "order {id} moved"
    );
    tx.commit().await.unwrap();
}

/// The order went out at `at` and waits for its delivery (as a Cosmic order does after its
/// mail was sent).
pub async fn order_sent(store: &Store, id: i64, at: DateTime<Utc>) {
    let update = OrderUpdate {
        sent_at: Some(at),
        ..OrderUpdate::to(OrderState::AwaitingDelivery)
    };
    move_order(store, id, at, update).await;
}

/// A process claimed the order for sending until `claim_expires` and died before it
/// recorded the outcome: the peer may or may not have it.
pub async fn order_claimed_and_crashed(store: &Store, id: i64, claim_expires: DateTime<Utc>) {
    let update = OrderUpdate {
        claim_expires: Some(claim_expires),
        ..OrderUpdate::to(OrderState::Sending)
    };
    move_order(store, id, claim_expires - TimeDelta::minutes(10), update).await;
}

/// Stores a draw made by the organisation's first routine's rules, to run on `day`, with
/// `members` sampled (each reviewed on the day before) and its status as given; returns its
/// id.
pub async fn draw(
    store: &Store,
    org: &Organisation,
    routine: &str,
    unit: &str,
    day: &str,
    members: &[&str],
    status: DrawStatus,
) -> i64 {
    let day: NaiveDate = day.parse().unwrap();
    let review_from = day.pred_opt().unwrap().and_hms_opt(0, 0, 0).unwrap();
    let review_from = review_from.and_utc().fixed_offset();
    let created_at = super::instant("2026-01-01T00:00:00Z");
    let draw = Draw {
        id: 0,
        routine: RoutineId::new(routine).unwrap(),
        unit: UnitId::new(unit).unwrap(),
        system: SystemId::new("cosmic").unwrap(),
        month: day.format("%Y-%m").to_string().parse().unwrap(),
        params: DrawParams::of(&org.routines[0]),
        seed: Seed::from_hex(&"00".repeat(32)).unwrap(),
        population: Vec::new(),
        checked: Vec::new(),
        execution_date: day,
        window_end: day,
        selected: members
            .iter()
            .map(|staff| Selected {
                staff_id: StaffId::new(staff).unwrap(),
                username: "u".into(),
                review_from,
                review_to: review_from + TimeDelta::days(1),
            })
            .collect(),
        status,
        created_at,
        executed_at: None,
    };
    let mut tx = store.begin_write(created_at, ACTOR).await.unwrap();
    let id = tx.insert_draws(&[draw]).await.unwrap()[0].expect("a new draw");
    tx.commit().await.unwrap();
    id
}

/// The review task of a draw, due at `deadline`: open, or closed at `closed.0` with the
/// outcome `closed.1`.
pub async fn draw_task(
    store: &Store,
    draw: i64,
    deadline: &str,
    closed: Option<(&str, ReviewOutcome)>,
) -> i64 {
    let d = store.draw(draw).await.unwrap().expect("the draw");
    let deadline = super::instant(deadline);
    let created_at = super::instant("2027-05-01T00:00:00Z");
    let task = NewTask {
        kind: TaskKind::Stickprov,
        draw_id: Some(draw),
        check_id: None,
        unit: d.unit,
        system: d.system,
        month: Some(d.month),
        reviewer: Contact {
            name: "R".into(),
            email: "r@example.se".into(),
        },
        created_at,
        remind_at: deadline,
        deadline,
        rows: TaskRows::default(),
    };
    let mut tx = store.begin_write(created_at, ACTOR).await.unwrap();
    let id = tx.insert_task(&task).await.unwrap().expect("a new task");
    if let Some((at, outcome)) = closed {
        let at = super::instant(at);
        assert!(
            tx.close_task(id, outcome, None, "r@example.se", at, None, None)
                .await
                .unwrap()
        );
    }
    tx.commit().await.unwrap();
    id
}

/// A case opened on a task's remark, left open or decided (no breach).
pub async fn case(store: &Store, task: i64, decided: bool) {
    let task = store.task(task).await.unwrap().expect("the task");
    let at = super::instant("2027-05-10T00:00:00Z");
    let mut tx = store.begin_write(at, ACTOR).await.unwrap();
    let case = tx.insert_case(&task, "s", "x", at).await.unwrap();
    if decided {
        let retain = at + TimeDelta::days(3650);
        tx.decide_case(case, Decision::NoBreach, "n", at, retain)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

/// The draw ended as `status` (late or missed) at `at`.
pub async fn draw_finished(store: &Store, draw: i64, status: DrawStatus, at: DateTime<Utc>) {
    let mut tx = store.begin_write(at, ACTOR).await.unwrap();
    tx.finish_draw(draw, status).await.unwrap();
    tx.commit().await.unwrap();
}

/// The draw is claimed and has not run yet.
pub async fn draw_running(store: &Store, draw: i64) {
    exec(
        store,
        &format!("UPDATE draws SET status = 'running' WHERE id = {draw}"),
    )
    .await;
}

/// A closed task is open again, due at `deadline`, with neither outcome nor closing time.
pub async fn task_reopened(store: &Store, task: i64, deadline: DateTime<Utc>) {
    exec(
        store,
        &format!(
            "UPDATE review_tasks SET state = 'open', closed_at = NULL, outcome = NULL, \
             deadline = '{}' WHERE id = {task}",
            ts(deadline)
        ),
    )
    .await;
}

/// The task no longer belongs to its draw, which is left without one.
pub async fn task_detached_from_draw(store: &Store, task: i64) {
    exec(
        store,
        &format!("UPDATE review_tasks SET draw_id = NULL WHERE id = {task}"),
    )
    .await;
}

/// Every case is open and undecided.
pub async fn cases_reopened(store: &Store) {
    exec(store, "UPDATE cases SET state = 'open', decision = NULL").await;
}
