//! Binance USDT-M futures, plus the spot host's key-permission call.
//!
//! Every exchange module has the same layout: `signing` (request signatures), `wire` (the JSON
//! shapes Binance sends), `parse` (wire types into keyward's domain types), `rest` (the REST
//! client) and `ws` (websocket streams). Wire and domain types meet only in `parse`.

pub mod parse;
mod rest;
pub mod signing;
pub mod wire;
mod ws;

pub use rest::BinanceClient;

/// Path of the key-permission endpoint on the spot host.
pub const API_RESTRICTIONS_PATH: &str = "/sapi/v1/account/apiRestrictions";
/// Path of the server time endpoint on the futures host.
pub const SERVER_TIME_PATH: &str = "/fapi/v1/time";
/// Receive window sent with signed requests, in milliseconds (Binance's default).
pub const RECV_WINDOW_MS: u64 = 5000;
/// Request weight per minute keyward allows itself on the futures host: Binance publishes
/// 2400 per address, and the rest is left for other programs on the same address.
pub const FUTURES_WEIGHT_PER_MINUTE: u32 = 2000;
/// New orders per 10 seconds and per minute that Binance allows one account, as its
/// `exchangeInfo` publishes them (`ORDERS` limits). New orders count against these instead of
/// the address's request weight.
pub const ORDERS_PER_10_SECONDS: u32 = 300;
/// See [`ORDERS_PER_10_SECONDS`].
pub const ORDERS_PER_MINUTE: u32 = 1200;
/// Request weight per minute keyward allows itself on the spot host's `/sapi` endpoints, far
/// below Binance's 12,000 per endpoint, because keyward calls only the key check there.
pub const SPOT_WEIGHT_PER_MINUTE: u32 = 600;
