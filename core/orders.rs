//! Extract orders: from a due draw to stored, normalised access events.
//!
//! A draw that runs gets one order per group of sampled users (as many as the system's
//! connector takes per order), each with an idempotency key the peer sees. Sending is
//! recorded before and after the call: an order found still `sending` after its claim ran
//! out may or may not have reached the peer, so it becomes `in_doubt` and is never re-sent
//! automatically (Cosmic's journal unit, a human reading mail, cannot de-duplicate). Errors a
//! retry can help are retried with exponential backoff; after the system's `max_attempts`, or
//! on an error no retry can help, the order is `failed` with its reason.

use std::collections::HashMap;
use std::io::Read;

use chrono::{DateTime, TimeDelta};
use loggvakt_connector::{
    AccessEvent, Connector, FetchQuery, ImportLimits, ImportOutcome, OrderReceipt, OrderRequest,
    Period, PollOutcome, Subject, UserRef,
};
use serde_json::json;

use crate::blocking;
use crate::clock::Clock;
use crate::connectors::Connectors;
use crate::crashpoint;
use crate::model::draw::Draw;
use crate::model::order::{Order, OrderState, order_object};
use crate::model::org::Organisation;
use crate::store::orders::{NewOrder, OrderUpdate};
use crate::store::{Store, StoreError, WriteTx};

/// How long a sending instance holds an order before it is considered dead.
const SEND_CLAIM: TimeDelta = TimeDelta::minutes(10);
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
/// own review period; the order's period spans its users' periods.
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
    // Without a connector the limit is unknown; keep the configured one so the split is
    // right once the connector is there.
    let per_order = match connectors.get(draw.system.as_str()) {
        Ok(c) => c.manifest().max_users_per_order,
        Err(_) => org
            .system(draw.system.as_str())
            .and_then(|s| s.settings.get("max_users_per_order"))
            .and_then(toml::Value::as_integer)
            .map(|n| n.clamp(1, 1000) as u32),
    };
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
            tx.audit(
                "order.created",
                &order_object(id),
                json!({
                    "draw": draw.id,
                    "system": draw.system,
                    "reference": request.reference,
                    "users": match &request.subject { Subject::Users(u) => u.len(), Subject::Patient(_) => 0 },
                }),
            )
            .await?;
            created += 1;
        }
    }
    Ok(created)
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
}

/// What the order steps work with: the store, the organisation, its connectors, the clock,
/// and who acts (for the audit trail).
pub struct Pipeline<'a> {
    pub store: &'a Store,
    pub org: &'a Organisation,
    pub connectors: &'a Connectors,
    pub clock: &'a Clock,
    pub actor: &'a str,
}

/// Sends due orders, polls for deliveries and flags overdue ones.
pub async fn process(
    store: &Store,
    org: &Organisation,
    connectors: &Connectors,
    clock: &Clock,
    actor: &str,
) -> Result<OrderReport, StoreError> {
    Pipeline {
        store,
        org,
        connectors,
        clock,
        actor,
    }
    .process()
    .await
}

/// `extract import --order ID FILE`: parses the file with the order's connector, checks it
/// against the order, and stores it all or nothing.
pub async fn import_file(
    store: &Store,
    org: &Organisation,
    connectors: &Connectors,
    clock: &Clock,
    actor: &str,
    order_id: i64,
    path: &std::path::Path,
) -> Result<usize, ImportError> {
    Pipeline {
        store,
        org,
        connectors,
        clock,
        actor,
    }
    .import_file(order_id, path)
    .await
}

enum SendOutcome {
    Sent(OrderReceipt),
    Fetched(ImportOutcome),
}

impl Pipeline<'_> {
    pub async fn process(&self) -> Result<OrderReport, StoreError> {
        let mut report = OrderReport::default();
        let now = self.clock.now();
        for order in self.store.orders_in_doubt(now).await? {
            let mut tx = self.store.begin_write(now, self.actor).await?;
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
        for order in self.store.orders_due(OrderState::Pending, now, 500).await? {
            self.send(&order, &mut report).await?;
        }
        for order in self
            .store
            .orders_due(OrderState::AwaitingDelivery, now, 500)
            .await?
        {
            self.poll(&order, &mut report).await?;
        }
        Ok(report)
    }

    fn system_limit(&self, system: &str) -> u64 {
        self.org
            .system(system)
            .map_or(u64::MAX, |s| s.max_extract_bytes)
    }

    /// Stores a delivery that passes [`check_delivery`] and moves the order from `from` to
    /// `imported`, in the caller's transaction; otherwise returns the refusals and changes
    /// nothing.
    async fn accept(
        &self,
        tx: &mut WriteTx,
        order: &Order,
        from: OrderState,
        outcome: &ImportOutcome,
        via: &str,
    ) -> Result<Result<usize, Vec<Refusal>>, StoreError> {
        let problems = check_delivery(order, outcome);
        if !problems.is_empty() {
            return Ok(Err(problems));
        }
        let now = self.clock.now();
        let mut u = OrderUpdate::to(OrderState::Imported);
        u.delivered_at = Some(now);
        if from == OrderState::Sending {
            u.sent_at = Some(now);
        }
        tx.transition(order.id, from, &u).await?;
        store_events(tx, self.org, self.store, order, &outcome.events).await?;
        tx.audit(
            "order.imported",
            &order_object(order.id),
            json!({"events": outcome.events.len(), "via": via}),
        )
        .await?;
        Ok(Ok(outcome.events.len()))
    }

    async fn send(&self, order: &Order, report: &mut OrderReport) -> Result<(), StoreError> {
        let now = self.clock.now();
        let attempt = order.attempts + 1;
        // Claim and record the attempt before anything leaves the process.
        let mut tx = self.store.begin_write(now, self.actor).await?;
        let mut claim = OrderUpdate::to(OrderState::Sending);
        claim.count_attempt = true;
        claim.claim_expires = Some(now + SEND_CLAIM);
        if !tx.transition(order.id, OrderState::Pending, &claim).await? {
            return Ok(()); // another instance took it
        }
        tx.record_attempt(order.id, attempt, "send", "started", None)
            .await?;
        tx.commit().await?;
        crashpoint::pass("order.before_send");

        let outcome = match self.connectors.get(&order.system) {
            Err(e) => Err(loggvakt_connector::ConnectorError::config(e)),
            Ok(c) if !c.manifest().capabilities.order && c.manifest().capabilities.fetch => {
                fetch_now(c.as_ref(), &order.request)
                    .await
                    .map(SendOutcome::Fetched)
            }
            Ok(c) => c.order(&order.request).await.map(SendOutcome::Sent),
        };
        crashpoint::pass("order.after_send");

        let now = self.clock.now();
        let system = self.org.system(&order.system);
        let max_attempts = system.map_or(1, |s| s.max_attempts);
        let sla = system.map_or(10, |s| s.delivery_sla_days);
        let mut tx = self.store.begin_write(now, self.actor).await?;
        match outcome {
            Ok(SendOutcome::Sent(receipt)) => {
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
                match self
                    .accept(&mut tx, order, OrderState::Sending, &outcome, "fetch")
                    .await?
                {
                    Ok(_) => {
                        tx.record_attempt(order.id, attempt, "send", "fetched", None)
                            .await?;
                        report.fetched += 1;
                    }
                    Err(problems) => {
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
            }
            Err(e) => {
                let message = e.to_string();
                let retry = e.is_retryable() && attempt < max_attempts;
                let mut u = OrderUpdate::to(if retry {
                    OrderState::Pending
                } else {
                    OrderState::Failed
                });
                u.last_error = Some(message.clone());
                if retry {
                    u.next_attempt_at = Some(now + backoff(attempt));
                }
                tx.transition(order.id, OrderState::Sending, &u).await?;
                let outcome = if retry { "retry" } else { "failed" };
                tx.record_attempt(order.id, attempt, "send", outcome, Some(&message))
                    .await?;
                tx.audit(
                    if retry { "order.retry" } else { "order.failed" },
                    &order_object(order.id),
                    json!({"attempt": attempt, "retryable": e.is_retryable(), "kind": e.kind}),
                )
                .await?;
                if retry {
                    report.retried += 1;
                } else {
                    report.failed += 1;
                }
            }
        }
        tx.commit().await
    }

    async fn poll(&self, order: &Order, report: &mut OrderReport) -> Result<(), StoreError> {
        let now = self.clock.now();
        let overdue = order.deliver_by.is_some_and(|by| now > by) && order.reminded_at.is_none();
        let connector = self
            .connectors
            .get(&order.system)
            .ok()
            .filter(|c| c.manifest().capabilities.poll);
        let polled = match &connector {
            Some(c) => Some(
                c.poll(&order.request, &order.receipt.clone().unwrap_or_default())
                    .await,
            ),
            None => None,
        };
        // A delivery is parsed on the blocking pool, before the write lock is taken.
        let mut polled = polled;
        let parsed = match &mut polled {
            Some(Ok(PollOutcome::Delivered(extract))) => {
                let c = connector.clone().expect("polled through a connector");
                let bytes = std::mem::take(&mut extract.bytes);
                let limits = ImportLimits {
                    max_bytes: self.system_limit(&order.system),
                };
                Some(blocking::run(move || c.import(&mut bytes.as_slice(), &limits)).await)
            }
            _ => None,
        };
        let mut tx = self.store.begin_write(now, self.actor).await?;
        let mut wait = OrderUpdate::to(OrderState::AwaitingDelivery);
        // Polling is cheap for us but not for the peer: at most every 15 minutes.
        wait.next_attempt_at = Some(now + TimeDelta::minutes(15));
        wait.last_error = order.last_error.clone();
        let refused = match polled {
            None | Some(Ok(PollOutcome::Pending)) => None,
            Some(Ok(PollOutcome::NeverComing { reason })) => {
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
            Some(Ok(PollOutcome::Delivered(_))) => {
                match parsed.expect("a delivery is parsed above") {
                    Ok(outcome) => {
                        match self
                            .accept(
                                &mut tx,
                                order,
                                OrderState::AwaitingDelivery,
                                &outcome,
                                "poll",
                            )
                            .await?
                        {
                            Ok(_) => {
                                report.delivered += 1;
                                wait.state = OrderState::Imported;
                                None
                            }
                            Err(problems) => Some(refusal_summary(&problems)),
                        }
                    }
                    Err(e) => Some(e.to_string()),
                }
            }
            Some(Err(e)) => {
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
        if wait.state == OrderState::AwaitingDelivery {
            tx.transition(order.id, OrderState::AwaitingDelivery, &wait)
                .await?;
        }
        // Only an order still waiting after this poll is overdue.
        if overdue && wait.state == OrderState::AwaitingDelivery {
            tx.mark_reminded(order.id).await?;
            tx.audit(
                "order.delivery_overdue",
                &order_object(order.id),
                json!({"deliver_by": order.deliver_by, "reference": order.reference}),
            )
            .await?;
            report.overdue += 1;
        }
        tx.commit().await
    }

    /// See [`import_file`].
    pub async fn import_file(
        &self,
        order_id: i64,
        path: &std::path::Path,
    ) -> Result<usize, ImportError> {
        let file = path.display().to_string();
        let io = |source| ImportError::Io {
            file: file.clone(),
            source,
        };
        let order = self
            .store
            .order(order_id)
            .await?
            .ok_or(ImportError::NoSuchOrder(order_id))?;
        if !matches!(
            order.state,
            OrderState::AwaitingDelivery | OrderState::InDoubt
        ) {
            return Err(ImportError::WrongState {
                id: order.id,
                state: order.state.as_str(),
            });
        }
        let limit = self.system_limit(&order.system);
        let size = std::fs::metadata(path).map_err(io)?.len();
        if size > limit {
            return Err(ImportError::TooLarge {
                file,
                size,
                limit,
                system: order.system,
            });
        }
        let connector =
            self.connectors
                .get(&order.system)
                .map_err(|reason| ImportError::Connector {
                    system: order.system.clone(),
                    reason,
                })?;
        let reader = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
        let outcome = blocking::run(move || {
            // The limit again, on what is actually read: the file may grow after the size
            // check.
            let mut limited = reader.take(limit.saturating_add(1));
            connector.import(&mut limited, &ImportLimits { max_bytes: limit })
        })
        .await
        .map_err(|e| ImportError::Unreadable {
            file: file.clone(),
            reason: e.to_string(),
        })?;
        // A header with no rows is a valid answer: the person opened no record that day.
        // An empty file has no header, and the connector refuses it above.
        let mut tx = self.store.begin_write(self.clock.now(), self.actor).await?;
        match self
            .accept(&mut tx, &order, order.state, &outcome, "file")
            .await?
        {
            Ok(n) => {
                tx.commit().await?;
                Ok(n)
            }
            Err(problems) => Err(ImportError::Refused { file, problems }),
        }
    }
}

/// A synchronous source (Sesam 2): one query per user and period.
async fn fetch_now(
    c: &dyn Connector,
    request: &OrderRequest,
) -> Result<ImportOutcome, loggvakt_connector::ConnectorError> {
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

/// One refused row of a delivery: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub line: Option<u64>,
    pub field: Option<String>,
    pub reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: ")?,
            None => f.write_str("row: ")?,
        }
        if let Some(field) = &self.field {
            write!(f, "column `{field}`: ")?;
        }
        f.write_str(&self.reason)
    }
}

fn refusal_summary(problems: &[Refusal]) -> String {
    let first: Vec<String> = problems.iter().take(3).map(ToString::to_string).collect();
    let more = problems.len().saturating_sub(3);
    if more > 0 {
        format!("{} (and {more} more)", first.join("; "))
    } else {
        first.join("; ")
    }
}

/// Checks a delivery against its order: every row readable, every row about an ordered user
/// inside that user's period (or, for a patient order, about that patient in the period).
/// A delivery with any problem is refused whole, so what is stored is exactly what was asked.
pub fn check_delivery(order: &Order, outcome: &ImportOutcome) -> Vec<Refusal> {
    let mut problems: Vec<Refusal> = outcome
        .rejected
        .iter()
        .map(|r| Refusal {
            line: Some(r.line),
            field: r.field.clone(),
            reason: r.reason.clone(),
        })
        .collect();
    for (i, e) in outcome.events.iter().enumerate() {
        let line = outcome.line_of(i);
        let problem = match &order.request.subject {
            Subject::Users(users) => match users
                .iter()
                .find(|u| u.username.eq_ignore_ascii_case(&e.user_id))
            {
                None => Some((
                    "user_id",
                    format!("user '{}' was not in order {}", e.user_id, order.reference),
                )),
                Some(u) => {
                    let p = u.period.unwrap_or(order.request.period);
                    (!p.contains(e.time)).then(|| {
                        (
                            "time",
                            format!(
                                "{} is outside the ordered period {} – {} of user '{}'",
                                e.time, p.from, p.to, u.username
                            ),
                        )
                    })
                }
            },
            Subject::Patient(p) => {
                if &e.patient_id != p {
                    Some((
                        "patient_id",
                        "a different patient than the one ordered".to_owned(),
                    ))
                } else {
                    (!order.request.period.contains(e.time))
                        .then(|| ("time", format!("{} is outside the ordered period", e.time)))
                }
            }
        };
        if let Some((field, reason)) = problem {
            problems.push(Refusal {
                line,
                field: Some(field.into()),
                reason,
            });
        }
    }
    problems.sort_by_key(|p| p.line);
    problems
}

async fn store_events(
    tx: &mut WriteTx,
    org: &Organisation,
    store: &Store,
    order: &Order,
    events: &[AccessEvent],
) -> Result<(), StoreError> {
    let by_username: HashMap<String, String> = match order.draw_id {
        Some(draw_id) => store
            .draw(draw_id)
            .await?
            .map(|d| {
                d.selected
                    .into_iter()
                    .map(|s| (s.username.to_lowercase(), s.staff_id.to_string()))
                    .collect()
            })
            .unwrap_or_default(),
        None => org
            .staff
            .iter()
            .filter_map(|s| {
                s.usernames
                    .iter()
                    .find(|(sys, _)| sys.as_str() == order.system)
                    .map(|(_, u)| (u.to_lowercase(), s.id.to_string()))
            })
            .collect(),
    };
    let staff: Vec<Option<String>> = events
        .iter()
        .map(|e| by_username.get(&e.user_id.to_lowercase()).cloned())
        .collect();
    tx.insert_events(order, events, &staff).await
}

/// Why `extract import` refused a file; the order keeps its state.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("there is no order {0}")]
    NoSuchOrder(i64),
    #[error(
        "order {id} is {state}; only an order awaiting delivery (or in doubt) takes an extract"
    )]
    WrongState { id: i64, state: &'static str },
    #[error(
        "{file}: {size} bytes is over system {system}'s limit of {limit} bytes (max_extract_mb); the file was not read"
    )]
    TooLarge {
        file: String,
        size: u64,
        limit: u64,
        system: String,
    },
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("system {system}: {reason}")]
    Connector { system: String, reason: String },
    #[error("{file}: {reason}; nothing was stored")]
    Unreadable { file: String, reason: String },
    #[error("{file}: {} row(s) refused, nothing was stored:\n{}", .problems.len(), .problems.iter().map(|p| format!("{}:{p}", .file)).collect::<Vec<_>>().join("\n"))]
    Refused {
        file: String,
        problems: Vec<Refusal>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
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
