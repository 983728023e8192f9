//! The result of a backtest: summary figures and the list of trades.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::metrics::EquityStats;
use crate::simulated::Trade;

/// Summary of a backtest run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BacktestReport {
    /// Candles the run went through.
    pub bars: u64,
    /// Number of closed trades.
    pub trades: u64,
    pub trade_list: Vec<Trade>,
    pub initial_cash: f64,
    /// Equity after the last bar, with any open trade closed.
    pub final_equity: f64,
    /// `final_equity / initial_cash - 1`, a fraction.
    pub total_return: f64,
    /// Largest fall of equity from a previous peak, a positive fraction of that peak. Equity is
    /// sampled at each bar's close, so a dip inside a bar that recovers is not counted.
    pub max_drawdown: f64,
    /// Annualized Sharpe ratio of the daily returns (zero risk-free rate, 365.25-day years);
    /// `None` under two days.
    pub sharpe: Option<f64>,
    /// Annualized Sortino ratio of the daily returns.
    pub sortino: Option<f64>,
    /// Fraction of trades with a positive PnL; `None` without trades.
    pub win_rate: Option<f64>,
    /// Gross profit over gross loss of the trades; `None` without a losing trade.
    pub profit_factor: Option<f64>,
    /// Fraction of bars that closed with a position open.
    pub exposure: f64,
    /// All fees paid, in the quote currency.
    pub fees_paid: f64,
    /// All funding paid, in the quote currency; negative when more was received.
    pub funding_paid: f64,
    /// Verdicts the risk gate gave.
    pub risk_checks: u64,
    /// Intents the risk gate rejected.
    pub rejected_intents: u64,
    /// Open time of the first candle.
    pub first_bar_time: DateTime<Utc>,
    /// Open time of the last candle.
    pub last_bar_time: DateTime<Utc>,
    /// Equity at each bar's close, when the run was asked to keep it.
    #[serde(skip)]
    pub equity_curve: Vec<f64>,
}

impl BacktestReport {
    /// Returns the hex SHA-256 of the trade list as JSON, equal for equal trade lists.
    pub fn trade_list_hash(&self) -> String {
        trade_list_hash(&self.trade_list)
    }
}

/// Returns the hex SHA-256 of `trades` serialized as a JSON array.
pub fn trade_list_hash(trades: &[Trade]) -> String {
    let mut hasher = Sha256::new();
    // The writer never fails and the trades hold no maps with non-string keys, so serializing
    // cannot fail.
    let _ = serde_json::to_writer(HashWriter(&mut hasher), trades);
    hex::encode(hasher.finalize())
}

struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Totals the driver hands over at the end of a run.
pub(super) struct Totals {
    pub bars: u64,
    pub trade_list: Vec<Trade>,
    pub initial_cash: f64,
    pub final_equity: f64,
    pub fees_paid: f64,
    pub funding_paid: f64,
    pub risk_checks: u64,
    pub rejected_intents: u64,
    pub first_bar_time: DateTime<Utc>,
    pub last_bar_time: DateTime<Utc>,
    pub stats: EquityStats,
}

pub(super) fn build(totals: Totals) -> BacktestReport {
    let trades = &totals.trade_list;
    let wins = trades.iter().filter(|trade| trade.pnl > 0.0).count();
    let gross_profit: f64 = trades.iter().map(|trade| trade.pnl.max(0.0)).sum();
    let gross_loss: f64 = trades.iter().map(|trade| (-trade.pnl).max(0.0)).sum();
    let stats = totals.stats;
    BacktestReport {
        bars: totals.bars,
        trades: trades.len() as u64,
        win_rate: (!trades.is_empty()).then(|| wins as f64 / trades.len() as f64),
        profit_factor: (gross_loss > 0.0).then(|| gross_profit / gross_loss),
        trade_list: totals.trade_list,
        initial_cash: totals.initial_cash,
        final_equity: totals.final_equity,
        total_return: totals.final_equity / totals.initial_cash - 1.0,
        max_drawdown: stats.max_drawdown(),
        sharpe: stats.sharpe(),
        sortino: stats.sortino(),
        exposure: stats.exposure(),
        fees_paid: totals.fees_paid,
        funding_paid: totals.funding_paid,
        risk_checks: totals.risk_checks,
        rejected_intents: totals.rejected_intents,
        first_bar_time: totals.first_bar_time,
        last_bar_time: totals.last_bar_time,
        equity_curve: stats.into_curve(),
    }
}
