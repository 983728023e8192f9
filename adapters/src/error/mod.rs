//! The one error type of every exchange adapter, classified so callers never match on text.

mod hint;

use std::time::Duration;

use keyward_events::Exchange;
use rust_decimal::Decimal;

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
    /// allowlist, that the key lacks a permission the request needs, or that it belongs to the
    /// other environment (testnet or production).
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

    /// The request came from an IP address that is not on the key's allowlist (Bybit 10010,
    /// OKX 50110).
    #[error("{exchange} does not accept the API key from this IP address{}: {msg}", code_suffix(*code))]
    IpNotAllowed {
        exchange: Exchange,
        code: Option<i64>,
        msg: String,
    },

    /// The key lacks a permission the request needs (Bybit 10005, OKX 50120).
    #[error("the API key lacks a permission on {exchange}{}: {msg}", code_suffix(*code))]
    PermissionDenied {
        exchange: Exchange,
        code: Option<i64>,
        msg: String,
    },

    /// The key belongs to the other environment: a testnet or demo key sent to production,
    /// or the reverse (OKX 50101).
    #[error("the API key belongs to another {exchange} environment{}: {msg}", code_suffix(*code))]
    EnvironmentMismatch {
        exchange: Exchange,
        code: Option<i64>,
        msg: String,
    },

    /// The OKX passphrase is wrong or missing (50105, 50104).
    #[error("{exchange} rejected the passphrase{}: {msg}", code_suffix(*code))]
    InvalidPassphrase {
        exchange: Exchange,
        code: Option<i64>,
        msg: String,
    },

    /// The credentials cannot be used with this exchange, found before any request: a
    /// passphrase given for an exchange without one, or missing where one is required.
    #[error("invalid {exchange} credentials: {reason}")]
    InvalidCredentials { exchange: Exchange, reason: String },

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

    /// The exchange limits the request rate (HTTP 429, Bybit 10006, OKX 50011), or has banned
    /// the IP address (418).
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
    /// For an order, whether it was placed is unknown.
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

    /// The exchange reported that it does not know whether the request was carried out
    /// (Binance -1006 and -1007, "execution status unknown").
    #[error("{exchange} does not know whether the request at {endpoint} was carried out{}{}", code_suffix(*code), msg_suffix(msg.as_deref()))]
    ExecutionUnknown {
        exchange: Exchange,
        endpoint: String,
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

    /// The exchange rejected an order's price or quantity against the instrument's rules:
    /// tick or step size, precision, minimum or maximum quantity, minimum notional, price band
    /// (Binance -1111, -4014, -4023, -4164, Bybit 110094, OKX 51121).
    #[error("{exchange} rejected the order's price or quantity (code {code}): {msg}")]
    FilterRejected {
        exchange: Exchange,
        code: i64,
        msg: String,
    },

    /// keyward rejected the order before sending it, because it breaks the instrument's rules
    /// once rounded.
    #[error("invalid order for {symbol}: {problem}")]
    InvalidOrder {
        symbol: String,
        problem: OrderProblem,
    },

    /// The account lacks the margin or balance for the order (Binance -2019, Bybit 110007,
    /// OKX 51008).
    #[error("{exchange} rejected the order for insufficient margin (code {code}): {msg}")]
    InsufficientMargin {
        exchange: Exchange,
        code: i64,
        msg: String,
    },

    /// The leverage is outside what the instrument or the position size allows (Binance
    /// -4028).
    #[error("{exchange} rejected the leverage{}: {msg}", code_suffix(*code))]
    InvalidLeverage {
        exchange: Exchange,
        code: Option<i64>,
        msg: String,
    },

    /// The account is in hedge mode and cannot be switched to one-way, which keyward needs.
    #[error("{exchange} account cannot trade in one-way position mode: {reason}")]
    PositionModeRefused {
        exchange: Exchange,
        code: Option<i64>,
        reason: String,
    },

    /// The exchange has no order with this client order id (Binance -2013 and -2011).
    #[error("{exchange} has no order {client_order_id} for {symbol}")]
    OrderNotFound {
        exchange: Exchange,
        symbol: String,
        client_order_id: String,
    },

    /// The exchange already has an order with this client order id (Binance -4116): an
    /// earlier attempt was placed.
    #[error("{exchange} already has an order {client_order_id}{}", code_suffix(*code))]
    DuplicateOrder {
        exchange: Exchange,
        client_order_id: String,
        code: Option<i64>,
    },

    /// The exchange does not list the instrument.
    #[error("{exchange} has no USDT-margined perpetual {symbol}")]
    UnknownSymbol { exchange: Exchange, symbol: String },

    /// A websocket stream failed to connect, subscribe or log in.
    #[error("{exchange} stream at {endpoint} failed: {detail}")]
    Stream {
        exchange: Exchange,
        endpoint: String,
        detail: String,
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

/// The reason keyward rejected an order before sending it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OrderProblem {
    #[error("the instrument is {instrument}; the order is for another symbol")]
    SymbolMismatch { instrument: String },
    #[error("the instrument is not trading")]
    NotTrading,
    #[error("a limit or stop order needs a price")]
    PriceMissing,
    #[error(
        "quantity {requested} rounds down to {rounded} at the instrument's step, below the \
         minimum quantity {min}"
    )]
    QuantityBelowMinimum {
        requested: Decimal,
        rounded: Decimal,
        min: Decimal,
    },
    #[error("quantity {quantity} is above the maximum {max} for one order")]
    QuantityAboveMaximum { quantity: Decimal, max: Decimal },
    #[error("order value {notional} is below the minimum notional {min}")]
    NotionalBelowMinimum { notional: Decimal, min: Decimal },
    #[error("price {price} is outside the instrument's range ({} to {})", bound_text(*min), bound_text(*max))]
    PriceOutOfRange {
        price: Decimal,
        min: Option<Decimal>,
        max: Option<Decimal>,
    },
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
                | AdapterError::ExecutionUnknown { .. }
                | AdapterError::Stream { .. }
        )
    }

    /// Returns whether a request that changes state (an order, a cancel) may have been carried
    /// out although it failed, because the response was lost, timed out or reported the
    /// outcome as unknown. Before any retry the caller must look the order up.
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            AdapterError::Timeout { .. }
                | AdapterError::ServerError { .. }
                | AdapterError::Transport { .. }
                | AdapterError::ExecutionUnknown { .. }
        )
    }

    /// Returns the wait the exchange requested before the next request (`Retry-After` on a
    /// rate limit), if it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            AdapterError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Returns a stable snake_case name of the failure, for events and API responses.
    pub fn code(&self) -> &'static str {
        match self {
            AdapterError::InvalidKey { .. } => "invalid_key",
            AdapterError::InvalidSignature { .. } => "invalid_signature",
            AdapterError::IpNotAllowed { .. } => "ip_not_allowed",
            AdapterError::PermissionDenied { .. } => "permission_denied",
            AdapterError::EnvironmentMismatch { .. } => "environment_mismatch",
            AdapterError::InvalidPassphrase { .. } => "invalid_passphrase",
            AdapterError::InvalidCredentials { .. } => "invalid_credentials",
            AdapterError::ClockSkew { .. } => "clock_skew",
            AdapterError::RateLimited { .. } => "rate_limited",
            AdapterError::Timeout { .. } => "timeout",
            AdapterError::ServerError { .. } => "server_error",
            AdapterError::ExecutionUnknown { .. } => "execution_unknown",
            AdapterError::Transport { .. } => "transport_failed",
            AdapterError::FilterRejected { .. } => "filter_rejected",
            AdapterError::InvalidOrder { .. } => "invalid_order",
            AdapterError::InsufficientMargin { .. } => "insufficient_margin",
            AdapterError::InvalidLeverage { .. } => "invalid_leverage",
            AdapterError::PositionModeRefused { .. } => "position_mode_refused",
            AdapterError::OrderNotFound { .. } => "order_not_found",
            AdapterError::DuplicateOrder { .. } => "duplicate_order",
            AdapterError::UnknownSymbol { .. } => "unknown_symbol",
            AdapterError::Stream { .. } => "stream_failed",
            AdapterError::Rejected { .. } => "exchange_rejected",
            AdapterError::Undecodable { .. } => "undecodable_response",
            AdapterError::Unsupported { .. } => "unsupported_exchange",
            AdapterError::Signer(_) => "signer_failed",
        }
    }

    /// Returns a sentence telling the user what to do about the failure.
    pub fn hint(&self) -> String {
        hint::hint(self)
    }

    /// Returns the exchange's own error code, such as `"-2015"`, when the exchange sent one.
    pub fn exchange_code(&self) -> Option<String> {
        match self {
            AdapterError::InvalidKey { code, .. }
            | AdapterError::InvalidSignature { code, .. }
            | AdapterError::IpNotAllowed { code, .. }
            | AdapterError::PermissionDenied { code, .. }
            | AdapterError::EnvironmentMismatch { code, .. }
            | AdapterError::InvalidPassphrase { code, .. }
            | AdapterError::ClockSkew { code, .. }
            | AdapterError::RateLimited { code, .. }
            | AdapterError::ServerError { code, .. }
            | AdapterError::ExecutionUnknown { code, .. }
            | AdapterError::InvalidLeverage { code, .. }
            | AdapterError::PositionModeRefused { code, .. }
            | AdapterError::DuplicateOrder { code, .. } => code.map(|code| code.to_string()),
            AdapterError::Rejected { code, .. }
            | AdapterError::FilterRejected { code, .. }
            | AdapterError::InsufficientMargin { code, .. } => Some(code.to_string()),
            _ => None,
        }
    }

    /// Fills in the symbol and client order id of an error about one order. Parsers leave them
    /// empty because an error body does not repeat them. Other errors pass as they are.
    pub fn for_order(mut self, order_symbol: &str, order_id: &str) -> Self {
        match &mut self {
            AdapterError::OrderNotFound {
                symbol,
                client_order_id,
                ..
            } => {
                order_symbol.clone_into(symbol);
                order_id.clone_into(client_order_id);
            }
            AdapterError::DuplicateOrder {
                client_order_id, ..
            } => order_id.clone_into(client_order_id),
            AdapterError::UnknownSymbol { symbol, .. } => order_symbol.clone_into(symbol),
            _ => {}
        }
        self
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

fn bound_text(bound: Option<Decimal>) -> String {
    bound.map_or_else(|| "any".to_owned(), |bound| bound.to_string())
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
