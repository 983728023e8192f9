//! Bybit order routes: create, cancel and the real-time order query.
//!
//! Create and cancel answer only with the order's ids, as Bybit does; the order's state is
//! read with `GET /v5/order/realtime`.

use axum::Json;
use axum::extract::State;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::account::account_of;
use super::auth::{BybitError, BybitRequest, envelope};
use super::errors::rejection;
use super::routes::require_linear;
use crate::engine::{
    NewOrder, OrderKey, OrderRecord, OrderStatus, OrderType, PositionSide, Side, TimeInForce,
};
use crate::state::EmulatorState;

/// Maximum length of an `orderLinkId`.
const MAX_ORDER_LINK_ID: usize = 36;

pub(crate) async fn create(
    State(state): State<EmulatorState>,
    signed: BybitRequest,
) -> Result<Json<Value>, BybitError> {
    require_linear(&signed.params)?;
    signed.require_trade()?;
    let order = parse_new_order(&signed)?;
    let record = state
        .engine()
        .place(&account_of(&signed), order, state.now_ms())
        .map_err(|error| rejection(&error))?;
    tracing::debug!(order_id = record.order_id, client_order_id = %record.client_order_id, "order placed");
    let result = json!({
        "orderId": record.order_id.to_string(),
        "orderLinkId": record.client_order_id,
    });
    Ok(envelope(result, state.now_ms()))
}

fn parse_new_order(signed: &BybitRequest) -> Result<NewOrder, BybitError> {
    let side = match signed.required("side")?.as_str() {
        "Buy" => Side::Buy,
        "Sell" => Side::Sell,
        _ => return Err(BybitError::parameter("side")),
    };
    let trigger_price = decimal(signed, "triggerPrice")?;
    let order_type = match (signed.required("orderType")?.as_str(), trigger_price) {
        ("Market", None) => OrderType::Market,
        ("Market", Some(_)) => OrderType::StopMarket,
        ("Limit", None) => OrderType::Limit,
        _ => return Err(BybitError::parameter("orderType")),
    };
    let time_in_force = match signed.param("timeInForce").as_deref() {
        None | Some("GTC") => TimeInForce::Gtc,
        Some("IOC") => TimeInForce::Ioc,
        Some("FOK") => TimeInForce::Fok,
        Some("PostOnly") => TimeInForce::PostOnly,
        Some(_) => return Err(BybitError::parameter("timeInForce")),
    };
    let position_side = match signed.param("positionIdx").as_deref() {
        None | Some("0") => PositionSide::Both,
        Some("1") => PositionSide::Long,
        Some("2") => PositionSide::Short,
        Some(_) => return Err(BybitError::parameter("positionIdx")),
    };
    Ok(NewOrder {
        symbol: signed.required("symbol")?,
        side,
        order_type,
        quantity: decimal(signed, "qty")?.ok_or_else(|| BybitError::parameter("qty"))?,
        price: decimal(signed, "price")?,
        stop_price: trigger_price,
        time_in_force,
        reduce_only: signed.param("reduceOnly").as_deref() == Some("true"),
        client_order_id: order_link_id(signed)?,
        position_side,
    })
}

fn decimal(signed: &BybitRequest, name: &str) -> Result<Option<Decimal>, BybitError> {
    signed
        .param(name)
        .map(|text| text.parse().map_err(|_| BybitError::parameter(name)))
        .transpose()
}

/// Reads `orderLinkId`: up to 36 letters, digits, `-` and `_`.
fn order_link_id(signed: &BybitRequest) -> Result<Option<String>, BybitError> {
    let Some(id) = signed.param("orderLinkId") else {
        return Ok(None);
    };
    let allowed = |byte: u8| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_';
    if id.is_empty() || id.len() > MAX_ORDER_LINK_ID || !id.bytes().all(allowed) {
        return Err(BybitError::parameter("orderLinkId"));
    }
    Ok(Some(id))
}

fn order_key(signed: &BybitRequest) -> Option<OrderKey> {
    if let Some(id) = signed.param("orderId") {
        return id.parse().ok().map(OrderKey::OrderId);
    }
    signed.param("orderLinkId").map(OrderKey::ClientOrderId)
}

pub(crate) async fn cancel(
    State(state): State<EmulatorState>,
    signed: BybitRequest,
) -> Result<Json<Value>, BybitError> {
    require_linear(&signed.params)?;
    signed.require_trade()?;
    let symbol = signed.required("symbol")?;
    let key = order_key(&signed).ok_or_else(|| BybitError::parameter("orderId or orderLinkId"))?;
    let record = state
        .engine()
        .cancel(&account_of(&signed), &symbol, &key, state.now_ms())
        .map_err(|error| rejection(&error))?;
    let result = json!({
        "orderId": record.order_id.to_string(),
        "orderLinkId": record.client_order_id,
    });
    Ok(envelope(result, state.now_ms()))
}

/// `GET /v5/order/realtime`: one order by id (open or closed), or the open orders of a symbol
/// or of `settleCoin`.
pub(crate) async fn realtime(
    State(state): State<EmulatorState>,
    signed: BybitRequest,
) -> Result<Json<Value>, BybitError> {
    require_linear(&signed.params)?;
    let account = account_of(&signed);
    let symbol = signed.param("symbol");
    let now_ms = state.now_ms();
    let records = match (order_key(&signed), &symbol) {
        (Some(key), Some(symbol)) => match state.engine().order(&account, symbol, &key, now_ms) {
            Ok(record) => vec![record],
            Err(_) => Vec::new(),
        },
        (Some(_), None) => return Err(BybitError::parameter("symbol")),
        (None, _) => {
            if symbol.is_none() && signed.param("settleCoin").is_none() {
                return Err(BybitError::parameter("symbol or settleCoin"));
            }
            state
                .engine()
                .open_orders(&account, symbol.as_deref(), now_ms)
        }
    };
    let list: Vec<Value> = records.iter().map(order_entry).collect();
    let result = json!({"category": "linear", "list": list, "nextPageCursor": ""});
    Ok(envelope(result, now_ms))
}

/// Writes an order record as Bybit's order entry.
pub(crate) fn order_entry(record: &OrderRecord) -> Value {
    let text = |value: Option<Decimal>| value.map_or_else(|| "0".to_owned(), |v| v.to_string());
    let average = (!record.filled_quantity.is_zero()).then_some(record.average_price);
    json!({
        "orderId": record.order_id.to_string(),
        "orderLinkId": record.client_order_id,
        "symbol": record.symbol,
        "side": match record.side { Side::Buy => "Buy", Side::Sell => "Sell" },
        "orderType": match record.order_type {
            OrderType::Limit => "Limit",
            OrderType::Market | OrderType::StopMarket => "Market",
        },
        "stopOrderType": if record.order_type == OrderType::StopMarket { "Stop" } else { "" },
        "price": text(record.price),
        "qty": record.quantity.to_string(),
        "cumExecQty": record.filled_quantity.to_string(),
        "leavesQty": (record.quantity - record.filled_quantity).to_string(),
        "avgPrice": average.map(|price| price.normalize().to_string()).unwrap_or_default(),
        "triggerPrice": text(record.stop_price),
        "orderStatus": status_text(record),
        "timeInForce": match record.time_in_force {
            TimeInForce::Gtc => "GTC",
            TimeInForce::Ioc => "IOC",
            TimeInForce::Fok => "FOK",
            TimeInForce::PostOnly => "PostOnly",
        },
        "positionIdx": match record.position_side {
            PositionSide::Both => 0,
            PositionSide::Long => 1,
            PositionSide::Short => 2,
        },
        "reduceOnly": record.reduce_only,
        "createdTime": record.created_ms.to_string(),
        "updatedTime": record.updated_ms.to_string(),
    })
}

/// Bybit's `orderStatus`: a stop order waiting for its trigger is `Untriggered`, and an order
/// ended by the exchange is `Deactivated`.
fn status_text(record: &OrderRecord) -> &'static str {
    match record.status {
        OrderStatus::New if record.order_type == OrderType::StopMarket => "Untriggered",
        OrderStatus::New => "New",
        OrderStatus::PartiallyFilled => "PartiallyFilled",
        OrderStatus::Filled => "Filled",
        OrderStatus::Canceled => "Cancelled",
        OrderStatus::Expired => "Deactivated",
    }
}
