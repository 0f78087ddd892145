//! Polling for a delivery: the connector is asked whether the extract has come; one that has
//! is parsed on the blocking pool, checked against the order and stored, all before and
//! inside one write transaction. An order still waiting past its delivery date is flagged
//! once as overdue.

use chrono::TimeDelta;
use loggvakt_connector::{ConnectorError, ImportLimits, ImportOutcome, PollOutcome};
use serde_json::json;

use super::delivery::{Accepted, refusal_summary};
use super::{OrderReport, Pipeline};
use crate::blocking;
use crate::model::order::{Order, OrderState, order_object};
use crate::store::orders::OrderUpdate;
use crate::store::{StoreError, WriteTx};

/// What a poll brought back, with a delivery already parsed.
enum Polled {
    /// Nothing yet, or no connector that polls.
    Nothing,
    NeverComing(String),
    Delivered(Result<ImportOutcome, ConnectorError>),
    Failed(ConnectorError),
}

impl Pipeline<'_> {
    /// Polls a group of one system's orders side by side and records what came in one
    /// transaction (see `send_group` for the size of a group).
    pub(super) async fn poll_group(
        &self,
        orders: &[Order],
        report: &mut OrderReport,
    ) -> Result<(), StoreError> {
        let (store, clock, actor) = (self.cx.store, self.cx.clock, self.cx.actor);
        let polled = futures_util::future::join_all(orders.iter().map(|o| self.collect(o))).await;
        let mut tx = store.begin_write(clock.now(), actor).await?;
        for (order, polled) in orders.iter().zip(polled) {
            self.record_poll(&mut tx, order, polled, report).await?;
        }
        tx.commit().await
    }

    /// Records what one poll brought.
    async fn record_poll(
        &self,
        tx: &mut WriteTx,
        order: &Order,
        polled: Polled,
        report: &mut OrderReport,
    ) -> Result<(), StoreError> {
        let now = self.cx.clock.now();
        let overdue = order.deliver_by.is_some_and(|by| now > by) && order.reminded_at.is_none();
        let mut wait = OrderUpdate::to(OrderState::AwaitingDelivery);
        // Polling is cheap for us but not for the peer: at most every 15 minutes.
        wait.next_attempt_at = Some(now + TimeDelta::minutes(15));
        wait.last_error = order.last_error.clone();
        let refused = match polled {
            Polled::Nothing => None,
            Polled::NeverComing(reason) => {
                let mut u = OrderUpdate::to(OrderState::Failed);
                u.last_error = Some(format!("the system will not deliver: {reason}"));
                tx.transition(order.id, OrderState::AwaitingDelivery, &u)
                    .await?;
                tx.audit(
                    "order.failed",
                    &order_object(order.id),
                    json!({"reason": "never coming"}),
                )
                .await?;
                report.failed += 1;
                wait.state = OrderState::Failed;
                None
            }
            Polled::Delivered(Ok(outcome)) => {
                match self
                    .accept(tx, order, OrderState::AwaitingDelivery, &outcome, "poll")
                    .await?
                {
                    Accepted::Stored(rows) => {
                        report.delivered += 1;
                        report.rows_imported += rows;
                        wait.state = OrderState::Imported;
                        None
                    }
                    // An import (or another instance) stored this delivery first: there is
                    // nothing left to wait for.
                    Accepted::Taken => {
                        wait.state = OrderState::Imported;
                        None
                    }
                    Accepted::Refused(problems) => Some(refusal_summary(&problems)),
                }
            }
            Polled::Delivered(Err(e)) => Some(e.to_string()),
            Polled::Failed(e) => {
                wait.last_error = Some(format!("poll failed: {e}"));
                None
            }
        };
        if let Some(reason) = &refused {
            wait.last_error = Some(format!("delivered extract refused: {reason}"));
            tx.audit("order.delivery_refused", &order_object(order.id), json!({}))
                .await?;
            report.refused += 1;
        }
        self.still_waiting(tx, order, &wait, overdue, report).await
    }

    /// Asks the connector, and parses a delivery on the blocking pool before the write lock
    /// is taken.
    async fn collect(&self, order: &Order) -> Polled {
        let Some(c) = self
            .connectors
            .get(&order.system)
            .ok()
            .filter(|c| c.manifest().capabilities.poll)
        else {
            return Polled::Nothing;
        };
        let receipt = order.receipt.clone().unwrap_or_default();
        match c.poll(&order.request, &receipt).await {
            Ok(PollOutcome::Pending) => Polled::Nothing,
            Ok(PollOutcome::NeverComing { reason }) => Polled::NeverComing(reason),
            Ok(PollOutcome::Delivered(extract)) => {
                let limits = ImportLimits {
                    max_bytes: self.system_limit(&order.system),
                };
                let bytes = extract.bytes;
                Polled::Delivered(
                    blocking::run(move || {
                        crate::connectors::import_delivery(
                            c.as_ref(),
                            &mut bytes.as_slice(),
                            &limits,
                        )
                    })
                    .await,
                )
            }
            Err(e) => Polled::Failed(e),
        }
    }

    /// Keeps a still waiting order waiting, and flags it once when it is past its delivery
    /// date: only an order still waiting after this poll is overdue.
    async fn still_waiting(
        &self,
        tx: &mut WriteTx,
        order: &Order,
        wait: &OrderUpdate,
        overdue: bool,
        report: &mut OrderReport,
    ) -> Result<(), StoreError> {
        if wait.state != OrderState::AwaitingDelivery {
            return Ok(());
        }
        tx.transition(order.id, OrderState::AwaitingDelivery, wait)
            .await?;
        if overdue {
            tx.mark_reminded(order.id).await?;
            tx.audit(
                "order.delivery_overdue",
                &order_object(order.id),
                json!({"deliver_by": order.deliver_by, "reference": order.reference}),
            )
            .await?;
            report.overdue += 1;
        }
        Ok(())
    }
}
