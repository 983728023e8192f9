//! The bot's order handling: it turns a strategy's signals and the exchange's fills into order
//! intents, sizes them, and passes each through the risk gate.
//!
//! Backtests, paper trading and live bots call this same code; only where the approved orders go
//! differs. [`OrderHandler`] returns every [`Evaluation`] in order, and the caller records each
//! one (as `OrderRiskChecked`) before it sends the approved orders, so nothing reaches an exchange
//! ahead of its verdict. Deciding is synchronous and reads no clock: the caller passes the time.

mod config;
mod orders;

use std::collections::VecDeque;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use keyward_events::bot::{BotMode, OrderIntent, OrderKind, Side};
use keyward_risk::{AccountDailyLoss, Evaluation, RiskContext, RiskGate};
use rust_decimal::Decimal;

pub use config::{SettingsError, TradeSettings, config_hash};
pub use orders::{IntentIds, IntentRole, stop_price, to_decimal};

use crate::strategy::{PositionSide, Signal};

const MINUTE_MS: i64 = 60_000;

const DAY_MS: i64 = 86_400_000;

/// The account state the bot decides on, in the quote currency.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AccountView {
    /// Wallet balance plus unrealized PnL.
    pub equity: Decimal,
    /// Signed position in the bot's symbol: positive long, negative short.
    pub position: Decimal,
    /// Equity at the start of the current UTC day.
    pub day_start_equity: Decimal,
    /// Highest equity seen so far.
    pub peak_equity: Decimal,
    /// Positions open across the account, this one included.
    pub open_positions: u32,
}

impl AccountView {
    fn side(&self) -> PositionSide {
        if self.position > Decimal::ZERO {
            PositionSide::Long
        } else if self.position < Decimal::ZERO {
            PositionSide::Short
        } else {
            PositionSide::Flat
        }
    }
}

/// A fill of an order that opened or added to a position, which the handler protects.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EntryFill {
    /// Side of the filled order.
    pub side: Side,
    /// Position quantity once the fill is applied, always positive.
    pub position_quantity: Decimal,
    pub price: Decimal,
    /// Stop loss the entry intent carried, as the gate approved it.
    pub stop_loss: Option<Decimal>,
}

/// Sizes, builds and checks the orders of one bot.
#[derive(Clone, Debug)]
pub struct OrderHandler {
    gate: RiskGate,
    settings: TradeSettings,
    mode: BotMode,
    /// Times of the orders approved in the last minute, oldest first.
    recent_orders_ms: VecDeque<i64>,
    /// The account's limits shared by all its bots; none in backtests.
    account: AccountRiskState,
    clock: UtcDayCache,
}

/// Account-wide limits the gate checks on top of the bot's own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccountRiskState {
    /// Largest leverage the account allows any bot.
    pub max_leverage: Option<Decimal>,
    /// Whether the account's kill switch is engaged, which blocks every new risk.
    pub kill_switch_engaged: bool,
    /// The loss of all the account's bots today against its daily loss limit, when it sets one.
    pub daily_loss: Option<AccountDailyLoss>,
}

impl OrderHandler {
    /// Creates the handler of a bot running in `mode`.
    pub fn new(gate: RiskGate, settings: TradeSettings, mode: BotMode) -> Self {
        Self {
            gate,
            settings,
            mode,
            recent_orders_ms: VecDeque::new(),
            account: AccountRiskState::default(),
            clock: UtcDayCache::default(),
        }
    }

    /// Sets the account-wide limits checked on every later intent.
    pub fn set_account_limits(&mut self, limits: AccountRiskState) {
        self.account = limits;
    }

    /// Returns the gate every intent passes.
    pub fn gate(&self) -> &RiskGate {
        &self.gate
    }

    /// Returns the sizing and order settings.
    pub fn settings(&self) -> &TradeSettings {
        &self.settings
    }

    /// Turns a signal taken at `price` into intents: a reduce-only market order closing the
    /// position when the signal leaves it, then a market entry with its stop loss. Appends the
    /// evaluations to `out` in order. The entry is skipped when the close is rejected.
    pub fn on_signal(
        &mut self,
        signal: Signal,
        account: &AccountView,
        price: Decimal,
        now_ms: i64,
        ids: IntentIds,
        out: &mut Vec<Evaluation>,
    ) {
        let Some(target) = signal.target(self.settings.long_only) else {
            return;
        };
        let current = account.side();
        if target == current {
            return;
        }

        let mut position = account.position;
        if current != PositionSide::Flat {
            let close = self.close_intent(ids.id(IntentRole::Close), account.position, price);
            let evaluation = self.evaluate(close, account, position, price, now_ms);
            let closed = evaluation.is_approved();
            out.push(evaluation);
            if !closed {
                return;
            }
            position = Decimal::ZERO;
        }

        let side = match target {
            PositionSide::Flat => return,
            PositionSide::Long => Side::Buy,
            PositionSide::Short => Side::Sell,
        };
        let entry = self.entry_intent(ids.id(IntentRole::Entry), side, account.equity, price);
        out.push(self.evaluate(entry, account, position, price, now_ms));
    }

    /// Protects a filled entry: a reduce-only stop market order at the entry's approved stop
    /// loss, and a reduce-only limit order at the take-profit price when one is set.
    pub fn on_entry_filled(
        &mut self,
        fill: &EntryFill,
        account: &AccountView,
        now_ms: i64,
        ids: IntentIds,
        out: &mut Vec<Evaluation>,
    ) {
        let exit_side = opposite(fill.side);
        if let Some(stop) = fill.stop_loss {
            let intent = self.protective_intent(
                ids.id(IntentRole::StopLoss),
                exit_side,
                OrderKind::StopMarket,
                fill.position_quantity,
                stop,
            );
            out.push(self.evaluate(intent, account, account.position, fill.price, now_ms));
        }
        if let Some(target) = self.settings.take_profit_price(fill.side, fill.price) {
            let intent = self.protective_intent(
                ids.id(IntentRole::TakeProfit),
                exit_side,
                OrderKind::Limit,
                fill.position_quantity,
                target,
            );
            out.push(self.evaluate(intent, account, account.position, fill.price, now_ms));
        }
    }

    /// Closes the whole position with a reduce-only market order at `price`, as at the end of a
    /// backtest; does nothing when flat.
    pub fn close_position(
        &mut self,
        account: &AccountView,
        price: Decimal,
        now_ms: i64,
        ids: IntentIds,
        out: &mut Vec<Evaluation>,
    ) {
        if account.position.is_zero() {
            return;
        }
        let close = self.close_intent(ids.id(IntentRole::FinalClose), account.position, price);
        out.push(self.evaluate(close, account, account.position, price, now_ms));
    }

    fn close_intent(
        &self,
        intent_id: uuid::Uuid,
        position: Decimal,
        price: Decimal,
    ) -> OrderIntent {
        let side = if position > Decimal::ZERO {
            Side::Sell
        } else {
            Side::Buy
        };
        OrderIntent {
            intent_id,
            symbol: self.settings.symbol.clone(),
            side,
            kind: OrderKind::Market,
            quantity: position.abs(),
            price: Some(price),
            stop_loss: None,
            reduce_only: true,
        }
    }

    fn entry_intent(
        &self,
        intent_id: uuid::Uuid,
        side: Side,
        equity: Decimal,
        price: Decimal,
    ) -> OrderIntent {
        let stop_loss_pct = self.gate.config().stop_loss_pct;
        let risk_pct = self.gate.config().risk_per_trade_pct;
        let quantity = self
            .settings
            .entry_quantity(equity, price, stop_loss_pct, risk_pct);
        OrderIntent {
            intent_id,
            symbol: self.settings.symbol.clone(),
            side,
            kind: OrderKind::Market,
            quantity,
            price: Some(price),
            stop_loss: orders::stop_price(side, price, stop_loss_pct),
            reduce_only: false,
        }
    }

    fn protective_intent(
        &self,
        intent_id: uuid::Uuid,
        side: Side,
        kind: OrderKind,
        quantity: Decimal,
        price: Decimal,
    ) -> OrderIntent {
        OrderIntent {
            intent_id,
            symbol: self.settings.symbol.clone(),
            side,
            kind,
            quantity,
            price: Some(price),
            stop_loss: None,
            reduce_only: true,
        }
    }

    /// Passes an intent through the gate as if the position were `position`, with `last_price`
    /// as the market's last price, and counts it against the order rate when approved.
    fn evaluate(
        &mut self,
        intent: OrderIntent,
        account: &AccountView,
        position: Decimal,
        last_price: Decimal,
        now_ms: i64,
    ) -> Evaluation {
        while self
            .recent_orders_ms
            .front()
            .is_some_and(|&sent| sent <= now_ms - MINUTE_MS)
        {
            self.recent_orders_ms.pop_front();
        }
        let now = self.clock.datetime(now_ms);
        let context = RiskContext {
            position,
            leverage: self.settings.leverage,
            last_price: Some(last_price),
            open_positions: account.open_positions,
            orders_last_minute: u32::try_from(self.recent_orders_ms.len()).unwrap_or(u32::MAX),
            day_start_equity: account.day_start_equity,
            peak_equity: account.peak_equity,
            account_max_leverage: self.account.max_leverage,
            kill_switch_engaged: self.account.kill_switch_engaged,
            account_daily_loss: self.account.daily_loss,
            ..RiskContext::new(self.mode, now, account.equity)
        };
        let evaluation = self.gate.evaluate(intent, &context);
        if evaluation.is_approved() {
            self.recent_orders_ms.push_back(now_ms);
        }
        evaluation
    }
}

/// Converts Unix milliseconds to UTC times, keeping the date of the last day converted so that
/// times within that day skip the calendar arithmetic of `DateTime::from_timestamp_millis`.
///
/// The default contains day 0, whose date is `NaiveDate::default()`, 1970-01-01.
#[derive(Clone, Copy, Debug, Default)]
struct UtcDayCache {
    /// Days since the Unix epoch of `date`.
    day: i64,
    date: NaiveDate,
}

impl UtcDayCache {
    /// Returns the time `ms` milliseconds after the Unix epoch, or the epoch when it is out of
    /// chrono's range, as `DateTime::from_timestamp_millis(ms).unwrap_or_default()` does.
    fn datetime(&mut self, ms: i64) -> DateTime<Utc> {
        let day = ms.div_euclid(DAY_MS);
        if day != self.day {
            let Some(time) = DateTime::from_timestamp_millis(ms) else {
                return DateTime::default();
            };
            self.day = day;
            self.date = time.date_naive();
            return time;
        }
        let in_day = ms.rem_euclid(DAY_MS);
        let seconds = u32::try_from(in_day / 1000).unwrap_or_default();
        let nanos = u32::try_from(in_day % 1000 * 1_000_000).unwrap_or_default();
        match NaiveTime::from_num_seconds_from_midnight_opt(seconds, nanos) {
            Some(time) => self.date.and_time(time).and_utc(),
            None => DateTime::from_timestamp_millis(ms).unwrap_or_default(),
        }
    }
}

fn opposite(side: Side) -> Side {
    match side {
        Side::Buy => Side::Sell,
        Side::Sell => Side::Buy,
    }
}

#[cfg(test)]
mod tests;
