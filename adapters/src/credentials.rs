//! API credentials: the public API key plus a [`Signer`] that signs with the secret on demand.
//!
//! Adapters never hold a secret. They hand the bytes to sign to a [`Signer`], which the vault
//! implements so that the plaintext secret exists only for the moment of signing.

use std::fmt;
use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use keyward_events::Exchange;
pub use keyward_events::key::mask_api_key;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::AdapterError;

/// Signs with a key's secret without handing the secret out.
pub trait Signer: Send + Sync {
    /// Computes HMAC-SHA256 of `message` under the key's secret.
    ///
    /// # Errors
    /// Returns [`SignerError`] when the secret cannot be opened.
    fn hmac_sha256(&self, message: &[u8]) -> Result<[u8; 32], SignerError>;

    /// Returns the key's passphrase, which only OKX keys have.
    ///
    /// # Errors
    /// Returns [`SignerError`] when the passphrase cannot be opened.
    fn passphrase(&self) -> Result<Option<Zeroizing<String>>, SignerError>;
}

/// Failure to sign with a key's secret. Implementations must not put the secret in it.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    /// The secret is missing or cannot be opened (for example, the vault is locked).
    #[error("the key's secret is not available: {reason}")]
    Unavailable { reason: String },
    /// Any other failure of the signer.
    #[error("signing with the key's secret failed")]
    Failed(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// An API key and the signer for its secret.
#[derive(Clone)]
pub struct Credentials {
    pub api_key: String,
    pub signer: Arc<dyn Signer>,
}

impl Credentials {
    /// Pairs an API key with the signer for its secret.
    pub fn new(api_key: impl Into<String>, signer: Arc<dyn Signer>) -> Self {
        Credentials {
            api_key: api_key.into(),
            signer,
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("api_key", &mask_api_key(&self.api_key))
            .field("signer", &"[redacted]")
            .finish()
    }
}

/// Quote characters a credential is often pasted between.
const QUOTES: [(char, char); 5] = [
    ('"', '"'),
    ('\'', '\''),
    ('`', '`'),
    ('\u{201c}', '\u{201d}'),
    ('\u{2018}', '\u{2019}'),
];

/// A credential as pasted, cleaned of surrounding whitespace and quotes.
#[derive(PartialEq, Eq)]
pub struct PastedCredential {
    /// The cleaned value, in a buffer zeroed on drop.
    pub value: Zeroizing<String>,
    /// The warning to the user naming what was removed, never the value; `None` when the
    /// value was clean.
    pub warning: Option<String>,
}

impl fmt::Debug for PastedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PastedCredential")
            .field("value", &"[redacted]")
            .field("warning", &self.warning)
            .finish()
    }
}

/// Removes whitespace and matching quotes around a pasted API key, secret or passphrase:
/// `  "abc" ` becomes `abc`. `field` names it in the warning (`api_secret`).
pub fn clean_pasted(field: &str, pasted: &str) -> PastedCredential {
    let mut value = pasted.trim();
    let mut removed = Vec::new();
    if value.len() != pasted.len() {
        removed.push("surrounding spaces");
    }
    loop {
        let quoted = QUOTES.iter().find(|(open, close)| {
            value.len() >= open.len_utf8() + close.len_utf8()
                && value.starts_with(*open)
                && value.ends_with(*close)
        });
        let Some((open, close)) = quoted else { break };
        value = value[open.len_utf8()..value.len() - close.len_utf8()].trim();
        if !removed.contains(&"surrounding quotes") {
            removed.push("surrounding quotes");
        }
    }
    let warning = (!removed.is_empty()).then(|| {
        format!(
            "removed {} from {field}; check that the rest was copied whole",
            removed.join(" and ")
        )
    });
    PastedCredential {
        value: Zeroizing::new(value.to_owned()),
        warning,
    }
}

/// Checks that a passphrase is present exactly where the exchange has one: OKX keys require
/// it, Binance and Bybit keys have none.
///
/// # Errors
/// Returns [`AdapterError::InvalidCredentials`] naming what is wrong, never the passphrase.
pub fn check_passphrase(exchange: Exchange, passphrase: Option<&str>) -> Result<(), AdapterError> {
    let given = passphrase.is_some_and(|passphrase| !passphrase.trim().is_empty());
    let reason = match (exchange.requires_passphrase(), given) {
        (true, false) => {
            format!("{exchange} keys need the passphrase chosen when the key was created")
        }
        (false, true) => format!("{exchange} keys have no passphrase; leave it out"),
        _ => return Ok(()),
    };
    Err(AdapterError::InvalidCredentials { exchange, reason })
}

/// A signer that keeps the secret in memory, for tests and command-line tools.
///
/// The secret is in a buffer that is zeroed on drop, and `Debug` prints `[redacted]`.
pub struct PlainSigner {
    secret: Zeroizing<Vec<u8>>,
    passphrase: Option<Zeroizing<String>>,
}

impl PlainSigner {
    /// Holds `secret` (the exchange's API secret, as text) for signing.
    pub fn new(secret: impl Into<String>) -> Self {
        let secret = Zeroizing::new(secret.into());
        PlainSigner {
            secret: Zeroizing::new(secret.as_bytes().to_vec()),
            passphrase: None,
        }
    }

    /// Adds the passphrase that OKX keys carry next to the secret.
    pub fn with_passphrase(mut self, passphrase: impl Into<String>) -> Self {
        self.passphrase = Some(Zeroizing::new(passphrase.into()));
        self
    }
}

impl Signer for PlainSigner {
    fn hmac_sha256(&self, message: &[u8]) -> Result<[u8; 32], SignerError> {
        hmac_sha256(&self.secret, message)
    }

    fn passphrase(&self) -> Result<Option<Zeroizing<String>>, SignerError> {
        Ok(self.passphrase.clone())
    }
}

impl fmt::Debug for PlainSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Computes HMAC-SHA256 of `message` under `key`, for implementations of [`Signer`].
///
/// # Errors
/// None in practice, because HMAC accepts keys of any length. The `Result` turns a key length
/// rejection by the hmac crate into an error instead of a panic.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Result<[u8; 32], SignerError> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key).map_err(|err| SignerError::Failed(err.into()))?;
    mac.update(message);
    Ok(mac.finalize().into_bytes().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_signer_debug_is_redacted() {
        let signer = PlainSigner::new("super-secret-value").with_passphrase("pass-phrase");
        assert_eq!(format!("{signer:?}"), "[redacted]");
    }

    #[test]
    fn credentials_debug_hides_secret_and_masks_key() {
        let signer = Arc::new(PlainSigner::new("super-secret-value"));
        let credentials = Credentials::new("abcdefghijklmnopqrstuvwxyz", signer);
        let printed = format!("{credentials:?}");
        assert!(printed.contains("abcd…wxyz"), "{printed}");
        assert!(!printed.contains("super-secret-value"), "{printed}");
        assert!(!printed.contains("efghijkl"), "{printed}");
    }

    #[test]
    fn mask_hides_short_keys_entirely() {
        assert_eq!(mask_api_key("short"), "…");
    }

    #[test]
    fn pasted_credentials_lose_spaces_and_quotes() {
        let cases = [
            ("abc", "abc", None),
            (
                "  abc\n",
                "abc",
                Some("removed surrounding spaces from api_key"),
            ),
            (
                "\"abc\"",
                "abc",
                Some("removed surrounding quotes from api_key"),
            ),
            (
                " '\u{201c}abc\u{201d}' ",
                "abc",
                Some("removed surrounding spaces and surrounding quotes from api_key"),
            ),
            ("a\"b", "a\"b", None),
            ("\"", "\"", None),
        ];
        for (pasted, expected, warning) in cases {
            let cleaned = clean_pasted("api_key", pasted);
            assert_eq!(cleaned.value.as_str(), expected, "{pasted:?}");
            let got = cleaned.warning.as_deref();
            assert_eq!(
                got.map(|w| w.split(';').next().unwrap_or(w)),
                warning,
                "{pasted:?}"
            );
        }
    }

    #[test]
    fn pasted_credential_debug_hides_value() {
        let cleaned = clean_pasted("api_secret", " \"hunter2-secret\" ");
        let printed = format!("{cleaned:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(!cleaned.warning.unwrap().contains("hunter2"));
    }

    #[test]
    fn passphrase_only_for_okx() {
        assert!(check_passphrase(Exchange::Okx, Some("pass")).is_ok());
        assert!(check_passphrase(Exchange::Binance, None).is_ok());
        assert!(check_passphrase(Exchange::Bybit, Some("  ")).is_ok());
        let missing = check_passphrase(Exchange::Okx, None).unwrap_err();
        assert_eq!(missing.code(), "invalid_credentials");
        let extra = check_passphrase(Exchange::Binance, Some("pass")).unwrap_err();
        assert!(extra.to_string().contains("no passphrase"), "{extra}");
        assert!(!extra.to_string().contains("pass\""));
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?").unwrap();
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
