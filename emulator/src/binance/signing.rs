//! Binance HMAC-SHA256 signature checks, as the exchange performs them.
//!
//! The signed payload is the query string (without the signature) followed directly by the
//! body. The signature must be the last parameter of the request and is compared as hex,
//! case-insensitively.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Reason a request's signature cannot be split off its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureProblem {
    /// No `signature` parameter at all.
    Missing,
    /// A `signature` parameter exists but is not the last one.
    NotLast,
}

/// The signed payload and the signature of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedParts<'a> {
    pub payload: Vec<u8>,
    pub signature: &'a str,
}

/// Splits the trailing `signature` parameter off the query and body.
///
/// # Errors
/// Returns [`SignatureProblem`] when the parameter is missing or not last.
pub fn split_signature<'a>(
    query: &'a str,
    body: &'a str,
) -> Result<SignedParts<'a>, SignatureProblem> {
    let (last_part, query_rest) = if body.is_empty() {
        (query, None)
    } else {
        (body, Some(query))
    };
    let (rest, signature) = match last_part.rsplit_once('&') {
        Some((rest, last)) => (rest, last.strip_prefix("signature=")),
        None => ("", last_part.strip_prefix("signature=")),
    };
    let Some(signature) = signature else {
        let anywhere = query.split('&').chain(body.split('&'));
        let present = anywhere
            .into_iter()
            .any(|param| param.starts_with("signature="));
        return Err(if present {
            SignatureProblem::NotLast
        } else {
            SignatureProblem::Missing
        });
    };
    let mut payload = Vec::new();
    if let Some(query) = query_rest {
        payload.extend_from_slice(query.as_bytes());
    }
    payload.extend_from_slice(rest.as_bytes());
    Ok(SignedParts { payload, signature })
}

/// Computes the lowercase hex HMAC-SHA256 of `payload` under `secret`.
pub fn expected_signature(secret: &[u8], payload: &[u8]) -> String {
    match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(payload);
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// Checks whether `signature` (hex, any case) is the HMAC-SHA256 of `payload` under `secret`. The
/// comparison runs in constant time.
pub fn verify(secret: &[u8], payload: &[u8], signature: &str) -> bool {
    let Ok(signature) = hex::decode(signature) else {
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
    fn signature_in_query_is_split_off() {
        let parts = split_signature("timestamp=1&recvWindow=5000&signature=ab", "").unwrap();
        assert_eq!(parts.payload, b"timestamp=1&recvWindow=5000");
        assert_eq!(parts.signature, "ab");
    }

    #[test]
    fn signature_in_body_keeps_query_in_payload() {
        let parts = split_signature("symbol=X", "qty=1&signature=cd").unwrap();
        assert_eq!(parts.payload, b"symbol=Xqty=1");
        assert_eq!(parts.signature, "cd");
    }

    #[test]
    fn sole_signature_parameter_signs_empty_payload() {
        let parts = split_signature("signature=ef", "").unwrap();
        assert!(parts.payload.is_empty());
    }

    #[test]
    fn missing_or_misplaced_signature_is_reported() {
        assert_eq!(
            split_signature("timestamp=1", ""),
            Err(SignatureProblem::Missing)
        );
        assert_eq!(
            split_signature("signature=ab&timestamp=1", ""),
            Err(SignatureProblem::NotLast)
        );
        assert_eq!(
            split_signature("signature=ab", "timestamp=1"),
            Err(SignatureProblem::NotLast)
        );
    }

    #[test]
    fn verify_accepts_uppercase_and_rejects_garbage() {
        let signature = expected_signature(b"key", b"payload");
        assert!(verify(b"key", b"payload", &signature.to_uppercase()));
        assert!(!verify(b"key", b"payload!", &signature));
        assert!(!verify(b"key", b"payload", "not-hex"));
        assert!(!verify(b"key", b"payload", &signature[..62]));
    }
}
