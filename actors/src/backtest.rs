//! Backtest driver: runs a bot's strategy, risk gate and order handling over historical
//! candles on a simulated clock, against the [`SimulatedExchange`].
//!
//! Each bar goes through the steps a live bot goes through, in this order:
//!
//! 1. Market orders approved on the previous bar fill at this bar's open, and the
//!    [`OrderHandler`] protects each filled entry with a reduce-only stop (and a take-profit
//!    limit order when configured), which the gate checks like any order.
//! 2. Funding whose time falls inside the bar is charged on the open position at the bar's open
//!    price: the funding file carries no mark price, and the open is the price nearest in time.
//! 3. Stop and limit orders that the bar's range reaches fill (see [`crate::simulated`] for the
//!    rule when a bar reaches both).
//! 4. Equity is marked at the close, and the strategy sees the closed bar. Its signal becomes
//!    intents that pass the same [`RiskGate`] a live bot uses; each verdict goes to the
//!    [`VerdictSink`] with the bar's open time as `checked_at`.
//!
//! A signal on the last bar has no next open to fill at and is dropped. A position still open
//! after the last bar is closed through the gate like any other order, at the price
//! [`FinalFill`] names. The per-bar loop allocates nothing; only signals and fills do.

mod data;
mod files;
mod metrics;
mod report;
mod setup;
mod sweep;

use keyward_events::bot::{BotMode, OrderRiskChecked};
use keyward_events::market::{Candle, FundingRate};
use keyward_risk::{Evaluation, RiskConfig, RiskGate};
use rust_decimal::Decimal;
use uuid::Uuid;

pub use data::{DataError, LoadedCandles, LoadedFunding, load_candles, load_funding};
pub use files::{DataFiles, FileRun, FileRunError, run_files, window};
pub use report::{BacktestReport, trade_list_hash};
pub use setup::{PreparedRun, RunSettings, RunSpec, SetupError};
pub use sweep::{RankBy, SweepResult, run_sweep};

pub use crate::simulated::{ExitReason, Trade, TradeSide};
use crate::simulated::{FeeSchedule, SimFill, SimulatedExchange, bar_time};
use crate::strategy::{PositionSide, Signal, Strategy};
use crate::trading::{AccountView, EntryFill, IntentIds, OrderHandler, TradeSettings, to_decimal};
use metrics::EquityStats;

/// Default taker fee, a fraction of each fill's notional (0.04%).
pub const DEFAULT_FEE: f64 = 0.0004;

/// Default maker fee, a fraction of each fill's notional (0.02%).
pub const DEFAULT_MAKER_FEE: f64 = 0.0002;

/// Largest starting cash, in the quote currency: more than any exchange account contains. The
/// gate's decimal arithmetic (28 significant digits) overflows on equities near 1e27, and
/// beyond about 1e13 the f64 quantities of the simulation can no longer represent 8 decimal places
/// of a BTC-priced position.
pub const MAX_CASH: f64 = 1e12;

/// Bars between two calls of the progress callback.
pub const PROGRESS_EVERY: usize = 1 << 16;

/// Price at which a position still open after the last bar is closed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FinalFill {
    /// The last bar's close, the best estimate of the next open that the data lacks.
    #[default]
    LastClose,
    /// The last bar's open, as the `backtesting` Python package does when it finalizes trades.
    LastOpen,
}

/// Settings of one backtest run, beside the strategy and the risk configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct BacktestConfig {
    /// Seed of the run's intent ids: equal runs with equal ids give equal output.
    pub run_id: Uuid,
    pub symbol: String,
    /// Starting wallet balance in the quote currency.
    pub cash: f64,
    /// Taker fee as a fraction of each market or stop fill's notional.
    pub fee: f64,
    /// Maker fee as a fraction of each limit fill's notional.
    pub maker_fee: f64,
    /// Slippage of market and stop fills against their side, in basis points.
    pub slippage_bps: f64,
    /// Fraction of equity used as margin for each entry; 1 puts all equity in.
    pub position_size: f64,
    /// Leverage on the margin; the entry's notional is `equity * position_size * leverage`.
    pub leverage: f64,
    /// Never go short; a cross down only closes the long.
    pub long_only: bool,
    /// Distance of the take-profit limit order from the entry price, in percent.
    pub take_profit_pct: Option<f64>,
    pub final_fill: FinalFill,
}

impl Default for BacktestConfig {
    fn default() -> Self {
        Self {
            run_id: Uuid::nil(),
            symbol: "BTCUSDT".to_owned(),
            cash: 10_000.0,
            fee: DEFAULT_FEE,
            maker_fee: DEFAULT_MAKER_FEE,
            slippage_bps: 0.0,
            position_size: 1.0,
            leverage: 1.0,
            long_only: false,
            take_profit_pct: None,
            final_fill: FinalFill::LastClose,
        }
    }
}

/// Error that stops a backtest from running.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum BacktestError {
    /// A setting is out of range; `name` is the [`BacktestConfig`] field.
    #[error("backtest setting {name} = {value} is invalid; allowed: {allowed}")]
    InvalidSetting {
        name: &'static str,
        value: f64,
        allowed: &'static str,
    },
    #[error("no candles to run the backtest over")]
    NoCandles,
}

impl BacktestConfig {
    /// Checks every numeric setting against its range.
    ///
    /// # Errors
    /// Returns the first setting out of range, named as its field.
    pub fn validate(&self) -> Result<(), BacktestError> {
        let take_profit = self.take_profit_pct.unwrap_or(1.0);
        let checks: [(&'static str, f64, bool, &'static str); 7] = [
            (
                "cash",
                self.cash,
                self.cash > 0.0 && self.cash <= MAX_CASH,
                "an amount above 0 and at most 1e12",
            ),
            (
                "fee",
                self.fee,
                (0.0..1.0).contains(&self.fee),
                "a fraction from 0 to below 1",
            ),
            (
                "maker_fee",
                self.maker_fee,
                (-0.01..1.0).contains(&self.maker_fee),
                "a fraction from -0.01 (a rebate) to below 1",
            ),
            (
                "slippage_bps",
                self.slippage_bps,
                (0.0..10_000.0).contains(&self.slippage_bps),
                "basis points from 0 to below 10000",
            ),
            (
                "position_size",
                self.position_size,
                self.position_size > 0.0 && self.position_size <= 1.0,
                "a fraction above 0 and at most 1",
            ),
            (
                "leverage",
                self.leverage,
                (1.0..=125.0).contains(&self.leverage),
                "1 to 125",
            ),
            (
                "take_profit_pct",
                take_profit,
                take_profit > 0.0 && take_profit.is_finite(),
                "a finite percent above 0",
            ),
        ];
        for (name, value, valid, allowed) in checks {
            if !valid {
                return Err(BacktestError::InvalidSetting {
                    name,
                    value,
                    allowed,
                });
            }
        }
        Ok(())
    }

    /// Returns the default risk configuration widened so that this run's entries fit it: the
    /// position size as `max_position_pct`, the leverage as `max_leverage`, and the risk per
    /// trade that a stop at `stop_loss_pct` implies. The daily loss and drawdown limits are set
    /// to 100%, which never stops a run.
    ///
    /// This is for a backtest of a strategy on its own; a bot's backtest uses the bot's own
    /// risk configuration instead.
    pub fn risk_config_allowing(&self, stop_loss_pct: f64) -> RiskConfig {
        let defaults = RiskConfig::default();
        let stop_loss_pct = to_decimal(stop_loss_pct);
        let position_pct = to_decimal(self.position_size).saturating_mul(Decimal::ONE_HUNDRED);
        let leverage = to_decimal(self.leverage);
        let risk_pct = position_pct
            .saturating_mul(leverage)
            .saturating_mul(stop_loss_pct)
            / Decimal::ONE_HUNDRED;
        RiskConfig {
            stop_loss_pct,
            max_stop_distance_pct: defaults.max_stop_distance_pct.max(stop_loss_pct),
            risk_per_trade_pct: risk_pct.min(Decimal::ONE_HUNDRED),
            max_position_pct: position_pct,
            max_leverage: leverage.max(Decimal::ONE),
            daily_loss_limit_pct: Decimal::ONE_HUNDRED,
            max_drawdown_pct: Decimal::ONE_HUNDRED,
            ..defaults
        }
    }

    fn trade_settings(&self) -> TradeSettings {
        TradeSettings {
            symbol: self.symbol.clone(),
            position_size: to_decimal(self.position_size),
            leverage: to_decimal(self.leverage),
            long_only: self.long_only,
            take_profit_pct: self.take_profit_pct.map(to_decimal),
            taker_fee: to_decimal(self.fee),
        }
    }
}

/// The candles of a run and the funding rates charged during it, both in ascending time order.
#[derive(Clone, Copy, Debug, Default)]
pub struct MarketData<'a> {
    pub candles: &'a [Candle],
    pub funding: &'a [FundingRate],
}

/// Receives every verdict of the gate during a run, in order.
pub trait VerdictSink {
    /// Takes one verdict; the caller records it before the order it approves is submitted.
    fn record(&mut self, evaluation: &Evaluation);
}

/// Keeps every verdict as the `OrderRiskChecked` event a live bot would append.
impl VerdictSink for Vec<OrderRiskChecked> {
    fn record(&mut self, evaluation: &Evaluation) {
        self.push(evaluation.to_event());
    }
}

/// Drops the verdicts; the report still counts them.
#[derive(Clone, Copy, Debug, Default)]
pub struct DiscardVerdicts;

impl VerdictSink for DiscardVerdicts {
    fn record(&mut self, _evaluation: &Evaluation) {}
}

/// Optional outputs and callbacks of a run.
#[derive(Default)]
pub struct RunOptions<'a> {
    /// Keep the equity at every bar's close in [`BacktestReport::equity_curve`].
    pub record_equity: bool,
    /// Called with the number of bars done, every [`PROGRESS_EVERY`] bars.
    pub progress: Option<&'a mut dyn FnMut(usize)>,
}

/// The report of a run and every verdict the gate gave during it, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct BacktestOutcome {
    pub report: BacktestReport,
    pub risk_checks: Vec<OrderRiskChecked>,
}

/// Runs `strategy` over `candles` without funding, keeping every verdict as an event.
///
/// # Errors
/// As [`run`].
pub fn run_backtest<S: Strategy>(
    candles: &[Candle],
    strategy: &mut S,
    gate: &RiskGate,
    config: &BacktestConfig,
) -> Result<BacktestOutcome, BacktestError> {
    let mut risk_checks = Vec::new();
    let data = MarketData {
        candles,
        funding: &[],
    };
    let report = run(
        data,
        strategy,
        gate,
        config,
        &mut risk_checks,
        RunOptions::default(),
    )?;
    Ok(BacktestOutcome {
        report,
        risk_checks,
    })
}

/// Runs `strategy` over `data` with `gate` checking every order intent, handing each verdict
/// to `sink`.
///
/// The protective stop of each entry lies `stop_loss_pct` of the gate's configuration away
/// from the price the entry was decided at.
///
/// # Errors
/// Returns [`BacktestError::InvalidSetting`] for a setting out of range, and
/// [`BacktestError::NoCandles`] for empty data.
pub fn run<S: Strategy, V: VerdictSink>(
    data: MarketData<'_>,
    strategy: &mut S,
    gate: &RiskGate,
    config: &BacktestConfig,
    sink: &mut V,
    options: RunOptions<'_>,
) -> Result<BacktestReport, BacktestError> {
    let mut bars = BarRun::new(strategy, gate, config, data.funding, sink, options)?;
    for candle in data.candles {
        bars.push(candle);
    }
    bars.finish()
}

/// A run fed one candle at a time, in ascending time order, so that it can go on while later
/// candles are still being read. [`run`] feeds a whole slice through it; both give the same
/// report for the same candles.
///
/// A bar runs when the candle after it arrives, because a market order decided on it fills at
/// that candle's open. The last bar runs in [`BarRun::finish`].
pub struct BarRun<'a, 'p, S, V> {
    driver: Driver<'a, V>,
    strategy: &'a mut S,
    config: &'a BacktestConfig,
    progress: Option<&'p mut dyn FnMut(usize)>,
    /// The latest candle, waiting for the next one's open time.
    pending: Option<Candle>,
    first: Option<Candle>,
    /// Bars run so far.
    done: usize,
}

impl<'a, 'p, S: Strategy, V: VerdictSink> BarRun<'a, 'p, S, V> {
    /// Starts a run of `strategy` with `gate` checking every intent, charging `funding` (in
    /// ascending time order) and handing each verdict to `sink`.
    ///
    /// # Errors
    /// Returns [`BacktestError::InvalidSetting`] for a setting out of range.
    pub fn new(
        strategy: &'a mut S,
        gate: &RiskGate,
        config: &'a BacktestConfig,
        funding: &'a [FundingRate],
        sink: &'a mut V,
        options: RunOptions<'p>,
    ) -> Result<Self, BacktestError> {
        config.validate()?;
        Ok(Self {
            driver: Driver::new(gate, config, funding, sink, options.record_equity),
            strategy,
            config,
            progress: options.progress,
            pending: None,
            first: None,
            done: 0,
        })
    }

    /// Adds the next candle, running the one before it.
    #[inline]
    pub fn push(&mut self, candle: &Candle) {
        match self.pending.replace(*candle) {
            Some(previous) => self.step(&previous, Some(candle.open_time_ms)),
            None => self.first = Some(*candle),
        }
    }

    /// Returns the number of candles added so far.
    pub fn candles(&self) -> usize {
        self.done + usize::from(self.pending.is_some())
    }

    /// Returns the open times of the first and the latest candle added.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        Some((self.first?.open_time_ms, self.pending?.open_time_ms))
    }

    fn step(&mut self, candle: &Candle, next_open_ms: Option<i64>) {
        self.driver
            .on_bar(self.strategy, self.done, candle, next_open_ms);
        self.done += 1;
        if self.done.is_multiple_of(PROGRESS_EVERY)
            && let Some(progress) = self.progress.as_mut()
        {
            progress(self.done);
        }
    }

    /// Runs the last candle, closes what is still open and returns the report.
    ///
    /// # Errors
    /// Returns [`BacktestError::NoCandles`] when no candle was added.
    pub fn finish(mut self) -> Result<BacktestReport, BacktestError> {
        let (Some(first), Some(last)) = (self.first, self.pending.take()) else {
            return Err(BacktestError::NoCandles);
        };
        self.step(&last, None);
        self.driver.close_at_end(self.done - 1, &last);
        Ok(self
            .driver
            .into_report(self.config, &first, &last, self.done))
    }
}

struct Driver<'a, V> {
    handler: OrderHandler,
    exchange: SimulatedExchange,
    stats: EquityStats,
    ids: IntentIds,
    funding: &'a [FundingRate],
    final_fill: FinalFill,
    sink: &'a mut V,
    risk_checks: u64,
    rejected: u64,
    /// Buffers reused from bar to bar.
    fills: Vec<SimFill>,
    evaluations: Vec<Evaluation>,
    /// The day-start and peak equity passed to the gate. Both change far less often than
    /// signals come, so each keeps its last conversion.
    day_start_equity: CachedDecimal,
    peak_equity: CachedDecimal,
}

/// An `f64` and its [`to_decimal`] conversion, converted again only when the value changes.
#[derive(Clone, Copy, Debug, Default)]
struct CachedDecimal {
    value: f64,
    decimal: Decimal,
}

impl CachedDecimal {
    fn get(&mut self, value: f64) -> Decimal {
        if value.to_bits() != self.value.to_bits() {
            *self = Self {
                value,
                decimal: to_decimal(value),
            };
        }
        self.decimal
    }
}

impl<'a, V: VerdictSink> Driver<'a, V> {
    fn new(
        gate: &RiskGate,
        config: &BacktestConfig,
        funding: &'a [FundingRate],
        sink: &'a mut V,
        record_equity: bool,
    ) -> Self {
        let fees = FeeSchedule {
            taker: config.fee,
            maker: config.maker_fee,
        };
        Self {
            handler: OrderHandler::new(gate.clone(), config.trade_settings(), BotMode::Backtest),
            exchange: SimulatedExchange::new(config.cash, fees, config.slippage_bps),
            stats: EquityStats::new(config.cash, record_equity),
            ids: IntentIds::new(&config.run_id),
            funding,
            final_fill: config.final_fill,
            sink,
            risk_checks: 0,
            rejected: 0,
            fills: Vec::new(),
            evaluations: Vec::new(),
            day_start_equity: CachedDecimal::default(),
            peak_equity: CachedDecimal::default(),
        }
    }

    fn on_bar<S: Strategy>(
        &mut self,
        strategy: &mut S,
        index: usize,
        candle: &Candle,
        next_open_ms: Option<i64>,
    ) {
        self.stats.start_bar(candle.open_time_ms);
        self.exchange.open_bar(candle, &mut self.fills);
        self.protect_entries(index, candle.open_time_ms);
        self.charge_funding(candle, next_open_ms);
        self.exchange.trade_bar(candle, &mut self.fills);
        self.protect_entries(index, candle.open_time_ms);

        let position = self.exchange.position();
        let equity = self.exchange.equity(candle.close);
        self.stats.record(equity, position != 0.0);

        let signal = strategy.on_bar(candle, side_of(position));
        // A signal on the last bar has no next open to fill at.
        if signal != Signal::Hold && next_open_ms.is_some() {
            let account = self.account_view(equity, position);
            let ids = self.ids.at(index as u64);
            let price = to_decimal(candle.close);
            let time = candle.open_time_ms;
            self.handler
                .on_signal(signal, &account, price, time, ids, &mut self.evaluations);
            self.submit_evaluations();
        }
    }

    /// Hands the fills of entries to the order handler, which places their protective orders.
    fn protect_entries(&mut self, index: usize, time_ms: i64) {
        if self.fills.is_empty() {
            return;
        }
        let fills = std::mem::take(&mut self.fills);
        for fill in fills.iter().filter(|fill| fill.opened > 0.0) {
            let position = self.exchange.position();
            let entry = EntryFill {
                side: fill.side,
                position_quantity: to_decimal(position.abs()),
                price: to_decimal(fill.price),
                stop_loss: fill.stop_loss,
            };
            let account = self.account_view(self.exchange.equity(fill.price), position);
            let ids = self.ids.at(index as u64);
            self.handler
                .on_entry_filled(&entry, &account, time_ms, ids, &mut self.evaluations);
            self.submit_evaluations();
        }
        self.fills = fills;
        self.fills.clear();
    }

    /// Charges the funding events from this bar's open up to the next bar's open. The last bar
    /// takes those within one bar interval of its open.
    fn charge_funding(&mut self, candle: &Candle, next_open_ms: Option<i64>) {
        let Some(next) = self.funding.first() else {
            return;
        };
        let end_ms = next_open_ms.unwrap_or(candle.open_time_ms + self.stats.bar_interval_ms());
        if next.time_ms >= end_ms {
            return;
        }
        let due = self.funding.partition_point(|rate| rate.time_ms < end_ms);
        for rate in &self.funding[..due] {
            if rate.time_ms >= candle.open_time_ms {
                self.exchange.charge_funding(rate.rate, candle.open);
            }
        }
        self.funding = &self.funding[due..];
    }

    /// Records each evaluation, then submits its order when approved, in order.
    fn submit_evaluations(&mut self) {
        for evaluation in &self.evaluations {
            self.sink.record(evaluation);
            self.risk_checks += 1;
            match evaluation.approved_order() {
                Some(order) => self.exchange.submit(order),
                None => self.rejected += 1,
            }
        }
        self.evaluations.clear();
    }

    fn account_view(&mut self, equity: f64, position: f64) -> AccountView {
        AccountView {
            equity: to_decimal(equity),
            position: to_decimal(position),
            day_start_equity: self.day_start_equity.get(self.stats.day_start_equity()),
            peak_equity: self.peak_equity.get(self.stats.peak_equity()),
            open_positions: u32::from(position != 0.0),
        }
    }

    /// Cancels what has not filled and closes an open position through the gate.
    fn close_at_end(&mut self, index: usize, last: &Candle) {
        self.exchange.cancel_all();
        let position = self.exchange.position();
        if position == 0.0 {
            return;
        }

        let price = match self.final_fill {
            FinalFill::LastClose => last.close,
            FinalFill::LastOpen => last.open,
        };
        let account = self.account_view(self.exchange.equity(price), position);
        let ids = self.ids.at(index as u64);
        let time = last.open_time_ms;
        self.handler.close_position(
            &account,
            to_decimal(price),
            time,
            ids,
            &mut self.evaluations,
        );

        for evaluation in &self.evaluations {
            self.sink.record(evaluation);
            self.risk_checks += 1;
            match evaluation.approved_order() {
                Some(order) => self.exchange.fill_now(order, price, time, &mut self.fills),
                None => self.rejected += 1,
            }
        }
        self.evaluations.clear();
        self.fills.clear();
        self.stats.replace_last(self.exchange.equity(last.close));
    }

    fn into_report(
        self,
        config: &BacktestConfig,
        first: &Candle,
        last: &Candle,
        bars: usize,
    ) -> BacktestReport {
        let fees_paid = self.exchange.fees_paid();
        let funding_paid = self.exchange.funding_paid();
        let final_equity = self.stats.last_equity();
        let trade_list = self.exchange.into_trades();
        report::build(report::Totals {
            bars: bars as u64,
            trade_list,
            initial_cash: config.cash,
            final_equity,
            fees_paid,
            funding_paid,
            risk_checks: self.risk_checks,
            rejected_intents: self.rejected,
            first_bar_time: bar_time(first.open_time_ms),
            last_bar_time: bar_time(last.open_time_ms),
            stats: self.stats,
        })
    }
}

fn side_of(position: f64) -> PositionSide {
    if position > 0.0 {
        PositionSide::Long
    } else if position < 0.0 {
        PositionSide::Short
    } else {
        PositionSide::Flat
    }
}

#[cfg(test)]
mod tests;
