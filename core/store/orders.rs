//! Extract orders, their attempts, and the access events they bring.

use chrono::{DateTime, Utc};
use loggvakt_connector::{AccessEvent, OrderReceipt, OrderRequest};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Result, Store, StoreError, WriteTx, opt_ts, parse_ts, ts};
use crate::model::order::{DeliveryVia, Order, OrderState};

/// An order about to be stored.
pub struct NewOrder<'a> {
    pub draw_id: Option<i64>,
    /// The targeted check or patient request the order is for, when not a draw.
    pub check_id: Option<i64>,
    pub part: i64,
    pub system_id: &'a str,
    pub request: &'a OrderRequest,
}

const ORDER_COLUMNS: &str = "id, draw_id, part, system_id, idempotency_key, reference, request, \
     state, attempts, next_attempt_at, last_error, receipt, created_at, sent_at, delivered_at, \
     deliver_by, reminded_at, delivered_via, password_at";

/// The order states `which` holds, as an SQL list (`'a', 'b'`): the state machine's own
/// predicates decide, so a query cannot drift from them.
pub(super) fn states_where(which: impl Fn(OrderState) -> bool) -> String {
    OrderState::ALL
        .into_iter()
        .filter(|s| which(*s))
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn corrupt(id: i64, what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("order {id}: {what}: {e}"))
}

fn order_from_row(row: &AnyRow) -> Result<Order> {
    let id: i64 = row.try_get("id")?;
    let state: String = row.try_get("state")?;
    let request: String = row.try_get("request")?;
    Ok(Order {
        id,
        draw_id: row.try_get("draw_id")?,
        part: row.try_get("part")?,
        system: row.try_get("system_id")?,
        idempotency_key: row.try_get("idempotency_key")?,
        reference: row.try_get("reference")?,
        request: serde_json::from_str(&request).map_err(|e| corrupt(id, "request", e))?,
        state: OrderState::parse(&state).ok_or_else(|| corrupt(id, "state", &state))?,
        attempts: row.try_get::<i64, _>("attempts")? as u32,
        next_attempt_at: parse_ts(&row.try_get::<String, _>("next_attempt_at")?)?,
        last_error: row.try_get("last_error")?,
        receipt: row
            .try_get::<Option<String>, _>("receipt")?
            .map(|r| serde_json::from_str::<OrderReceipt>(&r))
            .transpose()
            .map_err(|e| corrupt(id, "receipt", e))?,
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        sent_at: opt_ts(row, "sent_at")?,
        delivered_at: opt_ts(row, "delivered_at")?,
        deliver_by: opt_ts(row, "deliver_by")?,
        reminded_at: opt_ts(row, "reminded_at")?,
        delivered_via: row
            .try_get::<Option<String>, _>("delivered_via")?
            .map(|v| DeliveryVia::parse(&v).ok_or_else(|| corrupt(id, "delivered_via", &v)))
            .transpose()?,
        password_at: opt_ts(row, "password_at")?,
    })
}

impl WriteTx {
    /// Stores an order unless one exists for the same draw and part; returns its id.
    pub async fn insert_order(&mut self, o: &NewOrder<'_>) -> Result<Option<i64>> {
        self.insert_id(
            sqlx::query(
                "INSERT INTO orders (draw_id, check_id, part, system_id, idempotency_key, \
                 reference, request, state, attempts, next_attempt_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8, $8) \
                 ON CONFLICT DO NOTHING RETURNING id",
            )
            .bind(o.draw_id)
            .bind(o.check_id)
            .bind(o.part)
            .bind(o.system_id)
            .bind(o.request.idempotency_key.as_str())
            .bind(o.request.reference.as_str())
            .bind(serde_json::to_string(o.request).expect("requests serialise"))
            .bind(ts(self.at)),
        )
        .await
    }

    /// Moves an order from one state to another, only if it is still in `from`; false when
    /// someone else moved it first.
    pub async fn transition(
        &mut self,
        id: i64,
        from: OrderState,
        to: &OrderUpdate,
    ) -> Result<bool> {
        self.exec_one(
            sqlx::query(
                "UPDATE orders SET state = $1, updated_at = $2, \
                   attempts = CASE WHEN $14 = 1 THEN 0 ELSE attempts END + $3, \
                   next_attempt_at = COALESCE($4, next_attempt_at), \
                   last_error = $5, \
                   receipt = COALESCE($6, receipt), \
                   external_ref = COALESCE($7, external_ref), \
                   sent_at = COALESCE($8, sent_at), \
                   delivered_at = COALESCE($9, delivered_at), \
                   deliver_by = COALESCE($10, deliver_by), \
                   claim_expires = $11 \
                 WHERE id = $12 AND state = $13",
            )
            .bind(to.state.as_str())
            .bind(ts(self.at))
            .bind(i64::from(to.count_attempt))
            .bind(to.next_attempt_at.map(ts))
            .bind(to.last_error.as_deref())
            .bind(
                to.receipt
                    .as_ref()
                    .map(|r| serde_json::to_string(r).expect("receipts serialise")),
            )
            .bind(to.receipt.as_ref().and_then(|r| r.external_ref.clone()))
            .bind(to.sent_at.map(ts))
            .bind(to.delivered_at.map(ts))
            .bind(to.deliver_by.map(ts))
            .bind(to.claim_expires.map(ts))
            .bind(id)
            .bind(from.as_str())
            .bind(i64::from(to.reset_attempts)),
        )
        .await
    }

    /// Records one attempt at an action on an order (send, poll, import), whatever its outcome.
    pub async fn record_attempt(
        &mut self,
        order_id: i64,
        attempt: u32,
        action: &str,
        outcome: &str,
        error: Option<&str>,
    ) -> Result<()> {
        self.exec(
            sqlx::query(
                "INSERT INTO order_attempts (order_id, attempt, at, action, outcome, error) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (order_id, attempt, action) DO UPDATE SET at = excluded.at, \
             outcome = excluded.outcome, error = excluded.error",
            )
            .bind(order_id)
            .bind(i64::from(attempt))
            .bind(ts(self.at))
            .bind(action)
            .bind(outcome)
            .bind(error),
        )
        .await
    }

    /// Marks an order delivered outside loggvakt, only from `from`; false when it had moved.
    pub async fn mark_delivered_outside(
        &mut self,
        id: i64,
        from: OrderState,
        via: DeliveryVia,
    ) -> Result<bool> {
        self.exec_one(
            sqlx::query(
                "UPDATE orders SET state = 'delivered', delivered_via = $1, delivered_at = $2, \
                 updated_at = $2 WHERE id = $3 AND state = $4",
            )
            .bind(via.as_str())
            .bind(ts(self.at))
            .bind(id)
            .bind(from.as_str()),
        )
        .await
    }

    /// Records how a part came by hand, unless that is known already.
    pub async fn set_delivered_via(&mut self, id: i64, via: DeliveryVia) -> Result<()> {
        self.exec(
            sqlx::query(
                "UPDATE orders SET delivered_via = $1 WHERE id = $2 AND delivered_via IS NULL",
            )
            .bind(via.as_str())
            .bind(id),
        )
        .await
    }

    /// Notes that the password of an encrypted delivery came (by phone, seed 000).
    pub async fn mark_password_received(&mut self, id: i64) -> Result<bool> {
        self.exec_one(
            sqlx::query(
                "UPDATE orders SET password_at = $1, updated_at = $1 \
                 WHERE id = $2 AND password_at IS NULL",
            )
            .bind(ts(self.at))
            .bind(id),
        )
        .await
    }

    pub async fn mark_reminded(&mut self, order_id: i64) -> Result<()> {
        self.exec(
            sqlx::query("UPDATE orders SET reminded_at = $1, updated_at = $1 WHERE id = $2")
                .bind(ts(self.at))
                .bind(order_id),
        )
        .await
    }

    /// Stores an order's events; `staff_ids[i]` is the sampled person behind `events[i]`
    /// and `lines[i]` its line in the delivery (unique per order: storing a delivery twice
    /// fails).
    pub async fn insert_events(
        &mut self,
        order: &Order,
        events: &[AccessEvent],
        staff_ids: &[Option<String>],
        lines: &[i64],
    ) -> Result<()> {
        insert_event_rows(&mut self.tx, self.batching, order, events, staff_ids, lines).await
    }
}

/// See [`WriteTx::insert_events`]; also the SQLite path of a streamed import's batches.
pub(super) async fn insert_event_rows(
    conn: &mut sqlx::AnyConnection,
    batching: super::Batching,
    order: &Order,
    events: &[AccessEvent],
    staff_ids: &[Option<String>],
    lines: &[i64],
) -> Result<()> {
    type Row<'r> = (&'r AccessEvent, &'r Option<String>, &'r i64);
    let rows: Vec<Row<'_>> = events
        .iter()
        .zip(staff_ids)
        .zip(lines)
        .map(|((e, s), l)| (e, s, l))
        .collect();
    let size =
        |(e, _, _): &Row<'_>| 230 + e.event_text.len() + e.raw.as_ref().map_or(0, String::len);
    for batch in batching.batches(&rows, 17, size) {
        let sql = format!(
            "INSERT INTO access_events (order_id, draw_id, staff_id, system_id, time, user_id, \
             user_name, patient_id, patient_name, care_unit, action, event_text, system_part, raw, \
             protected_identity, source_line, reference_number) VALUES {}",
            batching.placeholders(batch.len(), 17)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (e, staff, line) in batch {
            q = q
                .bind(order.id)
                .bind(order.draw_id)
                .bind(staff.as_deref())
                .bind(e.system.as_str())
                .bind(e.time.format("%Y-%m-%dT%H:%M:%S").to_string())
                .bind(e.user_id.as_str())
                .bind(e.user_name.as_deref())
                .bind(e.patient_id.digits())
                .bind(e.patient_name.as_deref())
                .bind(e.care_unit.as_deref())
                .bind(e.action.as_str())
                .bind(e.event_text.as_str())
                .bind(e.system_part.as_deref())
                .bind(e.raw.as_deref())
                .bind(i64::from(e.protected_identity))
                .bind(**line)
                .bind(e.reference_number.as_deref());
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The new state of an order and what changes with it; `None` leaves a column as it is
/// (except `last_error` and `claim_expires`, which are set as given).
#[derive(Debug, Clone)]
pub struct OrderUpdate {
    pub state: OrderState,
    pub count_attempt: bool,
    /// Starts the attempt count again (a resent order gets its full `max_attempts`).
    pub reset_attempts: bool,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub receipt: Option<OrderReceipt>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub deliver_by: Option<DateTime<Utc>>,
    pub claim_expires: Option<DateTime<Utc>>,
}

impl OrderUpdate {
    pub fn to(state: OrderState) -> Self {
        Self {
            state,
            count_attempt: false,
            reset_attempts: false,
            next_attempt_at: None,
            last_error: None,
            receipt: None,
            sent_at: None,
            delivered_at: None,
            deliver_by: None,
            claim_expires: None,
        }
    }
}

impl Store {
    pub async fn order(&self, id: i64) -> Result<Option<Order>> {
        self.fetch_by_id("orders", ORDER_COLUMNS, id, order_from_row)
            .await
    }

    /// Orders, newest first, optionally of one state.
    pub async fn orders(&self, state: Option<OrderState>) -> Result<Vec<Order>> {
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE ($1 IS NULL OR state = $1) ORDER BY id DESC"
        );
        let query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(state.map(OrderState::as_str));
        self.fetch_vec(query, order_from_row).await
    }

    /// Orders a file may be imported for (see [`OrderState::awaits_file`]), newest first.
    pub async fn orders_awaiting_file(&self) -> Result<Vec<Order>> {
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE state IN ({}) ORDER BY id DESC",
            states_where(OrderState::awaits_file)
        );
        self.fetch_vec(sqlx::query(sqlx::AssertSqlSafe(sql)), order_from_row)
            .await
    }

    /// Orders in `state` whose next attempt is due, oldest first. Claiming happens per order
    /// through [`WriteTx::transition`], whose state check makes a second claimant lose.
    pub async fn orders_due(
        &self,
        state: OrderState,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Order>> {
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE state = $1 AND next_attempt_at <= $2 \
             ORDER BY id LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(state.as_str())
            .bind(ts(now))
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(order_from_row).collect()
    }

    /// Orders left in `sending` by an instance whose claim has run out: it may or may not
    /// have reached the peer.
    pub async fn orders_in_doubt(&self, now: DateTime<Utc>) -> Result<Vec<Order>> {
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE state = 'sending' AND claim_expires < $1 ORDER BY id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ts(now))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(order_from_row).collect()
    }

    pub async fn orders_of_draw(&self, draw_id: i64) -> Result<Vec<Order>> {
        let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE draw_id = $1 ORDER BY part");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(draw_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(order_from_row).collect()
    }

    pub async fn event_count(&self, order_id: Option<i64>) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM access_events WHERE ($1 IS NULL OR order_id = $1)",
        )
        .bind(order_id)
        .fetch_one(self.pool())
        .await?;
        Ok(n)
    }

    /// Counts of orders per system and state, for summaries.
    pub async fn order_counts(&self) -> Result<Vec<(String, String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT system_id, state, COUNT(*) FROM orders GROUP BY system_id, state ORDER BY system_id, state",
        )
        .fetch_all(self.pool())
        .await?)
    }
}
