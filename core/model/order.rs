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
    /// - `manual`: A system in manual mode: a person takes the log out by the task's work
    ///   instruction; nothing is sent.
    /// - `delivered`: Arrived outside loggvakt (post, Cryptshare, a message, on screen): the
    ///   reviewer reads it there and records the review; a file can still be uploaded.
    pub enum OrderState {
        Pending = "pending", Sending = "sending", AwaitingDelivery = "awaiting_delivery",
        Imported = "imported", Failed = "failed", InDoubt = "in_doubt", Manual = "manual",
        Delivered = "delivered",
    }
}

impl OrderState {
    /// A file may be imported for the order: it was asked for and has not come as rows.
    pub fn awaits_file(self) -> bool {
        matches!(
            self,
            Self::AwaitingDelivery | Self::InDoubt | Self::Manual | Self::Delivered
        )
    }

    /// Something of the part has reached the reviewer (as rows, or outside loggvakt), or a
    /// person fetches it: its draw's task can be worked on.
    pub fn opens_task(self) -> bool {
        matches!(self, Self::Imported | Self::Manual | Self::Delivered)
    }

    /// Shown to managers.
    pub fn label_sv(self) -> &'static str {
        match self {
            Self::Pending | Self::Sending => "Ska beställas",
            Self::AwaitingDelivery => "Beställd, väntar på leverans",
            Self::Imported => "Inläst i loggvakt",
            Self::Failed => "Misslyckad",
            Self::InDoubt => "Osäker, kontrollera med mottagaren",
            Self::Manual => "Hämtas manuellt enligt instruktionen",
            Self::Delivered => "Levererad utanför loggvakt",
        }
    }
}

crate::text_enum! {
    /// How an extract reached the reviewer when it did not arrive as rows in loggvakt, or how
    /// a log was read: the routines' real channels (seeds 000, 003, 004).
    pub enum DeliveryVia {
        Screen = "screen", Paper = "paper", Cryptshare = "cryptshare", Message = "message",
        File = "file",
    }
}

impl DeliveryVia {
    pub fn label_sv(self) -> &'static str {
        match self {
            Self::Screen => "På skärmen i verksamhetssystemet",
            Self::Paper => "På papper (post)",
            Self::Cryptshare => "Krypterad fil (Cryptshare)",
            Self::Message => "Meddelande i verksamhetssystemet",
            Self::File => "Fil utanför loggvakt",
        }
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
    /// Set when the order was marked delivered outside loggvakt.
    pub delivered_via: Option<DeliveryVia>,
    /// When Cosmic's phoned password for an encrypted report was noted.
    pub password_at: Option<DateTime<Utc>>,
}

/// The audit trail's name for an order.
pub fn order_object(id: i64) -> String {
    format!("order:{id}")
}
