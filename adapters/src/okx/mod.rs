//! OKX v5 USDT-margined perpetual swaps (`instType=SWAP`, e.g. `BTC-USDT-SWAP`).
//!
//! The layout matches every exchange module: `signing` (request signatures), `wire` (the JSON
//! shapes OKX sends), `parse` (wire types into keyward's domain types), `rest` (the REST
//! client) and `ws` (websocket streams). Wire and domain types meet only in `parse`.

pub mod signing;
