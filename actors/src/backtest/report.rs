//! The result of a backtest: summary figures and the list of trades.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Direction of a trade.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TradeSide {
    Long,
    Short,
}

/// Cause of a trade's exit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitReason {
    /// An opposite signal closed it at the next bar's open.
    Signal,
    /// The protective stop was hit inside a bar.
    StopLoss,
    /// The data ended and the position was closed at the last bar's close.
    EndOfData,
}

/// One round trip: an entry and the exit that closed it.
///
/// Prices and amounts are f64 because they come from the simulated account, not an exchange.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trade {
    pub side: TradeSide,
    /// Open time of the bar whose open the entry filled at.
    pub entry_time: DateTime<Utc>,
    pub entry_price: f64,
    /// Open time of the bar the exit filled in.
    pub exit_time: DateTime<Utc>,
    pub exit_price: f64,
    /// Quantity in the base asset.
    pub quantity: f64,
    /// Realized PnL in the quote currency, after the entry and exit fees.
    pub pnl: f64,
    /// Entry and exit fees in the quote currency.
    pub fees: f64,
    pub exit_reason: ExitReason,
}

/// Summary of a backtest run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BacktestReport {
    /// Candles the run went through.
    pub bars: u64,
    /// Number of closed trades.
    pub trades: u64,
    pub trade_list: Vec<Trade>,
    pub initial_cash: f64,
    /// Equity after the last bar, with any open trade closed at its close.
    pub final_equity: f64,
    /// `final_equity / initial_cash - 1`, a fraction.
    pub total_return: f64,
    /// Largest fall of equity from a previous peak, a positive fraction of that peak. Equity is
    /// sampled at each bar's close, so a dip inside a bar that recovers is not counted.
    pub max_drawdown: f64,
    /// All fees paid, in the quote currency.
    pub fees_paid: f64,
    /// Intents the risk gate rejected.
    pub rejected_intents: u64,
    /// Open time of the first candle.
    pub first_bar_time: DateTime<Utc>,
    /// Open time of the last candle.
    pub last_bar_time: DateTime<Utc>,
}

/// Converts a candle time to a date. A time outside chrono's range becomes the Unix epoch, and
/// only candles built without the kline parser can have one.
pub(crate) fn bar_time(time_ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(time_ms).unwrap_or_default()
}
