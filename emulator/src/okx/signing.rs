//! OKX v5 HMAC-SHA256 signature checks, as the exchange performs them.
//!
//! The signed text is `OK-ACCESS-TIMESTAMP`, the method, the path with its `?query` and the
//! raw body. The signature is the base64 of the raw digest, compared in constant time. The
//! passphrase is checked apart from the signature.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::NaiveDateTime;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Builds the text a request's signature covers.
pub fn signed_text(timestamp: &str, method: &str, path_and_query: &str, body: &[u8]) -> Vec<u8> {
    let mut text = Vec::with_capacity(timestamp.len() + 8 + path_and_query.len() + body.len());
    text.extend_from_slice(timestamp.as_bytes());
    text.extend_from_slice(method.as_bytes());
    text.extend_from_slice(path_and_query.as_bytes());
    text.extend_from_slice(body);
    text
}

/// Builds the text a websocket `login` operation signs, from its Unix time in seconds.
pub fn websocket_text(unix_seconds: &str) -> Vec<u8> {
    format!("{unix_seconds}GET/users/self/verify").into_bytes()
}

/// Reads `OK-ACCESS-TIMESTAMP` (`2020-12-08T09:08:57.715Z`) as ms since the Unix epoch. OKX
/// requires the millisecond part and the `Z`.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let naive = text.strip_suffix('Z')?;
    let (_, fraction) = naive.rsplit_once('.')?;
    if fraction.len() != 3 || !fraction.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let time = NaiveDateTime::parse_from_str(naive, "%Y-%m-%dT%H:%M:%S%.3f").ok()?;
    Some(time.and_utc().timestamp_millis())
}

/// Computes the base64 HMAC-SHA256 of `payload` under `secret`.
pub fn expected_signature(secret: &[u8], payload: &[u8]) -> String {
    match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(payload);
            STANDARD.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// Checks whether `signature` (base64) is the HMAC-SHA256 of `payload` under `secret`, in
/// constant time.
pub fn verify(secret: &[u8], payload: &[u8], signature: &str) -> bool {
    let Ok(signature) = STANDARD.decode(signature) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(payload);
    mac.verify_slice(&signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_needs_milliseconds_and_zulu() {
        assert_eq!(
            parse_timestamp("2020-12-08T09:08:57.715Z"),
            Some(1_607_418_537_715)
        );
        assert_eq!(parse_timestamp("2020-12-08T09:08:57Z"), None);
        assert_eq!(parse_timestamp("2020-12-08T09:08:57.715"), None);
        assert_eq!(parse_timestamp("1607418537715"), None);
        assert_eq!(parse_timestamp("2020-12-08T09:08:57.7a5Z"), None);
    }
}
