//! Placing and cancelling orders so that a lost response never doubles an order.
//!
//! Every order carries a client order id derived from its intent, so the same intent always
//! sends the same id. When a placement's outcome is unknown (a timeout, a dropped connection, a
//! 5xx, an "execution status unknown" response), the order is looked up by that id before any
//! retry. Exchanges may show a new order in queries only after a delay, so a lookup that finds
//! nothing is repeated with growing pauses before the order counts as not placed; only then is
//! it sent again, with the same id, so the exchange's own duplicate check remains as a last
//! guard. A duplicate answer means an earlier attempt went through, and the order is looked up.

use std::time::Duration;

use keyward_events::Exchange;

use crate::credentials::Credentials;
use crate::domain::{ClientOrderId, OrderAck, OrderRequest, OrderStatus};
use crate::error::AdapterError;

/// The retry limits of placing, looking up and cancelling orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderRetryPolicy {
    /// Times one order may be sent, the first included.
    pub max_submissions: u32,
    /// Lookups that must find nothing before an order whose placement had an unknown outcome
    /// counts as not placed. Lookups that fail are retried and do not count.
    pub lookups_before_resend: u32,
    /// Pause before the second lookup; it doubles per lookup up to `max_delay`.
    pub first_lookup_delay: Duration,
    /// Maximum pause between two lookups or two submissions.
    pub max_delay: Duration,
    /// Times a lookup that fails (timeout, 5xx, rate limit) is retried.
    pub max_failed_lookups: u32,
    /// Times a placement the exchange rejected before executing it (rate limit, clock skew)
    /// is sent again after a pause. These do not count against `max_submissions`.
    pub max_rejections: u32,
}

impl Default for OrderRetryPolicy {
    fn default() -> Self {
        OrderRetryPolicy {
            max_submissions: 5,
            lookups_before_resend: 5,
            first_lookup_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(3),
            max_failed_lookups: 10,
            max_rejections: 10,
        }
    }
}

impl OrderRetryPolicy {
    fn delay(&self, step: u32) -> Duration {
        self.first_lookup_delay
            .saturating_mul(1u32 << step.min(16))
            .min(self.max_delay)
    }
}

/// The two calls of one exchange that idempotent placement is built from.
#[async_trait::async_trait]
pub trait OrderVenue: Send + Sync {
    /// Returns the exchange, for errors.
    fn venue_exchange(&self) -> Exchange;

    /// Sends the order once.
    async fn submit(
        &self,
        credentials: &Credentials,
        request: &OrderRequest,
    ) -> Result<OrderAck, AdapterError>;

    /// Sends the cancellation of an order once.
    async fn cancel_once(
        &self,
        credentials: &Credentials,
        symbol: &str,
        client_order_id: &ClientOrderId,
    ) -> Result<OrderStatus, AdapterError>;

    /// Looks an order up by its client order id once; `Ok(None)` when the exchange has none.
    async fn lookup(
        &self,
        credentials: &Credentials,
        symbol: &str,
        client_order_id: &ClientOrderId,
    ) -> Result<Option<OrderStatus>, AdapterError>;
}

/// Places an order at most once, however its requests fail.
///
/// # Errors
/// Returns the exchange's rejection, or the last failure once `policy` is spent. An
/// [`AdapterError::ExecutionUnknown`] then means the order may exist; look it up later.
pub async fn place_idempotent(
    venue: &dyn OrderVenue,
    credentials: &Credentials,
    request: &OrderRequest,
    policy: &OrderRetryPolicy,
) -> Result<OrderAck, AdapterError> {
    let mut submissions = 0;
    let mut rejections = 0;
    loop {
        submissions += 1;
        let error = match venue.submit(credentials, request).await {
            Ok(mut ack) => {
                ack.submissions = submissions + rejections;
                return Ok(ack);
            }
            Err(error) => error,
        };
        let found = match &error {
            AdapterError::DuplicateOrder { .. } => {
                tracing::info!(client_order_id = %request.client_order_id(), "order already exists; looking it up");
                find_placed(venue, credentials, request, policy).await?
            }
            error if error.outcome_unknown() => {
                tracing::warn!(client_order_id = %request.client_order_id(), error = %error, "order outcome unknown; looking it up before any retry");
                find_placed(venue, credentials, request, policy).await?
            }
            AdapterError::RateLimited { .. } | AdapterError::ClockSkew { .. } => {
                // Rejected before execution: the order does not exist, so it is sent again
                // after a pause without spending one of its submissions.
                if rejections >= policy.max_rejections {
                    return Err(error);
                }
                rejections += 1;
                submissions -= 1;
                tokio::time::sleep(policy.delay(rejections - 1)).await;
                continue;
            }
            _ => return Err(error),
        };
        if let Some(status) = found {
            return Ok(OrderAck::from_status(
                &status,
                true,
                submissions + rejections,
            ));
        }
        if submissions >= policy.max_submissions {
            return Err(error);
        }
        tracing::info!(client_order_id = %request.client_order_id(), submissions, "order not placed; sending it again with the same id");
    }
}

/// Looks an order up until it is found or `policy.lookups_before_resend` lookups found
/// nothing. Failed lookups are retried; when they keep failing the outcome stays unknown.
async fn find_placed(
    venue: &dyn OrderVenue,
    credentials: &Credentials,
    request: &OrderRequest,
    policy: &OrderRetryPolicy,
) -> Result<Option<OrderStatus>, AdapterError> {
    let client_order_id = request.client_order_id();
    let mut empty = 0;
    let mut failed = 0;
    loop {
        match venue
            .lookup(credentials, request.symbol(), client_order_id)
            .await
        {
            Ok(Some(status)) => return Ok(Some(status)),
            Ok(None) => empty += 1,
            Err(error) if error.is_transient() && failed < policy.max_failed_lookups => {
                failed += 1;
            }
            Err(error) => {
                return Err(AdapterError::ExecutionUnknown {
                    exchange: venue.venue_exchange(),
                    endpoint: format!("order {client_order_id} lookup"),
                    code: None,
                    msg: Some(error.to_string()),
                });
            }
        }
        if empty >= policy.lookups_before_resend {
            return Ok(None);
        }
        tokio::time::sleep(policy.delay(empty + failed)).await;
    }
}

/// Cancels an order and returns its final state. The order is looked up when the
/// cancellation's outcome is unknown or the exchange no longer lists the order as open.
///
/// # Errors
/// Returns [`AdapterError::OrderNotFound`] when the exchange has no such order, or the last
/// failure once `policy` is spent.
pub async fn cancel_idempotent(
    venue: &dyn OrderVenue,
    credentials: &Credentials,
    symbol: &str,
    client_order_id: &ClientOrderId,
    policy: &OrderRetryPolicy,
) -> Result<OrderStatus, AdapterError> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let error = match venue
            .cancel_once(credentials, symbol, client_order_id)
            .await
        {
            Ok(status) => return Ok(status),
            Err(error) => error,
        };
        let settled =
            error.outcome_unknown() || matches!(error, AdapterError::OrderNotFound { .. });
        if settled {
            if let Some(status) = venue.lookup(credentials, symbol, client_order_id).await? {
                if !status.state.is_open() {
                    return Ok(status);
                }
            } else if matches!(error, AdapterError::OrderNotFound { .. }) {
                return Err(error);
            }
        } else if !error.is_transient() {
            return Err(error);
        }
        if attempts >= policy.max_submissions {
            return Err(error);
        }
        tokio::time::sleep(policy.delay(attempts - 1)).await;
    }
}
