//! Bybit v5 HMAC-SHA256 signature checks, as the exchange performs them.
//!
//! The signed text is `X-BAPI-TIMESTAMP`, `X-BAPI-API-KEY` and `X-BAPI-RECV-WINDOW` followed
//! by the raw query string (GET) or the raw body (POST). The signature is hex, compared
//! case-insensitively in constant time.

/// Builds the text a request's signature covers, from the header values and the raw payload.
pub fn signed_text(timestamp: &str, api_key: &str, recv_window: &str, payload: &[u8]) -> Vec<u8> {
    let mut text = Vec::with_capacity(timestamp.len() + api_key.len() + 8 + payload.len());
    text.extend_from_slice(timestamp.as_bytes());
    text.extend_from_slice(api_key.as_bytes());
    text.extend_from_slice(recv_window.as_bytes());
    text.extend_from_slice(payload);
    text
}

/// Builds the text a websocket `auth` operation signs.
pub fn websocket_text(expires: &str) -> Vec<u8> {
    format!("GET/realtime{expires}").into_bytes()
}

// Bybit signs with the same lowercase hex HMAC-SHA256 as Binance, so the check is shared.
pub use crate::binance::signing::{expected_signature, verify};
