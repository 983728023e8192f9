//! Binance USDT-M futures, plus the spot host's key-permission call.
//!
//! Every exchange module has the same layout: `signing` (request signatures), `wire` (the JSON
//! shapes Binance sends), `parse` (wire types into keyward's domain types) and `rest` (the
//! client). Wire and domain types meet only in `parse`.

pub mod parse;
mod rest;
pub mod signing;
pub mod wire;

pub use rest::BinanceClient;

/// Path of the key-permission endpoint on the spot host.
pub const API_RESTRICTIONS_PATH: &str = "/sapi/v1/account/apiRestrictions";
/// Path of the server time endpoint on the futures host.
pub const SERVER_TIME_PATH: &str = "/fapi/v1/time";
/// Receive window sent with signed requests, in milliseconds (Binance's default).
pub const RECV_WINDOW_MS: u64 = 5000;
