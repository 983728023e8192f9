//! Bybit v5 USDT perpetuals (`category=linear`).
//!
//! The layout matches every exchange module: `signing` (request signatures), `wire` (the JSON
//! shapes Bybit sends), `parse` (wire types into keyward's domain types), `rest` (the REST
//! client) and `ws` (websocket streams). Wire and domain types meet only in `parse`.

pub mod signing;
