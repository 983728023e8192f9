//! Checks on signed Binance requests, in the exchange's order: API key (known, not expired,
//! of this environment), client address, signature, then timestamp.

use std::collections::BTreeMap;
use std::net::IpAddr;

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use keyward_events::Exchange;

use super::signing::{self, SignatureProblem};
use super::wire::ErrorResponse;
use crate::server::client_ip;
use crate::state::{EmulatorState, StoredKey};

/// Signed requests with a larger body are rejected before any check.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// Binance's default receive window, in ms.
const DEFAULT_RECV_WINDOW_MS: i64 = 5000;
/// Largest receive window Binance's spot API accepts, in ms.
// NOTE: the futures API documents no maximum; the spot API's limit is applied to both.
const MAX_RECV_WINDOW_MS: i64 = 60_000;
/// How far a timestamp may run ahead of the server clock, in ms.
const MAX_AHEAD_MS: i64 = 1000;

/// A Binance error response: HTTP status plus `{code, msg}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub status: StatusCode,
    pub code: i64,
    pub msg: String,
}

impl Rejection {
    /// A Binance error response with this status, code and message.
    pub fn new(status: StatusCode, code: i64, msg: &str) -> Self {
        Rejection {
            status,
            code,
            msg: msg.to_owned(),
        }
    }

    /// -2015 with HTTP 401: Binance's one response for an unknown key, an address outside the
    /// allowlist and a missing permission.
    pub fn invalid_key() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        )
    }

    fn bad_signature() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            -1022,
            "Signature for this request is not valid.",
        )
    }

    fn outside_recv_window() -> Self {
        let msg = "Timestamp for this request is outside of the recvWindow.";
        Self::new(StatusCode::BAD_REQUEST, -1021, msg)
    }

    fn ahead_of_server() -> Self {
        let msg = "Timestamp for this request was 1000ms ahead of the server's time.";
        Self::new(StatusCode::BAD_REQUEST, -1021, msg)
    }

    /// -1102 with HTTP 400: a required parameter is missing or malformed.
    pub fn mandatory(name: &str) -> Self {
        let msg =
            format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed.");
        Rejection {
            status: StatusCode::BAD_REQUEST,
            code: -1102,
            msg,
        }
    }

    fn recv_window_too_large() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            -1131,
            "recvWindow must be less than 60000.",
        )
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorResponse {
                code: self.code,
                msg: self.msg,
            }),
        )
            .into_response()
    }
}

/// A signed request that passed every check, with the key that signed it.
#[derive(Clone, Debug)]
pub struct AuthenticatedKey(pub StoredKey);

/// Runs Binance's checks on a signed request.
///
/// # Errors
/// Returns the [`Rejection`] Binance would send: -2015/401 for a missing or unknown key or an
/// address outside the key's allowlist, -1102 or -1022/400 for a missing or invalid signature,
/// and -1102, -1131 or -1021/400 for a bad `timestamp` or `recvWindow`.
pub fn authenticate(
    state: &EmulatorState,
    headers: &HeaderMap,
    query: &str,
    body: &[u8],
    client_ip: Option<IpAddr>,
) -> Result<AuthenticatedKey, Rejection> {
    let api_key = headers
        .get("x-mbx-apikey")
        .and_then(|value| value.to_str().ok());
    let stored = known_key(state, api_key, client_ip)?;

    let body = std::str::from_utf8(body).map_err(|_| Rejection::bad_signature())?;
    let parts = signing::split_signature(query, body).map_err(|problem| match problem {
        SignatureProblem::Missing => Rejection::mandatory("signature"),
        SignatureProblem::NotLast => Rejection::bad_signature(),
    })?;
    let secret = stored.key.api_secret.expose().as_bytes();
    if !signing::verify(secret, &parts.payload, parts.signature) {
        return Err(Rejection::bad_signature());
    }

    check_timestamp(state.now_ms(), query, body)?;
    Ok(AuthenticatedKey(stored))
}

/// Finds the key of the `X-MBX-APIKEY` header and checks that it may be used from `client_ip`
/// now. Binance gives an unknown key, an expired key, a key of the other environment and an
/// address outside the allowlist the same response.
fn known_key(
    state: &EmulatorState,
    api_key: Option<&str>,
    client_ip: Option<IpAddr>,
) -> Result<StoredKey, Rejection> {
    let stored = api_key
        .and_then(|api_key| state.find_key(Exchange::Binance, api_key))
        .ok_or_else(Rejection::invalid_key)?;
    let expired = stored
        .key
        .expires_at
        .is_some_and(|expires_at| expires_at.timestamp_millis() <= state.now_ms());
    let other_environment = stored.key.testnet != state.is_testnet();
    if expired || other_environment || !stored.key.allows_ip(client_ip) {
        return Err(Rejection::invalid_key());
    }
    Ok(stored)
}

fn check_timestamp(server_ms: i64, query: &str, body: &str) -> Result<(), Rejection> {
    let timestamp = parameter(query, body, "timestamp")
        .and_then(|value| value.parse::<i64>().ok())
        .ok_or_else(|| Rejection::mandatory("timestamp"))?;
    let recv_window = match parameter(query, body, "recvWindow") {
        Some(value) => value
            .parse::<i64>()
            .map_err(|_| Rejection::mandatory("recvWindow"))?,
        None => DEFAULT_RECV_WINDOW_MS,
    };
    if !(0..=MAX_RECV_WINDOW_MS).contains(&recv_window) {
        return Err(Rejection::recv_window_too_large());
    }
    if timestamp >= server_ms.saturating_add(MAX_AHEAD_MS) {
        return Err(Rejection::ahead_of_server());
    }
    if server_ms.saturating_sub(timestamp) > recv_window {
        return Err(Rejection::outside_recv_window());
    }
    Ok(())
}

/// Finds the raw value of a parameter. The query string wins when both parts carry it.
fn parameter<'a>(query: &'a str, body: &'a str, name: &str) -> Option<&'a str> {
    let find = |part: &'a str| {
        part.split('&')
            .find_map(|pair| pair.split_once('=').filter(|(key, _)| *key == name))
    };
    find(query).or_else(|| find(body)).map(|(_, value)| value)
}

/// Decodes `application/x-www-form-urlencoded` text (a query string or a form body) into
/// name/value pairs; a name given twice keeps its first value.
fn decode_params(parts: &[&str], params: &mut BTreeMap<String, String>) {
    for part in parts {
        for pair in part.split('&').filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            params
                .entry(percent_decode(name))
                .or_insert_with(|| percent_decode(value));
        }
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (byte, hex) {
            (b'%', Some(value)) => {
                decoded.push(value);
                index += 3;
            }
            (b'+', _) => {
                decoded.push(b' ');
                index += 1;
            }
            _ => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

impl FromRequest<EmulatorState> for AuthenticatedKey {
    type Rejection = Rejection;

    async fn from_request(request: Request, state: &EmulatorState) -> Result<Self, Rejection> {
        let signed = SignedRequest::from_request(request, state).await?;
        Ok(AuthenticatedKey(signed.key))
    }
}

/// A signed request that passed every check: the key that signed it and its parameters from
/// the query string and the form body (the query string wins, as on Binance).
#[derive(Clone, Debug)]
pub struct SignedRequest {
    pub key: StoredKey,
    pub params: BTreeMap<String, String>,
}

impl SignedRequest {
    /// Returns a parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// Returns a required parameter's value.
    ///
    /// # Errors
    /// Returns -1102 naming the parameter when it is missing or empty.
    pub fn required(&self, name: &str) -> Result<&str, Rejection> {
        self.param(name)
            .filter(|value| !value.is_empty())
            .ok_or_else(|| Rejection::mandatory(name))
    }
}

impl FromRequest<EmulatorState> for SignedRequest {
    type Rejection = Rejection;

    async fn from_request(request: Request, state: &EmulatorState) -> Result<Self, Rejection> {
        let (parts, body) = request.into_parts();
        let client_ip = client_ip(&parts.extensions);
        let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
            .await
            .map_err(|_| Rejection::bad_signature())?;
        let query = parts.uri.query().unwrap_or("");
        let result = authenticate(state, &parts.headers, query, &body, client_ip);
        if let Err(rejection) = &result {
            tracing::debug!(
                path = parts.uri.path(),
                client_ip = ?client_ip,
                code = rejection.code,
                "rejected signed request"
            );
        }
        let AuthenticatedKey(key) = result?;
        let mut params = BTreeMap::new();
        let body = String::from_utf8_lossy(&body);
        decode_params(&[query, &body], &mut params);
        params.remove("signature");
        Ok(SignedRequest { key, params })
    }
}

/// A request that carries a valid API key but no signature, as the listen key endpoints
/// (security type `USER_STREAM`) take.
#[derive(Clone, Debug)]
pub struct ApiKeyRequest(pub StoredKey);

impl FromRequestParts<EmulatorState> for ApiKeyRequest {
    type Rejection = Rejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &EmulatorState,
    ) -> Result<Self, Rejection> {
        let api_key = parts
            .headers
            .get("x-mbx-apikey")
            .and_then(|value| value.to_str().ok());
        known_key(state, api_key, client_ip(&parts.extensions)).map(ApiKeyRequest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_window_bounds() {
        let server = 1_000_000;
        let query = |timestamp: i64| format!("timestamp={timestamp}&recvWindow=5000");
        assert!(check_timestamp(server, &query(server - 5000), "").is_ok());
        assert_eq!(
            check_timestamp(server, &query(server - 5001), ""),
            Err(Rejection::outside_recv_window())
        );
        assert!(check_timestamp(server, &query(server + 999), "").is_ok());
        assert_eq!(
            check_timestamp(server, &query(server + 1000), ""),
            Err(Rejection::ahead_of_server())
        );
    }

    #[test]
    fn missing_or_bad_parameters_are_rejected() {
        assert_eq!(
            check_timestamp(0, "recvWindow=5000", ""),
            Err(Rejection::mandatory("timestamp"))
        );
        assert_eq!(
            check_timestamp(0, "timestamp=abc", ""),
            Err(Rejection::mandatory("timestamp"))
        );
        assert_eq!(
            check_timestamp(0, "timestamp=0&recvWindow=60001", ""),
            Err(Rejection::recv_window_too_large())
        );
    }

    #[test]
    fn params_decode_percent_and_plus() {
        let mut params = BTreeMap::new();
        decode_params(
            &["symbol=BTCUSDT&id=a%2Fb", "id=ignored&note=x+y%3D"],
            &mut params,
        );
        assert_eq!(params["symbol"], "BTCUSDT");
        assert_eq!(params["id"], "a/b");
        assert_eq!(params["note"], "x y=");
        assert_eq!(percent_decode("%EF%BC%91"), "\u{ff11}");
        assert_eq!(percent_decode("100%"), "100%");
    }

    #[test]
    fn query_parameter_wins_over_body() {
        assert_eq!(
            parameter("timestamp=1", "timestamp=2", "timestamp"),
            Some("1")
        );
        assert_eq!(parameter("a=1", "timestamp=2", "timestamp"), Some("2"));
        assert_eq!(parameter("timestampx=1", "", "timestamp"), None);
    }
}
