//! Binance USDT-M futures and the spot key-permission endpoint, in Binance's wire format.
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
pub mod wire;

use std::net::IpAddr;

use axum::Json;
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use keyward_events::Exchange;

pub use auth::{ApiKeyRequest, AuthenticatedKey, Rejection, SignedRequest, authenticate};
pub use routes::restrictions_answer;

use crate::dialect::Dialect;
use crate::faults::FaultKind;
use crate::state::EmulatorState;
use wire::ErrorResponse;

/// Path prefixes Binance's REST and websocket routes live under.
const PREFIXES: [&str; 5] = ["/fapi/", "/sapi/", "/market/", "/public/", "/private/"];

/// The Binance dialect.
#[derive(Clone, Copy, Debug, Default)]
pub struct Binance;

/// Weight each route counts against the client's per-minute budget, per Binance's
/// documentation; new orders count against order limits instead of the address.
fn route_weight(method: &Method, path: &str) -> u32 {
    match (method, path) {
        (&Method::POST, "/fapi/v1/order") => 0,
        (_, "/fapi/v3/balance" | "/fapi/v3/positionRisk") => 5,
        (&Method::GET, "/fapi/v1/positionSide/dual") => 30,
        _ => 1,
    }
}

/// Returns the weight header of a path: `/sapi` counts per IP separately from `/fapi`.
fn weight_header(path: &str) -> &'static str {
    if path.starts_with("/sapi/") {
        "x-sapi-used-ip-weight-1m"
    } else {
        "x-mbx-used-weight-1m"
    }
}

impl Dialect for Binance {
    fn exchange(&self) -> Exchange {
        Exchange::Binance
    }

    fn owns(&self, path: &str) -> bool {
        PREFIXES.iter().any(|prefix| path.starts_with(prefix))
    }

    fn routes(&self) -> Router<EmulatorState> {
        routes::routes()
    }

    fn is_order_placement(&self, method: &Method, path: &str) -> bool {
        method == Method::POST && path == "/fapi/v1/order"
    }

    fn fault_response(&self, fault: FaultKind, retry_after_s: Option<u64>) -> Response {
        let (status, code, msg) = match fault {
            FaultKind::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                -1003,
                "Too many requests; current limit is 2400 requests per minute. Please use the \
                 websocket for live updates to avoid polling the API."
                    .to_owned(),
            ),
            FaultKind::IpBanned => (
                StatusCode::IM_A_TEAPOT,
                -1003,
                "Way too many requests; IP banned until 1700000000000. Please use the \
                 websocket for live updates to avoid bans."
                    .to_owned(),
            ),
            FaultKind::UnknownStatus => (
                StatusCode::SERVICE_UNAVAILABLE,
                -1007,
                "Timeout waiting for response from backend server. Send status unknown; \
                 execution status unknown."
                    .to_owned(),
            ),
            _ => (
                StatusCode::SERVICE_UNAVAILABLE,
                -1001,
                "Internal error; unable to process your request. Please try again.".to_owned(),
            ),
        };
        let mut response = (status, Json(ErrorResponse { code, msg })).into_response();
        let limited = matches!(fault, FaultKind::RateLimited | FaultKind::IpBanned);
        if let Some(seconds) = retry_after_s.filter(|_| limited) {
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(seconds));
        }
        response
    }

    /// Counts the route's weight for the client's address in the current minute and responds
    /// with 429 (-1003) past the configured limit, with `Retry-After` until the minute ends.
    fn admit(
        &self,
        state: &EmulatorState,
        client: Option<IpAddr>,
        method: &Method,
        path: &str,
    ) -> Result<HeaderMap, Box<Response>> {
        let header = weight_header(path);
        let used = state.add_weight(client, header, route_weight(method, path));
        let limit = state.faults().config().weight_limit_per_minute;
        let mut headers = HeaderMap::new();
        headers.insert(header, HeaderValue::from(used));
        if used <= limit {
            return Ok(headers);
        }
        let rest_of_minute = 60 - state.now_ms().rem_euclid(60_000) / 1000;
        let msg = format!(
            "Too many requests; current limit is {limit} requests per minute. Please use the \
             websocket for live updates to avoid polling the API."
        );
        let mut response =
            Rejection::new(StatusCode::TOO_MANY_REQUESTS, -1003, &msg).into_response();
        response.headers_mut().extend(headers);
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from(rest_of_minute));
        Err(Box::new(response))
    }
}
