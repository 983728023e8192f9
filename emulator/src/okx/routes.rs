//! OKX routes: the router, public endpoints, account configuration and instruments.

use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::auth::{OkxError, OkxRequest, envelope};
use super::{account, algo, orders, streams};
use crate::engine::{AccountId, InstrumentSpec, PositionMode};
use crate::keys::EmulatorKey;
use crate::state::EmulatorState;

/// Builds the OKX v5 routes.
pub(crate) fn routes() -> Router<EmulatorState> {
    Router::new()
        .route("/api/v5/public/time", get(server_time))
        .route("/api/v5/public/instruments", get(instruments))
        .route("/api/v5/public/position-tiers", get(position_tiers))
        .route("/api/v5/market/ticker", get(ticker))
        .route("/api/v5/account/config", get(config))
        .route("/api/v5/account/balance", get(account::balance))
        .route("/api/v5/account/positions", get(account::positions))
        .route("/api/v5/account/set-leverage", post(account::set_leverage))
        .route(
            "/api/v5/account/set-position-mode",
            post(account::set_position_mode),
        )
        .route(
            "/api/v5/trade/order",
            post(orders::place).get(orders::query),
        )
        .route("/api/v5/trade/cancel-order", post(orders::cancel))
        .route("/api/v5/trade/orders-pending", get(orders::pending))
        .route(
            "/api/v5/trade/order-algo",
            post(algo::place).get(algo::query),
        )
        .route("/api/v5/trade/cancel-algos", post(algo::cancel))
        .route("/api/v5/trade/orders-algo-pending", get(algo::pending))
        .route("/ws/v5/public", get(streams::public_socket))
        .route("/ws/v5/business", get(streams::public_socket))
        .route("/ws/v5/private", get(streams::private_socket))
}

async fn server_time(State(state): State<EmulatorState>) -> Json<Value> {
    envelope(vec![json!({"ts": state.now_ms().to_string()})])
}

/// Returns OKX's instrument id of a perpetual, e.g. `BTC-USDT-SWAP`.
pub(crate) fn inst_id(spec: &InstrumentSpec) -> String {
    format!("{}-{}-SWAP", spec.base_asset, spec.quote_asset)
}

/// Finds the instrument of an OKX instrument id.
///
/// # Errors
/// Returns 51001 for an id the emulator does not list.
pub(crate) fn instrument(state: &EmulatorState, id: &str) -> Result<InstrumentSpec, OkxError> {
    state
        .engine()
        .instruments()
        .into_iter()
        .find(|spec| inst_id(spec) == id)
        .ok_or_else(|| OkxError::business("51001", "Instrument ID or Spread ID doesn't exist."))
}

/// Checks `instType=SWAP`, the only type the emulator lists.
pub(crate) fn require_swap(params: &Map<String, Value>) -> Result<(), OkxError> {
    match params.get("instType").and_then(Value::as_str) {
        Some("SWAP") => Ok(()),
        _ => Err(OkxError::parameter("instType")),
    }
}

async fn instruments(
    State(state): State<EmulatorState>,
    Query(params): Query<Map<String, Value>>,
) -> Result<Json<Value>, OkxError> {
    require_swap(&params)?;
    let wanted = params.get("instId").and_then(Value::as_str);
    let data: Vec<Value> = state
        .engine()
        .instruments()
        .iter()
        .filter(|spec| wanted.is_none_or(|wanted| inst_id(spec) == wanted))
        .map(instrument_entry)
        .collect();
    Ok(envelope(data))
}

/// Writes an instrument in contracts of `contract_value`: sizes are the base-asset rules
/// divided by it.
fn instrument_entry(spec: &InstrumentSpec) -> Value {
    let contracts = |base: Decimal| (base / spec.contract_value).normalize().to_string();
    json!({
        "instType": "SWAP",
        "instId": inst_id(spec),
        "uly": format!("{}-{}", spec.base_asset, spec.quote_asset),
        "instFamily": format!("{}-{}", spec.base_asset, spec.quote_asset),
        "settleCcy": spec.quote_asset,
        "ctVal": spec.contract_value.normalize().to_string(),
        "ctMult": "1",
        "ctValCcy": spec.base_asset,
        "ctType": "linear",
        "lever": spec.max_leverage().to_string(),
        "tickSz": spec.tick_size.normalize().to_string(),
        "lotSz": contracts(spec.step_size),
        "minSz": contracts(spec.min_quantity),
        "maxLmtSz": spec.max_quantity.map(contracts).unwrap_or_else(|| "100000000".to_owned()),
        "maxMktSz": spec
            .max_market_quantity
            .or(spec.max_quantity)
            .map(contracts)
            .unwrap_or_else(|| "100000000".to_owned()),
        "state": "live",
        "listTime": "1611916828000",
        "expTime": "",
    })
}

/// `GET /api/v5/public/position-tiers?instType=SWAP&tdMode=cross&instFamily=BTC-USDT`: the
/// leverage tiers, sized in contracts at the instrument's current price.
async fn position_tiers(
    State(state): State<EmulatorState>,
    Query(params): Query<Map<String, Value>>,
) -> Result<Json<Value>, OkxError> {
    require_swap(&params)?;
    let family = params
        .get("instFamily")
        .or_else(|| params.get("uly"))
        .and_then(Value::as_str)
        .ok_or_else(|| OkxError::parameter("instFamily"))?;
    let spec = instrument(&state, &format!("{family}-SWAP"))?;
    let price = state.engine().price(&spec.symbol).unwrap_or(spec.price);
    let contracts = |notional: Decimal| {
        (notional / (price * spec.contract_value))
            .floor()
            .to_string()
    };
    let floors = spec.bracket_floors();
    let data = spec
        .brackets
        .iter()
        .zip(floors)
        .enumerate()
        .map(|(index, (bracket, floor))| {
            json!({
                "instFamily": family,
                "tier": (index + 1).to_string(),
                "minSz": contracts(floor),
                "maxSz": contracts(bracket.notional_cap),
                "mmr": bracket.maint_margin_ratio.to_string(),
                "imr": (Decimal::ONE / Decimal::from(bracket.max_leverage.max(1)))
                    .round_dp(4)
                    .to_string(),
                "maxLever": bracket.max_leverage.to_string(),
            })
        })
        .collect();
    Ok(envelope(data))
}

/// `GET /api/v5/market/ticker?instId=BTC-USDT-SWAP`: the last price.
async fn ticker(
    State(state): State<EmulatorState>,
    Query(params): Query<Map<String, Value>>,
) -> Result<Json<Value>, OkxError> {
    let id = params
        .get("instId")
        .and_then(Value::as_str)
        .ok_or_else(|| OkxError::parameter("instId"))?;
    let spec = instrument(&state, id)?;
    let last = state.engine().price(&spec.symbol).unwrap_or(spec.price);
    Ok(envelope(vec![json!({
        "instType": "SWAP",
        "instId": id,
        "last": last.to_string(),
        "ts": state.now_ms().to_string(),
    })]))
}

async fn config(State(state): State<EmulatorState>, signed: OkxRequest) -> Json<Value> {
    let account = AccountId::new(
        keyward_events::Exchange::Okx,
        signed.key.key.api_key.clone(),
    );
    let hedge = state.engine().position_mode(&account) == PositionMode::Hedge;
    envelope(vec![account_config(&signed.key.key, hedge)])
}

/// Builds OKX's account configuration from a key's flags: `perm` lists `read_only`, `trade`
/// (futures or spot trading, which on OKX also covers transfers) and `withdraw`, and `ip` the
/// allowlist.
pub fn account_config(key: &EmulatorKey, hedge: bool) -> Value {
    let mut perm = vec!["read_only"];
    if key.withdraw {
        perm.push("withdraw");
    }
    if key.futures || key.spot || key.transfer {
        perm.push("trade");
    }
    let ip: Vec<String> = key.ip_allowlist.iter().map(ToString::to_string).collect();
    json!({
        "acctLv": "2",
        "posMode": if hedge { "long_short_mode" } else { "net_mode" },
        "autoLoan": false,
        "ctIsoMode": "automatic",
        "mgnIsoMode": "automatic",
        "greeksType": "PA",
        "level": "Lv1",
        "label": key.label.clone().unwrap_or_default(),
        "perm": perm.join(","),
        "ip": ip.join(","),
        "type": "0",
        "uid": "100000000000000001",
        "mainUid": "100000000000000001",
        "roleType": "0",
        "opAuth": "1",
    })
}
