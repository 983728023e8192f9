//! Binance wire types into keyward's domain types and errors.
//!
//! This is the only module where [`wire`](super::wire) types meet keyward's domain types and
//! [`AdapterError`]: REST bodies here, stream messages in [`stream`].

mod account;
mod orders;
pub mod stream;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use keyward_events::{Exchange, KeyPermissions};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;

pub use account::{balances, instruments, leverage, leverage_brackets, position_mode, positions};
pub use orders::{order, order_status, orders};

use super::wire::{BinanceApiRestrictions, BinanceError, BinanceServerTime};
use crate::error::AdapterError;
use crate::http::{excerpt, retry_after};

const EXCHANGE: Exchange = Exchange::Binance;

/// Exchange messages longer than this are cut before they go into an error.
const MESSAGE_CHARS: usize = 200;

/// The normalized permissions and the raw flags of a key-permission response.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedRestrictions {
    pub permissions: KeyPermissions,
    pub raw_flags: BTreeMap<String, serde_json::Value>,
}

/// Maps Binance's key flags onto [`KeyPermissions`].
///
/// A portfolio-margin account reports `enablePortfolioMarginTrading` in place of
/// `enableFutures`, so either counts as futures trading. Transfer covers both internal and
/// universal transfer.
///
/// # Errors
/// Returns the reason when `tradingAuthorityExpirationTime` is not a representable time.
pub fn permissions(wire: &BinanceApiRestrictions) -> Result<KeyPermissions, String> {
    // NOTE: portfolio-margin accounts trade through /papi, which this adapter does not speak yet.
    let expires_at = wire
        .trading_authority_expiration_time
        .map(expiry_from_ms)
        .transpose()?;
    Ok(KeyPermissions {
        read: wire.enable_reading,
        spot_trade: wire.enable_spot_and_margin_trading,
        futures_trade: wire.enable_futures || wire.enable_portfolio_margin_trading,
        withdraw: wire.enable_withdrawals,
        transfer: wire.enable_internal_transfer || wire.permits_universal_transfer,
        ip_restricted: wire.ip_restrict,
        expires_at,
    })
}

fn expiry_from_ms(ms: i64) -> Result<DateTime<Utc>, String> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| format!("tradingAuthorityExpirationTime {ms} is out of range"))
}

/// Decodes a successful key-permission response.
///
/// # Errors
/// Returns the error the body carries when it is a Binance error body, and
/// [`AdapterError::Undecodable`] when it has neither shape.
pub fn api_restrictions(endpoint: &str, body: &[u8]) -> Result<ParsedRestrictions, AdapterError> {
    let undecodable = |detail: String| undecodable(endpoint, StatusCode::OK, detail);
    let wire: BinanceApiRestrictions = decode(endpoint, body)?;
    let permissions = permissions(&wire).map_err(undecodable)?;
    let raw_flags = serde_json::from_slice(body)
        .map_err(|err| undecodable(format!("{err}; body: {}", excerpt(body))))?;
    Ok(ParsedRestrictions {
        permissions,
        raw_flags,
    })
}

/// Decodes a successful server time response.
///
/// # Errors
/// As [`api_restrictions`].
pub fn server_time(endpoint: &str, body: &[u8]) -> Result<BinanceServerTime, AdapterError> {
    decode(endpoint, body)
}

/// Decodes a successful response body into its wire type.
///
/// # Errors
/// Returns the error the body carries when it is a Binance error body, and
/// [`AdapterError::Undecodable`] when it has neither shape.
pub fn decode<T: DeserializeOwned>(endpoint: &str, body: &[u8]) -> Result<T, AdapterError> {
    serde_json::from_slice(body).map_err(|err| error_in_success(endpoint, body, &err.to_string()))
}

/// Classifies a 200 response in the wrong shape as the error it carries, or as undecodable.
fn error_in_success(endpoint: &str, body: &[u8], reason: &str) -> AdapterError {
    match serde_json::from_slice::<BinanceError>(body) {
        Ok(error) => error_from_code(endpoint, StatusCode::OK, error),
        Err(_) => undecodable(
            endpoint,
            StatusCode::OK,
            format!("{reason}; body: {}", excerpt(body)),
        ),
    }
}

/// Classifies a failed response by HTTP status first, then by Binance's error code.
///
/// 429 and 418 are rate limits whatever the body contains, 408 is a backend timeout. A 5xx is
/// a server failure, unless its code reports the execution status as unknown (-1006, -1007).
/// Other statuses need a Binance error body `{code, msg}`.
pub fn error_from_response(
    endpoint: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> AdapterError {
    let decoded = serde_json::from_slice::<BinanceError>(body).ok();
    let code = decoded.as_ref().map(|error| error.code);
    let msg = decoded.as_ref().map(|error| shorten(&error.msg));
    match status.as_u16() {
        429 | 418 => AdapterError::RateLimited {
            exchange: EXCHANGE,
            status: status.as_u16(),
            code,
            msg,
            retry_after: retry_after(headers),
        },
        408 => AdapterError::Timeout {
            exchange: EXCHANGE,
            endpoint: endpoint.to_owned(),
        },
        500..=599 if matches!(code, Some(-1006 | -1007)) => AdapterError::ExecutionUnknown {
            exchange: EXCHANGE,
            endpoint: endpoint.to_owned(),
            code,
            msg,
        },
        500..=599 => AdapterError::ServerError {
            exchange: EXCHANGE,
            status: status.as_u16(),
            code,
            msg,
        },
        _ => match decoded {
            Some(error) => error_from_code(endpoint, status, error),
            None => undecodable(
                endpoint,
                status,
                format!(
                    "expected a Binance error body {{code, msg}}; body: {}",
                    excerpt(body)
                ),
            ),
        },
    }
}

/// Maps Binance's error codes onto [`AdapterError`] variants. Order ids and symbols are left
/// empty; the caller adds them with [`AdapterError::for_order`].
fn error_from_code(endpoint: &str, status: StatusCode, error: BinanceError) -> AdapterError {
    let code = error.code;
    let msg = shorten(&error.msg);
    match code {
        // -2015: unknown key, IP not on the allowlist, missing permission or a key of the
        // other environment; -2014: key format; -2008: unknown key id.
        -2015 | -2014 | -2008 => AdapterError::InvalidKey {
            exchange: EXCHANGE,
            code: Some(code),
            msg,
        },
        -1022 => AdapterError::InvalidSignature {
            exchange: EXCHANGE,
            code: Some(code),
            msg,
        },
        -1021 => AdapterError::ClockSkew {
            exchange: EXCHANGE,
            code: Some(code),
            msg,
            offset_ms: None,
        },
        -1003 => AdapterError::RateLimited {
            exchange: EXCHANGE,
            status: status.as_u16(),
            code: Some(code),
            msg: Some(msg),
            retry_after: None,
        },
        -1006 | -1007 => AdapterError::ExecutionUnknown {
            exchange: EXCHANGE,
            endpoint: endpoint.to_owned(),
            code: Some(code),
            msg: Some(msg),
        },
        _ => trading_error(status, code, msg),
    }
}

/// Maps the codes of order, leverage and position mode requests.
fn trading_error(status: StatusCode, code: i64, msg: String) -> AdapterError {
    match code {
        // Precision, tick, step, quantity bounds, price bounds and bands, minimum notional.
        -1111 | -1013 | -4003 | -4004 | -4005 | -4013 | -4014 | -4016 | -4023 | -4024 | -4131
        | -4164 => AdapterError::FilterRejected {
            exchange: EXCHANGE,
            code,
            msg,
        },
        -2018 | -2019 | -2028 => AdapterError::InsufficientMargin {
            exchange: EXCHANGE,
            code,
            msg,
        },
        -4028 | -2027 => AdapterError::InvalidLeverage {
            exchange: EXCHANGE,
            code: Some(code),
            msg,
        },
        -4061 | -4067 | -4068 => AdapterError::PositionModeRefused {
            exchange: EXCHANGE,
            code: Some(code),
            reason: msg,
        },
        -2013 | -2011 => AdapterError::OrderNotFound {
            exchange: EXCHANGE,
            symbol: String::new(),
            client_order_id: String::new(),
        },
        -4116 => AdapterError::DuplicateOrder {
            exchange: EXCHANGE,
            client_order_id: String::new(),
            code: Some(code),
        },
        -1121 => AdapterError::UnknownSymbol {
            exchange: EXCHANGE,
            symbol: String::new(),
        },
        _ => AdapterError::Rejected {
            exchange: EXCHANGE,
            status: status.as_u16(),
            code,
            msg,
        },
    }
}

fn undecodable(endpoint: &str, status: StatusCode, detail: String) -> AdapterError {
    AdapterError::Undecodable {
        exchange: EXCHANGE,
        endpoint: endpoint.to_owned(),
        status: status.as_u16(),
        detail,
    }
}

fn shorten(msg: &str) -> String {
    if msg.chars().count() <= MESSAGE_CHARS {
        return msg.to_owned();
    }
    let mut short: String = msg.chars().take(MESSAGE_CHARS).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENDPOINT: &str = "GET http://127.0.0.1/sapi/v1/account/apiRestrictions";

    #[test]
    fn missing_withdraw_flag_is_undecodable() {
        let body = br#"{"ipRestrict":true,"enableReading":true,"enableInternalTransfer":false,
            "enableFutures":true,"permitsUniversalTransfer":false,
            "enableSpotAndMarginTrading":false}"#;
        let err = api_restrictions(ENDPOINT, body).unwrap_err();
        assert_eq!(err.code(), "undecodable_response");
        assert!(err.to_string().contains("enableWithdrawals"), "{err}");
    }

    #[test]
    fn error_body_with_status_200_is_classified() {
        let body = br#"{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}"#;
        let err = api_restrictions(ENDPOINT, body).unwrap_err();
        assert_eq!(err.code(), "invalid_key");
    }

    #[test]
    fn retry_after_header_is_read_on_429() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "60".parse().unwrap());
        let err = error_from_response(ENDPOINT, StatusCode::TOO_MANY_REQUESTS, &headers, b"");
        let AdapterError::RateLimited {
            retry_after, code, ..
        } = err
        else {
            panic!("expected a rate limit, got {err:?}");
        };
        assert_eq!(retry_after, Some(std::time::Duration::from_secs(60)));
        assert_eq!(code, None);
    }

    #[test]
    fn server_error_without_body_is_transient() {
        let err = error_from_response(
            ENDPOINT,
            StatusCode::BAD_GATEWAY,
            &HeaderMap::new(),
            b"<html>",
        );
        assert_eq!(err.code(), "server_error");
        assert!(err.is_transient());
    }

    #[test]
    fn html_401_is_undecodable_with_excerpt() {
        let err = error_from_response(
            ENDPOINT,
            StatusCode::UNAUTHORIZED,
            &HeaderMap::new(),
            b"<h1>no",
        );
        assert_eq!(err.code(), "undecodable_response");
        assert!(err.to_string().contains("<h1>no"), "{err}");
    }

    #[test]
    fn long_messages_are_cut() {
        let body = serde_json::json!({"code": -4000, "msg": "x".repeat(500)}).to_string();
        let err = error_from_response(
            ENDPOINT,
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            body.as_bytes(),
        );
        let AdapterError::Rejected { msg, .. } = err else {
            panic!("expected Rejected")
        };
        assert_eq!(msg.chars().count(), MESSAGE_CHARS + 1);
    }
}
