//! The instrument's trading rules as the gate needs them: steps, minimums and leverage tiers.
//!
//! The caller reads them from the exchange once per bot and hands them to
//! [`crate::RiskGate::with_instrument`]; without them (backtests) the gate neither rounds nor
//! checks minimums.

use keyward_events::bot::{OrderKind, Side};
use rust_decimal::{Decimal, RoundingStrategy};

use crate::rules::is_positive;

/// One leverage tier: positions worth up to `notional_cap` may use at most `max_leverage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeverageTier {
    /// Position value where the tier ends, in the quote asset.
    pub notional_cap: Decimal,
    pub max_leverage: Decimal,
}

/// Steps and minimums of one instrument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstrumentRules {
    /// Prices must be multiples of this step.
    pub tick_size: Decimal,
    /// Quantities must be multiples of this step.
    pub step_size: Decimal,
    /// Smallest quantity of one order.
    pub min_quantity: Decimal,
    /// Smallest value (price × quantity) of one order; reduce-only orders are exempt.
    pub min_notional: Option<Decimal>,
    /// Leverage tiers by position value, lowest tier first.
    pub leverage_tiers: Vec<LeverageTier>,
}

impl InstrumentRules {
    /// Returns the highest leverage the tiers allow for a position of `notional`, or `None`
    /// when there are no tiers or the position is larger than every tier.
    pub fn max_leverage_for(&self, notional: Decimal) -> Option<Decimal> {
        self.leverage_tiers
            .iter()
            .find(|tier| notional <= tier.notional_cap)
            .map(|tier| tier.max_leverage)
    }

    /// Rounds a quantity down to the step.
    pub(crate) fn round_quantity(&self, quantity: Decimal) -> Decimal {
        round_to_step(quantity, self.step_size, RoundingStrategy::ToZero)
    }

    /// Rounds the price of a limit or stop order to the tick on the side that is safe for the
    /// order: a buy down, a sell up. A market order's reference price is left as it is.
    pub(crate) fn round_price(&self, kind: OrderKind, side: Side, price: Decimal) -> Decimal {
        if kind == OrderKind::Market {
            return price;
        }
        let strategy = match side {
            Side::Buy => RoundingStrategy::ToNegativeInfinity,
            Side::Sell => RoundingStrategy::ToPositiveInfinity,
        };
        round_to_step(price, self.tick_size, strategy)
    }
}

/// Rounds `value` to a multiple of `step`; a step that is not positive leaves it unchanged.
fn round_to_step(value: Decimal, step: Decimal, strategy: RoundingStrategy) -> Decimal {
    if !is_positive(step) {
        return value;
    }
    let Some(steps) = value.checked_div(step) else {
        return value;
    };
    let steps = steps.round_dp_with_strategy(0, strategy);
    steps
        .checked_mul(step)
        .map_or(value, |rounded| rounded.normalize())
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    fn rules() -> InstrumentRules {
        InstrumentRules {
            tick_size: dec("0.1"),
            step_size: dec("0.001"),
            min_quantity: dec("0.001"),
            min_notional: Some(dec("100")),
            leverage_tiers: vec![
                LeverageTier {
                    notional_cap: dec("50000"),
                    max_leverage: dec("125"),
                },
                LeverageTier {
                    notional_cap: dec("250000"),
                    max_leverage: dec("100"),
                },
            ],
        }
    }

    #[test]
    fn quantity_rounds_down_to_step() {
        assert_eq!(rules().round_quantity(dec("0.0419")), dec("0.041"));
        assert_eq!(rules().round_quantity(dec("0.041")), dec("0.041"));
    }

    #[test]
    fn price_rounds_to_safe_side() {
        let rules = rules();
        let buy = rules.round_price(OrderKind::Limit, Side::Buy, dec("100.07"));
        assert_eq!(buy, dec("100"));
        let sell = rules.round_price(OrderKind::StopMarket, Side::Sell, dec("100.01"));
        assert_eq!(sell, dec("100.1"));
        let market = rules.round_price(OrderKind::Market, Side::Buy, dec("100.07"));
        assert_eq!(market, dec("100.07"));
    }

    #[test]
    fn tiers_give_leverage_by_notional() {
        let rules = rules();
        assert_eq!(rules.max_leverage_for(dec("50000")), Some(dec("125")));
        assert_eq!(rules.max_leverage_for(dec("50001")), Some(dec("100")));
        assert_eq!(rules.max_leverage_for(dec("250001")), None);
    }
}
