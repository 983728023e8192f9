//! Checks on signed OKX requests: API key (known, of this environment, not expired), client
//! address, passphrase, signature, then timestamp; and OKX's error body.

use std::net::IpAddr;

use axum::Json;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use keyward_events::Exchange;
use serde_json::{Map, Value, json};

use super::signing;
use crate::server::client_ip;
use crate::state::{EmulatorState, StoredKey};

/// Signed requests with a larger body are rejected before any check.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// How far a request timestamp may be from the server clock, in ms.
// NOTE: OKX does not publish its REST tolerance; 30 s matches its websocket login window.
const MAX_SKEW_MS: i64 = 30_000;

/// An OKX error: HTTP status plus `{code, msg}`; `data` carries per-order results on trade
/// endpoints.
#[derive(Clone, Debug, PartialEq)]
pub struct OkxError {
    pub status: StatusCode,
    pub code: String,
    pub msg: String,
    pub data: Option<Vec<Value>>,
}

impl OkxError {
    /// Builds an error with this HTTP status, code and message, without `data`, as OKX sends
    /// authentication failures.
    pub fn new(status: StatusCode, code: &str, msg: impl Into<String>) -> Self {
        OkxError {
            status,
            code: code.to_owned(),
            msg: msg.into(),
            data: None,
        }
    }

    /// Builds a business error: HTTP 200 and `data: []`.
    pub fn business(code: &str, msg: impl Into<String>) -> Self {
        OkxError {
            data: Some(Vec::new()),
            ..Self::new(StatusCode::OK, code, msg)
        }
    }

    /// 51000: a missing or invalid parameter, named in the message.
    pub fn parameter(name: &str) -> Self {
        OkxError {
            status: StatusCode::BAD_REQUEST,
            ..Self::business("51000", format!("Parameter {name} error"))
        }
    }

    /// 50120: the key lacks the permission the request needs.
    pub fn permission_denied() -> Self {
        Self::business(
            "50120",
            "This API key doesn't have permission to use this function",
        )
    }

    fn unauthorized(code: &str, msg: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, msg)
    }
}

impl IntoResponse for OkxError {
    fn into_response(self) -> Response {
        let mut body = json!({"code": self.code, "msg": self.msg});
        if let Some(data) = self.data {
            body["data"] = Value::Array(data);
        }
        (self.status, Json(body)).into_response()
    }
}

/// Wraps successful results in OKX's envelope.
pub fn envelope(data: Vec<Value>) -> Json<Value> {
    Json(json!({"code": "0", "msg": "", "data": data}))
}

/// A signed request that passed every check: its key and its parameters, from the query string
/// of a GET or the JSON body of a POST.
#[derive(Clone, Debug)]
pub struct OkxRequest {
    pub key: StoredKey,
    pub params: Map<String, Value>,
}

impl OkxRequest {
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
    /// Returns 51000 naming the parameter when it is missing or empty.
    pub fn required(&self, name: &str) -> Result<String, OkxError> {
        self.param(name)
            .filter(|value| !value.is_empty())
            .ok_or_else(|| OkxError::parameter(name))
    }

    /// Checks that the key has the `trade` permission.
    ///
    /// # Errors
    /// Returns 50120 for a key without it.
    pub fn require_trade(&self) -> Result<(), OkxError> {
        if self.key.key.futures {
            Ok(())
        } else {
            Err(OkxError::permission_denied())
        }
    }
}

/// Runs OKX's checks on a request.
///
/// `path_and_query` is the request target as sent. Demo trading is selected by
/// `x-simulated-trading: 1` or by an emulator started as a testnet.
///
/// # Errors
/// Returns the [`OkxError`] OKX would send, with HTTP 401. A missing header is 50103, 50104,
/// 50106 or 50107, an unknown or expired key 50111, and a key of the other environment 50101.
/// An address outside the allowlist is 50110 and a wrong passphrase 50105. A bad signature is
/// 50113, an unreadable timestamp 50112 and a stale one 50102.
pub fn authenticate(
    state: &EmulatorState,
    headers: &HeaderMap,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    client_ip: Option<IpAddr>,
) -> Result<StoredKey, OkxError> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .filter(|value| !value.is_empty())
    };
    let missing = |code: &str, name: &str| {
        OkxError::unauthorized(code, format!("Request header {name} can not be empty."))
    };
    let api_key = header("ok-access-key").ok_or_else(|| missing("50103", "OK-ACCESS-KEY"))?;
    let passphrase =
        header("ok-access-passphrase").ok_or_else(|| missing("50104", "OK-ACCESS-PASSPHRASE"))?;
    let signature = header("ok-access-sign").ok_or_else(|| missing("50106", "OK-ACCESS-SIGN"))?;
    let timestamp =
        header("ok-access-timestamp").ok_or_else(|| missing("50107", "OK-ACCESS-TIMESTAMP"))?;

    let stored = known_key(state, api_key, header("x-simulated-trading") == Some("1"))?;
    if !stored.key.allows_ip(client_ip) {
        let ip = client_ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        return Err(OkxError::unauthorized(
            "50110",
            format!("Your IP {ip} is not included in your API key's IP whitelist."),
        ));
    }
    let expected = stored.key.passphrase.as_ref().map(|secret| secret.expose());
    if expected != Some(passphrase) {
        return Err(OkxError::unauthorized(
            "50105",
            "Request header \"OK-ACCESS-PASSPHRASE\" incorrect.",
        ));
    }
    let text = signing::signed_text(timestamp, method, path_and_query, body);
    if !signing::verify(stored.key.api_secret.expose().as_bytes(), &text, signature) {
        return Err(OkxError::unauthorized("50113", "Invalid Sign"));
    }
    let sent_ms = signing::parse_timestamp(timestamp)
        .ok_or_else(|| OkxError::unauthorized("50112", "Invalid OK-ACCESS-TIMESTAMP"))?;
    if (state.now_ms() - sent_ms).abs() > MAX_SKEW_MS {
        return Err(OkxError::unauthorized("50102", "Timestamp request expired"));
    }
    Ok(stored)
}

fn known_key(
    state: &EmulatorState,
    api_key: &str,
    demo_header: bool,
) -> Result<StoredKey, OkxError> {
    let invalid = || OkxError::unauthorized("50111", "Invalid OK-ACCESS-KEY");
    let stored = state.find_key(Exchange::Okx, api_key).ok_or_else(invalid)?;
    let demo = demo_header || state.is_testnet();
    if stored.key.testnet != demo {
        return Err(OkxError::unauthorized(
            "50101",
            "APIKey does not match current environment.",
        ));
    }
    let expired = stored
        .key
        .expires_at
        .is_some_and(|expires_at| expires_at.timestamp_millis() <= state.now_ms());
    if expired {
        return Err(invalid());
    }
    Ok(stored)
}

impl FromRequest<EmulatorState> for OkxRequest {
    type Rejection = OkxError;

    async fn from_request(request: Request, state: &EmulatorState) -> Result<Self, OkxError> {
        let (parts, body) = request.into_parts();
        let client_ip = client_ip(&parts.extensions);
        let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
            .await
            .map_err(|_| OkxError::parameter("body"))?;
        let target = parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), ToString::to_string);
        let method = parts.method.as_str();
        let key = authenticate(state, &parts.headers, method, &target, &body, client_ip)
            .inspect_err(|error| {
                tracing::debug!(path = parts.uri.path(), client_ip = ?client_ip, code = %error.code, "rejected signed request");
            })?;
        // A JSON array body (batch endpoints) becomes parameters named `0`, `1`, ….
        let params = if body.is_empty() {
            crate::bybit::query_params(parts.uri.query().unwrap_or(""))
        } else {
            match serde_json::from_slice(&body) {
                Ok(Value::Object(map)) => map,
                Ok(Value::Array(items)) => items
                    .into_iter()
                    .enumerate()
                    .map(|(index, item)| (index.to_string(), item))
                    .collect(),
                _ => return Err(OkxError::parameter("body")),
            }
        };
        Ok(OkxRequest { key, params })
    }
}
