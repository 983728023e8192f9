//! Bybit v5 USDT perpetuals (`category=linear`).
//!
//! The layout matches every exchange module: `signing` (request signatures), `wire` (the JSON
//! shapes Bybit sends), `parse` (wire types into keyward's domain types), `rest` (the REST
//! client) and `ws` (websocket streams). Wire and domain types meet only in `parse`.

pub mod parse;
mod rest;
pub mod signing;
pub mod wire;
mod ws;

pub use rest::BybitClient;

/// Requests per 5 seconds keyward allows itself on the host: Bybit allows 600 per address
/// and bans the address for at least 10 minutes past that, so some is left for other
/// programs on the same address.
pub const IP_REQUESTS_PER_5_SECONDS: u32 = 500;
/// New orders per second keyward sends for one account: Bybit's default for linear
/// `order/create` is 10 per second per account.
pub const ORDERS_PER_SECOND: u32 = 10;
/// Other signed requests per second keyward sends for one account: Bybit allows 50 per second
/// on `order/realtime`, `position/list` and `wallet-balance`, and fewer on the rest.
pub const ACCOUNT_REQUESTS_PER_SECOND: u32 = 50;
