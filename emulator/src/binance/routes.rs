//! Binance routes: server time, ping, key permissions and the futures balance.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::auth::{AuthenticatedKey, Rejection};
use super::wire::{ApiRestrictionsResponse, BalanceEntry, ServerTimeResponse};
use crate::keys::EmulatorKey;
use crate::state::EmulatorState;

// NOTE: every key reports the same made-up balance until the emulator keeps accounts.
const DEMO_USDT_BALANCE: &str = "10000.00000000";

/// Builds the Binance routes, on one host for both the futures and the spot API.
pub(crate) fn routes() -> Router<EmulatorState> {
    Router::new()
        .route("/fapi/v1/time", get(server_time))
        .route("/fapi/v1/ping", get(ping))
        .route("/sapi/v1/account/apiRestrictions", get(api_restrictions))
        .route("/fapi/v3/balance", get(balance))
}

async fn server_time(State(state): State<EmulatorState>) -> Json<ServerTimeResponse> {
    Json(ServerTimeResponse {
        server_time: state.now_ms(),
    })
}

async fn ping() -> Json<Value> {
    Json(json!({}))
}

async fn api_restrictions(
    AuthenticatedKey(stored): AuthenticatedKey,
) -> Json<ApiRestrictionsResponse> {
    Json(restrictions_answer(&stored.key, stored.created_at_ms))
}

/// Builds Binance's key-permission response from a key's flags. Margin, options and FIX trading are not
/// emulated and always read `false`.
pub(crate) fn restrictions_answer(
    key: &EmulatorKey,
    created_at_ms: i64,
) -> ApiRestrictionsResponse {
    ApiRestrictionsResponse {
        ip_restrict: !key.ip_allowlist.is_empty(),
        create_time: created_at_ms,
        enable_reading: key.read,
        enable_withdrawals: key.withdraw,
        enable_internal_transfer: key.transfer,
        enable_margin: false,
        enable_futures: key.futures,
        permits_universal_transfer: key.transfer,
        enable_vanilla_options: false,
        enable_fix_api_trade: false,
        enable_fix_read_only: false,
        enable_spot_and_margin_trading: key.spot,
        enable_portfolio_margin_trading: false,
        trading_authority_expiration_time: key.expires_at.map(|at| at.timestamp_millis()),
    }
}

/// Returns the futures balance, which needs a key with reading and futures enabled, as on
/// Binance.
async fn balance(
    State(state): State<EmulatorState>,
    AuthenticatedKey(stored): AuthenticatedKey,
) -> Result<Json<Vec<BalanceEntry>>, Rejection> {
    if !(stored.key.read && stored.key.futures) {
        return Err(Rejection::invalid_key());
    }
    let entry = BalanceEntry {
        account_alias: "emulator".to_owned(),
        asset: "USDT".to_owned(),
        balance: DEMO_USDT_BALANCE.to_owned(),
        cross_wallet_balance: DEMO_USDT_BALANCE.to_owned(),
        cross_un_pnl: "0.00000000".to_owned(),
        available_balance: DEMO_USDT_BALANCE.to_owned(),
        max_withdraw_amount: DEMO_USDT_BALANCE.to_owned(),
        margin_available: true,
        update_time: state.now_ms(),
    };
    Ok(Json(vec![entry]))
}
