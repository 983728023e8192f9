//! What one exchange's dialect provides to the emulator: its routes, how it answers injected
//! faults, and how it counts requests against its limits.
//!
//! A dialect owns its paths (Binance `/fapi` and `/sapi`, Bybit `/v5`, OKX `/api/v5`), speaks
//! only its exchange's wire shapes, checks its own signatures, and calls the shared
//! [`crate::engine::Engine`] through [`EmulatorState::engine`]. The router in
//! [`crate::server`] lists the dialects, one line each.

use std::net::IpAddr;

use axum::Router;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use keyward_events::Exchange;

use crate::faults::FaultKind;
use crate::state::EmulatorState;

/// One exchange's API in the emulator.
pub trait Dialect: Send + Sync {
    /// Returns the exchange this dialect speaks for.
    fn exchange(&self) -> Exchange;

    /// Returns whether a request path (REST or websocket) belongs to this dialect.
    fn owns(&self, path: &str) -> bool;

    /// Builds the dialect's REST and websocket routes.
    fn routes(&self) -> Router<EmulatorState>;

    /// Returns whether a request places an order: the requests that order-only faults
    /// (dropped response, unknown status, delayed visibility) hit.
    fn is_order_placement(&self, method: &Method, path: &str) -> bool;

    /// Builds the exchange's answer to an injected [`FaultKind::ServerError`],
    /// [`FaultKind::RateLimited`], [`FaultKind::IpBanned`] or [`FaultKind::UnknownStatus`].
    /// `retry_after_s` is the `Retry-After` to send with rate limits, where the exchange sends
    /// one.
    fn fault_response(&self, fault: FaultKind, retry_after_s: Option<u64>) -> Response;

    /// Counts a request against the exchange's limits before it runs. Returns the headers
    /// to add to the response (such as Binance's `X-MBX-USED-WEIGHT-1M`), or the exchange's
    /// rate-limit answer when the client is over its limit.
    ///
    /// # Errors
    /// Returns the complete rate-limit response.
    fn admit(
        &self,
        state: &EmulatorState,
        client: Option<IpAddr>,
        method: &Method,
        path: &str,
    ) -> Result<HeaderMap, Box<Response>> {
        let _ = (state, client, method, path);
        Ok(HeaderMap::new())
    }
}
