//! Orders from Binance's bodies: placement, query, cancellation and open orders.

use keyward_events::bot::Side;
use rust_decimal::Decimal;

use super::decode;
use crate::binance::wire::OrderResponse;
use crate::domain::{ClientOrderId, OrderState, OrderStatus, OrderType};
use crate::error::AdapterError;

/// Decodes one order, as `POST`, `GET` and `DELETE /fapi/v1/order` send it.
///
/// # Errors
/// As [`decode`], and [`AdapterError::Undecodable`] for an unknown side or status.
pub fn order(endpoint: &str, body: &[u8]) -> Result<OrderStatus, AdapterError> {
    let response: OrderResponse = decode(endpoint, body)?;
    order_status(response).map_err(|detail| undecodable(endpoint, detail))
}

/// Decodes a list of orders, as `GET /fapi/v1/openOrders` sends it.
///
/// # Errors
/// As [`order`].
pub fn orders(endpoint: &str, body: &[u8]) -> Result<Vec<OrderStatus>, AdapterError> {
    let responses: Vec<OrderResponse> = decode(endpoint, body)?;
    responses
        .into_iter()
        .map(|response| order_status(response).map_err(|detail| undecodable(endpoint, detail)))
        .collect()
}

/// Maps an order body. Binance writes an absent price as `"0"`, which becomes `None`.
///
/// # Errors
/// Returns the reason when the side or status is not one Binance documents.
pub fn order_status(response: OrderResponse) -> Result<OrderStatus, String> {
    let nonzero = |value: Option<Decimal>| value.filter(|value| !value.is_zero());
    Ok(OrderStatus {
        side: side(&response.side)?,
        state: state(&response.status)?,
        order_type: order_type(&response.order_type),
        symbol: response.symbol,
        client_order_id: ClientOrderId::from_exchange(response.client_order_id),
        exchange_order_id: response.order_id.to_string(),
        quantity: response.orig_qty,
        filled_quantity: response.executed_qty,
        price: nonzero(response.price),
        average_price: nonzero(response.avg_price),
        trigger_price: nonzero(response.stop_price),
        reduce_only: response.reduce_only,
        updated_at_ms: response.update_time,
    })
}

/// Reads `BUY` or `SELL`.
///
/// # Errors
/// Returns the reason for any other text.
pub(crate) fn side(text: &str) -> Result<Side, String> {
    match text {
        "BUY" => Ok(Side::Buy),
        "SELL" => Ok(Side::Sell),
        other => Err(format!("unknown order side {other:?}")),
    }
}

/// Reads an order status. `EXPIRED_IN_MATCH` (self-trade prevention) counts as expired.
///
/// # Errors
/// Returns the reason for a status Binance does not document.
pub(crate) fn state(text: &str) -> Result<OrderState, String> {
    match text {
        "NEW" => Ok(OrderState::New),
        "PARTIALLY_FILLED" => Ok(OrderState::PartiallyFilled),
        "FILLED" => Ok(OrderState::Filled),
        "CANCELED" => Ok(OrderState::Canceled),
        "REJECTED" => Ok(OrderState::Rejected),
        "EXPIRED" | "EXPIRED_IN_MATCH" => Ok(OrderState::Expired),
        other => Err(format!("unknown order status {other:?}")),
    }
}

pub(crate) fn order_type(text: &str) -> OrderType {
    match text {
        "MARKET" => OrderType::Market,
        "LIMIT" => OrderType::Limit,
        "STOP_MARKET" => OrderType::StopMarket,
        other => OrderType::Other(other.to_owned()),
    }
}

fn undecodable(endpoint: &str, detail: String) -> AdapterError {
    AdapterError::Undecodable {
        exchange: keyward_events::Exchange::Binance,
        endpoint: endpoint.to_owned(),
        status: 200,
        detail,
    }
}
