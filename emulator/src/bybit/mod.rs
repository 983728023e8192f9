//! Bybit v5 linear perpetuals, in Bybit's wire format.
//!
//! Signature checks and wire shapes here are written apart from keyward's adapter, so a
//! mistake in one shows up as a failure against the other.

mod account;
mod auth;
mod errors;
mod orders;
mod routes;
pub mod signing;
mod streams;

use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use keyward_events::Exchange;

pub(crate) use auth::query_params;
pub use auth::{BybitError, BybitRequest, authenticate};
pub use routes::key_information;

use crate::dialect::Dialect;
use crate::faults::FaultKind;

/// The Bybit dialect.
// NOTE: Bybit's own limits (600 requests per 5 s per address, per-account limits per endpoint
// such as 10 orders per second) are not counted; 10006 and 403 come only from injected faults.
#[derive(Clone, Copy, Debug, Default)]
pub struct Bybit;

impl Dialect for Bybit {
    fn exchange(&self) -> Exchange {
        Exchange::Bybit
    }

    fn owns(&self, path: &str) -> bool {
        path.starts_with("/v5/")
    }

    fn routes(&self) -> axum::Router<crate::state::EmulatorState> {
        routes::routes()
    }

    fn is_order_placement(&self, method: &Method, path: &str) -> bool {
        method == Method::POST && path == "/v5/order/create"
    }

    /// Rate limits are 10006 with HTTP 200 and the `X-Bapi-Limit` headers, an address ban is
    /// HTTP 403, and server failures are 5xx with Bybit's envelope.
    fn fault_response(&self, fault: FaultKind, retry_after_s: Option<u64>) -> Response {
        let error = match fault {
            FaultKind::RateLimited => BybitError::new(10006, "Too many visits!"),
            FaultKind::IpBanned => BybitError {
                status: StatusCode::FORBIDDEN,
                code: 10009,
                msg: "access too frequent".to_owned(),
            },
            FaultKind::UnknownStatus => BybitError {
                status: StatusCode::GATEWAY_TIMEOUT,
                code: 10000,
                msg: "Server Timeout".to_owned(),
            },
            _ => BybitError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: 10016,
                msg: "Internal server error.".to_owned(),
            },
        };
        let mut response = error.into_response();
        if fault == FaultKind::RateLimited {
            // Without a configured wait, the limit resets at the end of the current second, as
            // Bybit's per-second windows do.
            let now_ms = chrono::Utc::now().timestamp_millis();
            let reset = match retry_after_s {
                Some(seconds) => now_ms + i64::try_from(seconds.saturating_mul(1000)).unwrap_or(0),
                None => now_ms - now_ms.rem_euclid(1000) + 1000,
            };
            let headers = response.headers_mut();
            headers.insert("x-bapi-limit", HeaderValue::from(10));
            headers.insert("x-bapi-limit-status", HeaderValue::from(0));
            headers.insert("x-bapi-limit-reset-timestamp", HeaderValue::from(reset));
        }
        response
    }
}
