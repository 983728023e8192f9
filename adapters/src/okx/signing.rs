//! OKX v5 HMAC-SHA256 request signing.
//!
//! The signed text is the timestamp (ISO 8601 UTC with milliseconds, the same text as
//! `OK-ACCESS-TIMESTAMP`), the upper-case method, the request path with its `?query`, and the
//! body exactly as sent. The signature is the base64 of the raw digest. The passphrase goes out
//! in `OK-ACCESS-PASSPHRASE` and is not signed. The websocket login signs the Unix time in
//! seconds followed by `GET/users/self/verify`. The secret stays behind [`Signer`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};

use crate::credentials::{Signer, SignerError};

/// Writes a time as OKX's request timestamp, e.g. `2020-12-08T09:08:57.715Z`, or `None` when
/// `ms` is outside chrono's range.
pub fn timestamp_text(ms: i64) -> Option<String> {
    let time: DateTime<Utc> = DateTime::from_timestamp_millis(ms)?;
    Some(time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

/// Builds the text OKX signs. `request_path` includes `?query` when there is one.
pub fn prehash(timestamp: &str, method: &str, request_path: &str, body: &str) -> String {
    format!(
        "{timestamp}{}{request_path}{body}",
        method.to_ascii_uppercase()
    )
}

/// Signs a REST request and returns the base64 signature for `OK-ACCESS-SIGN`.
///
/// # Errors
/// Returns [`SignerError`] when the signer cannot use the secret.
pub fn signature(
    signer: &dyn Signer,
    timestamp: &str,
    method: &str,
    request_path: &str,
    body: &str,
) -> Result<String, SignerError> {
    let text = prehash(timestamp, method, request_path, body);
    Ok(STANDARD.encode(signer.hmac_sha256(text.as_bytes())?))
}

/// Signs the websocket `login` operation at `unix_seconds`.
///
/// # Errors
/// Returns [`SignerError`] when the signer cannot use the secret.
pub fn websocket_signature(signer: &dyn Signer, unix_seconds: &str) -> Result<String, SignerError> {
    signature(signer, unix_seconds, "GET", "/users/self/verify", "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_has_milliseconds_and_zulu() {
        let text = timestamp_text(1_607_418_537_715).unwrap();
        assert_eq!(text, "2020-12-08T09:08:57.715Z");
        assert_eq!(timestamp_text(0).unwrap(), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn method_is_upper_case_in_prehash() {
        assert_eq!(prehash("t", "get", "/p?a=1", ""), "tGET/p?a=1");
    }
}
