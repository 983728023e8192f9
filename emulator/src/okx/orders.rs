//! OKX order routes: place, cancel, query and pending orders.
//!
//! Sizes are in contracts, so the engine's base quantity is `sz × ctVal`. Place and cancel
//! return the order's ids only, and the order's state is read with `GET /api/v5/trade/order`.

use axum::Json;
use axum::extract::State;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::account::account_of;
use super::auth::{OkxError, OkxRequest, envelope};
use super::errors::{Request, order_rejection, rejection};
use super::routes::{inst_id, instrument, require_swap};
use crate::engine::{
    EngineError, InstrumentSpec, NewOrder, OrderKey, OrderRecord, OrderStatus, OrderType,
    PositionSide, Side, TimeInForce,
};
use crate::state::EmulatorState;

/// Maximum length of a `clOrdId`.
const MAX_CLIENT_ORDER_ID: usize = 32;

pub(crate) async fn place(
    State(state): State<EmulatorState>,
    signed: OkxRequest,
) -> Result<Json<Value>, OkxError> {
    signed.require_trade()?;
    let spec = instrument(&state, &signed.required("instId")?)?;
    let order = parse_new_order(&signed, &spec)?;
    let client_order_id = order.client_order_id.clone().unwrap_or_default();
    let now_ms = state.now_ms();
    let record = state
        .engine()
        .place(&account_of(&signed), order, now_ms)
        .map_err(|error| order_rejection(&error, Request::Other, &client_order_id, now_ms))?;
    tracing::debug!(order_id = record.order_id, client_order_id = %record.client_order_id, "order placed");
    Ok(envelope(vec![ack(&record, now_ms)]))
}

fn ack(record: &OrderRecord, now_ms: i64) -> Value {
    json!({
        "ordId": record.order_id.to_string(),
        "clOrdId": record.client_order_id,
        "tag": "",
        "ts": now_ms.to_string(),
        "sCode": "0",
        "sMsg": "",
    })
}

fn parse_new_order(signed: &OkxRequest, spec: &InstrumentSpec) -> Result<NewOrder, OkxError> {
    let side = match signed.required("side")?.as_str() {
        "buy" => Side::Buy,
        "sell" => Side::Sell,
        _ => return Err(OkxError::parameter("side")),
    };
    if !matches!(signed.required("tdMode")?.as_str(), "cross" | "isolated") {
        return Err(OkxError::parameter("tdMode"));
    }
    let (order_type, time_in_force) = match signed.required("ordType")?.as_str() {
        "market" => (OrderType::Market, TimeInForce::Gtc),
        "limit" => (OrderType::Limit, TimeInForce::Gtc),
        "post_only" => (OrderType::Limit, TimeInForce::PostOnly),
        "ioc" => (OrderType::Limit, TimeInForce::Ioc),
        "fok" => (OrderType::Limit, TimeInForce::Fok),
        _ => return Err(OkxError::parameter("ordType")),
    };
    let position_side = match signed.param("posSide").as_deref() {
        None | Some("net") => PositionSide::Both,
        Some("long") => PositionSide::Long,
        Some("short") => PositionSide::Short,
        Some(_) => return Err(OkxError::parameter("posSide")),
    };
    let contracts = decimal(signed, "sz")?.ok_or_else(|| OkxError::parameter("sz"))?;
    Ok(NewOrder {
        symbol: spec.symbol.clone(),
        side,
        order_type,
        quantity: contracts * spec.contract_value,
        price: decimal(signed, "px")?,
        stop_price: None,
        time_in_force,
        reduce_only: signed.param("reduceOnly").as_deref() == Some("true"),
        client_order_id: client_order_id(signed)?,
        position_side,
    })
}

fn decimal(signed: &OkxRequest, name: &str) -> Result<Option<Decimal>, OkxError> {
    signed
        .param(name)
        .filter(|text| !text.is_empty())
        .map(|text| text.parse().map_err(|_| OkxError::parameter(name)))
        .transpose()
}

/// Reads `clOrdId`: up to 32 letters and digits.
fn client_order_id(signed: &OkxRequest) -> Result<Option<String>, OkxError> {
    let Some(id) = signed.param("clOrdId").filter(|id| !id.is_empty()) else {
        return Ok(None);
    };
    if id.len() > MAX_CLIENT_ORDER_ID || !id.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
        return Err(OkxError::parameter("clOrdId"));
    }
    Ok(Some(id))
}

fn order_key(signed: &OkxRequest) -> Result<OrderKey, OkxError> {
    key_by(signed, "ordId", "clOrdId")
}

/// Reads the order a request names: by exchange id (`id_name`) or else by client id.
pub(crate) fn key_by(
    signed: &OkxRequest,
    id_name: &str,
    client_name: &str,
) -> Result<OrderKey, OkxError> {
    if let Some(id) = signed.param(id_name).filter(|id| !id.is_empty()) {
        return id
            .parse()
            .map(OrderKey::OrderId)
            .map_err(|_| OkxError::parameter(id_name));
    }
    signed
        .param(client_name)
        .filter(|id| !id.is_empty())
        .map(OrderKey::ClientOrderId)
        .ok_or_else(|| OkxError::parameter(&format!("{id_name} or {client_name}")))
}

pub(crate) async fn cancel(
    State(state): State<EmulatorState>,
    signed: OkxRequest,
) -> Result<Json<Value>, OkxError> {
    signed.require_trade()?;
    let spec = instrument(&state, &signed.required("instId")?)?;
    let key = order_key(&signed)?;
    let now_ms = state.now_ms();
    // Trigger orders are algo orders on OKX, which the regular routes do not see.
    let algo = state
        .engine()
        .order(&account_of(&signed), &spec.symbol, &key, now_ms)
        .is_ok_and(|record| record.order_type == OrderType::StopMarket);
    if algo {
        let id = signed.param("clOrdId").unwrap_or_default();
        return Err(order_rejection(
            &EngineError::OrderNotFound,
            Request::Cancel,
            &id,
            now_ms,
        ));
    }
    let record = state
        .engine()
        .cancel(&account_of(&signed), &spec.symbol, &key, now_ms)
        .map_err(|error| {
            let id = signed.param("clOrdId").unwrap_or_default();
            order_rejection(&error, Request::Cancel, &id, now_ms)
        })?;
    Ok(envelope(vec![ack(&record, now_ms)]))
}

pub(crate) async fn query(
    State(state): State<EmulatorState>,
    signed: OkxRequest,
) -> Result<Json<Value>, OkxError> {
    let spec = instrument(&state, &signed.required("instId")?)?;
    let key = order_key(&signed)?;
    let record = state
        .engine()
        .order(&account_of(&signed), &spec.symbol, &key, state.now_ms())
        .and_then(|record| {
            if record.order_type == OrderType::StopMarket {
                Err(EngineError::OrderNotFound)
            } else {
                Ok(record)
            }
        })
        .map_err(|error| rejection(&error, Request::Query))?;
    Ok(envelope(vec![order_entry(&record, &spec)]))
}

pub(crate) async fn pending(
    State(state): State<EmulatorState>,
    signed: OkxRequest,
) -> Result<Json<Value>, OkxError> {
    if signed.param("instType").is_some() {
        require_swap(&signed.params)?;
    }
    let spec = match signed.param("instId") {
        Some(id) => Some(instrument(&state, &id)?),
        None => None,
    };
    let engine = state.engine();
    let records = engine.open_orders(
        &account_of(&signed),
        spec.as_ref().map(|spec| spec.symbol.as_str()),
        state.now_ms(),
    );
    let data = records
        .iter()
        .filter(|record| record.order_type != OrderType::StopMarket)
        .filter_map(|record| {
            let spec = engine.instrument(&record.symbol)?;
            Some(order_entry(record, &spec))
        })
        .collect();
    Ok(envelope(data))
}

/// Writes an order record as OKX's order entry, sizes in contracts.
pub(crate) fn order_entry(record: &OrderRecord, spec: &InstrumentSpec) -> Value {
    let contracts = |base: Decimal| (base / spec.contract_value).normalize().to_string();
    let ord_type = match (record.order_type, record.time_in_force) {
        (OrderType::Market | OrderType::StopMarket, _) => "market",
        (OrderType::Limit, TimeInForce::Gtc) => "limit",
        (OrderType::Limit, TimeInForce::PostOnly) => "post_only",
        (OrderType::Limit, TimeInForce::Ioc) => "ioc",
        (OrderType::Limit, TimeInForce::Fok) => "fok",
    };
    let state = match record.status {
        OrderStatus::New => "live",
        OrderStatus::PartiallyFilled => "partially_filled",
        OrderStatus::Filled => "filled",
        OrderStatus::Canceled | OrderStatus::Expired => "canceled",
    };
    let average = if record.filled_quantity.is_zero() {
        String::new()
    } else {
        record.average_price.normalize().to_string()
    };
    json!({
        "instType": "SWAP",
        "instId": inst_id(spec),
        "ordId": record.order_id.to_string(),
        "clOrdId": record.client_order_id,
        "side": match record.side { Side::Buy => "buy", Side::Sell => "sell" },
        "posSide": match record.position_side {
            PositionSide::Both => "net",
            PositionSide::Long => "long",
            PositionSide::Short => "short",
        },
        "ordType": ord_type,
        "tdMode": "cross",
        "state": state,
        "sz": contracts(record.quantity),
        "accFillSz": contracts(record.filled_quantity),
        "px": record.price.map(|price| price.to_string()).unwrap_or_default(),
        "avgPx": average,
        "reduceOnly": record.reduce_only.to_string(),
        "cTime": record.created_ms.to_string(),
        "uTime": record.updated_ms.to_string(),
    })
}
