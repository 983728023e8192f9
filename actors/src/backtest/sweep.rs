//! Parameter sweeps: one backtest per pair of SMA windows, run in parallel on all cores over
//! the same candles, ranked by a metric.

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use super::setup::{PreparedRun, RunSpec, SetupError};
use super::{BacktestReport, DiscardVerdicts, MarketData, RunOptions, run};

/// Metric a sweep ranks its runs by, best first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RankBy {
    /// Highest total return.
    #[default]
    Return,
    /// Highest Sharpe ratio.
    Sharpe,
    /// Highest Sortino ratio.
    Sortino,
    /// Smallest maximum drawdown.
    Drawdown,
    /// Highest profit factor.
    ProfitFactor,
}

impl FromStr for RankBy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "return" => Ok(Self::Return),
            "sharpe" => Ok(Self::Sharpe),
            "sortino" => Ok(Self::Sortino),
            "drawdown" => Ok(Self::Drawdown),
            "profit-factor" => Ok(Self::ProfitFactor),
            _ => Err(format!(
                "{text:?} is not a ranking; use return, sharpe, sortino, drawdown or profit-factor"
            )),
        }
    }
}

impl RankBy {
    /// Returns the run's score, higher is better; `None` ranks last.
    fn score(self, report: &BacktestReport) -> Option<f64> {
        match self {
            Self::Return => Some(report.total_return),
            Self::Sharpe => report.sharpe,
            Self::Sortino => report.sortino,
            Self::Drawdown => Some(-report.max_drawdown),
            Self::ProfitFactor => report.profit_factor,
        }
        .filter(|score| !score.is_nan())
    }
}

/// One run of a sweep. Its report keeps the summary but not the trade list, because a sweep of
/// thousands of runs could not hold them all in memory. `trade_list_hash` identifies it instead.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepResult {
    pub fast: usize,
    pub slow: usize,
    pub report: BacktestReport,
    /// Hex SHA-256 of the trade list, when the sweep was asked for it.
    pub trade_list_hash: Option<String>,
}

/// Runs `base` once for every pair of `fast` and `slow` windows with `fast < slow`, in
/// parallel, and returns the runs ranked by `rank_by`, ties broken by the windows.
///
/// `progress` is called with the number of runs finished after each one.
///
/// # Errors
/// Returns the first pair whose run cannot be prepared, before any run starts.
pub fn run_sweep(
    data: MarketData<'_>,
    base: &RunSpec,
    windows: (&[usize], &[usize]),
    rank_by: RankBy,
    hash_trades: bool,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Vec<SweepResult>, SetupError> {
    let (fast_windows, slow_windows) = windows;
    let mut prepared = Vec::new();
    for &fast in fast_windows {
        for &slow in slow_windows.iter().filter(|&&slow| slow > fast) {
            let mut spec = base.clone();
            spec.strategy.params.insert("fast".to_owned(), fast.into());
            spec.strategy.params.insert("slow".to_owned(), slow.into());
            prepared.push((fast, slow, spec.prepare()?));
        }
    }

    let finished = AtomicUsize::new(0);
    let mut results: Vec<SweepResult> = prepared
        .into_par_iter()
        .map(|(fast, slow, run_parts)| {
            let result = run_one(data, fast, slow, run_parts, hash_trades);
            progress(finished.fetch_add(1, Ordering::Relaxed) + 1);
            result
        })
        .collect();
    rank(&mut results, rank_by);
    Ok(results)
}

fn run_one(
    data: MarketData<'_>,
    fast: usize,
    slow: usize,
    prepared: PreparedRun,
    hash_trades: bool,
) -> SweepResult {
    let PreparedRun {
        mut strategy,
        gate,
        config,
    } = prepared;
    let options = RunOptions::default();
    let outcome = run(
        data,
        &mut strategy,
        &gate,
        &config,
        &mut DiscardVerdicts,
        options,
    );
    // The data is not empty and the settings were validated when the run was prepared.
    let mut report = outcome.unwrap_or_else(|err| unreachable!("prepared run failed: {err}"));
    let trade_list_hash = hash_trades.then(|| report.trade_list_hash());
    report.trade_list = Vec::new();
    SweepResult {
        fast,
        slow,
        report,
        trade_list_hash,
    }
}

/// Sorts best first; runs without a score go last.
fn rank(results: &mut [SweepResult], rank_by: RankBy) {
    results.sort_by(|a, b| {
        let (score_a, score_b) = (rank_by.score(&a.report), rank_by.score(&b.report));
        let by_score = match (score_a, score_b) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        };
        by_score.then((a.fast, a.slow).cmp(&(b.fast, b.slow)))
    });
}
