//! Binance HMAC-SHA256 request signing.
//!
//! The signed payload is the query string followed directly by the request body, with no
//! separator, exactly as the bytes are sent. The signature is lowercase hex and goes out as the
//! last parameter, `signature`. Non-ASCII characters are percent-encoded before signing, so the
//! signature covers the encoded form. The secret stays behind [`Signer`].

use crate::credentials::{Signer, SignerError};

/// Signs `query` followed by `body` and returns the lowercase hex signature.
///
/// # Errors
/// Returns [`SignerError`] when the signer cannot use the secret.
pub fn signature(signer: &dyn Signer, query: &str, body: &str) -> Result<String, SignerError> {
    let mut payload = Vec::with_capacity(query.len() + body.len());
    payload.extend_from_slice(query.as_bytes());
    payload.extend_from_slice(body.as_bytes());
    Ok(hex::encode(signer.hmac_sha256(&payload)?))
}

/// Appends `signature=…` to a query string that is sent without a body.
///
/// # Errors
/// Returns [`SignerError`] when the signer cannot use the secret.
pub fn signed_query(signer: &dyn Signer, query: &str) -> Result<String, SignerError> {
    let signature = signature(signer, query, "")?;
    if query.is_empty() {
        return Ok(format!("signature={signature}"));
    }
    Ok(format!("{query}&signature={signature}"))
}

/// Builds a query string from name/value pairs, percent-encoding every byte outside the
/// RFC 3986 unreserved set (letters, digits, `-`, `_`, `.`, `~`) as UTF-8 with uppercase hex.
pub fn encode_query(params: &[(&str, &str)]) -> String {
    let mut query = String::new();
    for (name, value) in params {
        if !query.is_empty() {
            query.push('&');
        }
        push_encoded(&mut query, name);
        query.push('=');
        push_encoded(&mut query, value);
    }
    query
}

fn push_encoded(out: &mut String, text: &str) {
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::PlainSigner;

    #[test]
    fn encode_query_keeps_unreserved_and_encodes_rest() {
        let query = encode_query(&[("a b", "x&y=z"), ("s", "１"), ("ok", "A-z_0.9~")]);
        assert_eq!(query, "a%20b=x%26y%3Dz&s=%EF%BC%91&ok=A-z_0.9~");
    }

    #[test]
    fn signed_query_puts_signature_last() {
        let signer = PlainSigner::new("secret");
        let query = signed_query(&signer, "timestamp=1&recvWindow=5000").unwrap();
        let (payload, signature) = query.rsplit_once("&signature=").unwrap();
        assert_eq!(payload, "timestamp=1&recvWindow=5000");
        assert_eq!(signature.len(), 64);
        assert!(
            signature
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
        );
    }
}
