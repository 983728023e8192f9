//! OKX v5 perpetual swaps, in OKX's wire format.
//!
//! Signature checks and wire shapes here are written apart from keyward's adapter, so a
//! mistake in one shows up as a failure against the other.

mod account;
mod algo;
mod auth;
mod errors;
mod orders;
mod routes;
pub mod signing;
mod streams;

use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use keyward_events::Exchange;

pub use auth::{OkxError, OkxRequest, authenticate};
pub use routes::account_config;

use crate::dialect::Dialect;
use crate::faults::FaultKind;

/// The OKX dialect.
// NOTE: OKX's per-endpoint limits (requests per 2 s per user) are not counted; 50011 comes
// only from injected faults.
#[derive(Clone, Copy, Debug, Default)]
pub struct Okx;

impl Dialect for Okx {
    fn exchange(&self) -> Exchange {
        Exchange::Okx
    }

    fn owns(&self, path: &str) -> bool {
        path.starts_with("/api/v5/") || path.starts_with("/ws/v5/")
    }

    fn routes(&self) -> axum::Router<crate::state::EmulatorState> {
        routes::routes()
    }

    fn is_order_placement(&self, method: &Method, path: &str) -> bool {
        method == Method::POST && matches!(path, "/api/v5/trade/order" | "/api/v5/trade/order-algo")
    }

    /// Rate limits are 50011 with HTTP 429, server failures 50001 with HTTP 503, and an unknown
    /// outcome 50004 ("endpoint request timeout") with HTTP 504.
    fn fault_response(&self, fault: FaultKind, retry_after_s: Option<u64>) -> Response {
        let error = match fault {
            FaultKind::RateLimited | FaultKind::IpBanned => {
                OkxError::new(StatusCode::TOO_MANY_REQUESTS, "50011", "Too Many Requests")
            }
            FaultKind::UnknownStatus => OkxError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "50004",
                "Endpoint request timeout (does not mean that the request was successful or failed, please check the request result).",
            ),
            _ => OkxError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "50001",
                "Service temporarily unavailable. Try again later",
            ),
        };
        let mut response = error.into_response();
        let limited = matches!(fault, FaultKind::RateLimited | FaultKind::IpBanned);
        if let Some(seconds) = retry_after_s.filter(|_| limited) {
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(seconds));
        }
        response
    }
}
