//! Bybit routes: the router, public market endpoints and key information.

use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use super::auth::{BybitError, BybitRequest, envelope};
use super::{account, orders, streams};
use crate::engine::InstrumentSpec;
use crate::keys::EmulatorKey;
use crate::state::EmulatorState;

/// Builds the Bybit v5 routes.
pub(crate) fn routes() -> Router<EmulatorState> {
    Router::new()
        .route("/v5/market/time", get(server_time))
        .route("/v5/market/instruments-info", get(instruments_info))
        .route("/v5/market/risk-limit", get(risk_limit))
        .route("/v5/user/query-api", get(query_api))
        .route("/v5/account/wallet-balance", get(account::wallet_balance))
        .route("/v5/position/list", get(account::position_list))
        .route("/v5/position/set-leverage", post(account::set_leverage))
        .route("/v5/position/switch-mode", post(account::switch_mode))
        .route("/v5/order/create", post(orders::create))
        .route("/v5/order/cancel", post(orders::cancel))
        .route("/v5/order/realtime", get(orders::realtime))
        .route("/v5/public/linear", get(streams::public_socket))
        .route("/v5/private", get(streams::private_socket))
}

async fn server_time(State(state): State<EmulatorState>) -> Json<Value> {
    let now_ms = state.now_ms();
    let result = json!({
        "timeSecond": now_ms.div_euclid(1000).to_string(),
        "timeNano": (i128::from(now_ms) * 1_000_000).to_string(),
    });
    envelope(result, now_ms)
}

/// Checks `category=linear`, the only category the emulator lists.
pub(crate) fn require_linear(params: &Map<String, Value>) -> Result<(), BybitError> {
    match params.get("category").and_then(Value::as_str) {
        Some("linear") => Ok(()),
        _ => Err(BybitError::parameter("category")),
    }
}

fn selected(state: &EmulatorState, params: &Map<String, Value>) -> Vec<InstrumentSpec> {
    let symbol = params.get("symbol").and_then(Value::as_str);
    state
        .engine()
        .instruments()
        .into_iter()
        .filter(|spec| symbol.is_none_or(|symbol| spec.symbol == symbol))
        .collect()
}

async fn instruments_info(
    State(state): State<EmulatorState>,
    Query(params): Query<Map<String, Value>>,
) -> Result<Json<Value>, BybitError> {
    require_linear(&params)?;
    let list: Vec<Value> = selected(&state, &params).iter().map(instrument).collect();
    let result = json!({"category": "linear", "list": list, "nextPageCursor": ""});
    Ok(envelope(result, state.now_ms()))
}

fn instrument(spec: &InstrumentSpec) -> Value {
    let text = |value: Option<rust_decimal::Decimal>| value.map(|v| v.to_string());
    json!({
        "symbol": spec.symbol,
        "contractType": "LinearPerpetual",
        "status": "Trading",
        "baseCoin": spec.base_asset,
        "quoteCoin": spec.quote_asset,
        "settleCoin": spec.quote_asset,
        "priceScale": spec.tick_size.normalize().scale().to_string(),
        "leverageFilter": {
            "minLeverage": "1",
            "maxLeverage": format!("{}.00", spec.max_leverage()),
            "leverageStep": "0.01",
        },
        "priceFilter": {
            "minPrice": text(spec.min_price).unwrap_or_else(|| spec.tick_size.to_string()),
            "maxPrice": text(spec.max_price).unwrap_or_else(|| "1999999.80".to_owned()),
            "tickSize": spec.tick_size.to_string(),
        },
        "lotSizeFilter": {
            "maxOrderQty": text(spec.max_quantity).unwrap_or_else(|| "1000000".to_owned()),
            "minOrderQty": spec.min_quantity.to_string(),
            "qtyStep": spec.step_size.to_string(),
            "maxMktOrderQty": text(spec.max_market_quantity.or(spec.max_quantity))
                .unwrap_or_else(|| "1000000".to_owned()),
            "minNotionalValue": text(spec.min_notional).unwrap_or_else(|| "0".to_owned()),
        },
        "fundingInterval": 480,
    })
}

/// `GET /v5/market/risk-limit`: one entry per leverage tier, as Bybit lists risk limits.
async fn risk_limit(
    State(state): State<EmulatorState>,
    Query(params): Query<Map<String, Value>>,
) -> Result<Json<Value>, BybitError> {
    require_linear(&params)?;
    let mut list = Vec::new();
    for spec in selected(&state, &params) {
        for (index, bracket) in spec.brackets.iter().enumerate() {
            list.push(json!({
                "id": index + 1,
                "symbol": spec.symbol,
                "riskLimitValue": bracket.notional_cap.to_string(),
                "maintenanceMargin": bracket.maint_margin_ratio.to_string(),
                "initialMargin": (rust_decimal::Decimal::ONE
                    / rust_decimal::Decimal::from(bracket.max_leverage.max(1)))
                .round_dp(4)
                .to_string(),
                "isLowestRisk": i32::from(index == 0),
                "maxLeverage": format!("{}.00", bracket.max_leverage),
            }));
        }
    }
    Ok(envelope(
        json!({"category": "linear", "list": list}),
        state.now_ms(),
    ))
}

async fn query_api(State(state): State<EmulatorState>, signed: BybitRequest) -> Json<Value> {
    envelope(
        key_information(&signed.key.key, signed.key.created_at_ms),
        state.now_ms(),
    )
}

/// Builds Bybit's key information from a key's flags. A key with futures trading gets both
/// `ContractTrade` and `Derivatives`, as on a unified trading account; withdrawal and transfer
/// show in `Wallet`.
pub fn key_information(key: &EmulatorKey, created_at_ms: i64) -> Value {
    let trade = key.futures || key.spot;
    let mut wallet = Vec::new();
    if key.transfer {
        wallet.push("AccountTransfer");
    }
    if key.withdraw {
        wallet.push("Withdraw");
    }
    let ips: Vec<String> = if key.ip_allowlist.is_empty() {
        vec!["*".to_owned()]
    } else {
        key.ip_allowlist.iter().map(ToString::to_string).collect()
    };
    let expired_at = key.expires_at.map_or_else(
        || "1970-01-01T00:00:00Z".to_owned(),
        |at| at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    );
    let created_at = chrono::DateTime::from_timestamp_millis(created_at_ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    json!({
        "id": "1000001",
        "note": key.label.clone().unwrap_or_default(),
        "apiKey": key.api_key,
        "readOnly": i32::from(!trade),
        "secret": "",
        "permissions": {
            "ContractTrade": if key.futures { vec!["Order", "Position"] } else { vec![] },
            "Derivatives": if key.futures { vec!["DerivativesTrade"] } else { vec![] },
            "Spot": if key.spot { vec!["SpotTrade"] } else { vec![] },
            "Wallet": wallet,
            "Options": [],
            "Exchange": [],
            "Earn": [],
        },
        "ips": ips,
        "type": 1,
        "deadlineDay": if key.expires_at.is_some() { 30 } else { -2 },
        "expiredAt": expired_at,
        "createdAt": created_at,
        "unified": 0,
        "uta": 1,
        "userID": 10_000_001,
        "isMaster": true,
        "parentUid": "0",
    })
}
