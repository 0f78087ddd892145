//! A delivery checked against its order and stored all or nothing: from a poll, a fetch, or
//! a file (`extract import`, the web upload). Every row must be readable, about an ordered
//! user (or the ordered patient) and inside the ordered period; one bad row refuses the
//! delivery, and the refusal names line and column.

use std::collections::HashMap;

use loggvakt_connector::{ConnectorError, ImportLimits, ImportOutcome, Subject};
use serde_json::json;

use super::Pipeline;
use crate::blocking;
use crate::model::order::{DeliveryVia, Order, OrderState, order_object};
use crate::model::org::Organisation;
use crate::store::orders::OrderUpdate;
use crate::store::streamed_import::{BatchError, Claim, ImportClaim};
use crate::store::{Store, StoreError, WriteTx};

/// What became of a delivery offered to [`Pipeline::accept`].
#[derive(Debug)]
pub(super) enum Accepted {
    /// Stored, with this many events; the order is `imported`.
    Stored(usize),
    /// Refused whole; nothing changed.
    Refused(Vec<Refusal>),
    /// The order had already left the state the caller saw (another import, poll or
    /// instance took it first); nothing was stored.
    Taken,
}

impl Pipeline<'_> {
    /// Stores a delivery that passes [`check_delivery`] and moves the order from `from` to
    /// `imported`, in the caller's transaction; otherwise changes nothing.
    ///
    /// The state transition is the gate: only the one caller whose update still finds the
    /// order in `from` stores events, so two imports of one delivery racing each other (two
    /// `extract import`s, an upload and a poll, two instances) store it once.
    pub(super) async fn accept(
        &self,
        tx: &mut WriteTx,
        order: &Order,
        from: OrderState,
        outcome: &ImportOutcome,
        via: &str,
    ) -> Result<Accepted, StoreError> {
        let (store, org, clock) = (self.cx.store, self.cx.org, self.cx.clock);
        let problems = check_delivery(order, outcome);
        if !problems.is_empty() {
            return Ok(Accepted::Refused(problems));
        }
        // A streamed import of the same delivery is under way: it stores it.
        if tx.import_claimed(order.id).await? {
            return Ok(Accepted::Taken);
        }
        if !tx
            .transition(order.id, from, &imported_update(from, clock.now()))
            .await?
        {
            return Ok(Accepted::Taken);
        }
        if from == OrderState::Manual {
            // A person took it out by the instruction: the report counts it made by hand.
            tx.set_delivered_via(order.id, DeliveryVia::File).await?;
        }
        store_events(tx, org, store, order, outcome).await?;
        tx.audit(
            "order.imported",
            &order_object(order.id),
            json!({"events": outcome.events.len(), "via": via}),
        )
        .await?;
        Ok(Accepted::Stored(outcome.events.len()))
    }

    /// See [`import_file`].
    pub async fn import_file(
        &self,
        order_id: i64,
        path: &std::path::Path,
    ) -> Result<usize, ImportError> {
        let (store, clock) = (self.cx.store, self.cx.clock);
        let file = path.display().to_string();
        let io = |source| ImportError::Io {
            file: file.clone(),
            source,
        };
        let order = store
            .order(order_id)
            .await?
            .ok_or(ImportError::NoSuchOrder(order_id))?;
        if !order.state.awaits_file() {
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
        // First pass: every row read and checked against the order, nothing kept but a
        // count and the first problems, so a bad row refuses the file with nothing stored.
        let mut checked = {
            let (connector, path, order) = (connector.clone(), path.to_owned(), order.clone());
            blocking::run(move || {
                let mut checked = Checked::default();
                read_file(connector.as_ref(), &path, limit, &mut |chunk| {
                    checked.add(&order, &chunk);
                    Ok(())
                })
                .map(|()| checked)
            })
            .await
            .map_err(|e| ImportError::Unreadable {
                file: file.clone(),
                reason: e.to_string(),
            })?
        };
        let (problems, total) = checked.problems();
        if total > 0 {
            return Err(ImportError::Refused {
                file,
                problems,
                total,
            });
        }
        let claim = match store
            .claim_import(order.id, order.state, clock.now())
            .await?
        {
            Claim::Held(claim) => claim,
            Claim::Gone => return Err(ImportError::AlreadyTaken { id: order.id }),
            Claim::Busy => return Err(ImportError::InProgress { id: order.id }),
        };
        let stored = self
            .store_file(&order, &claim, connector, path, limit, checked.events)
            .await;
        match stored {
            Ok(()) => {}
            Err(e) => {
                if let Err(cleanup) = store.release_import(claim, clock.now()).await {
                    // The claim expires; the next import of the order removes the rows.
                    tracing::error!(order = order.id, error = %cleanup, "cannot remove the rows of a failed import");
                }
                return Err(e);
            }
        }
        Ok(checked.events)
    }

    /// The second pass: the file read again and stored in batches as the chunks come, the
    /// reading on the blocking pool and the writing here, side by side; then the order is
    /// marked imported, the claim ended and the import audited in one write transaction.
    async fn store_file(
        &self,
        order: &Order,
        claim: &ImportClaim,
        connector: std::sync::Arc<dyn loggvakt_connector::Connector>,
        path: &std::path::Path,
        limit: u64,
        expected: usize,
    ) -> Result<(), ImportError> {
        let (store, clock, actor) = (self.cx.store, self.cx.clock, self.cx.actor);
        let file = path.display().to_string();
        let staff_of = staff_by_username(self.cx.org, store, order).await?;
        // Two chunks in flight: the reader stays ahead of the writer without memory growing.
        let (send, mut chunks) = tokio::sync::mpsc::channel::<ImportOutcome>(2);
        let reader = {
            let path = path.to_owned();
            tokio::spawn(blocking::run(move || {
                read_file(connector.as_ref(), &path, limit, &mut |chunk| {
                    send.blocking_send(chunk)
                        .map_err(|_| ConnectorError::permanent("the import was stopped"))
                })
            }))
        };
        let changed = || ImportError::Changed { file: file.clone() };
        let mut writer = store.event_writer(claim).await?;
        let mut stored = 0usize;
        while let Some(chunk) = chunks.recv().await {
            if !check_delivery(order, &chunk).is_empty() {
                return Err(changed());
            }
            let staff: Vec<Option<String>> = chunk
                .events
                .iter()
                .map(|e| staff_of.get(&e.user_id.to_lowercase()).cloned())
                .collect();
            let lines: Vec<i64> = (0..chunk.events.len())
                .map(|i| {
                    chunk
                        .line_of(i)
                        .map_or((stored + i) as i64 + 1, |l| l as i64)
                })
                .collect();
            writer
                .write(order, &chunk.events, &staff, &lines, clock.now())
                .await
                .map_err(|e| match e {
                    BatchError::ClaimLost => ImportError::ClaimLost { id: order.id },
                    BatchError::Store(e) => ImportError::Store(e),
                })?;
            stored += chunk.events.len();
        }
        drop(writer);
        match reader.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return Err(ImportError::Unreadable {
                    file,
                    reason: e.to_string(),
                });
            }
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
        if stored != expected {
            return Err(changed());
        }
        let now = clock.now();
        let mut tx = store.begin_write(now, actor).await?;
        if !tx.end_import_claim(claim).await? {
            return Err(ImportError::ClaimLost { id: order.id });
        }
        if !tx
            .transition(order.id, order.state, &imported_update(order.state, now))
            .await?
        {
            return Err(ImportError::AlreadyTaken { id: order.id });
        }
        if order.state == OrderState::Manual {
            tx.set_delivered_via(order.id, DeliveryVia::File).await?;
        }
        tx.audit(
            "order.imported",
            &order_object(order.id),
            json!({"events": stored, "via": "file"}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Reads a delivered file through the connector in chunks, within the system's limit.
fn read_file(
    connector: &dyn loggvakt_connector::Connector,
    path: &std::path::Path,
    limit: u64,
    sink: &mut dyn FnMut(ImportOutcome) -> Result<(), ConnectorError>,
) -> Result<(), ConnectorError> {
    let file = std::fs::File::open(path)
        .map_err(|e| ConnectorError::permanent(format!("cannot read the file: {e}")))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
    let limits = ImportLimits { max_bytes: limit };
    crate::connectors::import_delivery_stream(connector, &mut reader, &limits, sink)
}

/// The first pass's findings: how many events, and the first problems by line with their
/// total, so a file of a million bad rows costs no more memory than a good one.
#[derive(Default)]
struct Checked {
    events: usize,
    first: Vec<Refusal>,
    total: usize,
}

impl Checked {
    fn add(&mut self, order: &Order, chunk: &ImportOutcome) {
        self.events += chunk.events.len();
        let problems = check_delivery(order, chunk);
        self.total += problems.len();
        self.first.extend(problems);
        if self.first.len() > 4 * REFUSALS_LISTED {
            self.keep_first();
        }
    }

    fn keep_first(&mut self) {
        self.first.sort_by_key(|p| p.line);
        self.first.truncate(REFUSALS_LISTED);
    }

    fn problems(&mut self) -> (Vec<Refusal>, usize) {
        self.keep_first();
        (std::mem::take(&mut self.first), self.total)
    }
}

/// An order moving to `imported` from `from` at `now`.
fn imported_update(from: OrderState, now: chrono::DateTime<chrono::Utc>) -> OrderUpdate {
    let mut u = OrderUpdate::to(OrderState::Imported);
    u.delivered_at = Some(now);
    if from == OrderState::Sending {
        u.sent_at = Some(now);
    }
    u
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

/// How many refused rows a refusal names: a file of a million bad rows is answered with the
/// first problems and a count, not with a page (or a terminal) of a million lines.
pub const REFUSALS_LISTED: usize = 50;

/// The first [`REFUSALS_LISTED`] problems, one per line prefixed with `file:`, and a last line
/// `… <more>` with `more` formatted with the number left out of `total` (e.g.
/// `"and {} more"`).
pub fn listed(file: &str, problems: &[Refusal], total: usize, more: &str) -> String {
    let mut text: Vec<String> = problems
        .iter()
        .take(REFUSALS_LISTED)
        .map(|p| format!("{file}:{p}"))
        .collect();
    let left = total.saturating_sub(problems.len().min(REFUSALS_LISTED));
    if left > 0 {
        text.push(format!("… {}", more.replace("{}", &left.to_string())));
    }
    text.join("\n")
}

pub(super) fn refusal_summary(problems: &[Refusal]) -> String {
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
    outcome: &ImportOutcome,
) -> Result<(), StoreError> {
    let events = &outcome.events;
    let by_username = staff_by_username(org, store, order).await?;
    let staff: Vec<Option<String>> = events
        .iter()
        .map(|e| by_username.get(&e.user_id.to_lowercase()).cloned())
        .collect();
    // The event's line in the delivered file, or its position where the source has no lines
    // (a fetch): with the unique (order, line) key a delivery cannot be stored twice.
    let lines: Vec<i64> = (0..events.len())
        .map(|i| outcome.line_of(i).map_or(i as i64 + 1, |l| l as i64))
        .collect();
    tx.insert_events(order, events, &staff, &lines).await
}

/// The staff id behind each username of the order's system (lower case): the draw's sampled
/// people, or for a targeted check the organisation's staff.
async fn staff_by_username(
    org: &Organisation,
    store: &Store,
    order: &Order,
) -> Result<HashMap<String, String>, StoreError> {
    Ok(match order.draw_id {
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
    })
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
        "order {id} was imported by another import meanwhile (the delivery is already stored); nothing was stored"
    )]
    AlreadyTaken { id: i64 },
    #[error(
        "order {id} is being imported by another import right now; nothing was stored by this one (see `order list` when it has finished)"
    )]
    InProgress { id: i64 },
    #[error(
        "the import of order {id} stalled so long that another import took the order over; nothing of this one was kept"
    )]
    ClaimLost { id: i64 },
    #[error(
        "{file}: the file changed while it was being imported (it no longer reads as it did when it was checked); nothing was stored"
    )]
    Changed { file: String },
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
    #[error("{file}: {total} row(s) refused, nothing was stored:\n{}", listed(.file, .problems, *.total, "and {} more"))]
    Refused {
        file: String,
        /// The first [`REFUSALS_LISTED`] problems, by line.
        problems: Vec<Refusal>,
        total: usize,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}
