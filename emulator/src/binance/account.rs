//! Binance account routes: balance, positions, account configuration, leverage and position
//! mode.

use std::str::FromStr;

use axum::Json;
use axum::extract::State;
use keyward_events::Exchange;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::auth::{Rejection, SignedRequest};
use super::errors::{Request, rejection};
use super::routes::require_futures;
use super::wire::{
    BalanceEntry, BracketEntry, DualSideResponse, LeverageBracketResponse, LeverageResponse,
    PositionRiskEntry,
};
use crate::engine::{AccountId, PositionMode, PositionRecord, PositionSide};
use crate::state::EmulatorState;

/// The account of a signed request's key, after checking that it may use futures.
pub(crate) fn futures_account(signed: &SignedRequest) -> Result<AccountId, Rejection> {
    require_futures(&signed.key.key)?;
    Ok(AccountId::new(
        Exchange::Binance,
        signed.key.key.api_key.clone(),
    ))
}

pub(crate) async fn balance(
    State(state): State<EmulatorState>,
    signed: SignedRequest,
) -> Result<Json<Vec<BalanceEntry>>, Rejection> {
    let account = futures_account(&signed)?;
    let balance = state.engine().balance(&account);
    let update_time = if balance.updated_ms == 0 {
        state.now_ms()
    } else {
        balance.updated_ms
    };
    Ok(Json(vec![BalanceEntry {
        account_alias: "emulator".to_owned(),
        asset: balance.asset,
        balance: balance.wallet_balance.to_string(),
        cross_wallet_balance: balance.wallet_balance.to_string(),
        cross_un_pnl: balance.unrealized_pnl.to_string(),
        available_balance: balance.available_balance.to_string(),
        max_withdraw_amount: balance.available_balance.max(Decimal::ZERO).to_string(),
        margin_available: true,
        update_time,
    }]))
}

pub(crate) async fn position_risk(
    State(state): State<EmulatorState>,
    signed: SignedRequest,
) -> Result<Json<Vec<PositionRiskEntry>>, Rejection> {
    let account = futures_account(&signed)?;
    let symbol = signed.param("symbol");
    let positions = state
        .engine()
        .positions(&account)
        .into_iter()
        .filter(|position| symbol.is_none_or(|symbol| position.symbol == symbol))
        .map(position_entry)
        .collect();
    Ok(Json(positions))
}

fn position_entry(position: PositionRecord) -> PositionRiskEntry {
    let notional = position.quantity * position.mark_price;
    PositionRiskEntry {
        position_side: position_side_text(position.position_side),
        position_amt: position.quantity.to_string(),
        entry_price: position.entry_price.to_string(),
        break_even_price: position.entry_price.to_string(),
        mark_price: position.mark_price.to_string(),
        un_realized_profit: position.unrealized_pnl.to_string(),
        liquidation_price: "0".to_owned(),
        isolated_margin: "0".to_owned(),
        notional: notional.to_string(),
        margin_asset: "USDT".to_owned(),
        isolated_wallet: "0".to_owned(),
        initial_margin: position.initial_margin.to_string(),
        maint_margin: "0".to_owned(),
        position_initial_margin: position.initial_margin.to_string(),
        open_order_initial_margin: "0".to_owned(),
        adl: 0,
        bid_notional: "0".to_owned(),
        ask_notional: "0".to_owned(),
        update_time: position.updated_ms,
        symbol: position.symbol,
    }
}

pub(crate) fn position_side_text(side: PositionSide) -> &'static str {
    match side {
        PositionSide::Both => "BOTH",
        PositionSide::Long => "LONG",
        PositionSide::Short => "SHORT",
    }
}

/// `GET /fapi/v1/accountConfig`: the account's capabilities and its position mode.
pub(crate) async fn account_config(
    State(state): State<EmulatorState>,
    signed: SignedRequest,
) -> Result<Json<Value>, Rejection> {
    let account = futures_account(&signed)?;
    let hedge = state.engine().position_mode(&account) == PositionMode::Hedge;
    Ok(Json(json!({
        "feeTier": 0,
        "canTrade": true,
        "canDeposit": true,
        "canWithdraw": true,
        "dualSidePosition": hedge,
        "updateTime": 0,
        "multiAssetsMargin": false,
        "tradeGroupId": -1,
    })))
}

pub(crate) async fn leverage(
    State(state): State<EmulatorState>,
    signed: SignedRequest,
) -> Result<Json<LeverageResponse>, Rejection> {
    let account = futures_account(&signed)?;
    let symbol = signed.required("symbol")?;
    let leverage = signed
        .required("leverage")?
        .parse::<u32>()
        .map_err(|_| Rejection::mandatory("leverage"))?;
    let change = state
        .engine()
        .set_leverage(&account, symbol, leverage)
        .map_err(|error| rejection(&error, Request::Other))?;
    Ok(Json(LeverageResponse {
        leverage: change.leverage,
        max_notional_value: change.max_notional.to_string(),
        symbol: change.symbol,
    }))
}

pub(crate) async fn leverage_bracket(
    State(state): State<EmulatorState>,
    signed: SignedRequest,
) -> Result<Json<Vec<LeverageBracketResponse>>, Rejection> {
    futures_account(&signed)?;
    let symbol = signed.param("symbol");
    let instruments = state.engine().instruments();
    let selected: Vec<_> = instruments
        .iter()
        .filter(|spec| symbol.is_none_or(|symbol| spec.symbol == symbol))
        .collect();
    if selected.is_empty() {
        return Err(rejection(
            &crate::engine::EngineError::UnknownSymbol(symbol.unwrap_or_default().to_owned()),
            Request::Other,
        ));
    }
    Ok(Json(selected.into_iter().map(brackets).collect()))
}

fn brackets(spec: &crate::engine::InstrumentSpec) -> LeverageBracketResponse {
    let number = |value: Decimal| {
        serde_json::Number::from_str(&value.normalize().to_string())
            .unwrap_or_else(|_| serde_json::Number::from(0))
    };
    let floors = spec.bracket_floors();
    let brackets = spec
        .brackets
        .iter()
        .zip(floors)
        .enumerate()
        .map(|(index, (bracket, floor))| BracketEntry {
            bracket: u32::try_from(index + 1).unwrap_or(u32::MAX),
            initial_leverage: bracket.max_leverage,
            notional_cap: number(bracket.notional_cap),
            notional_floor: number(floor),
            maint_margin_ratio: number(bracket.maint_margin_ratio),
            cum: number(Decimal::ZERO),
        })
        .collect();
    LeverageBracketResponse {
        symbol: spec.symbol.clone(),
        brackets,
    }
}

pub(crate) async fn dual_side(
    State(state): State<EmulatorState>,
    signed: SignedRequest,
) -> Result<Json<DualSideResponse>, Rejection> {
    let account = futures_account(&signed)?;
    Ok(Json(DualSideResponse {
        dual_side_position: state.engine().position_mode(&account) == PositionMode::Hedge,
    }))
}

/// `POST /fapi/v1/positionSide/dual`: answers `{"code": 200, "msg": "success"}` as Binance does.
pub(crate) async fn set_dual_side(
    State(state): State<EmulatorState>,
    signed: SignedRequest,
) -> Result<Json<Value>, Rejection> {
    let account = futures_account(&signed)?;
    let mode = match signed.required("dualSidePosition")? {
        "true" => PositionMode::Hedge,
        "false" => PositionMode::OneWay,
        _ => return Err(Rejection::mandatory("dualSidePosition")),
    };
    state
        .engine()
        .set_position_mode(&account, mode)
        .map_err(|error| rejection(&error, Request::Other))?;
    Ok(Json(json!({"code": 200, "msg": "success"})))
}
