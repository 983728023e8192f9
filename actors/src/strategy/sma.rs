//! Simple moving average crossover: go long when the fast average crosses above the slow one,
//! go short when it crosses below.

use keyward_events::market::Candle;

use super::{PositionSide, Signal, Strategy, StrategyError};

/// Largest accepted window in bars. It bounds the memory a parameter can request (8 bytes a
/// bar) and is far above any useful average.
pub const MAX_WINDOW: usize = 1_000_000;

/// Relative difference of the two averages below which they count as equal, so that rounding
/// noise in the rolling sums cannot create a crossing.
const EQUAL_WITHIN: f64 = 1e-12;

/// SMA crossover over closes, with rolling sums so each bar costs O(1).
///
/// A crossing needs the fast average strictly on one side of the slow one on the previous bar and
/// strictly on the other side on this bar, as `crossover` of the `backtesting` Python package
/// defines it. So the first bar with both averages gives no signal, and a bar where the
/// averages are equal interrupts a crossing: below, equal, above gives no signal.
#[derive(Clone, Debug)]
pub struct SmaCross {
    fast: usize,
    slow: usize,
    /// The last `slow` closes, as a ring buffer written at `next`.
    closes: Box<[f64]>,
    next: usize,
    /// Bars seen so far.
    seen: u64,
    fast_sum: f64,
    slow_sum: f64,
    /// `1 / fast` and `1 / slow`: a multiplication is several times faster than a division, and
    /// its last-bit difference from the exact mean is far below [`EQUAL_WITHIN`].
    fast_scale: f64,
    slow_scale: f64,
    /// Whether the fast average was above (`1`), below (`-1`) or equal to (`0`) the slow one on
    /// the previous bar; `0` before both averages exist.
    last_side: i8,
}

impl SmaCross {
    /// Creates the strategy with a fast and a slow window, in bars.
    ///
    /// # Errors
    /// Rejects `fast` below 1, `slow` not above `fast`, and windows above [`MAX_WINDOW`].
    pub fn new(fast: usize, slow: usize) -> Result<Self, StrategyError> {
        if !(1..MAX_WINDOW).contains(&fast) {
            let allowed = format!("1 to {}", MAX_WINDOW - 1);
            return Err(StrategyError {
                name: "fast",
                value: fast.to_string(),
                allowed,
            });
        }
        if slow <= fast || slow > MAX_WINDOW {
            let allowed = format!("greater than fast ({fast}) and at most {MAX_WINDOW}");
            return Err(StrategyError {
                name: "slow",
                value: slow.to_string(),
                allowed,
            });
        }
        Ok(Self {
            fast,
            slow,
            closes: vec![0.0; slow].into_boxed_slice(),
            next: 0,
            seen: 0,
            fast_sum: 0.0,
            slow_sum: 0.0,
            fast_scale: 1.0 / fast as f64,
            slow_scale: 1.0 / slow as f64,
            last_side: 0,
        })
    }

    /// Returns the fast window in bars.
    pub fn fast(&self) -> usize {
        self.fast
    }

    /// Returns the slow window in bars.
    pub fn slow(&self) -> usize {
        self.slow
    }

    /// Adds a close to the ring and both rolling sums.
    ///
    /// The sums are updated in locals and stored once: storing one sum and then loading both
    /// as a pair, as the compiler otherwise does, stalls on store forwarding every bar.
    fn push(&mut self, close: f64) {
        let seen = self.seen;
        let (mut fast_sum, mut slow_sum) = (self.fast_sum, self.slow_sum);
        if seen >= self.fast as u64 {
            // The close `fast` bars back, `(next - fast) mod slow` without a division.
            let mut leaving = self.next + self.slow - self.fast;
            if leaving >= self.slow {
                leaving -= self.slow;
            }
            fast_sum -= self.closes[leaving];
        }
        if seen >= self.slow as u64 {
            slow_sum -= self.closes[self.next];
        }
        self.closes[self.next] = close;
        self.fast_sum = fast_sum + close;
        self.slow_sum = slow_sum + close;
        self.seen += 1;
        self.next += 1;

        if self.next == self.slow {
            self.next = 0;
            self.recompute_sums();
        }
    }

    /// Recomputes both sums from the ring once per `slow` bars, which bounds the rounding error
    /// that adding and subtracting accumulate, at O(1) cost per bar on average.
    fn recompute_sums(&mut self) {
        // With `next` at 0, the ring contains the closes oldest first.
        self.slow_sum = self.closes.iter().sum();
        self.fast_sum = self.closes[self.slow - self.fast..].iter().sum();
    }
}

impl Strategy for SmaCross {
    fn on_bar(&mut self, candle: &Candle, _position: PositionSide) -> Signal {
        self.push(candle.close);
        if self.seen < self.slow as u64 {
            return Signal::Hold;
        }

        let fast_mean = self.fast_sum * self.fast_scale;
        let slow_mean = self.slow_sum * self.slow_scale;
        let difference = fast_mean - slow_mean;
        let tolerance = slow_mean.abs() * EQUAL_WITHIN;
        let side = if difference > tolerance {
            1
        } else if difference < -tolerance {
            -1
        } else {
            0
        };

        let previous = std::mem::replace(&mut self.last_side, side);
        match (previous, side) {
            (-1, 1) => Signal::GoLong,
            (1, -1) => Signal::GoShort,
            _ => Signal::Hold,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(index: usize, close: f64) -> Candle {
        Candle {
            open_time_ms: 1_758_240_000_000 + index as i64 * 300_000,
            open: close,
            high: close,
            low: close,
            close,
            volume: 1.0,
        }
    }

    fn signals(strategy: &mut SmaCross, closes: &[f64]) -> Vec<Signal> {
        let bars = closes
            .iter()
            .enumerate()
            .map(|(index, &close)| bar(index, close));
        bars.map(|candle| strategy.on_bar(&candle, PositionSide::Flat))
            .collect()
    }

    #[test]
    fn parameters_are_validated() {
        let cases = [
            (0, 3, "fast", "0"),
            (3, 3, "slow", "3"),
            (5, 2, "slow", "2"),
            (2, MAX_WINDOW + 1, "slow", "1000001"),
            (MAX_WINDOW, MAX_WINDOW + 1, "fast", "1000000"),
        ];
        for (fast, slow, name, value) in cases {
            let err = SmaCross::new(fast, slow).unwrap_err();
            assert_eq!(err.name, name, "fast {fast}, slow {slow}");
            assert_eq!(err.value, value, "fast {fast}, slow {slow}");
        }
        assert!(SmaCross::new(1, 2).is_ok());
    }

    #[test]
    fn crossings_on_hand_made_series() {
        // fast 2, slow 3. Averages (fast, slow) from bar 2 on: (10, 10), (11.5, 11), (10, 10),
        // (5.5, 8), (4, 5), (7, 6), (10, 8). The equal bar 4 interrupts the cross down.
        let closes = [10.0, 10.0, 10.0, 13.0, 7.0, 4.0, 4.0, 10.0, 10.0];
        let mut strategy = SmaCross::new(2, 3).unwrap();
        let mut expected = [Signal::Hold; 9];
        expected[7] = Signal::GoLong;
        assert_eq!(signals(&mut strategy, &closes), expected);

        // Averages from bar 2 on: (13, 12), (11.5, 11.67), (7.5, 9.67).
        let closes = [10.0, 12.0, 14.0, 9.0, 6.0];
        let mut strategy = SmaCross::new(2, 3).unwrap();
        let expected = [
            Signal::Hold,
            Signal::Hold,
            Signal::Hold,
            Signal::GoShort,
            Signal::Hold,
        ];
        assert_eq!(signals(&mut strategy, &closes), expected);
    }

    #[test]
    fn no_signal_before_slow_window_fills() {
        let closes = [1.0, 100.0, 1.0, 100.0];
        let mut strategy = SmaCross::new(1, 5).unwrap();
        assert!(
            signals(&mut strategy, &closes)
                .iter()
                .all(|signal| *signal == Signal::Hold)
        );
    }

    #[test]
    fn constant_prices_never_cross() {
        let closes = vec![117_043.4; 10_000];
        let mut strategy = SmaCross::new(7, 13).unwrap();
        assert!(
            signals(&mut strategy, &closes)
                .iter()
                .all(|signal| *signal == Signal::Hold)
        );
    }

    /// Recomputes both averages from scratch on every bar.
    fn naive_signals(fast: usize, slow: usize, closes: &[f64]) -> Vec<Signal> {
        let mut last_side = 0;
        let mut out = Vec::new();
        for end in 1..=closes.len() {
            if end < slow {
                out.push(Signal::Hold);
                continue;
            }
            let mean =
                |window: usize| closes[end - window..end].iter().sum::<f64>() / window as f64;
            let (fast_mean, slow_mean) = (mean(fast), mean(slow));
            let tolerance = slow_mean.abs() * EQUAL_WITHIN;
            let side = if fast_mean - slow_mean > tolerance {
                1
            } else if fast_mean - slow_mean < -tolerance {
                -1
            } else {
                0
            };
            out.push(match (last_side, side) {
                (-1, 1) => Signal::GoLong,
                (1, -1) => Signal::GoShort,
                _ => Signal::Hold,
            });
            last_side = side;
        }
        out
    }

    #[test]
    fn rolling_sums_match_naive_averages() {
        // A deterministic random walk around 50000 with 1-cent prices.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut price = 50_000.0_f64;
        let closes: Vec<f64> = (0..20_000)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                let step = ((state >> 33) % 2001) as f64 - 1000.0;
                price = ((price + step / 10.0) * 100.0).round() / 100.0;
                price
            })
            .collect();

        for (fast, slow) in [(1, 2), (3, 7), (10, 30), (50, 200)] {
            let mut strategy = SmaCross::new(fast, slow).unwrap();
            let rolling = signals(&mut strategy, &closes);
            let naive = naive_signals(fast, slow, &closes);
            assert_eq!(rolling, naive, "fast {fast}, slow {slow}");
            let crossings = rolling
                .iter()
                .filter(|signal| **signal != Signal::Hold)
                .count();
            assert!(
                crossings > 10,
                "fast {fast}, slow {slow}: only {crossings} crossings"
            );
        }
    }

    #[test]
    fn signal_targets_respect_long_only() {
        assert_eq!(Signal::Hold.target(false), None);
        assert_eq!(Signal::GoLong.target(true), Some(PositionSide::Long));
        assert_eq!(Signal::GoShort.target(false), Some(PositionSide::Short));
        assert_eq!(Signal::GoShort.target(true), Some(PositionSide::Flat));
    }
}
