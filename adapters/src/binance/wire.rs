//! Binance's JSON shapes, as sent. Field names follow Binance; nothing here is a domain type.

use serde::Deserialize;

/// ReadResponse of `GET /sapi/v1/account/apiRestrictions` (spot host): what the signing key may do.
///
/// The flags keyward maps are required, so an response that lacks one (say `enableWithdrawals`)
/// fails to decode instead of reading as `false`. Flags keyward does not map are kept raw by
/// the parser.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BinanceApiRestrictions {
    pub ip_restrict: bool,
    #[serde(default)]
    pub create_time: Option<i64>,
    pub enable_reading: bool,
    pub enable_withdrawals: bool,
    pub enable_internal_transfer: bool,
    pub enable_futures: bool,
    pub permits_universal_transfer: bool,
    pub enable_spot_and_margin_trading: bool,
    /// Missing from some responses; a portfolio-margin account shows this instead of
    /// `enableFutures`.
    #[serde(default)]
    pub enable_portfolio_margin_trading: bool,
    /// Expiry of the spot and margin trading permission, in ms; present only in some responses.
    #[serde(default)]
    pub trading_authority_expiration_time: Option<i64>,
}

/// ReadResponse of `GET /fapi/v1/time` (futures host).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BinanceServerTime {
    /// Milliseconds since the Unix epoch.
    pub server_time: i64,
}

/// Error body of any Binance REST endpoint, e.g. `{"code": -2015, "msg": "…"}`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct BinanceError {
    /// Binance's error code, always negative.
    pub code: i64,
    pub msg: String,
}
