//! The JSON shapes the emulator sends, field for field as Binance sends them.

use serde::Serialize;

/// Response of `GET /sapi/v1/account/apiRestrictions`, in Binance's field order.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ApiRestrictionsResponse {
    pub ip_restrict: bool,
    pub create_time: i64,
    pub enable_reading: bool,
    pub enable_withdrawals: bool,
    pub enable_internal_transfer: bool,
    pub enable_margin: bool,
    pub enable_futures: bool,
    pub permits_universal_transfer: bool,
    pub enable_vanilla_options: bool,
    pub enable_fix_api_trade: bool,
    pub enable_fix_read_only: bool,
    pub enable_spot_and_margin_trading: bool,
    pub enable_portfolio_margin_trading: bool,
    /// Milliseconds since the Unix epoch; left out when the key has no expiry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trading_authority_expiration_time: Option<i64>,
}

/// Response of `GET /fapi/v1/time`.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ServerTimeResponse {
    pub server_time: i64,
}

/// One asset of the `GET /fapi/v3/balance` response. Amounts are decimal strings.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BalanceEntry {
    pub account_alias: String,
    pub asset: String,
    pub balance: String,
    pub cross_wallet_balance: String,
    pub cross_un_pnl: String,
    pub available_balance: String,
    pub max_withdraw_amount: String,
    pub margin_available: bool,
    pub update_time: i64,
}

/// Error body of every Binance endpoint.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ErrorResponse {
    pub code: i64,
    pub msg: String,
}
