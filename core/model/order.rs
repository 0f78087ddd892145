//! An extract order and its states. The transitions are made by `crate::orders`; the store
//! keeps them with a guard on the state they leave.

use chrono::{DateTime, Utc};
use loggvakt_connector::{OrderReceipt, OrderRequest};

crate::text_enum! {
    /// Where an order stands:
    /// - `pending`: Waiting to be sent (again).
    /// - `sending`: Being sent by an instance; not yet known whether the peer has it.
    /// - `awaiting_delivery`: Sent; the extract has not arrived.
    /// - `imported`: The events are stored.
    /// - `failed`: Given up: the reason is in `last_error`.
    /// - `in_doubt`: The sender died mid-send; a person must check with the peer before it is
    ///   sent again.
    pub enum OrderState {
        Pending = "pending", Sending = "sending", AwaitingDelivery = "awaiting_delivery",
        Imported = "imported", Failed = "failed", InDoubt = "in_doubt",
    }
}

/// A stored order.
#[derive(Debug, Clone)]
pub struct Order {
    pub id: i64,
    pub draw_id: Option<i64>,
    pub part: i64,
    pub system: String,
    pub idempotency_key: String,
    pub reference: String,
    pub request: OrderRequest,
    pub state: OrderState,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub receipt: Option<OrderReceipt>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub deliver_by: Option<DateTime<Utc>>,
    pub reminded_at: Option<DateTime<Utc>>,
}

/// The audit trail's name for an order.
pub fn order_object(id: i64) -> String {
    format!("order:{id}")
}
