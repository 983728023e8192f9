//! Order intents of a backtest: deterministic ids, position sizing and protective stops, in
//! Decimal where the simulated account meets the risk gate.

use keyward_events::bot::{OrderIntent, OrderKind, Side};
use rust_decimal::prelude::FromPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use uuid::Uuid;

/// Decimal places of intent quantities and stop prices.
// NOTE: the instrument's step and tick size are not known here, so quantities are rounded to
// 8 places instead of the exchange's step.
const DECIMAL_PLACES: u32 = 8;

/// Purpose of an intent, part of its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum IntentRole {
    /// Closes the position on an opposite signal.
    Close = 0,
    /// Opens a position on a signal.
    Entry = 1,
    /// Closes the position at the end of the data.
    FinalClose = 2,
}

/// Derives an intent id from the run id, the bar index and the role, so that equal runs give
/// equal ids.
pub(super) fn intent_id(run_id: &Uuid, bar_index: usize, role: IntentRole) -> Uuid {
    let mut name = [0u8; 9];
    name[..8].copy_from_slice(&(bar_index as u64).to_be_bytes());
    name[8] = role as u8;
    Uuid::new_v5(run_id, &name)
}

/// Converts a simulated amount for the gate; NaN, infinities and out-of-range values become
/// zero, which the gate rejects as a quantity or treats as no equity.
pub(super) fn to_decimal(value: f64) -> Decimal {
    Decimal::from_f64(value).unwrap_or(Decimal::ZERO)
}

/// Builds a reduce-only market order closing `quantity` of a position held on the other side
/// of `side`.
pub(super) fn close_intent(
    intent_id: Uuid,
    symbol: &str,
    side: Side,
    quantity: Decimal,
    reference_price: Decimal,
) -> OrderIntent {
    OrderIntent {
        intent_id,
        symbol: symbol.to_owned(),
        side,
        kind: OrderKind::Market,
        quantity,
        price: Some(reference_price),
        stop_loss: None,
        reduce_only: true,
    }
}

/// Sizing of an entry: the equity it may use and the stop it must carry.
pub(super) struct EntrySizing {
    pub equity: Decimal,
    /// Fraction of equity used as margin.
    pub position_size: Decimal,
    pub leverage: Decimal,
    /// Stop distance from the reference price, in percent.
    pub stop_loss_pct: Decimal,
}

/// Builds a market entry of `equity * position_size * leverage` notional at the reference
/// price, with a stop `stop_loss_pct` away from it.
///
/// The quantity is rounded down and the stop rounded towards the price, so the order never
/// exceeds the sizing it was derived from.
pub(super) fn entry_intent(
    intent_id: Uuid,
    symbol: &str,
    side: Side,
    sizing: &EntrySizing,
    reference_price: Decimal,
) -> OrderIntent {
    let quantity = entry_quantity(sizing, reference_price).unwrap_or(Decimal::ZERO);
    OrderIntent {
        intent_id,
        symbol: symbol.to_owned(),
        side,
        kind: OrderKind::Market,
        quantity,
        price: Some(reference_price),
        stop_loss: stop_price(side, reference_price, sizing.stop_loss_pct),
        reduce_only: false,
    }
}

fn entry_quantity(sizing: &EntrySizing, reference_price: Decimal) -> Option<Decimal> {
    let notional = sizing
        .equity
        .checked_mul(sizing.position_size)?
        .checked_mul(sizing.leverage)?;
    let quantity = notional.checked_div(reference_price)?;
    Some(quantity.round_dp_with_strategy(DECIMAL_PLACES, RoundingStrategy::ToZero))
}

fn stop_price(side: Side, reference_price: Decimal, stop_loss_pct: Decimal) -> Option<Decimal> {
    let hundred = Decimal::ONE_HUNDRED;
    let (factor, rounding) = match side {
        Side::Buy => (
            hundred - stop_loss_pct,
            RoundingStrategy::ToPositiveInfinity,
        ),
        Side::Sell => (
            hundred + stop_loss_pct,
            RoundingStrategy::ToNegativeInfinity,
        ),
    };
    let stop = reference_price.checked_mul(factor)?.checked_div(hundred)?;
    Some(stop.round_dp_with_strategy(DECIMAL_PLACES, rounding))
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    #[test]
    fn intent_ids_are_deterministic_and_distinct() {
        let run = Uuid::from_u128(7);
        assert_eq!(
            intent_id(&run, 5, IntentRole::Entry),
            intent_id(&run, 5, IntentRole::Entry)
        );
        assert_ne!(
            intent_id(&run, 5, IntentRole::Entry),
            intent_id(&run, 5, IntentRole::Close)
        );
        assert_ne!(
            intent_id(&run, 5, IntentRole::Entry),
            intent_id(&run, 6, IntentRole::Entry)
        );
        let other_run = Uuid::from_u128(8);
        assert_ne!(
            intent_id(&run, 5, IntentRole::Entry),
            intent_id(&other_run, 5, IntentRole::Entry)
        );
    }

    #[test]
    fn entry_sizes_from_equity_and_places_stop() {
        let sizing = EntrySizing {
            equity: dec("10000"),
            position_size: dec("0.5"),
            leverage: dec("3"),
            stop_loss_pct: dec("2"),
        };
        let long = entry_intent(Uuid::nil(), "BTCUSDT", Side::Buy, &sizing, dec("117043.4"));
        assert_eq!(long.quantity, dec("0.12815758"));
        assert_eq!(long.stop_loss, Some(dec("114702.532")));
        assert!(!long.reduce_only);

        let short = entry_intent(Uuid::nil(), "BTCUSDT", Side::Sell, &sizing, dec("117043.4"));
        assert_eq!(short.stop_loss, Some(dec("119384.268")));
    }

    #[test]
    fn stop_rounds_towards_price() {
        let long = stop_price(Side::Buy, dec("1.23456789"), dec("3"));
        assert_eq!(long, Some(dec("1.19753086")));
        let short = stop_price(Side::Sell, dec("1.23456789"), dec("3"));
        assert_eq!(short, Some(dec("1.27160492")));
    }

    #[test]
    fn non_finite_amounts_become_zero() {
        assert_eq!(to_decimal(f64::NAN), Decimal::ZERO);
        assert_eq!(to_decimal(f64::INFINITY), Decimal::ZERO);
        assert_eq!(to_decimal(117_043.4), dec("117043.4"));
    }
}
