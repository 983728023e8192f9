//! Intent ids, conversions and protective prices of the bot's orders.

use keyward_events::bot::Side;
use rust_decimal::prelude::FromPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use uuid::Uuid;

/// Decimal places of intent quantities and stop prices.
// NOTE: the instrument's step and tick size are not known here, so quantities and prices are
// rounded to 8 places instead of the exchange's step and tick.
pub(super) const DECIMAL_PLACES: u32 = 8;

/// Purpose of an intent, part of its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntentRole {
    /// Closes the position on an opposite signal.
    Close = 0,
    /// Opens a position on a signal.
    Entry = 1,
    /// Closes the position at the end of the data.
    FinalClose = 2,
    /// Protective stop of a filled entry.
    StopLoss = 3,
    /// Take-profit limit order of a filled entry.
    TakeProfit = 4,
}

/// Deterministic intent ids of one run: equal runs give equal ids, and every decision point
/// (`sequence`, a bar index in a backtest) and role gets its own.
///
/// Ids are UUID version 8 holding 62 bits of the run id, the sequence and the role. Hashing a
/// name (UUID version 5) would cost a SHA-1 per intent, which a backtest cannot afford.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntentIds {
    run: u64,
    sequence: u64,
}

impl IntentIds {
    /// Creates the ids of the run `run_id`.
    pub fn new(run_id: &Uuid) -> Self {
        let (high, low) = run_id.as_u64_pair();
        Self {
            run: high ^ low.rotate_left(32),
            sequence: 0,
        }
    }

    /// Returns the ids of one decision point.
    pub fn at(self, sequence: u64) -> Self {
        Self { sequence, ..self }
    }

    /// Returns the id of the intent with `role` at this decision point.
    pub fn id(self, role: IntentRole) -> Uuid {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.run.to_be_bytes());
        let tail = (self.sequence << 8) | role as u64;
        bytes[8..].copy_from_slice(&tail.to_be_bytes());
        uuid::Builder::from_custom_bytes(bytes).into_uuid()
    }
}

/// Largest magnitude converted by the fast path: below it, `value * 10^8` fits an i64 with
/// room to spare.
const FAST_CONVERSION_BELOW: f64 = 1e10;

/// Converts a simulated amount for the gate, with at most 8 decimal places. It takes the fewest
/// places that represent the value to within a few units in the last place of the f64, so
/// `117043.4` stays `117043.4`, and otherwise rounds to 8 places. NaN, infinities and
/// out-of-range values become zero, which the gate rejects as a quantity or treats as no equity.
///
/// `Decimal::from_f64` gives the same digits for short decimals but costs several times more,
/// and a backtest converts on every signal and fill.
pub fn to_decimal(value: f64) -> Decimal {
    if !value.is_finite() {
        return Decimal::ZERO;
    }
    if value.abs() >= FAST_CONVERSION_BELOW {
        return Decimal::from_f64(value).unwrap_or(Decimal::ZERO);
    }
    let mut scaled = value;
    for places in 0..DECIMAL_PLACES {
        let nearest = round_to_integer(scaled);
        if (scaled - nearest as f64).abs() <= scaled.abs() * 4.0 * f64::EPSILON {
            return Decimal::new(nearest, places);
        }
        scaled *= 10.0;
    }
    Decimal::new(round_to_integer(scaled), DECIMAL_PLACES)
}

/// Rounds half away from zero with a truncating cast, which needs no call into the maths
/// library on CPUs without a rounding instruction. `value` is below 2^53 in magnitude here.
fn round_to_integer(value: f64) -> i64 {
    (value + 0.5_f64.copysign(value)) as i64
}

/// Returns the protective stop `stop_loss_pct` percent away from `price`, rounded towards the
/// price so that the stop is never further than the configured distance.
pub fn stop_price(side: Side, price: Decimal, stop_loss_pct: Decimal) -> Option<Decimal> {
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
    let stop = price.checked_mul(factor)?.checked_div(hundred)?;
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
        let ids = IntentIds::new(&Uuid::from_u128(7));
        assert_eq!(
            ids.at(5).id(IntentRole::Entry),
            ids.at(5).id(IntentRole::Entry)
        );
        assert_ne!(
            ids.at(5).id(IntentRole::Entry),
            ids.at(5).id(IntentRole::Close)
        );
        assert_ne!(
            ids.at(5).id(IntentRole::Entry),
            ids.at(6).id(IntentRole::Entry)
        );
        let other = IntentIds::new(&Uuid::from_u128(8));
        assert_ne!(
            ids.at(5).id(IntentRole::Entry),
            other.at(5).id(IntentRole::Entry)
        );
        assert_eq!(ids.at(5).id(IntentRole::Entry).get_version_num(), 8);
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
    }

    #[test]
    fn conversion_keeps_short_decimals_exact() {
        let cases = [
            (117_043.4, "117043.4"),
            (0.085_497, "0.085497"),
            (10_000.0, "10000"),
            (-0.05, "-0.05"),
            (1.0 / 3.0, "0.33333333"),
            (9_876.123_456_789, "9876.12345679"),
            (0.1 + 0.2, "0.3"),
            (2.5e12, "2500000000000"),
        ];
        for (value, expected) in cases {
            let converted = to_decimal(value);
            assert_eq!(converted.to_string(), expected, "{value}");
        }
        for value in [117_043.4, 0.085_497, 64_628.01, 0.000_002_31] {
            assert_eq!(
                to_decimal(value),
                Decimal::from_f64(value).unwrap(),
                "{value}"
            );
        }
    }
}
