//! Sending an order: claimed and recorded before anything leaves the process, then the
//! connector's call, then its answer recorded. An order still `sending` after its claim ran
//! out is in doubt (see the module above); errors a retry can help are retried with backoff.

use chrono::TimeDelta;
use loggvakt_connector::{
    Connector, ConnectorError, ErrorKind, FetchQuery, ImportOutcome, OrderReceipt, OrderRequest,
    Subject,
};
use serde_json::json;

use super::delivery::{Accepted, refusal_summary};
use super::{OrderReport, Pipeline, backoff};
use crate::crashpoint;
use crate::model::order::{Order, OrderState, order_object};
use crate::store::orders::OrderUpdate;
use crate::store::{StoreError, WriteTx};

/// How long a sending instance holds an order before it is considered dead.
const SEND_CLAIM: TimeDelta = TimeDelta::minutes(10);

enum SendOutcome {
    Sent(OrderReceipt),
    Fetched(ImportOutcome),
}

impl Pipeline<'_> {
    /// Sends a group of one system's orders: all claimed in one transaction, their calls
    /// made side by side, their answers recorded in one transaction. The group is as large
    /// as the calls made at once, so a crash leaves no more orders in doubt than sending
    /// them one by one side by side would, and a region's first draw day costs two commits
    /// per group instead of two per order.
    pub(super) async fn send_group(
        &self,
        orders: &[Order],
        report: &mut OrderReport,
    ) -> Result<(), StoreError> {
        let (store, clock, actor) = (self.cx.store, self.cx.clock, self.cx.actor);
        let now = clock.now();
        let mut tx = store.begin_write(now, actor).await?;
        let mut claimed = Vec::with_capacity(orders.len());
        for order in orders {
            if claim(&mut tx, order, now).await? {
                claimed.push(order);
            } // else another instance took it
        }
        tx.commit().await?;
        if claimed.is_empty() {
            return Ok(());
        }
        crashpoint::pass("order.before_send");
        let outcomes = futures_util::future::join_all(claimed.iter().map(|o| self.call(o))).await;
        crashpoint::pass("order.after_send");

        let mut tx = store.begin_write(clock.now(), actor).await?;
        for (order, outcome) in claimed.into_iter().zip(outcomes) {
            self.record_sent(&mut tx, order, outcome, report).await?;
        }
        tx.commit().await
    }

    /// Records a call's answer for a claimed order.
    async fn record_sent(
        &self,
        tx: &mut WriteTx,
        order: &Order,
        outcome: Result<SendOutcome, ConnectorError>,
        report: &mut OrderReport,
    ) -> Result<(), StoreError> {
        let (org, clock) = (self.cx.org, self.cx.clock);
        let attempt = order.attempts + 1;
        let now = clock.now();
        match outcome {
            Ok(SendOutcome::Sent(receipt)) => {
                let sla = org
                    .system(&order.system)
                    .map_or(10, |s| s.delivery_sla_days);
                let mut u = OrderUpdate::to(OrderState::AwaitingDelivery);
                u.sent_at = Some(now);
                u.deliver_by = Some(now + TimeDelta::days(i64::from(sla)));
                u.next_attempt_at = Some(now);
                u.receipt = Some(receipt.clone());
                tx.transition(order.id, OrderState::Sending, &u).await?;
                tx.record_attempt(order.id, attempt, "send", "sent", None)
                    .await?;
                tx.audit(
                    "order.sent",
                    &order_object(order.id),
                    json!({"attempt": attempt, "external_ref": receipt.external_ref}),
                )
                .await?;
                report.sent += 1;
            }
            Ok(SendOutcome::Fetched(outcome)) => {
                self.record_fetched(tx, order, attempt, &outcome, report)
                    .await?;
            }
            Err(e) => self.record_failure(tx, order, attempt, &e, report).await?,
        }
        Ok(())
    }

    /// Whether the order's system is queried (a synchronous fetch: Sesam 2) rather than sent
    /// an order: a query only reads, so doing it twice is harmless and an interrupted one is
    /// simply tried again, never in doubt.
    pub(super) fn is_read(&self, order: &Order) -> bool {
        self.connectors
            .get(&order.system)
            .is_ok_and(|c| is_fetch(c.as_ref()))
    }

    /// The connector's call: an order to be answered later, or a synchronous fetch.
    async fn call(&self, order: &Order) -> Result<SendOutcome, ConnectorError> {
        match self.connectors.get(&order.system) {
            Err(e) => Err(ConnectorError::config(e)),
            Ok(c) if is_fetch(c.as_ref()) => fetch_now(c.as_ref(), &order.request)
                .await
                .map(SendOutcome::Fetched),
            Ok(c) => c.order(&order.request).await.map(SendOutcome::Sent),
        }
    }

    /// A fetched answer is stored at once, or the order fails with the refusal.
    async fn record_fetched(
        &self,
        tx: &mut WriteTx,
        order: &Order,
        attempt: u32,
        outcome: &ImportOutcome,
        report: &mut OrderReport,
    ) -> Result<(), StoreError> {
        match self
            .accept(tx, order, OrderState::Sending, outcome, "fetch")
            .await?
        {
            Accepted::Stored(rows) => {
                tx.record_attempt(order.id, attempt, "send", "fetched", None)
                    .await?;
                report.fetched += 1;
                report.rows_imported += rows;
            }
            // Our claim ran out and another instance moved the order on; what it did stands.
            Accepted::Taken => {}
            Accepted::Refused(problems) => {
                let reason = refusal_summary(&problems);
                let mut u = OrderUpdate::to(OrderState::Failed);
                u.last_error = Some(format!("the system's answer was refused: {reason}"));
                tx.transition(order.id, OrderState::Sending, &u).await?;
                tx.record_attempt(order.id, attempt, "send", "refused", Some(&reason))
                    .await?;
                tx.audit(
                    "order.failed",
                    &order_object(order.id),
                    json!({"attempt": attempt, "reason": "answer refused", "rows": problems.len()}),
                )
                .await?;
                report.failed += 1;
            }
        }
        Ok(())
    }

    /// A failed call is retried with backoff while it may help and attempts remain. One
    /// the peer may have taken although it failed (a mail server silent after the message)
    /// is in doubt, as after a crash mid-send: never sent again by itself.
    async fn record_failure(
        &self,
        tx: &mut WriteTx,
        order: &Order,
        attempt: u32,
        e: &ConnectorError,
        report: &mut OrderReport,
    ) -> Result<(), StoreError> {
        let clock = self.cx.clock;
        let retry = e.is_retryable() && attempt < self.max_attempts(order);
        let (state, outcome, counter, message) = if e.kind == ErrorKind::InDoubt {
            let advice = "check with the receiving system whether the order arrived, then \
                          `order mark-sent` or `order resend`";
            let message = format!("{e}; {advice}");
            (
                OrderState::InDoubt,
                "in_doubt",
                &mut report.in_doubt,
                message,
            )
        } else if retry {
            (
                OrderState::Pending,
                "retry",
                &mut report.retried,
                e.to_string(),
            )
        } else {
            (
                OrderState::Failed,
                "failed",
                &mut report.failed,
                e.to_string(),
            )
        };
        let mut u = OrderUpdate::to(state);
        u.last_error = Some(message.clone());
        if state == OrderState::Pending {
            u.next_attempt_at = Some(clock.now() + backoff(attempt));
        }
        tx.transition(order.id, OrderState::Sending, &u).await?;
        tx.record_attempt(order.id, attempt, "send", outcome, Some(&message))
            .await?;
        tx.audit(
            &format!("order.{outcome}"),
            &order_object(order.id),
            json!({"attempt": attempt, "retryable": e.is_retryable(), "kind": e.kind}),
        )
        .await?;
        *counter += 1;
        Ok(())
    }
}

/// Claims the order and records the attempt before anything leaves the process; false when
/// another instance has it.
async fn claim(
    tx: &mut WriteTx,
    order: &Order,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool, StoreError> {
    let mut claim = OrderUpdate::to(OrderState::Sending);
    claim.count_attempt = true;
    claim.claim_expires = Some(now + SEND_CLAIM);
    if !tx.transition(order.id, OrderState::Pending, &claim).await? {
        return Ok(false);
    }
    tx.record_attempt(order.id, order.attempts + 1, "send", "started", None)
        .await?;
    Ok(true)
}

/// A source that is queried rather than ordered from.
fn is_fetch(c: &dyn Connector) -> bool {
    let caps = c.manifest().capabilities;
    !caps.order && caps.fetch
}

/// A synchronous source (Sesam 2): one query per user and period.
async fn fetch_now(
    c: &dyn Connector,
    request: &OrderRequest,
) -> Result<ImportOutcome, ConnectorError> {
    let queries: Vec<FetchQuery> = match &request.subject {
        Subject::Users(users) => users
            .iter()
            .map(|u| FetchQuery {
                subject: Subject::Users(vec![u.clone()]),
                period: u.period.unwrap_or(request.period),
            })
            .collect(),
        Subject::Patient(_) => vec![FetchQuery {
            subject: request.subject.clone(),
            period: request.period,
        }],
    };
    let mut outcome = ImportOutcome::default();
    for q in &queries {
        outcome.events.extend(c.fetch(q).await?);
    }
    Ok(outcome)
}
