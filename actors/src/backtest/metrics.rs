//! Running statistics of the equity curve: returns for the Sharpe and Sortino ratios, the peak
//! and the maximum drawdown, exposure, and the equity at the start of each UTC day.

const DAY_MS: i64 = 86_400_000;

/// Milliseconds in a year of 365.25 days; crypto markets trade every day.
const YEAR_MS: f64 = 365.25 * 86_400_000.0;

/// The scalar part of the statistics, copied before each bar so that the last bar can be
/// replaced.
#[derive(Clone, Copy, Debug, Default)]
struct Summary {
    equity: f64,
    /// Bars recorded.
    bars: u64,
    /// Bars that closed with a position open.
    exposed_bars: u64,
    return_sum: f64,
    return_square_sum: f64,
    /// Sum of the squares of the negative returns.
    downside_square_sum: f64,
    peak: f64,
    max_drawdown: f64,
}

impl Summary {
    fn record(&mut self, equity: f64, in_position: bool) {
        let bar_return = if self.equity > 0.0 {
            equity / self.equity - 1.0
        } else {
            0.0
        };
        self.return_sum += bar_return;
        self.return_square_sum += bar_return * bar_return;
        if bar_return < 0.0 {
            self.downside_square_sum += bar_return * bar_return;
        }
        self.equity = equity;
        self.bars += 1;
        self.exposed_bars += u64::from(in_position);
        if equity > self.peak {
            self.peak = equity;
        } else if self.peak > 0.0 {
            let drawdown = (self.peak - equity) / self.peak;
            if drawdown > self.max_drawdown {
                self.max_drawdown = drawdown;
            }
        }
    }
}

/// Statistics of a run's equity, sampled at each bar's close.
#[derive(Clone, Debug)]
pub(super) struct EquityStats {
    summary: Summary,
    before_last: Summary,
    last_in_position: bool,
    day_start_equity: f64,
    next_day_ms: i64,
    first_open_ms: Option<i64>,
    last_open_ms: i64,
    curve: Option<Vec<f64>>,
}

impl EquityStats {
    pub(super) fn new(cash: f64, record_curve: bool) -> Self {
        let summary = Summary {
            equity: cash,
            peak: cash,
            ..Summary::default()
        };
        Self {
            summary,
            before_last: summary,
            last_in_position: false,
            day_start_equity: cash,
            next_day_ms: i64::MIN,
            first_open_ms: None,
            last_open_ms: 0,
            curve: record_curve.then(Vec::new),
        }
    }

    /// Starts a bar: on the first bar of a UTC day, the equity at the last close becomes the
    /// day's starting equity.
    pub(super) fn start_bar(&mut self, open_time_ms: i64) {
        if open_time_ms >= self.next_day_ms {
            self.day_start_equity = self.summary.equity;
            self.next_day_ms = (open_time_ms.div_euclid(DAY_MS) + 1).saturating_mul(DAY_MS);
        }
        self.first_open_ms.get_or_insert(open_time_ms);
        self.last_open_ms = open_time_ms;
    }

    /// Records the equity at a bar's close.
    pub(super) fn record(&mut self, equity: f64, in_position: bool) {
        self.before_last = self.summary;
        self.last_in_position = in_position;
        self.summary.record(equity, in_position);
        if let Some(curve) = self.curve.as_mut() {
            curve.push(equity);
        }
    }

    /// Replaces the equity recorded at the last bar, as when the final close changes it.
    pub(super) fn replace_last(&mut self, equity: f64) {
        if self.summary.bars == 0 {
            return;
        }
        self.summary = self.before_last;
        self.summary.record(equity, self.last_in_position);
        if let Some(last) = self.curve.as_mut().and_then(|curve| curve.last_mut()) {
            *last = equity;
        }
    }

    pub(super) fn last_equity(&self) -> f64 {
        self.summary.equity
    }

    pub(super) fn peak_equity(&self) -> f64 {
        self.summary.peak
    }

    pub(super) fn day_start_equity(&self) -> f64 {
        self.day_start_equity
    }

    pub(super) fn max_drawdown(&self) -> f64 {
        self.summary.max_drawdown
    }

    /// Fraction of bars that closed with a position open.
    pub(super) fn exposure(&self) -> f64 {
        let bars = self.summary.bars.max(1) as f64;
        self.summary.exposed_bars as f64 / bars
    }

    /// Mean distance between bar open times, or one minute before two bars are seen.
    pub(super) fn bar_interval_ms(&self) -> i64 {
        let first = self.first_open_ms.unwrap_or(self.last_open_ms);
        let steps = self.summary.bars.saturating_sub(1).max(1) as i64;
        let interval = (self.last_open_ms - first) / steps;
        if interval > 0 { interval } else { 60_000 }
    }

    /// Annualized Sharpe ratio of the per-bar returns with a zero risk-free rate; `None` with
    /// fewer than two bars or returns that never vary.
    pub(super) fn sharpe(&self) -> Option<f64> {
        let summary = &self.summary;
        let count = summary.bars as f64;
        if summary.bars < 2 {
            return None;
        }
        let mean = summary.return_sum / count;
        let variance = (summary.return_square_sum - count * mean * mean) / (count - 1.0);
        let deviation = variance.max(0.0).sqrt();
        (deviation > 0.0).then(|| mean / deviation * self.periods_per_year().sqrt())
    }

    /// Annualized Sortino ratio: the mean return over the downside deviation (the root mean
    /// square of the negative returns over all bars); `None` without a losing bar.
    pub(super) fn sortino(&self) -> Option<f64> {
        let summary = &self.summary;
        if summary.bars < 2 {
            return None;
        }
        let count = summary.bars as f64;
        let mean = summary.return_sum / count;
        let downside = (summary.downside_square_sum / count).sqrt();
        (downside > 0.0).then(|| mean / downside * self.periods_per_year().sqrt())
    }

    fn periods_per_year(&self) -> f64 {
        YEAR_MS / self.bar_interval_ms() as f64
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

    fn stats_of(equities: &[f64]) -> EquityStats {
        let mut stats = EquityStats::new(100.0, true);
        for (index, equity) in equities.iter().enumerate() {
            stats.start_bar(START + index as i64 * STEP);
            stats.record(*equity, index % 2 == 0);
        }
        stats
    }

    #[test]
    fn drawdown_is_fraction_of_peak() {
        let stats = stats_of(&[110.0, 99.0, 120.0, 90.0, 100.0]);
        assert!((stats.max_drawdown() - 0.25).abs() < 1e-12);
        assert_eq!(stats.peak_equity(), 120.0);
        assert!((stats.exposure() - 0.6).abs() < 1e-12);
    }

    #[test]
    fn ratios_follow_their_definitions() {
        let equities = [101.0, 100.0, 102.0, 101.0];
        let stats = stats_of(&equities);
        let mut previous = 100.0;
        let returns: Vec<f64> = equities
            .iter()
            .map(|equity| {
                let bar_return = equity / previous - 1.0;
                previous = *equity;
                bar_return
            })
            .collect();
        let count = returns.len() as f64;
        let mean = returns.iter().sum::<f64>() / count;
        let variance = returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (count - 1.0);
        let downside = (returns.iter().map(|r| r.min(0.0).powi(2)).sum::<f64>() / count).sqrt();
        let per_year = (YEAR_MS / STEP as f64).sqrt();

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
    fn flat_equity_has_no_ratios() {
        let stats = stats_of(&[100.0, 100.0, 100.0]);
        assert_eq!(stats.sharpe(), None);
        assert_eq!(stats.sortino(), None);
    }

    #[test]
    fn replacing_last_bar_recomputes() {
        let mut stats = stats_of(&[110.0, 100.0]);
        stats.replace_last(121.0);
        assert_eq!(stats.last_equity(), 121.0);
        assert_eq!(stats.peak_equity(), 121.0);
        assert_eq!(stats.max_drawdown(), 0.0);
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
