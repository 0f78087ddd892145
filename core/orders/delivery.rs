//! A delivery checked against its order and stored all or nothing: from a poll, a fetch, or
//! a file (`extract import`, the web upload). Every row must be readable, about an ordered
//! user (or the ordered patient) and inside the ordered period; one bad row refuses the
//! delivery, and the refusal names line and column.

use std::collections::HashMap;
use std::io::Read;

use loggvakt_connector::{ImportLimits, ImportOutcome, Subject};
use serde_json::json;

use super::Pipeline;
use crate::blocking;
use crate::model::order::{DeliveryVia, Order, OrderState, order_object};
use crate::model::org::Organisation;
use crate::store::orders::OrderUpdate;
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
        let now = clock.now();
        let mut u = OrderUpdate::to(OrderState::Imported);
        u.delivered_at = Some(now);
        if from == OrderState::Sending {
            u.sent_at = Some(now);
        }
        if !tx.transition(order.id, from, &u).await? {
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
        let (store, clock, actor) = (self.cx.store, self.cx.clock, self.cx.actor);
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
        let reader = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
        let outcome = blocking::run(move || {
            // The limit again, on what is actually read: the file may grow after the size
            // check.
            let mut limited = reader.take(limit.saturating_add(1));
            let limits = ImportLimits { max_bytes: limit };
            crate::connectors::import_delivery(connector.as_ref(), &mut limited, &limits)
        })
        .await
        .map_err(|e| ImportError::Unreadable {
            file: file.clone(),
            reason: e.to_string(),
        })?;
        // A header with no rows is a valid answer: the person opened no record that day.
        // An empty file has no header, and the connector refuses it above.
        let mut tx = store.begin_write(clock.now(), actor).await?;
        match self
            .accept(&mut tx, &order, order.state, &outcome, "file")
            .await?
        {
            Accepted::Stored(n) => {
                tx.commit().await?;
                Ok(n)
            }
            Accepted::Refused(problems) => Err(ImportError::Refused { file, problems }),
            Accepted::Taken => Err(ImportError::AlreadyTaken { id: order.id }),
        }
    }
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
/// `… <more>` with `more` formatted with the number left out (e.g. `"and {} more"`).
pub fn listed(file: &str, problems: &[Refusal], more: &str) -> String {
    let mut text: Vec<String> = problems
        .iter()
        .take(REFUSALS_LISTED)
        .map(|p| format!("{file}:{p}"))
        .collect();
    let left = problems.len().saturating_sub(REFUSALS_LISTED);
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
    // The event's line in the delivered file, or its position where the source has no lines
    // (a fetch): with the unique (order, line) key a delivery cannot be stored twice.
    let lines: Vec<i64> = (0..events.len())
        .map(|i| outcome.line_of(i).map_or(i as i64 + 1, |l| l as i64))
        .collect();
    tx.insert_events(order, events, &staff, &lines).await
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
    #[error("{file}: {} row(s) refused, nothing was stored:\n{}", .problems.len(), listed(.file, .problems, "and {} more"))]
    Refused {
        file: String,
        problems: Vec<Refusal>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}
