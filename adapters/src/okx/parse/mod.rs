//! OKX wire types into keyward's domain types and errors.
//!
//! This is the only module where [`wire`](super::wire) types meet keyward's domain types and
//! [`AdapterError`]. OKX counts swap sizes in contracts; they become base-asset quantities here,
//! with the instrument's contract value.

pub mod stream;

use std::collections::BTreeMap;

use keyward_events::bot::Side;
use keyward_events::{Exchange, KeyPermissions};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;

use super::wire::{
    OkxAccountConfig, OkxAlgoOrder, OkxBalance, OkxEnvelope, OkxInstrument, OkxOrder,
    OkxOrderResult, OkxPosition, OkxPositionTier,
};
use crate::domain::{
    Balance, ClientOrderId, Instrument, LeverageBracket, OrderState, OrderStatus, OrderType,
    Position, PositionMode,
};
use crate::error::AdapterError;
use crate::http::{excerpt, retry_after};

const EXCHANGE: Exchange = Exchange::Okx;

/// Exchange messages longer than this are cut before they go into an error.
const MESSAGE_CHARS: usize = 200;

/// Code of an invalid parameter, which `set-leverage` returns for a leverage it rejects.
pub const PARAMETER_ERROR: i64 = 51_000;

/// Maps the calling key's `perm` and `ip` onto [`KeyPermissions`].
///
/// OKX has no permission per product: `trade` covers futures and spot trading. It also covers
/// transfers between the user's own accounts, which OKX does not report apart.
// NOTE: `transfer` stays false for OKX because no flag reports it. A `trade` key can still
// move funds between the user's own funding and trading accounts, though not to another user.
pub fn permissions(config: &OkxAccountConfig) -> KeyPermissions {
    let perms: Vec<&str> = config.perm.split(',').map(str::trim).collect();
    let trade = perms.contains(&"trade");
    KeyPermissions {
        read: true,
        spot_trade: trade,
        futures_trade: trade,
        withdraw: perms.contains(&"withdraw"),
        transfer: false,
        ip_restricted: config.ip.split(',').any(|ip| !ip.trim().is_empty()),
        expires_at: None,
    }
}

/// Reads `posMode`.
///
/// # Errors
/// Returns the reason for a mode OKX does not document.
pub fn position_mode(text: &str) -> Result<PositionMode, String> {
    match text {
        "net_mode" => Ok(PositionMode::OneWay),
        "long_short_mode" => Ok(PositionMode::Hedge),
        other => Err(format!("unknown posMode {other:?}")),
    }
}

/// Decodes a successful account configuration into the permissions and every raw flag.
///
/// # Errors
/// Returns the error the body carries, or [`AdapterError::Undecodable`].
pub fn account_config(
    endpoint: &str,
    body: &[u8],
) -> Result<(KeyPermissions, BTreeMap<String, serde_json::Value>), AdapterError> {
    let status = StatusCode::OK;
    let config: OkxAccountConfig = first(endpoint, decode(endpoint, status, body)?)?;
    let raw: Vec<BTreeMap<String, serde_json::Value>> = decode(endpoint, status, body)?;
    let raw_flags = raw.into_iter().next().unwrap_or_default();
    Ok((permissions(&config), raw_flags))
}

/// Returns the first entry of `data`.
///
/// # Errors
/// Returns [`AdapterError::Undecodable`] when `data` is empty.
pub fn first<T>(endpoint: &str, data: Vec<T>) -> Result<T, AdapterError> {
    data.into_iter().next().ok_or_else(|| {
        undecodable(
            endpoint,
            StatusCode::OK,
            "the response has an empty data array".to_owned(),
        )
    })
}

/// Decodes a response's `data`, or the error it carries: the top-level code, or for a failed
/// trade request (`code` `"1"` or `"2"`) the first failed order's `sCode`.
///
/// # Errors
/// Returns the error the body carries, or [`AdapterError::Undecodable`] when it is not an OKX
/// envelope of the expected shape.
pub fn decode<T: DeserializeOwned>(
    endpoint: &str,
    status: StatusCode,
    body: &[u8],
) -> Result<Vec<T>, AdapterError> {
    let shape = |err: serde_json::Error| {
        undecodable(endpoint, status, format!("{err}; body: {}", excerpt(body)))
    };
    let head: OkxEnvelope<serde_json::Value> = serde_json::from_slice(body).map_err(shape)?;
    match head.code.as_str() {
        "0" => {}
        "1" | "2" => {
            let results: OkxEnvelope<OkxOrderResult> =
                serde_json::from_slice(body).map_err(shape)?;
            let failed = results.data.into_iter().find(|result| result.s_code != "0");
            return Err(match failed {
                Some(result) => error_from_code(endpoint, status, &result.s_code, &result.s_msg),
                None => error_from_code(endpoint, status, &head.code, &head.msg),
            });
        }
        code => return Err(error_from_code(endpoint, status, code, &head.msg)),
    }
    let envelope: OkxEnvelope<T> = serde_json::from_slice(body).map_err(shape)?;
    Ok(envelope.data)
}

/// Classifies a response whose HTTP status is not 200. A 429 is a rate limit whatever the
/// body, and a 5xx a server failure unless its code is 50004, which leaves the outcome
/// unknown. Other statuses need an OKX body `{code, msg}`.
pub fn error_from_response(
    endpoint: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> AdapterError {
    let decoded = serde_json::from_slice::<OkxEnvelope<serde_json::Value>>(body).ok();
    let code = decoded
        .as_ref()
        .and_then(|error| error.code.parse::<i64>().ok());
    let msg = decoded.as_ref().map(|error| shorten(&error.msg));
    match status.as_u16() {
        429 => AdapterError::RateLimited {
            exchange: EXCHANGE,
            status: status.as_u16(),
            code,
            msg,
            retry_after: retry_after(headers),
        },
        500..=599 if code == Some(50_004) => AdapterError::ExecutionUnknown {
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
            Some(error) => error_from_code(endpoint, status, &error.code, &error.msg),
            None => undecodable(
                endpoint,
                status,
                format!(
                    "expected an OKX body {{code, msg}}; body: {}",
                    excerpt(body)
                ),
            ),
        },
    }
}

/// Maps OKX's codes onto [`AdapterError`]. Order ids and symbols are left empty; the caller
/// adds them with [`AdapterError::for_order`].
pub fn error_from_code(endpoint: &str, status: StatusCode, code: &str, msg: &str) -> AdapterError {
    let msg = shorten(msg);
    let Ok(code) = code.parse::<i64>() else {
        return undecodable(
            endpoint,
            status,
            format!("code {code:?} is not a number: {msg}"),
        );
    };
    let request_error = match code {
        50_111 | 50_119 => Some(AdapterError::InvalidKey {
            exchange: EXCHANGE,
            code: Some(code),
            msg: msg.clone(),
        }),
        50_113 => Some(AdapterError::InvalidSignature {
            exchange: EXCHANGE,
            code: Some(code),
            msg: msg.clone(),
        }),
        50_110 | 50_121 => Some(AdapterError::IpNotAllowed {
            exchange: EXCHANGE,
            code: Some(code),
            msg: msg.clone(),
        }),
        50_030 | 50_120 => Some(AdapterError::PermissionDenied {
            exchange: EXCHANGE,
            code: Some(code),
            msg: msg.clone(),
        }),
        50_104 | 50_105 => Some(AdapterError::InvalidPassphrase {
            exchange: EXCHANGE,
            code: Some(code),
            msg: msg.clone(),
        }),
        50_101 => Some(AdapterError::EnvironmentMismatch {
            exchange: EXCHANGE,
            code: Some(code),
            msg: msg.clone(),
        }),
        50_102 => Some(AdapterError::ClockSkew {
            exchange: EXCHANGE,
            code: Some(code),
            msg: msg.clone(),
            offset_ms: None,
        }),
        50_011 | 50_061 => Some(AdapterError::RateLimited {
            exchange: EXCHANGE,
            status: status.as_u16(),
            code: Some(code),
            msg: Some(msg.clone()),
            retry_after: None,
        }),
        50_001 | 50_013 | 50_026 => Some(AdapterError::ServerError {
            exchange: EXCHANGE,
            status: status.as_u16(),
            code: Some(code),
            msg: Some(msg.clone()),
        }),
        50_004 => Some(AdapterError::ExecutionUnknown {
            exchange: EXCHANGE,
            endpoint: endpoint.to_owned(),
            code: Some(code),
            msg: Some(msg.clone()),
        }),
        _ => None,
    };
    request_error.unwrap_or_else(|| trading_error(status, code, msg))
}

fn trading_error(status: StatusCode, code: i64, msg: String) -> AdapterError {
    match code {
        51_008 | 51_127 | 51_131 => AdapterError::InsufficientMargin {
            exchange: EXCHANGE,
            code,
            msg,
        },
        51_006 | 51_020 | 51_121 | 51_137 | 51_138 | 51_202 => AdapterError::FilterRejected {
            exchange: EXCHANGE,
            code,
            msg,
        },
        59_102 => AdapterError::InvalidLeverage {
            exchange: EXCHANGE,
            code: Some(code),
            msg,
        },
        59_000 => AdapterError::PositionModeRefused {
            exchange: EXCHANGE,
            code: Some(code),
            reason: msg,
        },
        51_400 | 51_603 => AdapterError::OrderNotFound {
            exchange: EXCHANGE,
            symbol: String::new(),
            client_order_id: String::new(),
        },
        51_016 => AdapterError::DuplicateOrder {
            exchange: EXCHANGE,
            client_order_id: String::new(),
            code: Some(code),
        },
        51_001 => AdapterError::UnknownSymbol {
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

/// Returns keyward's symbol of an instrument id: `BTC-USDT-SWAP` becomes `BTCUSDT`.
pub fn symbol_of(inst_id: &str) -> Option<String> {
    let mut parts = inst_id.split('-');
    let (base, quote, kind) = (parts.next()?, parts.next()?, parts.next()?);
    (kind == "SWAP" && parts.next().is_none()).then(|| format!("{base}{quote}"))
}

/// Converts USDT-margined (linear) swaps into instruments, sizes in the base asset.
pub fn instruments(list: Vec<OkxInstrument>) -> Vec<Instrument> {
    list.into_iter()
        .filter(|wire| wire.inst_type == "SWAP" && wire.ct_type != "inverse")
        .filter_map(|wire| {
            let symbol = symbol_of(&wire.inst_id)?;
            let (base, quote) = wire.inst_id.split_once('-')?;
            let quote = quote.trim_end_matches("-SWAP").to_owned();
            let contract_value = wire.ct_val * wire.ct_mult.unwrap_or(Decimal::ONE);
            Some(Instrument {
                symbol,
                base_asset: base.to_owned(),
                quote_asset: quote,
                settle_asset: wire.settle_ccy,
                trading: wire.state == "live",
                tick_size: wire.tick_sz,
                min_price: None,
                max_price: None,
                step_size: (wire.lot_sz * contract_value).normalize(),
                min_quantity: (wire.min_sz * contract_value).normalize(),
                max_quantity: wire
                    .max_lmt_sz
                    .map(|size| (size * contract_value).normalize()),
                max_market_quantity: wire
                    .max_mkt_sz
                    .map(|size| (size * contract_value).normalize()),
                min_notional: None,
                contract_value,
                max_leverage: wire.lever,
                leverage_brackets: Vec::new(),
                exchange_symbol: wire.inst_id,
            })
        })
        .collect()
}

/// Converts position tiers into leverage brackets by position value, lowest tier first.
/// OKX sizes tiers in contracts, so their values are taken at `price`.
pub fn leverage_brackets(
    tiers: &[OkxPositionTier],
    contract_value: Decimal,
    price: Decimal,
) -> Vec<LeverageBracket> {
    let value = |contracts: Decimal| (contracts * contract_value * price).normalize();
    let mut brackets: Vec<LeverageBracket> = tiers
        .iter()
        .map(|tier| LeverageBracket {
            notional_floor: value(tier.min_sz),
            notional_cap: value(tier.max_sz),
            max_leverage: tier.max_lever.normalize(),
            maint_margin_ratio: tier.mmr,
        })
        .collect();
    brackets.sort_by_key(|bracket| bracket.notional_cap);
    brackets
}

/// Converts the trading account's currencies into balances.
pub fn balances(list: Vec<OkxBalance>) -> Vec<Balance> {
    list.into_iter()
        .flat_map(|account| account.details)
        .map(|detail| Balance {
            asset: detail.ccy,
            wallet_balance: detail.cash_bal,
            available_balance: detail
                .avail_eq
                .or(detail.avail_bal)
                .unwrap_or(detail.cash_bal),
            unrealized_pnl: detail.upl.unwrap_or_default(),
            updated_at_ms: millis(detail.u_time.as_deref()),
        })
        .collect()
}

/// Converts one position; `contract_value` turns contracts into the base asset. A `short`
/// position of hedge mode becomes a negative quantity.
pub fn position(wire: OkxPosition, symbol: String, contract_value: Decimal) -> Position {
    let contracts = match wire.pos_side.as_str() {
        "short" => -wire.pos.abs(),
        "long" => wire.pos.abs(),
        _ => wire.pos,
    };
    Position {
        symbol,
        quantity: (contracts * contract_value).normalize(),
        entry_price: wire.avg_px.unwrap_or_default(),
        mark_price: wire.mark_px,
        unrealized_pnl: wire.upl.unwrap_or_default(),
        leverage: wire.lever,
        liquidation_price: wire.liq_px,
        updated_at_ms: millis(wire.u_time.as_deref()),
    }
}

/// Converts one order; `contract_value` turns contracts into the base asset.
///
/// # Errors
/// Returns the reason for an unknown side or state.
pub fn order_status(
    wire: OkxOrder,
    symbol: String,
    contract_value: Decimal,
) -> Result<OrderStatus, String> {
    let side = side(&wire.side)?;
    let state = match wire.state.as_str() {
        "live" => OrderState::New,
        "partially_filled" => OrderState::PartiallyFilled,
        "filled" => OrderState::Filled,
        "canceled" | "mmp_canceled" => OrderState::Canceled,
        other => return Err(format!("unknown order state {other:?}")),
    };
    let order_type = match wire.ord_type.as_str() {
        "market" => OrderType::Market,
        "limit" | "post_only" | "ioc" | "fok" => OrderType::Limit,
        other => OrderType::Other(other.to_owned()),
    };
    let base = |contracts: Decimal| (contracts * contract_value).normalize();
    Ok(OrderStatus {
        symbol,
        client_order_id: ClientOrderId::from_exchange(wire.cl_ord_id),
        exchange_order_id: wire.ord_id,
        side,
        price: wire.px.filter(|_| order_type == OrderType::Limit),
        order_type,
        state,
        quantity: base(wire.sz),
        filled_quantity: base(wire.acc_fill_sz.unwrap_or_default()),
        average_price: wire.avg_px.filter(|price| !price.is_zero()),
        trigger_price: None,
        reduce_only: wire.reduce_only == "true",
        updated_at_ms: millis(wire.u_time.as_deref()),
    })
}

/// Converts one trigger (stop-market) algo order; `contract_value` turns contracts into the
/// base asset. `effective` means the trigger fired and its market order was placed.
///
/// # Errors
/// Returns the reason for an unknown side or state.
pub fn algo_status(
    wire: OkxAlgoOrder,
    symbol: String,
    contract_value: Decimal,
) -> Result<OrderStatus, String> {
    let side = side(&wire.side)?;
    let state = match wire.state.as_str() {
        "live" | "pause" => OrderState::New,
        "partially_effective" => OrderState::PartiallyFilled,
        "effective" => OrderState::Filled,
        "canceled" => OrderState::Canceled,
        "order_failed" => OrderState::Rejected,
        other => return Err(format!("unknown algo order state {other:?}")),
    };
    let base = |contracts: Decimal| (contracts * contract_value).normalize();
    Ok(OrderStatus {
        symbol,
        client_order_id: ClientOrderId::from_exchange(wire.algo_cl_ord_id),
        exchange_order_id: wire.algo_id,
        side,
        order_type: OrderType::StopMarket,
        state,
        quantity: base(wire.sz),
        filled_quantity: base(wire.actual_sz.unwrap_or_default()),
        price: None,
        average_price: wire.actual_px.filter(|price| !price.is_zero()),
        trigger_price: wire.trigger_px,
        reduce_only: wire.reduce_only == "true",
        updated_at_ms: millis(wire.u_time.as_deref()),
    })
}

/// Reads an order side, `buy` or `sell`.
///
/// # Errors
/// Returns the reason for any other text.
pub fn side(text: &str) -> Result<Side, String> {
    match text {
        "buy" => Ok(Side::Buy),
        "sell" => Ok(Side::Sell),
        other => Err(format!("unknown order side {other:?}")),
    }
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
    fn symbol_of_swap_ids() {
        assert_eq!(symbol_of("BTC-USDT-SWAP").as_deref(), Some("BTCUSDT"));
        assert_eq!(symbol_of("BTC-USDT"), None);
        assert_eq!(symbol_of("BTC-USD-250328"), None);
    }

    #[test]
    fn failed_order_reports_its_s_code() {
        let body = br#"{"code":"1","msg":"All operations failed","data":[{"clOrdId":"","ordId":"","sCode":"51121","sMsg":"lot size","tag":"","ts":"1"}]}"#;
        let err = decode::<serde_json::Value>("POST /api/v5/trade/order", StatusCode::OK, body)
            .unwrap_err();
        assert_eq!(err.code(), "filter_rejected");
        assert_eq!(err.exchange_code().as_deref(), Some("51121"));
    }

    #[test]
    fn gateway_timeout_with_50004_is_unknown() {
        let body = br#"{"code":"50004","msg":"Endpoint request timeout"}"#;
        let err = error_from_response("x", StatusCode::GATEWAY_TIMEOUT, &HeaderMap::new(), body);
        assert_eq!(err.code(), "execution_unknown");
    }
}
