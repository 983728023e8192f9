//! OKX account routes: balance, positions, leverage and position mode.

use axum::Json;
use axum::extract::State;
use keyward_events::Exchange;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value, json};

use super::auth::{OkxError, OkxRequest, envelope};
use super::errors::{Request, rejection};
use super::routes::{inst_id, instrument, require_swap};
use crate::engine::{
    AccountId, BalanceRecord, EngineError, InstrumentSpec, PositionMode, PositionRecord,
    PositionSide,
};
use crate::state::EmulatorState;

/// Returns the account of a signed request's key.
pub(crate) fn account_of(signed: &OkxRequest) -> AccountId {
    AccountId::new(Exchange::Okx, signed.key.key.api_key.clone())
}

/// `GET /api/v5/account/balance`: the USDT detail of the trading account.
pub(crate) async fn balance(
    State(state): State<EmulatorState>,
    signed: OkxRequest,
) -> Result<Json<Value>, OkxError> {
    let mut balance = state.engine().balance(&account_of(&signed));
    if balance.updated_ms == 0 {
        balance.updated_ms = state.now_ms();
    }
    Ok(envelope(vec![balance_json(&balance)]))
}

/// Writes a balance as OKX's trading account entry with its one currency detail.
pub(crate) fn balance_json(balance: &BalanceRecord) -> Value {
    let equity = balance.wallet_balance + balance.unrealized_pnl;
    let frozen = (equity - balance.available_balance).max(Decimal::ZERO);
    let updated = balance.updated_ms;
    let detail = json!({
        "ccy": balance.asset,
        "eq": equity.to_string(),
        "cashBal": balance.wallet_balance.to_string(),
        "availBal": balance.available_balance.to_string(),
        "availEq": balance.available_balance.to_string(),
        "frozenBal": frozen.to_string(),
        "ordFrozen": "0",
        "upl": balance.unrealized_pnl.to_string(),
        "uTime": updated.to_string(),
    });
    json!({
        "totalEq": equity.to_string(),
        "upl": balance.unrealized_pnl.to_string(),
        "uTime": updated.to_string(),
        "details": [detail],
    })
}

/// `GET /api/v5/account/positions`: open positions, sizes in contracts (signed in net mode).
pub(crate) async fn positions(
    State(state): State<EmulatorState>,
    signed: OkxRequest,
) -> Result<Json<Value>, OkxError> {
    if signed.param("instType").is_some() {
        require_swap(&signed.params)?;
    }
    let wanted = signed.param("instId");
    let engine = state.engine();
    let mut data = Vec::new();
    for position in engine.positions(&account_of(&signed)) {
        let Some(spec) = engine.instrument(&position.symbol) else {
            continue;
        };
        if wanted
            .as_ref()
            .is_some_and(|wanted| *wanted != inst_id(&spec))
        {
            continue;
        }
        data.push(position_json(&position, &spec));
    }
    Ok(envelope(data))
}

/// `POST /api/v5/account/set-leverage`: returns the leverage, also when it was already set.
pub(crate) async fn set_leverage(
    State(state): State<EmulatorState>,
    signed: OkxRequest,
) -> Result<Json<Value>, OkxError> {
    signed.require_trade()?;
    let id = signed.required("instId")?;
    let margin_mode = signed.required("mgnMode")?;
    if !matches!(margin_mode.as_str(), "cross" | "isolated") {
        return Err(OkxError::parameter("mgnMode"));
    }
    let leverage = signed
        .required("lever")?
        .parse::<Decimal>()
        .ok()
        .filter(|lever| lever.fract().is_zero())
        .and_then(|lever| lever.to_u32())
        .ok_or_else(|| OkxError::parameter("lever"))?;
    let spec = instrument(&state, &id)?;
    let change = state
        .engine()
        .set_leverage(&account_of(&signed), &spec.symbol, leverage)
        .map_err(|error| rejection(&error, Request::Other))?;
    Ok(envelope(vec![json!({
        "lever": change.leverage.to_string(),
        "mgnMode": margin_mode,
        "instId": id,
        "posSide": signed.param("posSide").unwrap_or_default(),
    })]))
}

/// `POST /api/v5/account/set-position-mode`: `net_mode` or `long_short_mode`; setting the mode
/// the account already has succeeds.
pub(crate) async fn set_position_mode(
    State(state): State<EmulatorState>,
    signed: OkxRequest,
) -> Result<Json<Value>, OkxError> {
    signed.require_trade()?;
    let text = signed.required("posMode")?;
    let mode = match text.as_str() {
        "net_mode" => PositionMode::OneWay,
        "long_short_mode" => PositionMode::Hedge,
        _ => return Err(OkxError::parameter("posMode")),
    };
    match state.engine().set_position_mode(&account_of(&signed), mode) {
        Ok(()) | Err(EngineError::PositionModeUnchanged(_)) => {
            Ok(envelope(vec![json!({"posMode": text})]))
        }
        Err(error) => Err(rejection(&error, Request::Other)),
    }
}

/// Writes a position record as OKX's position entry, the size in contracts (signed in net
/// mode).
pub(crate) fn position_json(position: &PositionRecord, spec: &InstrumentSpec) -> Value {
    let contracts = position.quantity / spec.contract_value;
    let (pos_side, pos) = match position.position_side {
        PositionSide::Both => ("net", contracts),
        PositionSide::Long => ("long", contracts.abs()),
        PositionSide::Short => ("short", contracts.abs()),
    };
    json!({
        "instType": "SWAP",
        "instId": inst_id(spec),
        "mgnMode": "cross",
        "posSide": pos_side,
        "pos": pos.normalize().to_string(),
        "avgPx": position.entry_price.to_string(),
        "markPx": position.mark_price.to_string(),
        "upl": position.unrealized_pnl.to_string(),
        "lever": position.leverage.to_string(),
        "liqPx": "",
        "imr": position.initial_margin.to_string(),
        "ccy": spec.quote_asset,
        "uTime": position.updated_ms.to_string(),
    })
}
