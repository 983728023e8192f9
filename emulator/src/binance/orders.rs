//! Binance order routes: new order, query, cancel and open orders.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use rust_decimal::Decimal;

use super::account::{futures_account, position_side_text};
use super::auth::{Rejection, SignedRequest};
use super::errors::{Request, rejection};
use super::wire::OrderResponse;
use crate::engine::{
    NewOrder, OrderKey, OrderRecord, OrderStatus, OrderType, PositionSide, Side, TimeInForce,
};
use crate::state::EmulatorState;

/// Maximum length of a client order id Binance accepts.
const MAX_CLIENT_ORDER_ID: usize = 36;

pub(crate) async fn new_order(
    State(state): State<EmulatorState>,
    signed: SignedRequest,
) -> Result<Json<OrderResponse>, Rejection> {
    let account = futures_account(&signed)?;
    let order = parse_new_order(&signed)?;
    let acknowledge_only = signed.param("newOrderRespType") != Some("RESULT");
    let record = state
        .engine()
        .place(&account, order, state.now_ms())
        .map_err(|error| rejection(&error, Request::Other))?;
    tracing::debug!(order_id = record.order_id, client_order_id = %record.client_order_id, "order placed");
    let mut response = order_response(&record);
    if acknowledge_only {
        // An ACK response shows the order as accepted, before any fill.
        response.status = "NEW";
        response.executed_qty = "0".to_owned();
        response.cum_qty = "0".to_owned();
        response.cum_quote = "0".to_owned();
        response.avg_price = "0.00".to_owned();
    }
    Ok(Json(response))
}

fn parse_new_order(signed: &SignedRequest) -> Result<NewOrder, Rejection> {
    let side = match signed.required("side")? {
        "BUY" => Side::Buy,
        "SELL" => Side::Sell,
        _ => {
            return Err(Rejection::new(
                StatusCode::BAD_REQUEST,
                -1117,
                "Invalid side.",
            ));
        }
    };
    let order_type = match signed.required("type")? {
        "MARKET" => OrderType::Market,
        "LIMIT" => OrderType::Limit,
        "STOP_MARKET" => OrderType::StopMarket,
        _ => {
            return Err(Rejection::new(
                StatusCode::BAD_REQUEST,
                -1116,
                "Invalid orderType.",
            ));
        }
    };
    let time_in_force = match (order_type, signed.param("timeInForce")) {
        (OrderType::Limit, None) => return Err(Rejection::mandatory("timeInForce")),
        (_, None | Some("GTC")) => TimeInForce::Gtc,
        (_, Some("IOC")) => TimeInForce::Ioc,
        (_, Some("FOK")) => TimeInForce::Fok,
        (_, Some("GTX")) => TimeInForce::PostOnly,
        (_, Some(_)) => {
            return Err(Rejection::new(
                StatusCode::BAD_REQUEST,
                -1115,
                "Invalid timeInForce.",
            ));
        }
    };
    let position_side = match signed.param("positionSide").unwrap_or("BOTH") {
        "BOTH" => PositionSide::Both,
        "LONG" => PositionSide::Long,
        "SHORT" => PositionSide::Short,
        _ => return Err(Rejection::mandatory("positionSide")),
    };
    Ok(NewOrder {
        symbol: signed.required("symbol")?.to_owned(),
        side,
        order_type,
        quantity: decimal(signed, "quantity")?.ok_or_else(|| Rejection::mandatory("quantity"))?,
        price: decimal(signed, "price")?,
        stop_price: decimal(signed, "stopPrice")?,
        time_in_force,
        reduce_only: signed.param("reduceOnly") == Some("true"),
        client_order_id: client_order_id(signed)?,
        position_side,
    })
}

fn decimal(signed: &SignedRequest, name: &str) -> Result<Option<Decimal>, Rejection> {
    signed
        .param(name)
        .map(|text| text.parse().map_err(|_| Rejection::mandatory(name)))
        .transpose()
}

/// Reads `newClientOrderId`, which must match `^[\.A-Z\:/a-z0-9_-]{1,36}$`.
fn client_order_id(signed: &SignedRequest) -> Result<Option<String>, Rejection> {
    let Some(id) = signed.param("newClientOrderId") else {
        return Ok(None);
    };
    let allowed = |byte: u8| byte.is_ascii_alphanumeric() || b".:/_-".contains(&byte);
    if id.is_empty() || id.len() > MAX_CLIENT_ORDER_ID || !id.bytes().all(allowed) {
        return Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            -4015,
            "Client order id is not valid.",
        ));
    }
    Ok(Some(id.to_owned()))
}

/// Reads the order a query or cancellation names: `orderId` or `origClientOrderId`.
fn order_key(signed: &SignedRequest) -> Result<OrderKey, Rejection> {
    if let Some(id) = signed.param("orderId") {
        let id = id.parse().map_err(|_| Rejection::mandatory("orderId"))?;
        return Ok(OrderKey::OrderId(id));
    }
    match signed.param("origClientOrderId") {
        Some(id) if !id.is_empty() => Ok(OrderKey::ClientOrderId(id.to_owned())),
        _ => Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            -1102,
            "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
        )),
    }
}

pub(crate) async fn query_order(
    State(state): State<EmulatorState>,
    signed: SignedRequest,
) -> Result<Json<OrderResponse>, Rejection> {
    let account = futures_account(&signed)?;
    let symbol = signed.required("symbol")?;
    let record = state
        .engine()
        .order(&account, symbol, &order_key(&signed)?, state.now_ms())
        .map_err(|error| rejection(&error, Request::Query))?;
    Ok(Json(order_response(&record)))
}

pub(crate) async fn cancel_order(
    State(state): State<EmulatorState>,
    signed: SignedRequest,
) -> Result<Json<OrderResponse>, Rejection> {
    let account = futures_account(&signed)?;
    let symbol = signed.required("symbol")?;
    let record = state
        .engine()
        .cancel(&account, symbol, &order_key(&signed)?, state.now_ms())
        .map_err(|error| rejection(&error, Request::Cancel))?;
    Ok(Json(order_response(&record)))
}

pub(crate) async fn open_orders(
    State(state): State<EmulatorState>,
    signed: SignedRequest,
) -> Result<Json<Vec<OrderResponse>>, Rejection> {
    let account = futures_account(&signed)?;
    let orders = state
        .engine()
        .open_orders(&account, signed.param("symbol"), state.now_ms());
    Ok(Json(orders.iter().map(order_response).collect()))
}

/// Writes an order record as Binance's order body.
pub(crate) fn order_response(record: &OrderRecord) -> OrderResponse {
    let cum_quote = record.average_price * record.filled_quantity;
    OrderResponse {
        client_order_id: record.client_order_id.clone(),
        cum_qty: record.filled_quantity.to_string(),
        cum_quote: cum_quote.normalize().to_string(),
        executed_qty: record.filled_quantity.to_string(),
        order_id: record.order_id,
        avg_price: record.average_price.normalize().to_string(),
        orig_qty: record.quantity.to_string(),
        price: record.price.unwrap_or_default().to_string(),
        reduce_only: record.reduce_only,
        side: side_text(record.side),
        position_side: position_side_text(record.position_side),
        status: status_text(record.status),
        stop_price: record.stop_price.unwrap_or_default().to_string(),
        close_position: false,
        symbol: record.symbol.clone(),
        time_in_force: time_in_force_text(record.time_in_force),
        order_type: order_type_text(record.order_type),
        orig_type: order_type_text(record.order_type),
        update_time: record.updated_ms,
        working_type: "CONTRACT_PRICE",
        price_protect: false,
        price_match: "NONE",
        self_trade_prevention_mode: "NONE",
        good_till_date: 0,
    }
}

pub(crate) fn side_text(side: Side) -> &'static str {
    match side {
        Side::Buy => "BUY",
        Side::Sell => "SELL",
    }
}

pub(crate) fn status_text(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::New => "NEW",
        OrderStatus::PartiallyFilled => "PARTIALLY_FILLED",
        OrderStatus::Filled => "FILLED",
        OrderStatus::Canceled => "CANCELED",
        OrderStatus::Expired => "EXPIRED",
    }
}

pub(crate) fn order_type_text(order_type: OrderType) -> &'static str {
    match order_type {
        OrderType::Market => "MARKET",
        OrderType::Limit => "LIMIT",
        OrderType::StopMarket => "STOP_MARKET",
    }
}

pub(crate) fn time_in_force_text(time_in_force: TimeInForce) -> &'static str {
    match time_in_force {
        TimeInForce::Gtc => "GTC",
        TimeInForce::Ioc => "IOC",
        TimeInForce::Fok => "FOK",
        TimeInForce::PostOnly => "GTX",
    }
}
