//! OKX v5 USDT-margined perpetual swaps (`instType=SWAP`, e.g. `BTC-USDT-SWAP`).
//!
//! The layout matches every exchange module: `signing` (request signatures), `wire` (the JSON
//! shapes OKX sends), `parse` (wire types into keyward's domain types), `rest` (the REST
//! client) and `ws` (websocket streams). Wire and domain types meet only in `parse`.

pub mod parse;
mod rest;
pub mod signing;
pub mod wire;
mod ws;

pub use rest::OkxClient;

/// Requests per 2 seconds keyward allows itself on the host, across endpoints.
// NOTE: OKX limits each endpoint separately (5 to 60 per 2 s per user); this one budget is
// keyward's own cap, not OKX's.
pub const REQUESTS_PER_2_SECONDS: u32 = 300;
/// New orders per 2 seconds keyward sends for one account: OKX allows 60 per user and
/// instrument on `trade/order`.
pub const ORDERS_PER_2_SECONDS: u32 = 60;
