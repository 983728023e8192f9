//! The one error type of every exchange adapter, classified so callers never match on text.

use std::time::Duration;

use keyward_events::Exchange;

use crate::credentials::SignerError;

/// Failure of a call to an exchange.
///
/// Variants keep the exchange's own code and message where it sent them. None of them carries
/// the API secret, the passphrase or a request signature, and URLs in them have no query.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdapterError {
    /// The exchange does not accept the API key for this request. On Binance the same code
    /// (-2015) also means that the request came from an IP address outside the key's
    /// allowlist, or that the key lacks a permission the request needs.
    #[error("{exchange} rejected the API key{}: {msg}", code_suffix(*code))]
    InvalidKey {
        exchange: Exchange,
        code: Option<i64>,
        msg: String,
    },

    /// The signature does not verify, which usually means the API secret is wrong.
    #[error("{exchange} rejected the request signature{}: {msg}", code_suffix(*code))]
    InvalidSignature {
        exchange: Exchange,
        code: Option<i64>,
        msg: String,
    },

    /// The request timestamp is outside the exchange's receive window.
    #[error(
        "{exchange} rejected the request timestamp{}: {msg} (measured clock offset: {})",
        code_suffix(*code),
        offset_text(*offset_ms)
    )]
    ClockSkew {
        exchange: Exchange,
        code: Option<i64>,
        msg: String,
        offset_ms: Option<i64>,
    },

    /// The exchange limits the request rate (HTTP 429), or has banned the IP address (418).
    #[error(
        "{exchange} rate-limited the request (HTTP {status}{}){}",
        code_suffix(*code),
        retry_text(*retry_after)
    )]
    RateLimited {
        exchange: Exchange,
        status: u16,
        code: Option<i64>,
        msg: Option<String>,
        retry_after: Option<Duration>,
    },

    /// No response arrived in time, or the exchange reported a backend timeout (HTTP 408).
    #[error("request to {exchange} at {endpoint} timed out")]
    Timeout {
        exchange: Exchange,
        endpoint: String,
    },

    /// The exchange failed on its side (HTTP 5xx).
    #[error("{exchange} failed with HTTP {status}{}", msg_suffix(msg.as_deref()))]
    ServerError {
        exchange: Exchange,
        status: u16,
        code: Option<i64>,
        msg: Option<String>,
    },

    /// The request did not reach the exchange or the connection broke (DNS, TCP, TLS).
    #[error("request to {exchange} at {endpoint} failed")]
    Transport {
        exchange: Exchange,
        endpoint: String,
        #[source]
        source: reqwest::Error,
    },

    /// The exchange returned an error code that has no more specific variant.
    #[error("{exchange} rejected the request (HTTP {status}, code {code}): {msg}")]
    Rejected {
        exchange: Exchange,
        status: u16,
        code: i64,
        msg: String,
    },

    /// The response is not in the shape the exchange documents.
    #[error("undecodable response from {exchange} at {endpoint} (HTTP {status}): {detail}")]
    Undecodable {
        exchange: Exchange,
        endpoint: String,
        status: u16,
        /// Description of what did not decode, with the start of the body.
        detail: String,
    },

    /// keyward has no adapter for this exchange yet.
    #[error("{exchange} is not supported yet")]
    Unsupported { exchange: Exchange },

    /// The key's secret could not be used to sign.
    #[error(transparent)]
    Signer(#[from] SignerError),
}

impl AdapterError {
    /// Returns whether the same request may succeed later without anything being changed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            AdapterError::Timeout { .. }
                | AdapterError::ServerError { .. }
                | AdapterError::RateLimited { .. }
                | AdapterError::ClockSkew { .. }
                | AdapterError::Transport { .. }
        )
    }

    /// Returns a stable snake_case name of the failure, for events and API responses.
    pub fn code(&self) -> &'static str {
        match self {
            AdapterError::InvalidKey { .. } => "invalid_key",
            AdapterError::InvalidSignature { .. } => "invalid_signature",
            AdapterError::ClockSkew { .. } => "clock_skew",
            AdapterError::RateLimited { .. } => "rate_limited",
            AdapterError::Timeout { .. } => "timeout",
            AdapterError::ServerError { .. } => "server_error",
            AdapterError::Transport { .. } => "transport_failed",
            AdapterError::Rejected { .. } => "exchange_rejected",
            AdapterError::Undecodable { .. } => "undecodable_response",
            AdapterError::Unsupported { .. } => "unsupported_exchange",
            AdapterError::Signer(_) => "signer_failed",
        }
    }

    /// Returns a sentence telling the user what to do about the failure.
    pub fn hint(&self) -> String {
        match self {
            AdapterError::InvalidKey {
                exchange: Exchange::Binance,
                ..
            } => "Check that the API key is copied exactly, that this server's IP address is on \
                 the key's IP allowlist, and that the key has the permissions keyward needs \
                 (reading and futures trading); Binance gives all three problems the same code."
                .to_owned(),
            AdapterError::InvalidKey { .. } => {
                "Check that the API key is copied exactly and is still active on the exchange."
                    .to_owned()
            }
            AdapterError::InvalidSignature { .. } => {
                "Check the API secret: it does not match the API key. Paste it again exactly."
                    .to_owned()
            }
            AdapterError::ClockSkew { .. } => {
                "Synchronize this server's clock (NTP); keyward retries with a fresh offset."
                    .to_owned()
            }
            AdapterError::RateLimited { retry_after, .. } => match retry_after {
                Some(wait) => format!(
                    "Wait {} s before retrying; keyward backs off.",
                    wait.as_secs()
                ),
                None => "Wait a minute before retrying; keyward backs off.".to_owned(),
            },
            AdapterError::Timeout { .. }
            | AdapterError::ServerError { .. }
            | AdapterError::Transport { .. } => {
                "The exchange is unreachable or failing; keyward retries later. Check the \
                 network and the configured exchange URL if this persists."
                    .to_owned()
            }
            AdapterError::Rejected { .. } => {
                "Read the exchange's message above; the request needs a change before a retry."
                    .to_owned()
            }
            AdapterError::Undecodable { .. } => {
                "Check that the configured exchange URL points at the exchange's API; the \
                 response did not have the documented shape."
                    .to_owned()
            }
            AdapterError::Unsupported { .. } => {
                "Use a key of a supported exchange (Binance for now).".to_owned()
            }
            AdapterError::Signer(_) => {
                "Check that the vault is unlocked and the key's secret is still stored.".to_owned()
            }
        }
    }

    /// Returns the exchange's own error code, such as `"-2015"`, when the exchange sent one.
    pub fn exchange_code(&self) -> Option<String> {
        match self {
            AdapterError::InvalidKey { code, .. }
            | AdapterError::InvalidSignature { code, .. }
            | AdapterError::ClockSkew { code, .. }
            | AdapterError::RateLimited { code, .. }
            | AdapterError::ServerError { code, .. } => code.map(|code| code.to_string()),
            AdapterError::Rejected { code, .. } => Some(code.to_string()),
            _ => None,
        }
    }

    /// Sets the measured clock offset on a [`AdapterError::ClockSkew`]; other errors pass as
    /// they are.
    pub fn with_clock_offset(mut self, offset: i64) -> Self {
        if let AdapterError::ClockSkew { offset_ms, .. } = &mut self {
            *offset_ms = Some(offset);
        }
        self
    }
}

fn code_suffix(code: Option<i64>) -> String {
    code.map(|code| format!(" (code {code})"))
        .unwrap_or_default()
}

fn msg_suffix(msg: Option<&str>) -> String {
    msg.map(|msg| format!(": {msg}")).unwrap_or_default()
}

fn offset_text(offset_ms: Option<i64>) -> String {
    offset_ms.map_or_else(|| "unknown".to_owned(), |offset| format!("{offset} ms"))
}

fn retry_text(retry_after: Option<Duration>) -> String {
    retry_after
        .map(|wait| format!("; retry after {} s", wait.as_secs()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid_key() -> AdapterError {
        AdapterError::InvalidKey {
            exchange: Exchange::Binance,
            code: Some(-2015),
            msg: "Invalid API-key, IP, or permissions for action.".to_owned(),
        }
    }

    #[test]
    fn invalid_key_is_permanent_with_code() {
        let err = invalid_key();
        assert!(!err.is_transient());
        assert_eq!(err.code(), "invalid_key");
        assert_eq!(err.exchange_code().as_deref(), Some("-2015"));
    }

    #[test]
    fn binance_invalid_key_hint_names_ip_and_permission() {
        let hint = invalid_key().hint();
        assert!(hint.contains("IP allowlist"), "{hint}");
        assert!(hint.contains("permissions"), "{hint}");
    }

    #[test]
    fn clock_skew_carries_offset_in_message() {
        let err = AdapterError::ClockSkew {
            exchange: Exchange::Binance,
            code: Some(-1021),
            msg: "Timestamp for this request is outside of the recvWindow.".to_owned(),
            offset_ms: None,
        }
        .with_clock_offset(-7250);
        assert!(err.is_transient());
        assert!(err.to_string().contains("-7250 ms"), "{err}");
    }

    #[test]
    fn rate_limit_message_shows_retry_after() {
        let err = AdapterError::RateLimited {
            exchange: Exchange::Binance,
            status: 429,
            code: Some(-1003),
            msg: None,
            retry_after: Some(Duration::from_secs(60)),
        };
        assert!(err.is_transient());
        assert!(err.to_string().contains("retry after 60 s"), "{err}");
        assert!(err.hint().contains("60 s"));
    }
}
