//! Deliveries that reach the reviewer outside loggvakt (issue 10, part 2): a report by post
//! or as a Cryptshare file (its password phoned, seed 000), an extract in a Lifecare message,
//! a log read on screen. The order then stands as delivered, so its draw's task opens and the
//! reviewer records the review; a file can still be uploaded for it.

use serde_json::json;

use super::Pipeline;
use crate::model::order::{DeliveryVia, OrderState, order_object};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum OutsideError {
    #[error("there is no order {0}")]
    NoSuchOrder(i64),
    #[error(
        "order {id} is {state}; only an order that is awaited (awaiting_delivery, in_doubt, manual) can be marked delivered"
    )]
    NotAwaited { id: i64, state: &'static str },
    #[error("order {id} changed meanwhile; look at it again")]
    Changed { id: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Pipeline<'_> {
    /// Marks an awaited order delivered outside loggvakt, by `via`.
    pub async fn mark_delivered(&self, id: i64, via: DeliveryVia) -> Result<(), OutsideError> {
        let (store, clock, actor) = (self.cx.store, self.cx.clock, self.cx.actor);
        let order = store
            .order(id)
            .await?
            .ok_or(OutsideError::NoSuchOrder(id))?;
        if !matches!(
            order.state,
            OrderState::AwaitingDelivery | OrderState::InDoubt | OrderState::Manual
        ) {
            return Err(OutsideError::NotAwaited {
                id,
                state: order.state.as_str(),
            });
        }
        let mut tx = store.begin_write(clock.now(), actor).await?;
        if !tx.mark_delivered_outside(id, order.state, via).await? {
            return Err(OutsideError::Changed { id });
        }
        tx.commit_audited(
            "order.delivered_outside",
            &order_object(id),
            json!({"via": via, "from": order.state}),
        )
        .await?;
        Ok(())
    }

    /// Notes that the password of an encrypted delivery came; false when it was noted before.
    pub async fn mark_password_received(&self, id: i64) -> Result<bool, OutsideError> {
        let (store, clock, actor) = (self.cx.store, self.cx.clock, self.cx.actor);
        store
            .order(id)
            .await?
            .ok_or(OutsideError::NoSuchOrder(id))?;
        let mut tx = store.begin_write(clock.now(), actor).await?;
        if !tx.mark_password_received(id).await? {
            return Ok(false);
        }
        tx.commit_audited("order.password_received", &order_object(id), json!({}))
            .await?;
        Ok(true)
    }
}
