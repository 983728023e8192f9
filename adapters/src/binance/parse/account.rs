//! Instrument rules, leverage, balances, positions and position mode from Binance's bodies.

use rust_decimal::Decimal;

use super::decode;
use crate::binance::wire::{
    AccountConfig, BalanceEntry, ExchangeInfo, LeverageResponse, PositionRisk, SymbolBrackets,
    SymbolFilter, SymbolInfo,
};
use crate::domain::{Balance, Instrument, LeverageBracket, LeverageSet, Position, PositionMode};
use crate::error::AdapterError;

/// Decodes `exchangeInfo` into the USDT-margined perpetuals it lists, in its order.
///
/// # Errors
/// As [`decode`].
pub fn instruments(endpoint: &str, body: &[u8]) -> Result<Vec<Instrument>, AdapterError> {
    let info: ExchangeInfo = decode(endpoint, body)?;
    Ok(info.symbols.iter().filter_map(instrument).collect())
}

/// Maps one symbol, or `None` when it is not a USDT-margined perpetual.
fn instrument(symbol: &SymbolInfo) -> Option<Instrument> {
    if symbol.contract_type != "PERPETUAL" || symbol.margin_asset != "USDT" {
        return None;
    }
    let mut instrument = Instrument {
        symbol: symbol.symbol.clone(),
        exchange_symbol: symbol.symbol.clone(),
        base_asset: symbol.base_asset.clone(),
        quote_asset: symbol.quote_asset.clone(),
        settle_asset: symbol.margin_asset.clone(),
        trading: symbol.status == "TRADING",
        tick_size: Decimal::ZERO,
        min_price: None,
        max_price: None,
        step_size: Decimal::ZERO,
        min_quantity: Decimal::ZERO,
        max_quantity: None,
        max_market_quantity: None,
        min_notional: None,
        contract_value: Decimal::ONE,
        max_leverage: None,
        leverage_brackets: Vec::new(),
    };
    for filter in &symbol.filters {
        apply_filter(&mut instrument, filter);
    }
    Some(instrument)
}

/// Applies one filter; a zero bound means "no bound" on Binance.
fn apply_filter(instrument: &mut Instrument, filter: &SymbolFilter) {
    let bound = |value: Decimal| (!value.is_zero()).then_some(value);
    match filter {
        SymbolFilter::Price {
            min_price,
            max_price,
            tick_size,
        } => {
            instrument.tick_size = *tick_size;
            instrument.min_price = bound(*min_price);
            instrument.max_price = bound(*max_price);
        }
        SymbolFilter::LotSize {
            min_qty,
            max_qty,
            step_size,
        } => {
            instrument.step_size = *step_size;
            instrument.min_quantity = *min_qty;
            instrument.max_quantity = bound(*max_qty);
        }
        SymbolFilter::MarketLotSize { max_qty, .. } => {
            instrument.max_market_quantity = bound(*max_qty);
        }
        SymbolFilter::MinNotional { notional } => instrument.min_notional = bound(*notional),
        SymbolFilter::Other => {}
    }
}

/// Decodes `leverageBracket` into the tiers of `symbol`, lowest first.
///
/// # Errors
/// Returns [`AdapterError::UnknownSymbol`] when the body has no entry for `symbol`, otherwise
/// as [`decode`].
pub fn leverage_brackets(
    endpoint: &str,
    body: &[u8],
    symbol: &str,
) -> Result<Vec<LeverageBracket>, AdapterError> {
    let entries: Vec<SymbolBrackets> = decode(endpoint, body)?;
    let entry = entries
        .into_iter()
        .find(|entry| entry.symbol == symbol)
        .ok_or_else(|| AdapterError::UnknownSymbol {
            exchange: keyward_events::Exchange::Binance,
            symbol: symbol.to_owned(),
        })?;
    let mut brackets: Vec<LeverageBracket> = entry
        .brackets
        .iter()
        .map(|bracket| LeverageBracket {
            notional_floor: bracket.notional_floor,
            notional_cap: bracket.notional_cap,
            max_leverage: bracket.initial_leverage,
            maint_margin_ratio: bracket.maint_margin_ratio,
        })
        .collect();
    brackets.sort_by_key(|bracket| bracket.notional_floor);
    Ok(brackets)
}

/// Decodes `GET /fapi/v3/balance`.
///
/// # Errors
/// As [`decode`].
pub fn balances(endpoint: &str, body: &[u8]) -> Result<Vec<Balance>, AdapterError> {
    let entries: Vec<BalanceEntry> = decode(endpoint, body)?;
    Ok(entries
        .into_iter()
        .map(|entry| Balance {
            asset: entry.asset,
            wallet_balance: entry.balance,
            available_balance: entry.available_balance,
            unrealized_pnl: entry.cross_un_pnl,
            updated_at_ms: entry.update_time,
        })
        .collect())
}

/// Decodes `GET /fapi/v3/positionRisk`. In hedge mode a symbol's long and short sides come
/// as two positions with the short's quantity negative, as Binance sends it.
///
/// # Errors
/// As [`decode`].
pub fn positions(endpoint: &str, body: &[u8]) -> Result<Vec<Position>, AdapterError> {
    let entries: Vec<PositionRisk> = decode(endpoint, body)?;
    Ok(entries.into_iter().map(position).collect())
}

fn position(entry: PositionRisk) -> Position {
    let nonzero = |value: Decimal| (!value.is_zero()).then_some(value);
    Position {
        symbol: entry.symbol,
        quantity: entry.position_amt,
        entry_price: entry.entry_price,
        mark_price: nonzero(entry.mark_price),
        unrealized_pnl: entry.un_realized_profit,
        // NOTE: positionRisk v3 no longer reports leverage; it comes from set_leverage.
        leverage: None,
        liquidation_price: nonzero(entry.liquidation_price),
        updated_at_ms: entry.update_time,
    }
}

/// Decodes `POST /fapi/v1/leverage`.
///
/// # Errors
/// As [`decode`].
pub fn leverage(endpoint: &str, body: &[u8]) -> Result<LeverageSet, AdapterError> {
    let response: LeverageResponse = decode(endpoint, body)?;
    Ok(LeverageSet {
        symbol: response.symbol,
        leverage: Decimal::from(response.leverage),
        max_notional: Some(response.max_notional_value),
        changed: true,
    })
}

/// Decodes the position mode of `GET /fapi/v1/accountConfig`.
///
/// # Errors
/// As [`decode`].
pub fn position_mode(endpoint: &str, body: &[u8]) -> Result<PositionMode, AdapterError> {
    let response: AccountConfig = decode(endpoint, body)?;
    Ok(if response.dual_side_position {
        PositionMode::Hedge
    } else {
        PositionMode::OneWay
    })
}
