//! Running statistics of the equity curve: daily returns for the Sharpe and Sortino ratios,
//! the peak and the maximum drawdown, exposure, and the equity at the start of each UTC day.
//!
//! The ratios use one return per UTC day (or per bar, for bars longer than a day), the common
//! convention: returns of 5-minute bars would mostly measure noise inside the day, and the
//! per-bar loop then needs no division.

const DAY_MS: i64 = 86_400_000;

/// Milliseconds in a year of 365.25 days; crypto markets trade every day.
const YEAR_MS: f64 = 365.25 * 86_400_000.0;

/// The running sums of the period returns.
#[derive(Clone, Copy, Debug, Default)]
struct Returns {
    count: u64,
    sum: f64,
    square_sum: f64,
    /// Sum of the squares of the negative returns.
    downside_square_sum: f64,
}

impl Returns {
    fn add(&mut self, from: f64, to: f64) {
        let period_return = if from > 0.0 { to / from - 1.0 } else { 0.0 };
        self.count += 1;
        self.sum += period_return;
        self.square_sum += period_return * period_return;
        if period_return < 0.0 {
            self.downside_square_sum += period_return * period_return;
        }
    }
}

/// Statistics of a run's equity, sampled at each bar's close.
#[derive(Clone, Debug)]
pub(super) struct EquityStats {
    /// Equity at the last bar's close.
    equity: f64,
    bars: u64,
    /// Bars that closed with a position open.
    exposed_bars: u64,
    peak: f64,
    max_drawdown: f64,
    /// Returns of the UTC days completed so far.
    returns: Returns,
    /// Equity when the current day started: the close of the day before.
    day_start_equity: f64,
    next_day_ms: i64,
    first_open_ms: Option<i64>,
    last_open_ms: i64,
    curve: Option<Vec<f64>>,
}

impl EquityStats {
    pub(super) fn new(cash: f64, record_curve: bool) -> Self {
        Self {
            equity: cash,
            bars: 0,
            exposed_bars: 0,
            peak: cash,
            max_drawdown: 0.0,
            returns: Returns::default(),
            day_start_equity: cash,
            next_day_ms: i64::MIN,
            first_open_ms: None,
            last_open_ms: 0,
            curve: record_curve.then(Vec::new),
        }
    }

    /// Starts a bar: on the first bar of a UTC day, the day before is complete, so its return
    /// is recorded, and the equity at the last close becomes the new day's starting equity.
    pub(super) fn start_bar(&mut self, open_time_ms: i64) {
        if open_time_ms >= self.next_day_ms {
            if self.bars > 0 {
                self.returns.add(self.day_start_equity, self.equity);
            }
            self.day_start_equity = self.equity;
            self.next_day_ms = (open_time_ms.div_euclid(DAY_MS) + 1).saturating_mul(DAY_MS);
        }
        self.first_open_ms.get_or_insert(open_time_ms);
        self.last_open_ms = open_time_ms;
    }

    /// Records the equity at a bar's close.
    pub(super) fn record(&mut self, equity: f64, in_position: bool) {
        self.equity = equity;
        self.bars += 1;
        self.exposed_bars += u64::from(in_position);
        if equity > self.peak {
            self.peak = equity;
        } else if self.peak - equity > self.max_drawdown * self.peak && self.peak > 0.0 {
            self.max_drawdown = (self.peak - equity) / self.peak;
        }
        if let Some(curve) = self.curve.as_mut() {
            curve.push(equity);
        }
    }

    /// Replaces the equity recorded at the last bar, as when the final close changes it.
    pub(super) fn replace_last(&mut self, equity: f64) {
        if self.bars == 0 {
            return;
        }
        self.equity = equity;
        self.peak = self.peak.max(equity);
        if self.peak > 0.0 {
            self.max_drawdown = self.max_drawdown.max((self.peak - equity) / self.peak);
        }
        if let Some(last) = self.curve.as_mut().and_then(|curve| curve.last_mut()) {
            *last = equity;
        }
    }

    pub(super) fn last_equity(&self) -> f64 {
        self.equity
    }

    pub(super) fn peak_equity(&self) -> f64 {
        self.peak
    }

    pub(super) fn day_start_equity(&self) -> f64 {
        self.day_start_equity
    }

    pub(super) fn max_drawdown(&self) -> f64 {
        self.max_drawdown
    }

    /// Fraction of bars that closed with a position open.
    pub(super) fn exposure(&self) -> f64 {
        self.exposed_bars as f64 / self.bars.max(1) as f64
    }

    /// Mean distance between bar open times, or one minute before two bars are seen.
    pub(super) fn bar_interval_ms(&self) -> i64 {
        let first = self.first_open_ms.unwrap_or(self.last_open_ms);
        let steps = self.bars.saturating_sub(1).max(1) as i64;
        let interval = (self.last_open_ms - first) / steps;
        if interval > 0 { interval } else { 60_000 }
    }

    /// The daily returns, the last (possibly partial) day included.
    fn all_returns(&self) -> Returns {
        let mut returns = self.returns;
        if self.bars > 0 {
            returns.add(self.day_start_equity, self.equity);
        }
        returns
    }

    /// Annualized Sharpe ratio of the daily returns with a zero risk-free rate; `None` with
    /// fewer than two days or returns that never vary.
    pub(super) fn sharpe(&self) -> Option<f64> {
        let returns = self.all_returns();
        if returns.count < 2 {
            return None;
        }
        let count = returns.count as f64;
        let mean = returns.sum / count;
        let variance = (returns.square_sum - count * mean * mean) / (count - 1.0);
        let deviation = variance.max(0.0).sqrt();
        (deviation > 0.0).then(|| mean / deviation * self.periods_per_year().sqrt())
    }

    /// Annualized Sortino ratio: the mean daily return over the downside deviation, which is the
    /// root mean square of the negative returns over all days. `None` without a losing day.
    pub(super) fn sortino(&self) -> Option<f64> {
        let returns = self.all_returns();
        if returns.count < 2 {
            return None;
        }
        let count = returns.count as f64;
        let mean = returns.sum / count;
        let downside = (returns.downside_square_sum / count).sqrt();
        (downside > 0.0).then(|| mean / downside * self.periods_per_year().sqrt())
    }

    /// Return periods in a year: days, or bars when bars are longer than a day.
    fn periods_per_year(&self) -> f64 {
        YEAR_MS / self.bar_interval_ms().max(DAY_MS) as f64
    }

    pub(super) fn into_curve(self) -> Vec<f64> {
        self.curve.unwrap_or_default()
    }
}

#[cfg(test)]
#[allow(
    clippy::float_cmp,
    reason = "the equities compared are exact in binary floating point"
)]
mod tests {
    use super::*;

    const START: i64 = 1_758_240_000_000;
    const STEP: i64 = 300_000;

    /// Records one bar per entry, `bar_ms` apart.
    fn stats_of(equities: &[f64], bar_ms: i64) -> EquityStats {
        let mut stats = EquityStats::new(100.0, true);
        for (index, equity) in equities.iter().enumerate() {
            stats.start_bar(START + index as i64 * bar_ms);
            stats.record(*equity, index % 2 == 0);
        }
        stats
    }

    #[test]
    fn drawdown_is_fraction_of_peak() {
        let stats = stats_of(&[110.0, 99.0, 120.0, 90.0, 100.0], STEP);
        assert!((stats.max_drawdown() - 0.25).abs() < 1e-12);
        assert_eq!(stats.peak_equity(), 120.0);
        assert!((stats.exposure() - 0.6).abs() < 1e-12);
    }

    #[test]
    fn ratios_use_daily_returns() {
        // Four days of 5-minute bars; the equity at each day's last bar decides its return.
        let day_closes = [101.0, 100.0, 102.0, 101.0];
        let bars_per_day = (DAY_MS / STEP) as usize;
        let mut equities = Vec::new();
        for close in day_closes {
            equities.extend(std::iter::repeat_n(close - 0.5, bars_per_day - 1));
            equities.push(close);
        }
        let stats = stats_of(&equities, STEP);

        let mut previous = 100.0;
        let returns: Vec<f64> = day_closes
            .iter()
            .map(|equity| {
                let day_return = equity / previous - 1.0;
                previous = *equity;
                day_return
            })
            .collect();
        let count = returns.len() as f64;
        let mean = returns.iter().sum::<f64>() / count;
        let variance = returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (count - 1.0);
        let downside = (returns.iter().map(|r| r.min(0.0).powi(2)).sum::<f64>() / count).sqrt();
        let per_year = 365.25_f64.sqrt();

        let sharpe = stats.sharpe().unwrap();
        assert!(
            (sharpe - mean / variance.sqrt() * per_year).abs() < 1e-9,
            "{sharpe}"
        );
        let sortino = stats.sortino().unwrap();
        assert!(
            (sortino - mean / downside * per_year).abs() < 1e-9,
            "{sortino}"
        );
    }

    #[test]
    fn weekly_bars_give_one_return_per_bar() {
        let week = 7 * DAY_MS;
        let stats = stats_of(&[110.0, 99.0, 120.0], week);
        let per_year = (YEAR_MS / week as f64).sqrt();
        let returns = [0.1, 99.0 / 110.0 - 1.0, 120.0 / 99.0 - 1.0];
        let mean = returns.iter().sum::<f64>() / 3.0;
        let variance = returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / 2.0;
        let expected = mean / variance.sqrt() * per_year;
        assert!((stats.sharpe().unwrap() - expected).abs() < 1e-9);
    }

    #[test]
    fn flat_equity_or_one_day_has_no_ratios() {
        let flat = stats_of(&[100.0; 600], STEP);
        assert_eq!(flat.sharpe(), None);
        assert_eq!(flat.sortino(), None);
        let one_day = stats_of(&[101.0, 99.0, 103.0], STEP);
        assert_eq!(one_day.sharpe(), None);
    }

    #[test]
    fn replacing_last_bar_recomputes() {
        let mut stats = stats_of(&[110.0, 100.0], STEP);
        stats.replace_last(121.0);
        assert_eq!(stats.last_equity(), 121.0);
        assert_eq!(stats.peak_equity(), 121.0);
        assert!((stats.max_drawdown() - 10.0 / 110.0).abs() < 1e-12);
        assert_eq!(stats.into_curve(), [110.0, 121.0]);
    }

    #[test]
    fn day_start_equity_resets_at_midnight() {
        let mut stats = EquityStats::new(100.0, false);
        let midnight = 1_758_240_000_000;
        stats.start_bar(midnight - STEP);
        stats.record(90.0, false);
        assert_eq!(stats.day_start_equity(), 100.0);
        stats.start_bar(midnight);
        assert_eq!(stats.day_start_equity(), 90.0);
        stats.record(80.0, false);
        stats.start_bar(midnight + STEP);
        assert_eq!(stats.day_start_equity(), 90.0);
    }
}
