//! Admin routes about the engine: counters, instruments, prices and accounts.

use std::str::FromStr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use keyward_events::Exchange;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{AdminError, parse_body};
use crate::engine::{
    AccountId, BalanceRecord, InstrumentSpec, OrderRecord, PositionMode, PositionRecord,
};
use crate::state::EmulatorState;

pub(super) async fn stats(State(state): State<EmulatorState>) -> Json<Value> {
    Json(json!({
        "engine": state.engine().stats(),
        "injected_faults": state.faults().injected(),
    }))
}

pub(super) async fn instruments(State(state): State<EmulatorState>) -> Json<Vec<InstrumentSpec>> {
    Json(state.engine().instruments())
}

/// Returns the last price of every instrument, by symbol.
pub(super) async fn prices(State(state): State<EmulatorState>) -> Json<Value> {
    let engine = state.engine();
    let prices: serde_json::Map<String, Value> = engine
        .instruments()
        .iter()
        .filter_map(|spec| {
            let price = engine.price(&spec.symbol)?;
            Some((spec.symbol.clone(), json!(price)))
        })
        .collect();
    Json(Value::Object(prices))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PriceChange {
    symbol: String,
    price: Decimal,
    /// Traded quantity reported with the price; 0 when absent.
    #[serde(default)]
    quantity: Decimal,
}

/// Moves a price as the feed would: resting orders it reaches fill.
pub(super) async fn set_price(
    State(state): State<EmulatorState>,
    body: Bytes,
) -> Result<Json<Value>, AdminError> {
    let change: PriceChange = parse_body(&body)?;
    if change.price <= Decimal::ZERO {
        return Err(AdminError::invalid_request(
            "price must be positive".to_owned(),
        ));
    }
    state
        .engine()
        .set_price(
            &change.symbol,
            change.price,
            change.quantity,
            state.now_ms(),
        )
        .map_err(|err| AdminError::not_found(err.to_string()))?;
    tracing::info!(symbol = %change.symbol, price = %change.price, "moved emulator price");
    Ok(Json(
        json!({"symbol": change.symbol, "price": change.price}),
    ))
}

/// An account as the admin routes show it: every order, hidden ones included.
#[derive(Debug, Serialize)]
pub(super) struct AccountView {
    balance: BalanceRecord,
    positions: Vec<PositionRecord>,
    position_mode: PositionMode,
    orders: Vec<OrderRecord>,
}

pub(super) async fn account(
    State(state): State<EmulatorState>,
    Path((exchange, api_key)): Path<(String, String)>,
) -> Result<Json<AccountView>, AdminError> {
    let account = account_id(&exchange, api_key)?;
    let engine = state.engine();
    Ok(Json(AccountView {
        balance: engine.balance(&account),
        positions: engine.positions(&account),
        position_mode: engine.position_mode(&account),
        orders: engine.all_orders(&account),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AccountSetUp {
    wallet_balance: Option<Decimal>,
    position_mode: Option<String>,
}

/// Sets an account's wallet balance or position mode (`one_way` or `hedge`).
pub(super) async fn set_up_account(
    State(state): State<EmulatorState>,
    Path((exchange, api_key)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<AccountView>, AdminError> {
    let id = account_id(&exchange, api_key.clone())?;
    let set_up: AccountSetUp = parse_body(&body)?;
    if let Some(amount) = set_up.wallet_balance {
        state.engine().set_wallet_balance(&id, amount);
    }
    if let Some(mode) = set_up.position_mode.as_deref() {
        let mode = match mode {
            "one_way" => PositionMode::OneWay,
            "hedge" => PositionMode::Hedge,
            other => {
                return Err(AdminError::invalid_request(format!(
                    "unknown position_mode {other:?}; expected one_way or hedge"
                )));
            }
        };
        let result = state.engine().set_position_mode(&id, mode);
        if let Err(err) = result
            && !matches!(err, crate::engine::EngineError::PositionModeUnchanged(_))
        {
            return Err(AdminError::invalid_request(err.to_string()));
        }
    }
    tracing::info!(exchange = %exchange, api_key = %api_key, "set up emulator account");
    account(State(state), Path((exchange, api_key))).await
}

fn account_id(exchange: &str, api_key: String) -> Result<AccountId, AdminError> {
    let exchange =
        Exchange::from_str(exchange).map_err(|err| AdminError::invalid_request(err.to_string()))?;
    Ok(AccountId::new(exchange, api_key))
}
