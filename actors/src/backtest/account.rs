//! The simulated futures account of a backtest: wallet balance, one position with its
//! protective stop, fees, and the equity curve's peak and drawdown.
//!
//! It works in f64: it only simulates, and every order it fills was approved by the risk gate
//! in Decimal first.

use keyward_events::bot::Side;
use keyward_events::market::Candle;

use super::report::{ExitReason, Trade, TradeSide, bar_time};
use crate::strategy::PositionSide;

const DAY_MS: i64 = 86_400_000;

/// The open position.
#[derive(Clone, Copy, Debug)]
struct Position {
    side: TradeSide,
    /// Quantity in the base asset, always positive.
    quantity: f64,
    /// Average entry price.
    entry_price: f64,
    entry_time_ms: i64,
    /// Entry fees not yet assigned to a closed trade.
    entry_fees: f64,
    stop_price: f64,
}

impl Position {
    fn direction(&self) -> f64 {
        match self.side {
            TradeSide::Long => 1.0,
            TradeSide::Short => -1.0,
        }
    }
}

/// A fill of an approved order.
#[derive(Clone, Copy, Debug)]
pub(super) struct Fill {
    pub side: Side,
    pub quantity: f64,
    pub price: f64,
    pub time_ms: i64,
    pub reduce_only: bool,
    /// Recorded on the trade this fill closes, if any.
    pub reason: ExitReason,
}

/// A USDT-margined account with one symbol in one-way position mode.
// NOTE: liquidation and funding are not simulated, so with leverage a gap through the stop can
// take equity below zero.
#[derive(Debug)]
pub(super) struct SimulatedAccount {
    /// Fee as a fraction of each fill's notional.
    fee_rate: f64,
    /// Stop distance from the entry price, as a fraction.
    stop_fraction: f64,
    /// Initial cash plus realized PnL minus fees.
    wallet: f64,
    position: Option<Position>,
    equity: f64,
    peak_equity: f64,
    max_drawdown: f64,
    day: i64,
    day_start_equity: f64,
    fees_paid: f64,
    trades: Vec<Trade>,
}

impl SimulatedAccount {
    pub(super) fn new(cash: f64, fee_rate: f64, stop_fraction: f64) -> Self {
        Self {
            fee_rate,
            stop_fraction,
            wallet: cash,
            position: None,
            equity: cash,
            peak_equity: cash,
            max_drawdown: 0.0,
            day: i64::MIN,
            day_start_equity: cash,
            fees_paid: 0.0,
            trades: Vec::new(),
        }
    }

    pub(super) fn side(&self) -> PositionSide {
        match self.position.map(|position| position.side) {
            None => PositionSide::Flat,
            Some(TradeSide::Long) => PositionSide::Long,
            Some(TradeSide::Short) => PositionSide::Short,
        }
    }

    /// Signed position quantity: positive long, negative short.
    pub(super) fn signed_quantity(&self) -> f64 {
        self.position
            .map_or(0.0, |position| position.direction() * position.quantity)
    }

    /// Equity at the last mark.
    pub(super) fn equity(&self) -> f64 {
        self.equity
    }

    pub(super) fn peak_equity(&self) -> f64 {
        self.peak_equity
    }

    pub(super) fn day_start_equity(&self) -> f64 {
        self.day_start_equity
    }

    pub(super) fn max_drawdown(&self) -> f64 {
        self.max_drawdown
    }

    pub(super) fn fees_paid(&self) -> f64 {
        self.fees_paid
    }

    pub(super) fn into_trades(self) -> Vec<Trade> {
        self.trades
    }

    /// Starts a bar: on the first bar of a UTC day, the equity at the last mark becomes the
    /// day's starting equity.
    pub(super) fn start_bar(&mut self, candle: &Candle) {
        let day = candle.open_time_ms.div_euclid(DAY_MS);
        if day != self.day {
            self.day = day;
            self.day_start_equity = self.equity;
        }
    }

    /// Marks the position to `price` and updates the peak and the drawdown.
    pub(super) fn mark(&mut self, price: f64) {
        let unrealized = self.position.map_or(0.0, |position| {
            position.direction() * position.quantity * (price - position.entry_price)
        });
        self.equity = self.wallet + unrealized;
        self.peak_equity = self.peak_equity.max(self.equity);
        if self.peak_equity > 0.0 {
            let drawdown = (self.peak_equity - self.equity) / self.peak_equity;
            self.max_drawdown = self.max_drawdown.max(drawdown);
        }
    }

    /// Closes the position at its stop when the bar reaches it: at the stop price, or at the
    /// open when the bar opens beyond the stop.
    pub(super) fn check_stop(&mut self, candle: &Candle) {
        let Some(position) = self.position else {
            return;
        };
        let stop = position.stop_price;
        let exit_price = match position.side {
            TradeSide::Long if candle.open <= stop => candle.open,
            TradeSide::Long if candle.low <= stop => stop,
            TradeSide::Short if candle.open >= stop => candle.open,
            TradeSide::Short if candle.high >= stop => stop,
            _ => return,
        };
        self.close(
            position.quantity,
            exit_price,
            candle.open_time_ms,
            ExitReason::StopLoss,
        );
    }

    /// Applies a fill: it first reduces an opposite position, then opens or adds with the rest
    /// unless the order is reduce-only.
    pub(super) fn fill(&mut self, fill: Fill) {
        let mut remaining = fill.quantity;
        let fill_side = match fill.side {
            Side::Buy => TradeSide::Long,
            Side::Sell => TradeSide::Short,
        };
        if let Some(position) = self.position
            && position.side != fill_side
        {
            let closing = remaining.min(position.quantity);
            self.close(closing, fill.price, fill.time_ms, fill.reason);
            remaining -= closing;
        }
        if remaining > 0.0 && !fill.reduce_only {
            self.open(fill_side, remaining, fill.price, fill.time_ms);
        }
    }

    fn open(&mut self, side: TradeSide, quantity: f64, price: f64, time_ms: i64) {
        let fee = quantity * price * self.fee_rate;
        self.wallet -= fee;
        self.fees_paid += fee;

        let position = match self.position {
            Some(held) => {
                let total = held.quantity + quantity;
                let entry_price = (held.quantity * held.entry_price + quantity * price) / total;
                Position {
                    quantity: total,
                    entry_price,
                    entry_fees: held.entry_fees + fee,
                    ..held
                }
            }
            None => Position {
                side,
                quantity,
                entry_price: price,
                entry_time_ms: time_ms,
                entry_fees: fee,
                stop_price: 0.0,
            },
        };
        let direction = position.direction();
        let stop_price = position.entry_price * (1.0 - direction * self.stop_fraction);
        self.position = Some(Position {
            stop_price,
            ..position
        });
    }

    /// Closes `quantity` of the position (all of it or part) and records the trade.
    fn close(&mut self, quantity: f64, price: f64, time_ms: i64, reason: ExitReason) {
        let Some(mut position) = self.position else {
            return;
        };
        let share = (quantity / position.quantity).min(1.0);
        let entry_fees = position.entry_fees * share;
        let exit_fee = quantity * price * self.fee_rate;
        let gross = position.direction() * quantity * (price - position.entry_price);
        self.wallet += gross - exit_fee;
        self.fees_paid += exit_fee;
        self.trades.push(Trade {
            side: position.side,
            entry_time: bar_time(position.entry_time_ms),
            entry_price: position.entry_price,
            exit_time: bar_time(time_ms),
            exit_price: price,
            quantity,
            pnl: gross - entry_fees - exit_fee,
            fees: entry_fees + exit_fee,
            exit_reason: reason,
        });

        position.quantity -= quantity;
        position.entry_fees -= entry_fees;
        self.position = (position.quantity > 0.0).then_some(position);
    }
}
