//! RSI mean reversion: go long when the relative strength index falls below the oversold
//! level, go short when it rises above the overbought level.

use keyward_events::market::Candle;

use super::{PositionSide, Signal, Strategy, StrategyError};

/// Largest accepted RSI period in bars.
pub const MAX_PERIOD: usize = 10_000;

/// Relative strength index over closes with Wilder's smoothing, O(1) per bar.
///
/// The first average gain and loss are the simple means of the first `period` close-to-close
/// changes. Each later bar updates them as `(previous * (period - 1) + change) / period`. The
/// index is `100 - 100 / (1 + gain / loss)`, and 100 when the average loss is zero.
#[derive(Clone, Debug)]
pub struct RsiReversion {
    period: usize,
    oversold: f64,
    overbought: f64,
    previous_close: Option<f64>,
    /// Changes seen so far, up to `period`.
    changes: usize,
    average_gain: f64,
    average_loss: f64,
    /// Zone of the index on the previous bar: `-1` oversold, `1` overbought, `0` between.
    last_zone: i8,
}

impl RsiReversion {
    /// Creates the strategy with a period in bars and the two levels, in index points.
    ///
    /// # Errors
    /// Rejects a period outside 2 to [`MAX_PERIOD`], and levels unless
    /// `0 < oversold < overbought < 100`.
    pub fn new(period: usize, oversold: f64, overbought: f64) -> Result<Self, StrategyError> {
        if !(2..=MAX_PERIOD).contains(&period) {
            return Err(StrategyError {
                name: "period",
                value: period.to_string(),
                allowed: format!("2 to {MAX_PERIOD}"),
            });
        }
        if !(oversold > 0.0 && oversold < 100.0) {
            return Err(StrategyError {
                name: "oversold",
                value: oversold.to_string(),
                allowed: "greater than 0 and less than 100".to_owned(),
            });
        }
        if !(overbought > oversold && overbought < 100.0) {
            return Err(StrategyError {
                name: "overbought",
                value: overbought.to_string(),
                allowed: format!("greater than oversold ({oversold}) and less than 100"),
            });
        }
        Ok(Self {
            period,
            oversold,
            overbought,
            previous_close: None,
            changes: 0,
            average_gain: 0.0,
            average_loss: 0.0,
            last_zone: 0,
        })
    }

    /// Returns the index after the last bar, once `period` changes have been seen.
    pub fn value(&self) -> Option<f64> {
        if self.changes < self.period {
            return None;
        }
        if self.average_loss == 0.0 {
            return Some(100.0);
        }
        let strength = self.average_gain / self.average_loss;
        Some(100.0 - 100.0 / (1.0 + strength))
    }

    fn push(&mut self, close: f64) {
        let Some(previous) = self.previous_close.replace(close) else {
            return;
        };
        let change = close - previous;
        let (gain, loss) = (change.max(0.0), (-change).max(0.0));
        let period = self.period as f64;
        if self.changes < self.period {
            self.average_gain += gain / period;
            self.average_loss += loss / period;
            self.changes += 1;
        } else {
            self.average_gain = (self.average_gain * (period - 1.0) + gain) / period;
            self.average_loss = (self.average_loss * (period - 1.0) + loss) / period;
        }
    }
}

impl Strategy for RsiReversion {
    fn on_bar(&mut self, candle: &Candle, _position: PositionSide) -> Signal {
        self.push(candle.close);
        let Some(index) = self.value() else {
            return Signal::Hold;
        };
        let zone = if index < self.oversold {
            -1
        } else if index > self.overbought {
            1
        } else {
            0
        };
        let entered = zone != self.last_zone;
        self.last_zone = zone;
        match zone {
            -1 if entered => Signal::GoLong,
            1 if entered => Signal::GoShort,
            _ => Signal::Hold,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candle(close: f64) -> Candle {
        Candle {
            open_time_ms: 0,
            open: close,
            high: close,
            low: close,
            close,
            volume: 1.0,
        }
    }

    #[test]
    fn parameters_are_validated() {
        let cases = [
            (1, 30.0, 70.0, "period"),
            (14, 0.0, 70.0, "oversold"),
            (14, 30.0, 30.0, "overbought"),
            (14, 30.0, 100.0, "overbought"),
            (14, f64::NAN, 70.0, "oversold"),
        ];
        for (period, oversold, overbought, field) in cases {
            let err = RsiReversion::new(period, oversold, overbought).unwrap_err();
            assert_eq!(err.name, field, "{period} {oversold} {overbought}");
        }
    }

    #[test]
    fn index_matches_hand_computation() {
        let mut rsi = RsiReversion::new(2, 30.0, 70.0).unwrap();
        for close in [10.0, 11.0, 10.5] {
            rsi.on_bar(&candle(close), PositionSide::Flat);
        }
        // Gains 1 and 0, losses 0 and 0.5: averages 0.5 and 0.25, strength 2.
        let index = rsi.value().unwrap();
        assert!((index - 200.0 / 3.0).abs() < 1e-9, "{index}");
        rsi.on_bar(&candle(10.0), PositionSide::Flat);
        // Wilder: gain (0.5 + 0) / 2 = 0.25, loss (0.25 + 0.5) / 2 = 0.375.
        let index = rsi.value().unwrap();
        assert!((index - 40.0).abs() < 1e-9, "{index}");
    }

    #[test]
    fn signals_on_entering_each_zone() {
        let mut rsi = RsiReversion::new(3, 30.0, 70.0).unwrap();
        let closes = [
            100.0, 99.0, 98.0, 97.0, 96.0, 97.0, 99.0, 102.0, 105.0, 106.0,
        ];
        let signals: Vec<Signal> = closes
            .iter()
            .map(|close| rsi.on_bar(&candle(*close), PositionSide::Flat))
            .collect();
        assert_eq!(signals[3], Signal::GoLong);
        assert_eq!(
            signals[4],
            Signal::Hold,
            "staying oversold repeats no signal"
        );
        assert!(signals.contains(&Signal::GoShort));
        let long_at = signals.iter().position(|s| *s == Signal::GoLong);
        let short_at = signals.iter().position(|s| *s == Signal::GoShort);
        assert!(long_at < short_at);
    }
}
