//! Instrument rules: what prices and quantities an exchange accepts for one perpetual contract.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The trading rules of one USDT-margined perpetual, in keyward's units.
///
/// Quantities are in the base asset (BTC for `BTCUSDT`) on every exchange, including OKX, whose
/// wire sizes count contracts: its adapter converts with [`Instrument::contract_value`]. Prices
/// are in the quote asset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Instrument {
    /// keyward's symbol, the same on every exchange, e.g. `BTCUSDT`.
    pub symbol: String,
    /// The exchange's own name of the instrument, e.g. `BTC-USDT-SWAP` on OKX.
    pub exchange_symbol: String,
    pub base_asset: String,
    pub quote_asset: String,
    /// The asset margin and profit are settled in.
    pub settle_asset: String,
    /// Whether the exchange accepts orders for it now.
    pub trading: bool,
    /// Prices must be multiples of this step.
    pub tick_size: Decimal,
    pub min_price: Option<Decimal>,
    pub max_price: Option<Decimal>,
    /// Quantities must be multiples of this step, in the base asset.
    pub step_size: Decimal,
    /// Smallest quantity of one order, in the base asset.
    pub min_quantity: Decimal,
    /// Largest quantity of one limit order, in the base asset.
    pub max_quantity: Option<Decimal>,
    /// Largest quantity of one market order, where the exchange sets a separate one.
    pub max_market_quantity: Option<Decimal>,
    /// Smallest value (price × quantity) of one order, in the quote asset; reduce-only orders
    /// are exempt on Binance.
    pub min_notional: Option<Decimal>,
    /// Base asset per contract: `1` where wire quantities are already in the base asset
    /// (Binance, Bybit), `ctVal × ctMult` on OKX.
    pub contract_value: Decimal,
    /// Highest leverage the exchange allows for the smallest position.
    pub max_leverage: Option<Decimal>,
    /// Leverage tiers by position value, lowest tier first; empty when the exchange publishes
    /// them only through a signed call (see `ExchangeClient::leverage_brackets`).
    pub leverage_brackets: Vec<LeverageBracket>,
}

impl Instrument {
    /// Returns the highest leverage allowed for a position of `notional` (quote asset), from
    /// the brackets, or [`Instrument::max_leverage`] when there are none.
    pub fn max_leverage_for(&self, notional: Decimal) -> Option<Decimal> {
        max_leverage_in(&self.leverage_brackets, notional).or(self.max_leverage)
    }
}

/// One leverage tier: positions worth up to `notional_cap` may use at most `max_leverage`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeverageBracket {
    /// Position value where the tier starts, in the quote asset.
    pub notional_floor: Decimal,
    /// Position value where the tier ends, in the quote asset.
    pub notional_cap: Decimal,
    pub max_leverage: Decimal,
    /// Maintenance margin as a fraction of the position value, e.g. `0.004`.
    pub maint_margin_ratio: Decimal,
}

/// Returns the leverage of the first tier whose cap is at or above `notional`, or `None` when
/// the position is larger than every tier or there are no tiers.
pub fn max_leverage_in(brackets: &[LeverageBracket], notional: Decimal) -> Option<Decimal> {
    brackets
        .iter()
        .find(|bracket| notional <= bracket.notional_cap)
        .map(|bracket| bracket.max_leverage)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        text.parse().expect("decimal literal")
    }

    fn bracket(floor: Decimal, cap: Decimal, leverage: Decimal) -> LeverageBracket {
        LeverageBracket {
            notional_floor: floor,
            notional_cap: cap,
            max_leverage: leverage,
            maint_margin_ratio: dec("0.004"),
        }
    }

    #[test]
    fn bracket_is_chosen_by_notional() {
        let brackets = vec![
            bracket(dec("0"), dec("50000"), dec("125")),
            bracket(dec("50000"), dec("250000"), dec("100")),
        ];
        assert_eq!(max_leverage_in(&brackets, dec("10")), Some(dec("125")));
        assert_eq!(max_leverage_in(&brackets, dec("50000")), Some(dec("125")));
        assert_eq!(max_leverage_in(&brackets, dec("50001")), Some(dec("100")));
        assert_eq!(max_leverage_in(&brackets, dec("250001")), None);
        assert_eq!(max_leverage_in(&[], dec("1")), None);
    }
}
