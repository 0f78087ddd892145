//! Extract orders: from a due draw to stored, normalised access events.
//!
//! A draw that runs gets one order per group of sampled users (as many as the system's
//! connector takes per order), each with an idempotency key the peer sees. Sending is
//! recorded before and after the call: an order found still `sending` after its claim ran
//! out may or may not have reached the peer, so it becomes `in_doubt` and is never re-sent
//! automatically (Cosmic's journal unit, a human reading mail, cannot de-duplicate); a query
//! (a synchronous fetch) only reads, so an interrupted one is simply tried again. Errors a
//! retry can help are retried with exponential backoff; after the system's `max_attempts`, or
//! on an error no retry can help, the order is `failed` with its reason.
//!
//! The steps are one module each: `send` (claim, call, record; Sesam 2's synchronous fetch
//! too), `poll` (collect a delivery and parse it), `delivery` (check a delivery against its
//! order and store it all or nothing, also from a file).

mod delivery;
mod outside;
mod poll;
mod send;

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta};
use futures_util::{StreamExt, TryStreamExt, stream};
use loggvakt_connector::{OrderRequest, Period, Subject, UserRef};
use serde_json::json;

use crate::connectors::Connectors;
use crate::model::draw::Draw;
use crate::model::order::{Order, OrderState, order_object};
use crate::model::org::{Delivery, Organisation};
use crate::stage::Stage;
use crate::store::orders::{NewOrder, OrderUpdate};
use crate::store::{StoreError, WriteTx};

pub use delivery::{ImportError, REFUSALS_LISTED, Refusal, check_delivery, listed};
pub use outside::OutsideError;

/// First retry after a minute, doubling, at most six hours apart.
const BACKOFF_BASE: TimeDelta = TimeDelta::minutes(1);
const BACKOFF_MAX: TimeDelta = TimeDelta::hours(6);

pub fn backoff(attempts: u32) -> TimeDelta {
    let factor = 1i32 << attempts.saturating_sub(1).min(20);
    (BACKOFF_BASE * factor).min(BACKOFF_MAX)
}

fn local(t: DateTime<chrono::FixedOffset>) -> chrono::NaiveDateTime {
    t.naive_local()
}

/// The orders a draw's sample needs: users in groups of at most `per_order`, each with their
/// own review period; the order's period spans its users' periods. Each goes out in the name
/// of the unit's orderer for the draw's system (stored with the request, so a later change of
/// configuration does not change whom an order already placed belongs to).
pub fn requests_for_draw(
    draw: &Draw,
    org: &Organisation,
    per_order: Option<u32>,
) -> Vec<OrderRequest> {
    if draw.selected.is_empty() {
        return Vec::new();
    }
    let per_order = per_order.map_or(draw.selected.len(), |n| n.max(1) as usize);
    let seed_tag = &draw.seed.to_hex()[..12];
    let orderer = org.orderer(&draw.unit, draw.system.as_str());
    draw.selected
        .chunks(per_order)
        .enumerate()
        .map(|(i, group)| {
            let part = i + 1;
            let users: Vec<UserRef> = group
                .iter()
                .map(|s| UserRef {
                    username: s.username.clone(),
                    name: org
                        .staff_member(s.staff_id.as_str())
                        .map(|m| m.name.clone()),
                    period: Some(Period {
                        from: local(s.review_from),
                        to: local(s.review_to),
                    }),
                })
                .collect();
            let from = group
                .iter()
                .map(|s| local(s.review_from))
                .min()
                .expect("non-empty group");
            let to = group
                .iter()
                .map(|s| local(s.review_to))
                .max()
                .expect("non-empty group");
            OrderRequest {
                idempotency_key: format!("lv-{}-{part}-{seed_tag}", draw.id),
                reference: format!("LV-{}-{}-{part}", draw.month, draw.id),
                subject: Subject::Users(users),
                period: Period { from, to },
                orderer: orderer.clone(),
            }
        })
        .collect()
}

/// Creates a run draw's orders in the caller's transaction (idempotent by draw and part).
pub async fn create_for_draw(
    tx: &mut WriteTx,
    org: &Organisation,
    connectors: &Connectors,
    draw: &Draw,
) -> Result<usize, StoreError> {
    // The connector's own limit, lowered by a configured one (a manual system has none of
    // its own: one part per person who takes it out). Without a connector the configured
    // limit keeps the split right once the connector is there.
    let configured = org
        .system(draw.system.as_str())
        .and_then(|s| s.settings.get("max_users_per_order"))
        .and_then(toml::Value::as_integer)
        .map(|n| n.clamp(1, 1000) as u32);
    let own = connectors
        .get(draw.system.as_str())
        .ok()
        .and_then(|c| c.manifest().max_users_per_order);
    let per_order = match (own, configured) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let system = org.system(draw.system.as_str());
    let mut created = 0;
    for (i, request) in requests_for_draw(draw, org, per_order).iter().enumerate() {
        let new = NewOrder {
            draw_id: Some(draw.id),
            check_id: None,
            part: i as i64 + 1,
            system_id: draw.system.as_str(),
            request,
        };
        if let Some(id) = tx.insert_order(&new).await? {
            let manual = system.is_some_and(|s| s.delivery == Delivery::Manual);
            if manual {
                by_hand(tx, id, system.map_or(10, |s| s.delivery_sla_days)).await?;
            }
            tx.audit(
                "order.created",
                &order_object(id),
                json!({
                    "draw": draw.id,
                    "system": draw.system,
                    "reference": request.reference,
                    "users": match &request.subject { Subject::Users(u) => u.len(), Subject::Patient(_) => 0 },
                    "manual": manual,
                }),
            )
            .await?;
            created += 1;
        }
    }
    Ok(created)
}

/// Puts a new order of a system in manual mode in the hands of a person: nothing is sent;
/// the task's work instruction says what to take out, and the delivery is due as if it had
/// been ordered now (its overdue check comes then).
async fn by_hand(tx: &mut WriteTx, id: i64, sla_days: u32) -> Result<(), StoreError> {
    let now = tx.at();
    let deliver_by = now + TimeDelta::days(i64::from(sla_days));
    let mut u = OrderUpdate::to(OrderState::Manual);
    u.sent_at = Some(now);
    u.deliver_by = Some(deliver_by);
    u.next_attempt_at = Some(deliver_by);
    tx.transition(id, OrderState::Pending, &u).await?;
    Ok(())
}

/// How many systems are sent to or polled at once.
const SYSTEMS_AT_ONCE: usize = 8;
/// How many calls one system gets at once: enough to hide a care system's answer time (8
/// calls of 50 ms each are 160 orders a second), few enough for a portal or mail server to
/// take without its rate limits biting (a 429 or 451 is retried with backoff anyway).
const CALLS_PER_SYSTEM: usize = 8;
/// Orders read from the database at a time.
const BATCH: i64 = 500;

#[derive(Clone, Copy)]
enum Step {
    Send,
    Poll,
}

impl std::ops::AddAssign for OrderReport {
    fn add_assign(&mut self, o: Self) {
        self.sent += o.sent;
        self.fetched += o.fetched;
        self.retried += o.retried;
        self.failed += o.failed;
        self.in_doubt += o.in_doubt;
        self.delivered += o.delivered;
        self.refused += o.refused;
        self.overdue += o.overdue;
        self.rows_imported += o.rows_imported;
    }
}

/// What one pass over the orders did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderReport {
    pub sent: usize,
    pub fetched: usize,
    pub retried: usize,
    pub failed: usize,
    pub in_doubt: usize,
    pub delivered: usize,
    pub refused: usize,
    pub overdue: usize,
    /// Access-log rows stored from fetched and delivered extracts.
    pub rows_imported: usize,
}

/// What the order steps work with: the stage context and the organisation's connectors.
pub struct Pipeline<'a> {
    pub cx: Stage<'a>,
    pub connectors: &'a Connectors,
}

impl<'a> Pipeline<'a> {
    pub fn new(cx: Stage<'a>, connectors: &'a Connectors) -> Self {
        Self { cx, connectors }
    }

    /// How many times an order of its system is tried before it fails.
    fn max_attempts(&self, order: &Order) -> u32 {
        let org = self.cx.org;
        let system = org.system(&order.system);
        system.map_or(1, |s| s.max_attempts)
    }

    /// Sends due orders, polls for deliveries and flags overdue ones.
    pub async fn process(&self) -> Result<OrderReport, StoreError> {
        let (store, clock, actor) = (self.cx.store, self.cx.clock, self.cx.actor);
        let mut report = OrderReport::default();
        let now = clock.now();
        for order in store.orders_in_doubt(now).await? {
            if self.is_read(&order) {
                self.retry_interrupted_read(&order, now, &mut report)
                    .await?;
                continue;
            }
            let mut tx = store.begin_write(now, actor).await?;
            let mut update = OrderUpdate::to(OrderState::InDoubt);
            update.last_error = Some(
                "the sending process stopped before it recorded the answer; check with the receiving \
                 system whether the order arrived, then `order resend` or `order mark-sent`"
                    .into(),
            );
            if tx
                .transition(order.id, OrderState::Sending, &update)
                .await?
            {
                tx.audit(
                    "order.in_doubt",
                    &order_object(order.id),
                    json!({"attempts": order.attempts}),
                )
                .await?;
                report.in_doubt += 1;
            }
            tx.commit().await?;
        }
        report += self.all_due(OrderState::Pending, Step::Send).await?;
        report += self
            .all_due(OrderState::AwaitingDelivery, Step::Poll)
            .await?;
        for order in store.orders_due(OrderState::Manual, now, 500).await? {
            self.flag_manual_overdue(&order, &mut report).await?;
        }
        Ok(report)
    }

    /// A query (fetch) cut off by a dead process only read: it goes back to `pending` and is
    /// tried again in this pass (due at `now`, the pass's time), unless its attempts have
    /// run out.
    async fn retry_interrupted_read(
        &self,
        order: &crate::model::order::Order,
        now: DateTime<chrono::Utc>,
        report: &mut OrderReport,
    ) -> Result<(), StoreError> {
        let (store, actor) = (self.cx.store, self.cx.actor);
        let retry = order.attempts < self.max_attempts(order);
        let mut update = OrderUpdate::to(if retry {
            OrderState::Pending
        } else {
            OrderState::Failed
        });
        update.next_attempt_at = Some(now);
        update.last_error = Some(format!(
            "the query was interrupted (the process stopped) after {} attempt(s)",
            order.attempts
        ));
        let mut tx = store.begin_write(now, actor).await?;
        if tx
            .transition(order.id, OrderState::Sending, &update)
            .await?
        {
            tx.audit(
                if retry { "order.retry" } else { "order.failed" },
                &order_object(order.id),
                json!({"attempt": order.attempts, "reason": "interrupted read"}),
            )
            .await?;
            if retry {
                report.retried += 1;
            } else {
                report.failed += 1;
            }
        }
        tx.commit().await
    }

    /// Sends or polls every order due in `state`, a batch at a time: a month's first draw
    /// day creates thousands of orders, and all of them go out in this tick rather than a
    /// batch a minute. An order is taken once per pass even if it were still due after its
    /// step (it never is: each step moves it on or makes it due later), so the pass ends.
    async fn all_due(&self, state: OrderState, step: Step) -> Result<OrderReport, StoreError> {
        let now = self.cx.clock.now();
        let mut seen = std::collections::HashSet::new();
        let mut report = OrderReport::default();
        loop {
            let due = self.cx.store.orders_due(state, now, BATCH).await?;
            let full = due.len() == BATCH as usize;
            let fresh: Vec<Order> = due.into_iter().filter(|o| seen.insert(o.id)).collect();
            if fresh.is_empty() {
                return Ok(report);
            }
            report += self.per_system(fresh, step).await?;
            if !full {
                return Ok(report);
            }
        }
    }

    /// Sends or polls `orders`: the systems side by side (at most [`SYSTEMS_AT_ONCE`]), so
    /// that one hung or slow system does not hold up the others, and within a system up to
    /// [`CALLS_PER_SYSTEM`] at once, so that a system answering in 50 ms takes thousands of
    /// orders in a minute rather than several. Each order is still claimed before its call
    /// and recorded after it on its own, so concurrency changes nothing about sending twice
    /// or being in doubt.
    async fn per_system(&self, orders: Vec<Order>, step: Step) -> Result<OrderReport, StoreError> {
        let mut by_system: BTreeMap<String, Vec<Order>> = BTreeMap::new();
        for order in orders {
            by_system
                .entry(order.system.clone())
                .or_default()
                .push(order);
        }
        let reports: Vec<OrderReport> = stream::iter(by_system.into_values())
            .map(|orders| async move {
                let mut report = OrderReport::default();
                for group in orders.chunks(CALLS_PER_SYSTEM) {
                    match step {
                        Step::Send => self.send_group(group, &mut report).await?,
                        Step::Poll => self.poll_group(group, &mut report).await?,
                    }
                }
                Ok::<_, StoreError>(report)
            })
            .buffer_unordered(SYSTEMS_AT_ONCE)
            .try_collect()
            .await?;
        Ok(reports
            .into_iter()
            .fold(OrderReport::default(), |mut all, r| {
                all += r;
                all
            }))
    }

    /// A part in manual mode not taken out by its delivery date is overdue once, like an
    /// ordered one; it stays in the person's hands (nothing to poll).
    async fn flag_manual_overdue(
        &self,
        order: &crate::model::order::Order,
        report: &mut OrderReport,
    ) -> Result<(), StoreError> {
        let (store, clock, actor) = (self.cx.store, self.cx.clock, self.cx.actor);
        let now = clock.now();
        let mut tx = store.begin_write(now, actor).await?;
        let mut u = OrderUpdate::to(OrderState::Manual);
        // Not due again: the notice stage tells the orderer and the admins.
        u.next_attempt_at = Some(now + TimeDelta::days(36_500));
        if tx.transition(order.id, OrderState::Manual, &u).await? && order.reminded_at.is_none() {
            tx.mark_reminded(order.id).await?;
            tx.audit(
                "order.delivery_overdue",
                &order_object(order.id),
                json!({"deliver_by": order.deliver_by, "reference": order.reference, "manual": true}),
            )
            .await?;
            report.overdue += 1;
        }
        tx.commit().await
    }

    fn system_limit(&self, system: &str) -> u64 {
        let org = self.cx.org;
        org.system(system).map_or(u64::MAX, |s| s.max_extract_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), TimeDelta::minutes(1));
        assert_eq!(backoff(2), TimeDelta::minutes(2));
        assert_eq!(backoff(5), TimeDelta::minutes(16));
        assert_eq!(backoff(30), TimeDelta::hours(6));
    }

    #[test]
    fn states_round_trip() {
        for s in OrderState::ALL {
            assert_eq!(OrderState::parse(s.as_str()), Some(s));
        }
    }
}
