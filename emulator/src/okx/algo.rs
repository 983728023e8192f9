//! OKX algo order routes for trigger orders: place, query, cancel and pending.
//!
//! A trigger order with `orderPx` `-1` is the engine's stop-market order. OKX keeps algo
//! orders apart from regular ones, so the regular order routes do not show them.

use axum::Json;
use axum::extract::State;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::account::account_of;
use super::auth::{OkxError, OkxRequest, envelope};
use super::errors::{Request, order_rejection};
use super::orders::key_by;
use super::routes::{inst_id, instrument};
use crate::engine::{
    InstrumentSpec, NewOrder, OrderKey, OrderRecord, OrderStatus, OrderType, PositionSide, Side,
    TimeInForce,
};
use crate::state::EmulatorState;

/// Maximum length of an `algoClOrdId`.
const MAX_ALGO_CLIENT_ID: usize = 32;

/// `POST /api/v5/trade/order-algo`: a `trigger` order that sends a market order (`orderPx`
/// `-1`) once the price reaches `triggerPx`.
pub(crate) async fn place(
    State(state): State<EmulatorState>,
    signed: OkxRequest,
) -> Result<Json<Value>, OkxError> {
    signed.require_trade()?;
    let spec = instrument(&state, &signed.required("instId")?)?;
    let order = trigger_order(&signed, &spec)?;
    let client_id = order.client_order_id.clone().unwrap_or_default();
    let now_ms = state.now_ms();
    let record = state
        .engine()
        .place(&account_of(&signed), order, now_ms)
        .map_err(|error| order_rejection(&error, Request::Other, &client_id, now_ms))?;
    Ok(envelope(vec![json!({
        "algoId": record.order_id.to_string(),
        "algoClOrdId": record.client_order_id,
        "clOrdId": "",
        "tag": "",
        "sCode": "0",
        "sMsg": "",
    })]))
}

/// Reads a `trigger` order with `orderPx` `-1` into the engine's stop-market order.
fn trigger_order(signed: &OkxRequest, spec: &InstrumentSpec) -> Result<NewOrder, OkxError> {
    if signed.required("ordType")? != "trigger" {
        return Err(OkxError::parameter("ordType"));
    }
    if signed.param("orderPx").as_deref() != Some("-1") {
        return Err(OkxError::parameter("orderPx"));
    }
    let side = match signed.required("side")?.as_str() {
        "buy" => Side::Buy,
        "sell" => Side::Sell,
        _ => return Err(OkxError::parameter("side")),
    };
    let decimal = |name: &str| -> Result<Decimal, OkxError> {
        signed
            .required(name)?
            .parse()
            .map_err(|_| OkxError::parameter(name))
    };
    let client_id = signed.param("algoClOrdId").filter(|id| !id.is_empty());
    if let Some(id) = &client_id {
        let valid = id.len() <= MAX_ALGO_CLIENT_ID && id.bytes().all(|b| b.is_ascii_alphanumeric());
        if !valid {
            return Err(OkxError::parameter("algoClOrdId"));
        }
    }
    Ok(NewOrder {
        symbol: spec.symbol.clone(),
        side,
        order_type: OrderType::StopMarket,
        quantity: decimal("sz")? * spec.contract_value,
        price: None,
        stop_price: Some(decimal("triggerPx")?),
        time_in_force: TimeInForce::Gtc,
        reduce_only: signed.param("reduceOnly").as_deref() == Some("true"),
        client_order_id: client_id,
        position_side: PositionSide::Both,
    })
}

/// `GET /api/v5/trade/order-algo?algoId=…|algoClOrdId=…`.
pub(crate) async fn query(
    State(state): State<EmulatorState>,
    signed: OkxRequest,
) -> Result<Json<Value>, OkxError> {
    let key = key_by(&signed, "algoId", "algoClOrdId")?;
    let account = account_of(&signed);
    let now_ms = state.now_ms();
    for spec in state.engine().instruments() {
        if let Ok(record) = state.engine().order(&account, &spec.symbol, &key, now_ms)
            && record.order_type == OrderType::StopMarket
        {
            return Ok(envelope(vec![algo_entry(&record, &spec)]));
        }
    }
    Err(not_found())
}

/// `POST /api/v5/trade/cancel-algos`: an array of `{algoId, instId}`.
pub(crate) async fn cancel(
    State(state): State<EmulatorState>,
    signed: OkxRequest,
) -> Result<Json<Value>, OkxError> {
    signed.require_trade()?;
    let first = signed.params.get("0").cloned().unwrap_or(Value::Null);
    let text = |name: &str| first.get(name).and_then(Value::as_str).map(str::to_owned);
    let spec = instrument(
        &state,
        &text("instId").ok_or_else(|| OkxError::parameter("instId"))?,
    )?;
    let algo_id: u64 = text("algoId")
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| OkxError::parameter("algoId"))?;
    let account = account_of(&signed);
    let now_ms = state.now_ms();
    let key = OrderKey::OrderId(algo_id);
    let is_algo = state
        .engine()
        .order(&account, &spec.symbol, &key, now_ms)
        .is_ok_and(|record| record.order_type == OrderType::StopMarket);
    if !is_algo {
        return Err(not_found());
    }
    let record = state
        .engine()
        .cancel(&account, &spec.symbol, &key, now_ms)
        .map_err(|error| order_rejection(&error, Request::Cancel, "", now_ms))?;
    Ok(envelope(vec![json!({
        "algoId": record.order_id.to_string(),
        "sCode": "0",
        "sMsg": "",
    })]))
}

/// `GET /api/v5/trade/orders-algo-pending?ordType=trigger`: waiting trigger orders.
pub(crate) async fn pending(
    State(state): State<EmulatorState>,
    signed: OkxRequest,
) -> Result<Json<Value>, OkxError> {
    let wanted = signed.param("instId");
    let engine = state.engine();
    let data = engine
        .open_orders(&account_of(&signed), None, state.now_ms())
        .iter()
        .filter(|record| record.order_type == OrderType::StopMarket)
        .filter_map(|record| {
            let spec = engine.instrument(&record.symbol)?;
            let matches = wanted
                .as_ref()
                .is_none_or(|wanted| *wanted == inst_id(&spec));
            matches.then(|| algo_entry(record, &spec))
        })
        .collect();
    Ok(envelope(data))
}

fn not_found() -> OkxError {
    OkxError::business("51603", "Order does not exist")
}

/// Writes a stop-market record as OKX's algo order entry: `live` while waiting, `effective`
/// once triggered, `canceled` after a cancellation.
pub(crate) fn algo_entry(record: &OrderRecord, spec: &InstrumentSpec) -> Value {
    let state = match record.status {
        OrderStatus::New => "live",
        OrderStatus::PartiallyFilled => "partially_effective",
        OrderStatus::Filled => "effective",
        OrderStatus::Canceled | OrderStatus::Expired => "canceled",
    };
    json!({
        "instType": "SWAP",
        "instId": inst_id(spec),
        "algoId": record.order_id.to_string(),
        "algoClOrdId": record.client_order_id,
        "side": if record.side == Side::Buy { "buy" } else { "sell" },
        "ordType": "trigger",
        "state": state,
        "sz": (record.quantity / spec.contract_value).normalize().to_string(),
        "actualSz": (record.filled_quantity / spec.contract_value).normalize().to_string(),
        "actualPx": if record.filled_quantity.is_zero() {
            String::new()
        } else {
            record.average_price.normalize().to_string()
        },
        "triggerPx": record.stop_price.map(|price| price.to_string()).unwrap_or_default(),
        "orderPx": "-1",
        "tdMode": "cross",
        "reduceOnly": record.reduce_only.to_string(),
        "cTime": record.created_ms.to_string(),
        "uTime": record.updated_ms.to_string(),
    })
}
