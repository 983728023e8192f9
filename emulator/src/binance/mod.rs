//! Binance USDT-M futures and the spot key-permission endpoint, in Binance's wire format.
//!
//! Signature checks and wire shapes here are written apart from keyward's adapter, so a
//! mistake in one shows up as a failure against the other.

mod auth;
mod routes;
pub mod signing;
pub mod wire;

pub(crate) use auth::client_ip;
pub use auth::{AuthenticatedKey, Rejection, authenticate};
pub(crate) use routes::routes;

/// Weight each route counts against the client's per-minute budget.
pub(crate) fn route_weight(path: &str) -> u32 {
    match path {
        "/fapi/v3/balance" => 5,
        path if path.starts_with("/_emulator/") => 0,
        _ => 1,
    }
}
