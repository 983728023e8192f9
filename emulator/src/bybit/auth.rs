//! Checks on signed Bybit requests: API key (known, of this environment, not expired), client
//! address, signature, then timestamp; and Bybit's error envelope.

use std::collections::BTreeMap;
use std::net::IpAddr;

use axum::Json;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use keyward_events::Exchange;
use serde_json::{Map, Value, json};

use super::signing;
use crate::server::client_ip;
use crate::state::{EmulatorState, StoredKey};

/// Signed requests with a larger body are rejected before any check.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// Bybit's default receive window, in ms.
const DEFAULT_RECV_WINDOW_MS: i64 = 5000;
/// How far a timestamp may run ahead of the server clock, in ms.
const MAX_AHEAD_MS: i64 = 1000;

/// A Bybit error: the HTTP status and the envelope's `retCode` and `retMsg`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BybitError {
    pub status: StatusCode,
    pub code: i64,
    pub msg: String,
}

impl BybitError {
    /// Builds an error sent with HTTP 200, as Bybit sends its business errors.
    pub fn new(code: i64, msg: impl Into<String>) -> Self {
        BybitError {
            status: StatusCode::OK,
            code,
            msg: msg.into(),
        }
    }

    /// 10003: unknown key, or a key of another environment.
    pub fn invalid_key() -> Self {
        Self::new(10003, "API key is invalid.")
    }

    /// 10005: the key lacks the permission the request needs.
    pub fn permission_denied() -> Self {
        Self::new(
            10005,
            "Permission denied, please check your API key permissions.",
        )
    }

    /// 10001: a missing or invalid parameter, named in the message.
    pub fn parameter(name: &str) -> Self {
        Self::new(10001, format!("params error: {name} invalid"))
    }
}

impl IntoResponse for BybitError {
    fn into_response(self) -> Response {
        let body = json!({
            "retCode": self.code,
            "retMsg": self.msg,
            "result": {},
            "retExtInfo": {},
            "time": chrono::Utc::now().timestamp_millis(),
        });
        (self.status, Json(body)).into_response()
    }
}

/// Wraps a successful result in Bybit's envelope.
pub fn envelope(result: Value, now_ms: i64) -> Json<Value> {
    Json(json!({
        "retCode": 0,
        "retMsg": "OK",
        "result": result,
        "retExtInfo": {},
        "time": now_ms,
    }))
}

/// A signed request that passed every check: its key and its parameters, from the query string
/// of a GET or the JSON body of a POST.
#[derive(Clone, Debug)]
pub struct BybitRequest {
    pub key: StoredKey,
    pub params: Map<String, Value>,
}

impl BybitRequest {
    /// Returns a parameter as text; numbers and booleans are written as JSON writes them.
    pub fn param(&self, name: &str) -> Option<String> {
        match self.params.get(name)? {
            Value::String(text) => Some(text.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    /// Returns a required parameter.
    ///
    /// # Errors
    /// Returns 10001 naming the parameter when it is missing or empty.
    pub fn required(&self, name: &str) -> Result<String, BybitError> {
        self.param(name)
            .filter(|value| !value.is_empty())
            .ok_or_else(|| BybitError::parameter(name))
    }

    /// Checks that the key may trade derivatives.
    ///
    /// # Errors
    /// Returns 10005 for a key without futures trading.
    pub fn require_trade(&self) -> Result<(), BybitError> {
        if self.key.key.futures {
            Ok(())
        } else {
            Err(BybitError::permission_denied())
        }
    }
}

/// Runs Bybit's checks on a request's headers and signed payload.
///
/// # Errors
/// Returns the [`BybitError`] Bybit would send. A missing, unknown or other-environment key is
/// 10003 and an expired one 33004. An address outside the allowlist is 10010, a missing or
/// invalid signature 10004, and a timestamp outside the receive window 10002.
pub fn authenticate(
    state: &EmulatorState,
    headers: &HeaderMap,
    payload: &[u8],
    client_ip: Option<IpAddr>,
) -> Result<StoredKey, BybitError> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let api_key = header("x-bapi-api-key").ok_or_else(BybitError::invalid_key)?;
    let stored = state
        .find_key(Exchange::Bybit, api_key)
        .filter(|stored| stored.key.testnet == state.is_testnet())
        .ok_or_else(BybitError::invalid_key)?;
    let now_ms = state.now_ms();
    if stored
        .key
        .expires_at
        .is_some_and(|expires_at| expires_at.timestamp_millis() <= now_ms)
    {
        return Err(BybitError::new(33004, "Your api key has expired."));
    }
    if !stored.key.allows_ip(client_ip) {
        return Err(BybitError::new(
            10010,
            "Unmatched IP, please check your API key's bound IP addresses.",
        ));
    }

    let timestamp = header("x-bapi-timestamp").unwrap_or("");
    let recv_window = header("x-bapi-recv-window").unwrap_or("5000");
    let text = signing::signed_text(timestamp, api_key, recv_window, payload);
    let signature = header("x-bapi-sign").unwrap_or("");
    let secret = stored.key.api_secret.expose().as_bytes();
    if !signing::verify(secret, &text, signature) {
        return Err(BybitError::new(
            10004,
            "Error sign, please check your signature generation algorithm.",
        ));
    }
    check_timestamp(now_ms, timestamp, recv_window)?;
    Ok(stored)
}

/// Accepts a timestamp in `[server − recv_window, server + 1000)`. Otherwise it returns 10002
/// in the wording Bybit's servers use.
fn check_timestamp(server_ms: i64, timestamp: &str, recv_window: &str) -> Result<(), BybitError> {
    let recv_window_ms = recv_window.parse::<i64>().unwrap_or(DEFAULT_RECV_WINDOW_MS);
    let within = timestamp.parse::<i64>().is_ok_and(|timestamp| {
        server_ms - recv_window_ms <= timestamp && timestamp < server_ms + MAX_AHEAD_MS
    });
    if within {
        return Ok(());
    }
    Err(BybitError::new(
        10002,
        format!(
            "invalid request, please check your server timestamp or recv_window param. \
             req_timestamp[{timestamp}],server_timestamp[{server_ms}],\
             recv_window[{recv_window_ms}]"
        ),
    ))
}

impl FromRequest<EmulatorState> for BybitRequest {
    type Rejection = BybitError;

    async fn from_request(request: Request, state: &EmulatorState) -> Result<Self, BybitError> {
        let (parts, body) = request.into_parts();
        let client_ip = client_ip(&parts.extensions);
        let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
            .await
            .map_err(|_| BybitError::parameter("body"))?;
        let query = parts.uri.query().unwrap_or("");
        let payload = if parts.method == Method::GET {
            query.as_bytes()
        } else {
            &body[..]
        };
        let key = authenticate(state, &parts.headers, payload, client_ip).inspect_err(|error| {
            tracing::debug!(path = parts.uri.path(), client_ip = ?client_ip, code = error.code, "rejected signed request");
        })?;
        let params = if parts.method == Method::GET {
            query_params(query)
        } else {
            serde_json::from_slice(&body).map_err(|_| BybitError::parameter("body"))?
        };
        Ok(BybitRequest { key, params })
    }
}

/// Reads a query string into parameters; values stay undecoded beyond `%XX` and `+`.
pub(crate) fn query_params(query: &str) -> Map<String, Value> {
    let mut params = BTreeMap::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        params
            .entry(name.to_owned())
            .or_insert_with(|| Value::String(value.replace('+', " ")));
    }
    params.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_window_bounds() {
        let server = 1_000_000;
        let check = |timestamp: i64| check_timestamp(server, &timestamp.to_string(), "5000");
        assert!(check(server - 5000).is_ok());
        assert_eq!(check(server - 5001).unwrap_err().code, 10002);
        assert!(check(server + 999).is_ok());
        assert_eq!(check(server + 1000).unwrap_err().code, 10002);
        assert_eq!(
            check_timestamp(server, "abc", "5000").unwrap_err().code,
            10002
        );
    }

    #[test]
    fn skew_message_names_both_clocks() {
        let err = check_timestamp(1_000_000, "2000000", "5000").unwrap_err();
        assert!(err.msg.contains("req_timestamp[2000000]"), "{}", err.msg);
        assert!(err.msg.contains("server_timestamp[1000000]"), "{}", err.msg);
    }
}
