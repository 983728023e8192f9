//! Backtest driver: runs a bot's strategy and risk gate over historical candles on a simulated
//! clock.
//!
//! A signal on bar `i` becomes order intents that pass the same [`RiskGate`] a live bot uses,
//! each verdict recorded as an `OrderRiskChecked` in backtest mode with the bar's open time as
//! `checked_at`. Approved orders fill as market orders at bar `i + 1`'s open and pay a taker fee.
//! A protective stop fills inside the first bar that reaches it. The per-bar loop allocates
//! nothing; only signals allocate, for their intents and verdicts.

mod account;
mod data;
mod orders;
mod report;

use std::collections::VecDeque;

use keyward_events::bot::{BotMode, OrderIntent, OrderRiskChecked, Side, Verdict};
use keyward_events::market::Candle;
use keyward_risk::{ApprovedOrder, RiskConfig, RiskContext, RiskGate};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use uuid::Uuid;

pub use data::{DataError, LoadedCandles, load_candles};
pub use report::{BacktestReport, ExitReason, Trade, TradeSide};

use crate::strategy::{PositionSide, Signal, Strategy};
use account::{Fill, SimulatedAccount};
use orders::{EntrySizing, IntentRole, close_intent, entry_intent, intent_id, to_decimal};
use report::bar_time;

/// Default taker fee, a fraction of each fill's notional (0.04%).
pub const DEFAULT_FEE: f64 = 0.0004;

/// Settings of one backtest run, beside the strategy and the risk configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct BacktestConfig {
    /// Seed of the run's intent ids: equal runs with equal ids give equal output.
    pub run_id: Uuid,
    pub symbol: String,
    /// Starting wallet balance in the quote currency.
    pub cash: f64,
    /// Taker fee as a fraction of each fill's notional.
    pub fee: f64,
    /// Fraction of equity used as margin for each entry; 1 puts all equity in.
    pub position_size: f64,
    /// Leverage on the margin; the entry's notional is `equity * position_size * leverage`.
    pub leverage: f64,
    /// Never go short; a cross down only closes the long.
    pub long_only: bool,
}

impl Default for BacktestConfig {
    fn default() -> Self {
        Self {
            run_id: Uuid::nil(),
            symbol: "BTCUSDT".to_owned(),
            cash: 10_000.0,
            fee: DEFAULT_FEE,
            position_size: 1.0,
            leverage: 1.0,
            long_only: false,
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
        let checks: [(&'static str, f64, bool, &'static str); 4] = [
            (
                "cash",
                self.cash,
                self.cash > 0.0 && self.cash.is_finite(),
                "a finite amount above 0",
            ),
            (
                "fee",
                self.fee,
                (0.0..1.0).contains(&self.fee),
                "a fraction from 0 to below 1",
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
}

/// The report of a run and every verdict the gate gave during it, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct BacktestOutcome {
    pub report: BacktestReport,
    pub risk_checks: Vec<OrderRiskChecked>,
}

/// Runs `strategy` over `candles` with `gate` checking every order intent.
///
/// The protective stop of each entry lies `stop_loss_pct` of the gate's configuration away
/// from the entry price.
///
/// # Errors
/// Returns [`BacktestError::InvalidSetting`] for a setting out of range, and
/// [`BacktestError::NoCandles`] for empty data.
pub fn run_backtest<S: Strategy>(
    candles: &[Candle],
    strategy: &mut S,
    gate: &RiskGate,
    config: &BacktestConfig,
) -> Result<BacktestOutcome, BacktestError> {
    config.validate()?;
    let (Some(first), Some(last)) = (candles.first(), candles.last()) else {
        return Err(BacktestError::NoCandles);
    };

    let mut driver = Driver::new(gate, config);
    for (index, candle) in candles.iter().enumerate() {
        driver.on_bar(strategy, index, candle, index + 1 == candles.len());
    }
    driver.close_at_end(candles.len() - 1, last);

    let fees_paid = driver.account.fees_paid();
    let max_drawdown = driver.account.max_drawdown();
    let final_equity = driver.account.equity();
    let trade_list = driver.account.into_trades();
    let report = BacktestReport {
        bars: candles.len() as u64,
        trades: trade_list.len() as u64,
        trade_list,
        initial_cash: config.cash,
        final_equity,
        total_return: final_equity / config.cash - 1.0,
        max_drawdown,
        fees_paid,
        rejected_intents: driver.rejected,
        first_bar_time: bar_time(first.open_time_ms),
        last_bar_time: bar_time(last.open_time_ms),
    };
    Ok(BacktestOutcome {
        report,
        risk_checks: driver.risk_checks,
    })
}

/// Orders approved on one bar, to fill at the next bar's open.
#[derive(Debug, Default)]
struct PendingOrders {
    close: Option<ApprovedOrder>,
    entry: Option<ApprovedOrder>,
}

struct Driver<'a> {
    gate: &'a RiskGate,
    config: &'a BacktestConfig,
    account: SimulatedAccount,
    pending: PendingOrders,
    risk_checks: Vec<OrderRiskChecked>,
    rejected: u64,
    /// Simulated times of the orders approved in the last minute, oldest first.
    recent_orders_ms: VecDeque<i64>,
}

impl<'a> Driver<'a> {
    fn new(gate: &'a RiskGate, config: &'a BacktestConfig) -> Self {
        let stop_fraction = gate.config().stop_loss_pct.to_f64().unwrap_or(0.0) / 100.0;
        Self {
            gate,
            config,
            account: SimulatedAccount::new(config.cash, config.fee, stop_fraction),
            pending: PendingOrders::default(),
            risk_checks: Vec::new(),
            rejected: 0,
            recent_orders_ms: VecDeque::new(),
        }
    }

    fn on_bar<S: Strategy>(&mut self, strategy: &mut S, index: usize, candle: &Candle, last: bool) {
        self.account.start_bar(candle);
        self.fill_pending(candle);
        self.account.check_stop(candle);
        self.account.mark(candle.close);

        let signal = strategy.on_bar(candle, self.account.side());
        // A signal on the last bar has no next open to fill at.
        if !last && signal != Signal::Hold {
            self.submit(signal, index, candle);
        }
    }

    /// Fills the orders approved on the previous bar at this bar's open, closing first.
    fn fill_pending(&mut self, candle: &Candle) {
        let pending = std::mem::take(&mut self.pending);
        for order in [pending.close, pending.entry].into_iter().flatten() {
            self.fill(&order, candle.open, candle.open_time_ms, ExitReason::Signal);
        }
    }

    fn fill(&mut self, order: &ApprovedOrder, price: f64, time_ms: i64, reason: ExitReason) {
        let intent = order.intent();
        self.account.fill(Fill {
            side: intent.side,
            quantity: intent.quantity.to_f64().unwrap_or(0.0),
            price,
            time_ms,
            reduce_only: intent.reduce_only,
            reason,
        });
    }

    /// Turns a signal into intents, passes them through the gate and keeps the approved ones
    /// for the next open.
    fn submit(&mut self, signal: Signal, index: usize, candle: &Candle) {
        let Some(target) = signal.target(self.config.long_only) else {
            return;
        };
        let current_side = self.account.side();
        if target == current_side {
            return;
        }

        let reference = to_decimal(candle.close);
        let mut position = self.account.signed_quantity();
        if current_side != PositionSide::Flat {
            let id = intent_id(&self.config.run_id, index, IntentRole::Close);
            let intent = self.close_position_intent(id, reference);
            let Some(order) = self.check(intent, candle.open_time_ms, position) else {
                return;
            };
            self.pending.close = Some(order);
            position = 0.0;
        }

        let side = match target {
            PositionSide::Flat => return,
            PositionSide::Long => Side::Buy,
            PositionSide::Short => Side::Sell,
        };
        let sizing = EntrySizing {
            equity: to_decimal(self.account.equity()),
            position_size: to_decimal(self.config.position_size),
            leverage: to_decimal(self.config.leverage),
            stop_loss_pct: self.gate.config().stop_loss_pct,
        };
        let id = intent_id(&self.config.run_id, index, IntentRole::Entry);
        let intent = entry_intent(id, &self.config.symbol, side, &sizing, reference);
        self.pending.entry = self.check(intent, candle.open_time_ms, position);
    }

    /// Builds the intent that closes the whole position at `reference`.
    fn close_position_intent(&self, id: Uuid, reference: Decimal) -> OrderIntent {
        let position = self.account.signed_quantity();
        let side = if position > 0.0 {
            Side::Sell
        } else {
            Side::Buy
        };
        let quantity = to_decimal(position.abs());
        close_intent(id, &self.config.symbol, side, quantity, reference)
    }

    /// Passes an intent through the gate as if the position were `position` at `time_ms`,
    /// records the verdict and returns the approved order.
    fn check(&mut self, intent: OrderIntent, time_ms: i64, position: f64) -> Option<ApprovedOrder> {
        while self
            .recent_orders_ms
            .front()
            .is_some_and(|&sent| sent <= time_ms - 60_000)
        {
            self.recent_orders_ms.pop_front();
        }
        let context = self.context(time_ms, position, intent.price);
        let decision = self.gate.check(intent, &context);
        if decision.checked.verdict == Verdict::Rejected {
            self.rejected += 1;
            tracing::debug!(
                intent_id = %decision.checked.intent.intent_id,
                time_ms,
                "backtest order intent rejected by the risk gate"
            );
        }
        self.risk_checks.push(decision.checked);
        if decision.approved.is_some() {
            self.recent_orders_ms.push_back(time_ms);
        }
        decision.approved
    }

    fn context(&self, time_ms: i64, position: f64, last_price: Option<Decimal>) -> RiskContext {
        let account = &self.account;
        RiskContext {
            position: to_decimal(position),
            leverage: to_decimal(self.config.leverage),
            last_price,
            open_positions: u32::from(position != 0.0),
            orders_last_minute: u32::try_from(self.recent_orders_ms.len()).unwrap_or(u32::MAX),
            day_start_equity: to_decimal(account.day_start_equity()),
            peak_equity: to_decimal(account.peak_equity()),
            ..RiskContext::new(
                BotMode::Backtest,
                bar_time(time_ms),
                to_decimal(account.equity()),
            )
        }
    }

    /// Closes an open position at the last bar's close, through the gate like any other order.
    fn close_at_end(&mut self, index: usize, last: &Candle) {
        if self.account.side() == PositionSide::Flat {
            return;
        }
        let id = intent_id(&self.config.run_id, index, IntentRole::FinalClose);
        let intent = self.close_position_intent(id, to_decimal(last.close));
        let position = self.account.signed_quantity();
        if let Some(order) = self.check(intent, last.open_time_ms, position) {
            self.fill(&order, last.close, last.open_time_ms, ExitReason::EndOfData);
            self.account.mark(last.close);
        }
    }
}

#[cfg(test)]
mod tests;
