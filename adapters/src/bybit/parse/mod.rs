//! Bybit wire types into keyward's domain types and errors.
//!
//! This is the only module where [`wire`](super::wire) types meet keyward's domain types and
//! [`AdapterError`].

pub mod stream;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use keyward_events::bot::Side;
use keyward_events::{Exchange, KeyPermissions};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;

use super::wire::{
    BybitEnvelope, BybitErrorBody, BybitInstrument, BybitKeyInfo, BybitOrder, BybitPosition,
    BybitRiskLimit, BybitWalletPage,
};
use crate::domain::{
    Balance, ClientOrderId, Instrument, LeverageBracket, OrderState, OrderStatus, OrderType,
    Position, PositionMode,
};
use crate::error::AdapterError;
use crate::http::{excerpt, numeric_header, retry_after};

const EXCHANGE: Exchange = Exchange::Bybit;

/// Exchange messages longer than this are cut before they go into an error.
const MESSAGE_CHARS: usize = 200;

/// Bybit's pause after an address exceeded its request limit (HTTP 403): at least 10 minutes.
const IP_BAN: Duration = Duration::from_secs(600);

/// `retCode` of a leverage that already had the requested value.
pub const LEVERAGE_NOT_MODIFIED: i64 = 110_043;
/// `retCode` of a position mode that already had the requested value.
pub const POSITION_MODE_NOT_MODIFIED: i64 = 110_025;

/// Maps Bybit's key information onto [`KeyPermissions`].
///
/// `readOnly` wins over the permission lists, which may still list trade groups on a
/// read-only key. Futures trading needs `ContractTrade` with `Order` and `Position`, and on a
/// unified account also `Derivatives: DerivativesTrade`, because Bybit does not document which
/// of the two it checks. Withdrawal and transfer count whenever `Wallet` lists them, read-only
/// or not, so a doubtful key is rejected rather than trusted.
///
/// # Errors
/// Returns the reason when `expiredAt` is not an RFC 3339 time.
pub fn permissions(wire: &BybitKeyInfo) -> Result<KeyPermissions, String> {
    let group = |name: &str| wire.permissions.get(name).map_or(&[][..], Vec::as_slice);
    let has = |name: &str, value: &str| group(name).iter().any(|entry| entry == value);
    let writable = wire.read_only == 0;
    let contract = has("ContractTrade", "Order") && has("ContractTrade", "Position");
    let derivatives = wire.uta != 1 || has("Derivatives", "DerivativesTrade");
    let transfer = [
        "AccountTransfer",
        "SubMemberTransfer",
        "SubMemberTransferList",
    ]
    .iter()
    .any(|value| has("Wallet", value));
    Ok(KeyPermissions {
        read: true,
        spot_trade: writable && has("Spot", "SpotTrade"),
        futures_trade: writable && contract && derivatives,
        withdraw: has("Wallet", "Withdraw"),
        transfer,
        ip_restricted: wire.ips.iter().any(|ip| ip != "*" && !ip.is_empty()),
        expires_at: expiry(wire.expired_at.as_deref())?,
    })
}

/// Reads `expiredAt`; the Unix epoch means the key does not expire.
fn expiry(text: Option<&str>) -> Result<Option<DateTime<Utc>>, String> {
    let Some(text) = text.filter(|text| !text.is_empty()) else {
        return Ok(None);
    };
    let time = DateTime::parse_from_rfc3339(text)
        .map_err(|err| format!("expiredAt {text:?} is not an RFC 3339 time: {err}"))?
        .with_timezone(&Utc);
    Ok((time.timestamp() > 0).then_some(time))
}

/// Decodes a successful key information response into the permissions and every raw flag.
///
/// # Errors
/// Returns the error the body carries, or [`AdapterError::Undecodable`].
pub fn key_information(
    endpoint: &str,
    body: &[u8],
) -> Result<(KeyPermissions, BTreeMap<String, serde_json::Value>), AdapterError> {
    let wire: BybitKeyInfo = decode(endpoint, StatusCode::OK, &HeaderMap::new(), body)?;
    let permissions =
        permissions(&wire).map_err(|detail| undecodable(endpoint, StatusCode::OK, detail))?;
    let raw: BybitEnvelope<BTreeMap<String, serde_json::Value>> = serde_json::from_slice(body)
        .map_err(|err| undecodable(endpoint, StatusCode::OK, err.to_string()))?;
    let mut raw_flags = raw.result.unwrap_or_default();
    raw_flags.remove("secret");
    Ok((permissions, raw_flags))
}

/// Decodes a response: the `result` of a `retCode` 0 envelope, or the error it carries.
///
/// # Errors
/// Returns the error of a non-zero `retCode`, or [`AdapterError::Undecodable`] when the body
/// is not a Bybit envelope of the expected shape.
pub fn decode<T: DeserializeOwned>(
    endpoint: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, AdapterError> {
    let error = serde_json::from_slice::<BybitErrorBody>(body)
        .map_err(|err| undecodable(endpoint, status, format!("{err}; body: {}", excerpt(body))))?;
    if error.ret_code != 0 {
        return Err(error_from_code(
            status,
            headers,
            error.ret_code,
            &error.ret_msg,
        ));
    }
    let envelope: BybitEnvelope<T> = serde_json::from_slice(body)
        .map_err(|err| undecodable(endpoint, status, format!("{err}; body: {}", excerpt(body))))?;
    envelope
        .result
        .ok_or_else(|| undecodable(endpoint, status, "the envelope has no result".to_owned()))
}

/// Classifies a response whose HTTP status is not 200. 429 and 403 are rate limits, because
/// 403 is Bybit's address ban. A 5xx is a server failure and a 401 without a body an unknown
/// key. Other statuses need a Bybit envelope.
pub fn error_from_response(
    endpoint: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> AdapterError {
    let decoded = serde_json::from_slice::<BybitErrorBody>(body).ok();
    let code = decoded.as_ref().map(|error| error.ret_code);
    let msg = decoded.as_ref().map(|error| shorten(&error.ret_msg));
    match status.as_u16() {
        429 | 403 => AdapterError::RateLimited {
            exchange: EXCHANGE,
            status: status.as_u16(),
            code,
            msg,
            retry_after: retry_after(headers)
                .or((status == StatusCode::FORBIDDEN).then_some(IP_BAN)),
        },
        500..=599 => AdapterError::ServerError {
            exchange: EXCHANGE,
            status: status.as_u16(),
            code,
            msg,
        },
        401 if decoded.is_none() => AdapterError::InvalidKey {
            exchange: EXCHANGE,
            code: None,
            msg: "HTTP 401".to_owned(),
        },
        _ => match decoded {
            Some(error) => error_from_code(status, headers, error.ret_code, &error.ret_msg),
            None => undecodable(
                endpoint,
                status,
                format!("expected a Bybit envelope; body: {}", excerpt(body)),
            ),
        },
    }
}

/// Maps Bybit's `retCode`s onto [`AdapterError`]. Order ids and symbols are left empty; the
/// caller adds them with [`AdapterError::for_order`].
pub fn error_from_code(
    status: StatusCode,
    headers: &HeaderMap,
    code: i64,
    msg: &str,
) -> AdapterError {
    let msg = shorten(msg);
    match code {
        // Bybit also returns 10003 for a key of the other environment (testnet or production).
        10003 | 10007 | 33004 => AdapterError::InvalidKey {
            exchange: EXCHANGE,
            code: Some(code),
            msg,
        },
        10004 => AdapterError::InvalidSignature {
            exchange: EXCHANGE,
            code: Some(code),
            msg,
        },
        10010 => AdapterError::IpNotAllowed {
            exchange: EXCHANGE,
            code: Some(code),
            msg,
        },
        10005 => AdapterError::PermissionDenied {
            exchange: EXCHANGE,
            code: Some(code),
            msg,
        },
        10002 => AdapterError::ClockSkew {
            exchange: EXCHANGE,
            code: Some(code),
            msg,
            offset_ms: None,
        },
        10006 => AdapterError::RateLimited {
            exchange: EXCHANGE,
            status: status.as_u16(),
            code: Some(code),
            msg: Some(msg),
            retry_after: limit_reset(headers),
        },
        10000 | 10016 => AdapterError::ServerError {
            exchange: EXCHANGE,
            status: status.as_u16(),
            code: Some(code),
            msg: Some(msg),
        },
        _ => trading_error(status, code, msg),
    }
}

fn trading_error(status: StatusCode, code: i64, msg: String) -> AdapterError {
    match code {
        110_003 | 110_017 | 110_094 => AdapterError::FilterRejected {
            exchange: EXCHANGE,
            code,
            msg,
        },
        110_004 | 110_007 | 110_012 | 110_044 => AdapterError::InsufficientMargin {
            exchange: EXCHANGE,
            code,
            msg,
        },
        110_013 => AdapterError::InvalidLeverage {
            exchange: EXCHANGE,
            code: Some(code),
            msg,
        },
        110_024 => AdapterError::PositionModeRefused {
            exchange: EXCHANGE,
            code: Some(code),
            reason: msg,
        },
        110_001 | 110_008 => AdapterError::OrderNotFound {
            exchange: EXCHANGE,
            symbol: String::new(),
            client_order_id: String::new(),
        },
        110_072 => AdapterError::DuplicateOrder {
            exchange: EXCHANGE,
            client_order_id: String::new(),
            code: Some(code),
        },
        _ => AdapterError::Rejected {
            exchange: EXCHANGE,
            status: status.as_u16(),
            code,
            msg,
        },
    }
}

/// Reads the wait until `X-Bapi-Limit-Reset-Timestamp` (ms since the epoch).
fn limit_reset(headers: &HeaderMap) -> Option<Duration> {
    let reset_ms: i64 = headers
        .get("x-bapi-limit-reset-timestamp")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let wait_ms = reset_ms - Utc::now().timestamp_millis();
    u64::try_from(wait_ms).ok().map(Duration::from_millis)
}

/// Reads `X-Bapi-Limit-Status` (requests left in the window) and `X-Bapi-Limit` (the window's
/// limit), which Bybit sends per account and endpoint.
pub fn limit_status(headers: &HeaderMap) -> Option<(u32, u32)> {
    let remaining = numeric_header(headers, "x-bapi-limit-status")?;
    let limit = numeric_header(headers, "x-bapi-limit")?;
    Some((remaining, limit))
}

/// Returns whether the endpoint's per-second budget is spent, from `X-Bapi-Limit-Status`.
pub fn limit_spent(headers: &HeaderMap) -> Option<Duration> {
    let remaining = numeric_header(headers, "x-bapi-limit-status")?;
    (remaining == 0).then(|| limit_reset(headers).unwrap_or(Duration::from_secs(1)))
}

/// Returns the server time in ms from `timeNano`, or `timeSecond` when that does not parse.
///
/// # Errors
/// Returns the reason when neither is a number.
pub fn server_time_ms(time_second: &str, time_nano: &str) -> Result<i64, String> {
    if let Ok(nanos) = time_nano.parse::<i128>() {
        return i64::try_from(nanos / 1_000_000).map_err(|err| err.to_string());
    }
    time_second
        .parse::<i64>()
        .map(|seconds| seconds.saturating_mul(1000))
        .map_err(|_| format!("timeSecond {time_second:?} is not a number"))
}

/// Converts linear perpetuals into instruments; dated futures and other types are skipped.
pub fn instruments(list: Vec<BybitInstrument>) -> Vec<Instrument> {
    list.into_iter()
        .filter(|wire| wire.contract_type == "LinearPerpetual")
        .map(|wire| Instrument {
            exchange_symbol: wire.symbol.clone(),
            symbol: wire.symbol,
            settle_asset: wire.settle_coin.unwrap_or_else(|| wire.quote_coin.clone()),
            base_asset: wire.base_coin,
            quote_asset: wire.quote_coin,
            trading: wire.status == "Trading",
            tick_size: wire.price_filter.tick_size,
            min_price: wire.price_filter.min_price,
            max_price: wire.price_filter.max_price,
            step_size: wire.lot_size_filter.qty_step,
            min_quantity: wire.lot_size_filter.min_order_qty,
            max_quantity: wire.lot_size_filter.max_order_qty,
            max_market_quantity: wire.lot_size_filter.max_mkt_order_qty,
            min_notional: wire
                .lot_size_filter
                .min_notional_value
                .filter(|value| !value.is_zero()),
            contract_value: Decimal::ONE,
            max_leverage: wire.leverage_filter.max_leverage,
            leverage_brackets: Vec::new(),
        })
        .collect()
}

/// Converts risk-limit tiers of one symbol into leverage brackets, lowest tier first.
pub fn leverage_brackets(list: &[BybitRiskLimit], symbol: &str) -> Vec<LeverageBracket> {
    let mut tiers: Vec<&BybitRiskLimit> =
        list.iter().filter(|tier| tier.symbol == symbol).collect();
    tiers.sort_by_key(|tier| tier.risk_limit_value);
    let mut floor = Decimal::ZERO;
    tiers
        .into_iter()
        .map(|tier| {
            let bracket = LeverageBracket {
                notional_floor: floor,
                notional_cap: tier.risk_limit_value,
                max_leverage: tier.max_leverage.normalize(),
                maint_margin_ratio: tier.maintenance_margin,
            };
            floor = tier.risk_limit_value;
            bracket
        })
        .collect()
}

/// Converts the coins of a unified account into balances. The available balance is equity
/// minus the margin of positions and orders and any locked amount.
pub fn balances(page: BybitWalletPage) -> Vec<Balance> {
    page.list
        .into_iter()
        .flat_map(|wallet| wallet.coin)
        .map(|coin| {
            let unrealized = coin.unrealised_pnl.unwrap_or_default();
            let equity = coin.equity.unwrap_or(coin.wallet_balance + unrealized);
            let margin = coin.total_position_im.unwrap_or_default()
                + coin.total_order_im.unwrap_or_default()
                + coin.locked.unwrap_or_default();
            Balance {
                asset: coin.coin,
                wallet_balance: coin.wallet_balance,
                available_balance: equity - margin,
                unrealized_pnl: unrealized,
                updated_at_ms: 0,
            }
        })
        .collect()
}

/// Converts one position entry; the quantity is negative for a `Sell` position.
pub fn position(wire: BybitPosition) -> Position {
    let quantity = if wire.side == "Sell" {
        -wire.size
    } else {
        wire.size
    };
    Position {
        symbol: wire.symbol,
        quantity,
        entry_price: wire.avg_price.unwrap_or_default(),
        mark_price: wire.mark_price,
        unrealized_pnl: wire.unrealised_pnl.unwrap_or_default(),
        leverage: wire.leverage,
        liquidation_price: wire.liq_price.filter(|price| !price.is_zero()),
        updated_at_ms: millis(wire.updated_time.as_deref()),
    }
}

/// Reads the position mode from position entries: `positionIdx` 1 or 2 means hedge mode.
pub fn position_mode(list: &[BybitPosition]) -> PositionMode {
    if list.iter().any(|position| position.position_idx != 0) {
        PositionMode::Hedge
    } else {
        PositionMode::OneWay
    }
}

/// Converts one order entry.
///
/// # Errors
/// Returns the reason for an unknown side or status.
pub fn order_status(wire: BybitOrder) -> Result<OrderStatus, String> {
    let side = match wire.side.as_str() {
        "Buy" => Side::Buy,
        "Sell" => Side::Sell,
        other => return Err(format!("unknown order side {other:?}")),
    };
    let state = match wire.order_status.as_str() {
        "New" | "Untriggered" | "Triggered" | "Created" => OrderState::New,
        "PartiallyFilled" => OrderState::PartiallyFilled,
        "Filled" => OrderState::Filled,
        "Cancelled" | "PartiallyFilledCanceled" => OrderState::Canceled,
        "Rejected" => OrderState::Rejected,
        "Deactivated" => OrderState::Expired,
        other => return Err(format!("unknown order status {other:?}")),
    };
    let stop = wire
        .stop_order_type
        .as_deref()
        .is_some_and(|kind| !kind.is_empty());
    let order_type = match (wire.order_type.as_str(), stop) {
        ("Market", true) => OrderType::StopMarket,
        ("Market", false) => OrderType::Market,
        ("Limit", _) => OrderType::Limit,
        (other, _) => OrderType::Other(other.to_owned()),
    };
    let nonzero = |value: Option<Decimal>| value.filter(|value| !value.is_zero());
    Ok(OrderStatus {
        symbol: wire.symbol,
        client_order_id: ClientOrderId::from_exchange(wire.order_link_id),
        exchange_order_id: wire.order_id,
        side,
        price: if order_type == OrderType::Limit {
            nonzero(wire.price)
        } else {
            None
        },
        order_type,
        state,
        quantity: wire.qty,
        filled_quantity: wire.cum_exec_qty.unwrap_or_default(),
        average_price: nonzero(wire.avg_price),
        trigger_price: nonzero(wire.trigger_price),
        reduce_only: wire.reduce_only,
        updated_at_ms: millis(wire.updated_time.as_deref()),
    })
}

fn millis(text: Option<&str>) -> i64 {
    text.and_then(|text| text.parse().ok()).unwrap_or(0)
}

/// Builds [`AdapterError::Undecodable`] for an endpoint.
pub fn undecodable(endpoint: &str, status: StatusCode, detail: String) -> AdapterError {
    AdapterError::Undecodable {
        exchange: EXCHANGE,
        endpoint: endpoint.to_owned(),
        status: status.as_u16(),
        detail,
    }
}

fn shorten(msg: &str) -> String {
    crate::http::shorten(msg, MESSAGE_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_expiry_means_none() {
        assert_eq!(expiry(Some("1970-01-01T00:00:00Z")), Ok(None));
        assert!(expiry(Some("2026-03-01T00:00:00Z")).unwrap().is_some());
        assert!(expiry(Some("soon")).is_err());
    }

    #[test]
    fn server_time_prefers_nanoseconds() {
        assert_eq!(
            server_time_ms("1688639403", "1688639403423213947"),
            Ok(1_688_639_403_423)
        );
        assert_eq!(server_time_ms("1688639403", ""), Ok(1_688_639_403_000));
        assert!(server_time_ms("x", "y").is_err());
    }

    #[test]
    fn forbidden_is_an_address_ban() {
        let err = error_from_response("GET /v5/x", StatusCode::FORBIDDEN, &HeaderMap::new(), b"");
        assert_eq!(err.code(), "rate_limited");
        assert_eq!(err.retry_after(), Some(IP_BAN));
    }

    #[test]
    fn limit_status_needs_both_headers() {
        let header = |value: &'static str| reqwest::header::HeaderValue::from_static(value);
        let mut headers = HeaderMap::new();
        assert_eq!(limit_status(&headers), None);
        headers.insert("x-bapi-limit-status", header("7"));
        assert_eq!(limit_status(&headers), None);
        headers.insert("x-bapi-limit", header("10"));
        assert_eq!(limit_status(&headers), Some((7, 10)));
        headers.insert("x-bapi-limit", header("ten"));
        assert_eq!(limit_status(&headers), None);
    }
}
