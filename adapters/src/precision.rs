//! Rounding prices and quantities to an instrument's steps, and the checks an order must pass
//! before it is sent. Everything is `rust_decimal`, so `0.1 + 0.2` is exactly `0.3`.

use keyward_events::bot::Side;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::domain::{Instrument, OrderRequest};
use crate::error::OrderProblem;

/// Rounds a quantity down to a multiple of `step`, so an order never grows by rounding:
/// `0.02988799` at step `0.001` becomes `0.029`. A zero or negative step leaves it as it is.
pub fn round_quantity(quantity: Decimal, step: Decimal) -> Decimal {
    round_to_step(quantity, step, RoundingStrategy::ToZero)
}

/// Rounds a price to a multiple of `tick` on the side that is safe for the order: a buy rounds
/// down (never pays more than asked), a sell rounds up (never sells for less). For stop orders
/// the same rule makes a sell stop trigger no lower and a buy stop no higher than asked, which
/// is the side that fires sooner. A zero or negative tick leaves the price as it is.
pub fn round_price(price: Decimal, tick: Decimal, side: Side) -> Decimal {
    let strategy = match side {
        Side::Buy => RoundingStrategy::ToNegativeInfinity,
        Side::Sell => RoundingStrategy::ToPositiveInfinity,
    };
    round_to_step(price, tick, strategy)
}

fn round_to_step(value: Decimal, step: Decimal, strategy: RoundingStrategy) -> Decimal {
    if step <= Decimal::ZERO {
        return value;
    }
    let Some(steps) = value.checked_div(step) else {
        return value;
    };
    let steps = steps.round_dp_with_strategy(0, strategy);
    steps
        .checked_mul(step)
        .map_or(value, |rounded| rounded.round_dp(step.scale()).normalize())
}

/// Formats a decimal for the wire without exponent or trailing zeros: `0.0290` → `0.029`.
pub fn wire_decimal(value: Decimal) -> String {
    value.normalize().to_string()
}

/// Checks a rounded order against the instrument's limits. `requested` is the quantity before
/// rounding, for the error message.
///
/// Reduce-only orders are exempt from the minimum notional, as on Binance ("unless you choose
/// reduce only"), so that a small remainder of a position can always be closed. A market order
/// without a reference price skips the notional check and leaves it to the exchange.
pub(crate) fn check_order(
    request: &OrderRequest,
    requested: Decimal,
    instrument: &Instrument,
) -> Result<(), OrderProblem> {
    let quantity = request.quantity();
    if quantity <= Decimal::ZERO || quantity < instrument.min_quantity {
        return Err(OrderProblem::QuantityBelowMinimum {
            requested,
            rounded: quantity,
            min: instrument.min_quantity,
        });
    }
    let max = match request.kind() {
        keyward_events::bot::OrderKind::Limit => instrument.max_quantity,
        _ => instrument.max_market_quantity.or(instrument.max_quantity),
    };
    if let Some(max) = max.filter(|max| quantity > *max) {
        return Err(OrderProblem::QuantityAboveMaximum { quantity, max });
    }
    if let Some(price) = request.price().or(request.trigger_price()) {
        check_price_range(price, instrument)?;
    }
    if request.reduce_only() {
        return Ok(());
    }
    let (Some(min), Some(price)) = (instrument.min_notional, request.reference_price()) else {
        return Ok(());
    };
    let notional = price.checked_mul(quantity).unwrap_or(Decimal::MAX);
    if notional < min {
        return Err(OrderProblem::NotionalBelowMinimum { notional, min });
    }
    Ok(())
}

fn check_price_range(price: Decimal, instrument: &Instrument) -> Result<(), OrderProblem> {
    let below = instrument.min_price.is_some_and(|min| price < min);
    let above = instrument.max_price.is_some_and(|max| price > max);
    if price <= Decimal::ZERO || below || above {
        return Err(OrderProblem::PriceOutOfRange {
            price,
            min: instrument.min_price,
            max: instrument.max_price,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        text.parse().expect("decimal literal")
    }

    #[test]
    fn quantity_rounds_down_to_step() {
        let cases = [
            ("0.02988799", "0.001", "0.029"),
            ("0.029", "0.001", "0.029"),
            ("0.0009", "0.001", "0"),
            ("12.5", "1", "12"),
            ("1.23456", "0.01", "1.23"),
            ("7", "0.5", "7"),
            ("0.3", "0.1", "0.3"),
            ("5", "0", "5"),
        ];
        for (quantity, step, expected) in cases {
            let rounded = round_quantity(dec(quantity), dec(step));
            assert_eq!(rounded, dec(expected), "{quantity} at step {step}");
        }
    }

    #[test]
    fn price_rounds_to_the_safe_side() {
        let cases = [
            ("60000.17", "0.1", Side::Buy, "60000.1"),
            ("60000.17", "0.1", Side::Sell, "60000.2"),
            ("60000.10", "0.1", Side::Sell, "60000.1"),
            ("0.38549", "0.0001", Side::Buy, "0.3854"),
            ("0.38541", "0.0001", Side::Sell, "0.3855"),
            ("101", "5", Side::Buy, "100"),
            ("101", "5", Side::Sell, "105"),
        ];
        for (price, tick, side, expected) in cases {
            let rounded = round_price(dec(price), dec(tick), side);
            assert_eq!(rounded, dec(expected), "{price} tick {tick} {side:?}");
        }
    }

    #[test]
    fn wire_decimal_strips_trailing_zeros() {
        assert_eq!(wire_decimal(dec("0.0290")), "0.029");
        assert_eq!(wire_decimal(dec("60000.00")), "60000");
        assert_eq!(wire_decimal(dec("0.00000001")), "0.00000001");
    }
}
