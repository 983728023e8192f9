//! Bybit account routes: wallet balance, positions, leverage and position mode.

use axum::Json;
use axum::extract::State;
use keyward_events::Exchange;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value, json};

use super::auth::{BybitError, BybitRequest, envelope};
use super::errors::rejection;
use super::routes::require_linear;
use crate::engine::{AccountId, BalanceRecord, PositionMode, PositionRecord, PositionSide};
use crate::state::EmulatorState;

/// Returns the account of a signed request's key.
pub(crate) fn account_of(signed: &BybitRequest) -> AccountId {
    AccountId::new(Exchange::Bybit, signed.key.key.api_key.clone())
}

/// `GET /v5/account/wallet-balance?accountType=UNIFIED`: the USDT coin of a unified account.
/// Margin held by positions and orders shows as `totalPositionIM`.
pub(crate) async fn wallet_balance(
    State(state): State<EmulatorState>,
    signed: BybitRequest,
) -> Result<Json<Value>, BybitError> {
    if signed.param("accountType").as_deref() != Some("UNIFIED") {
        return Err(BybitError::parameter("accountType"));
    }
    let balance = state.engine().balance(&account_of(&signed));
    Ok(envelope(
        json!({"list": [wallet_json(&balance)]}),
        state.now_ms(),
    ))
}

/// Writes a balance as Bybit's unified account entry with its one coin.
pub(crate) fn wallet_json(balance: &BalanceRecord) -> Value {
    let equity = balance.wallet_balance + balance.unrealized_pnl;
    let margin = (equity - balance.available_balance).max(Decimal::ZERO);
    let coin = json!({
        "coin": balance.asset,
        "equity": equity.to_string(),
        "walletBalance": balance.wallet_balance.to_string(),
        "unrealisedPnl": balance.unrealized_pnl.to_string(),
        "totalPositionIM": margin.to_string(),
        "totalOrderIM": "0",
        "locked": "0",
        "usdValue": equity.to_string(),
        "cumRealisedPnl": "0",
    });
    json!({
        "accountType": "UNIFIED",
        "totalEquity": equity.to_string(),
        "totalWalletBalance": balance.wallet_balance.to_string(),
        "totalMarginBalance": equity.to_string(),
        "totalAvailableBalance": balance.available_balance.to_string(),
        "totalPerpUPL": balance.unrealized_pnl.to_string(),
        "totalInitialMargin": margin.to_string(),
        "coin": [coin],
    })
}

/// `GET /v5/position/list`: with `symbol`, the instrument's positions even when flat (as Bybit
/// lists them), otherwise the open ones of `settleCoin`.
pub(crate) async fn position_list(
    State(state): State<EmulatorState>,
    signed: BybitRequest,
) -> Result<Json<Value>, BybitError> {
    require_linear(&signed.params)?;
    let account = account_of(&signed);
    let symbol = signed.param("symbol");
    if symbol.is_none() && signed.param("settleCoin").is_none() {
        return Err(BybitError::parameter("symbol or settleCoin"));
    }
    let engine = state.engine();
    let mut positions: Vec<PositionRecord> = engine
        .positions(&account)
        .into_iter()
        .filter(|position| {
            symbol
                .as_ref()
                .is_none_or(|symbol| &position.symbol == symbol)
        })
        .collect();
    if let Some(symbol) = &symbol
        && positions.is_empty()
    {
        let spec = engine
            .instrument(symbol)
            .ok_or_else(|| BybitError::parameter("symbol"))?;
        let sides = match engine.position_mode(&account) {
            PositionMode::OneWay => vec![PositionSide::Both],
            PositionMode::Hedge => vec![PositionSide::Long, PositionSide::Short],
        };
        positions = sides
            .into_iter()
            .map(|side| PositionRecord {
                symbol: symbol.clone(),
                position_side: side,
                quantity: Decimal::ZERO,
                entry_price: Decimal::ZERO,
                mark_price: engine.price(symbol).unwrap_or(spec.price),
                unrealized_pnl: Decimal::ZERO,
                leverage: engine.leverage(&account, symbol),
                initial_margin: Decimal::ZERO,
                updated_ms: 0,
            })
            .collect();
    }
    let list: Vec<Value> = positions.iter().map(position_json).collect();
    let result = json!({"category": "linear", "list": list, "nextPageCursor": ""});
    Ok(envelope(result, state.now_ms()))
}

/// Writes a position record as Bybit's position entry.
pub(crate) fn position_json(position: &PositionRecord) -> Value {
    let side = if position.quantity > Decimal::ZERO {
        "Buy"
    } else if position.quantity < Decimal::ZERO {
        "Sell"
    } else {
        ""
    };
    let position_idx = match position.position_side {
        PositionSide::Both => 0,
        PositionSide::Long => 1,
        PositionSide::Short => 2,
    };
    json!({
        "positionIdx": position_idx,
        "symbol": position.symbol,
        "side": side,
        "size": position.quantity.abs().to_string(),
        "avgPrice": position.entry_price.to_string(),
        "positionValue": (position.quantity.abs() * position.entry_price).to_string(),
        "leverage": position.leverage.to_string(),
        "markPrice": position.mark_price.to_string(),
        "liqPrice": "",
        "unrealisedPnl": position.unrealized_pnl.to_string(),
        "positionIM": position.initial_margin.to_string(),
        "positionStatus": "Normal",
        "tpslMode": "Full",
        "updatedTime": position.updated_ms.to_string(),
    })
}

/// `POST /v5/position/set-leverage`: in one-way mode the buy and sell leverage must be equal.
/// An unchanged leverage is 110043, as on Bybit.
pub(crate) async fn set_leverage(
    State(state): State<EmulatorState>,
    signed: BybitRequest,
) -> Result<Json<Value>, BybitError> {
    require_linear(&signed.params)?;
    signed.require_trade()?;
    let symbol = signed.required("symbol")?;
    let buy = signed.required("buyLeverage")?;
    let sell = signed.required("sellLeverage")?;
    if buy != sell {
        return Err(BybitError::parameter("buyLeverage must equal sellLeverage"));
    }
    let leverage = buy
        .parse::<Decimal>()
        .ok()
        .filter(|leverage| leverage.fract().is_zero())
        .and_then(|leverage| leverage.to_u32())
        .ok_or_else(|| BybitError::parameter("buyLeverage"))?;
    let change = state
        .engine()
        .set_leverage(&account_of(&signed), &symbol, leverage)
        .map_err(|error| rejection(&error))?;
    if !change.changed {
        return Err(BybitError::new(
            110043,
            "Set leverage has not been modified.",
        ));
    }
    Ok(envelope(json!({}), state.now_ms()))
}

/// `POST /v5/position/switch-mode`: `mode` 0 is one-way, 3 both sides (hedge).
pub(crate) async fn switch_mode(
    State(state): State<EmulatorState>,
    signed: BybitRequest,
) -> Result<Json<Value>, BybitError> {
    require_linear(&signed.params)?;
    signed.require_trade()?;
    if signed.param("symbol").is_none() && signed.param("coin").is_none() {
        return Err(BybitError::parameter("symbol or coin"));
    }
    let mode = match signed.required("mode")?.as_str() {
        "0" => PositionMode::OneWay,
        "3" => PositionMode::Hedge,
        _ => return Err(BybitError::parameter("mode")),
    };
    state
        .engine()
        .set_position_mode(&account_of(&signed), mode)
        .map_err(|error| rejection(&error))?;
    Ok(envelope(json!({}), state.now_ms()))
}
