//! Bybit v5 HMAC-SHA256 request signing.
//!
//! The signed text is the timestamp (ms), the API key and the receive window, followed by the
//! query string of a GET or the JSON body of a POST, byte for byte as sent. The signature is
//! lowercase hex and goes out in `X-BAPI-SIGN`. Private websockets sign `GET/realtime` followed
//! by the expiry time in ms. The secret stays behind [`Signer`].

use crate::credentials::{Signer, SignerError};

/// Builds the text Bybit signs for a REST request. `payload` is the query string of a GET or
/// the body of a POST, exactly as sent.
pub fn prehash(timestamp_ms: i64, api_key: &str, recv_window_ms: u64, payload: &str) -> String {
    format!("{timestamp_ms}{api_key}{recv_window_ms}{payload}")
}

/// Signs a REST request and returns the lowercase hex signature for `X-BAPI-SIGN`.
///
/// # Errors
/// Returns [`SignerError`] when the signer cannot use the secret.
pub fn signature(
    signer: &dyn Signer,
    timestamp_ms: i64,
    api_key: &str,
    recv_window_ms: u64,
    payload: &str,
) -> Result<String, SignerError> {
    let text = prehash(timestamp_ms, api_key, recv_window_ms, payload);
    Ok(hex::encode(signer.hmac_sha256(text.as_bytes())?))
}

/// Signs the `auth` operation of a private websocket that stays valid until `expires_ms`.
///
/// # Errors
/// Returns [`SignerError`] when the signer cannot use the secret.
pub fn websocket_signature(signer: &dyn Signer, expires_ms: i64) -> Result<String, SignerError> {
    let text = format!("GET/realtime{expires_ms}");
    Ok(hex::encode(signer.hmac_sha256(text.as_bytes())?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::PlainSigner;

    #[test]
    fn empty_payload_signs_three_fields() {
        assert_eq!(prehash(1, "key", 5000, ""), "1key5000");
        let signer = PlainSigner::new("secret");
        let signed = signature(&signer, 1, "key", 5000, "").unwrap();
        assert_eq!(signed.len(), 64);
        assert_eq!(signed, signed.to_lowercase());
    }
}
