//! The simulated exchange: it fills approved orders against candles and keeps the wallet, one
//! position in one-way mode, fees and funding, like a USDT-margined futures account.
//!
//! Backtests drive it bar by bar, and paper trading can drive it with live candles: the caller
//! submits [`ApprovedOrder`]s, and [`SimulatedExchange::open_bar`] and
//! [`SimulatedExchange::trade_bar`] report the fills. The fill rules:
//!
//! - A market order fills at the open of the bar after the one it was submitted in, plus
//!   slippage against the order's side, and pays the taker fee.
//! - A stop market order fills inside the first bar whose range reaches its stop price, at the
//!   stop price, or at the open when the bar opens beyond it. It pays slippage and the taker
//!   fee.
//! - A limit order fills inside the first bar whose range reaches its limit price, at the limit
//!   price, or at the open when the bar opens beyond it; no slippage, maker fee.
//! - A bar's path between its open, high and low is unknown, so when one bar crosses both a
//!   stop order and a limit order (a position's stop loss and its take-profit target), the stop
//!   fills first: the worse outcome for the account.
//! - A reduce-only order never opens a position: it fills only what reduces the position, and it
//!   is cancelled as soon as there is nothing on the other side to reduce (as a bot cancels the
//!   stop and the target of a closed position).
//!
//! Amounts are f64: this module only simulates, and every order it fills was approved by the
//! risk gate in Decimal first.

use keyward_events::bot::{OrderKind, Side};
use keyward_events::market::Candle;
use keyward_risk::ApprovedOrder;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;
use uuid::Uuid;

/// Fees as fractions of each fill's notional.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FeeSchedule {
    /// Paid by market and stop fills.
    pub taker: f64,
    /// Paid by limit fills.
    pub maker: f64,
}

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
    /// A market order closed it, as on an opposite signal.
    Signal,
    /// A stop market order closed it.
    StopLoss,
    /// A limit order closed it.
    TakeProfit,
    /// The data ended and the position was closed.
    EndOfData,
}

/// One round trip: an entry and the exit that closed it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trade {
    pub side: TradeSide,
    /// Open time of the bar the entry filled in.
    pub entry_time: chrono::DateTime<chrono::Utc>,
    pub entry_price: f64,
    /// Open time of the bar the exit filled in.
    pub exit_time: chrono::DateTime<chrono::Utc>,
    pub exit_price: f64,
    /// Quantity in the base asset.
    pub quantity: f64,
    /// Realized PnL in the quote currency, after fees and funding.
    pub pnl: f64,
    /// Entry and exit fees in the quote currency.
    pub fees: f64,
    /// Funding paid while the trade was open; negative when received.
    pub funding: f64,
    pub exit_reason: ExitReason,
}

/// A fill the exchange reports to the bot.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SimFill {
    pub intent_id: Uuid,
    pub side: Side,
    pub kind: OrderKind,
    /// Quantity filled, in the base asset.
    pub quantity: f64,
    pub price: f64,
    pub fee: f64,
    pub time_ms: i64,
    /// Part of the quantity that opened or increased a position.
    pub opened: f64,
    /// Stop loss the order's intent carried.
    pub stop_loss: Option<Decimal>,
}

#[derive(Clone, Copy, Debug)]
struct Order {
    intent_id: Uuid,
    side: Side,
    kind: OrderKind,
    quantity: f64,
    /// Stop or limit price; unused for market orders.
    level: f64,
    reduce_only: bool,
    stop_loss: Option<Decimal>,
}

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
    /// Funding not yet assigned to a closed trade.
    funding: f64,
}

impl Position {
    fn direction(&self) -> f64 {
        match self.side {
            TradeSide::Long => 1.0,
            TradeSide::Short => -1.0,
        }
    }
}

/// A simulated USDT-margined account trading one symbol in one-way position mode.
// NOTE: margin and liquidation are not simulated: an order fills whatever the balance, and with
// leverage a gap through the stop can take equity below zero.
#[derive(Debug)]
pub struct SimulatedExchange {
    fees: FeeSchedule,
    /// Slippage as a fraction of the price, against the side of market and stop fills.
    slippage: f64,
    /// Initial cash plus realized PnL minus fees and funding.
    wallet: f64,
    position: Option<Position>,
    /// Market orders waiting for the next open.
    pending: Vec<Order>,
    /// Stop and limit orders.
    resting: Vec<Order>,
    fees_paid: f64,
    funding_paid: f64,
    trades: Vec<Trade>,
}

impl SimulatedExchange {
    /// Creates an account holding `cash` in the quote currency, with slippage in basis points.
    pub fn new(cash: f64, fees: FeeSchedule, slippage_bps: f64) -> Self {
        Self {
            fees,
            slippage: slippage_bps / 10_000.0,
            wallet: cash,
            position: None,
            pending: Vec::new(),
            resting: Vec::new(),
            fees_paid: 0.0,
            funding_paid: 0.0,
            trades: Vec::new(),
        }
    }

    /// Signed position quantity: positive long, negative short.
    pub fn position(&self) -> f64 {
        self.position
            .map_or(0.0, |position| position.direction() * position.quantity)
    }

    /// Returns the wallet balance: cash plus realized PnL, less fees and funding.
    pub fn wallet(&self) -> f64 {
        self.wallet
    }

    /// Returns the wallet plus the position's unrealized PnL at `mark`.
    pub fn equity(&self, mark: f64) -> f64 {
        let unrealized = self.position.map_or(0.0, |position| {
            position.direction() * position.quantity * (mark - position.entry_price)
        });
        self.wallet + unrealized
    }

    /// Returns all fees paid.
    pub fn fees_paid(&self) -> f64 {
        self.fees_paid
    }

    /// Returns all funding paid; negative when more was received.
    pub fn funding_paid(&self) -> f64 {
        self.funding_paid
    }

    /// Returns the closed trades.
    pub fn trades(&self) -> &[Trade] {
        &self.trades
    }

    /// Returns the closed trades, consuming the exchange.
    pub fn into_trades(self) -> Vec<Trade> {
        self.trades
    }

    /// Accepts an approved order: a market order waits for the next open, stop and limit
    /// orders rest until a bar reaches their price.
    pub fn submit(&mut self, order: &ApprovedOrder) {
        let intent = order.intent();
        let order = Order {
            intent_id: intent.intent_id,
            side: intent.side,
            kind: intent.kind,
            quantity: intent.quantity.to_f64().unwrap_or(0.0),
            level: intent.price.and_then(|price| price.to_f64()).unwrap_or(0.0),
            reduce_only: intent.reduce_only,
            stop_loss: intent.stop_loss,
        };
        match order.kind {
            OrderKind::Market => self.pending.push(order),
            OrderKind::Limit | OrderKind::StopMarket => self.resting.push(order),
        }
    }

    /// Returns whether the order of `intent_id` waits for the next open or rests on the book.
    pub fn is_open(&self, intent_id: Uuid) -> bool {
        let matches = |order: &Order| order.intent_id == intent_id;
        self.pending.iter().any(matches) || self.resting.iter().any(matches)
    }

    /// Cancels every order that has not filled.
    pub fn cancel_all(&mut self) {
        self.pending.clear();
        self.resting.clear();
    }

    /// Fills the waiting market orders at the bar's open, in the order they were submitted.
    pub fn open_bar(&mut self, candle: &Candle, fills: &mut Vec<SimFill>) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        for order in &pending {
            let price = self.slipped(order.side, candle.open);
            let fee = self.fees.taker;
            self.execute(
                order,
                price,
                fee,
                candle.open_time_ms,
                ExitReason::Signal,
                fills,
            );
        }
        // Keeps the buffer's capacity for the next bar.
        self.pending = pending;
        self.pending.clear();
    }

    /// Fills the stop and limit orders whose price the bar's range reaches: stops first, then
    /// limits, each in the order they were submitted.
    pub fn trade_bar(&mut self, candle: &Candle, fills: &mut Vec<SimFill>) {
        for kind in [OrderKind::StopMarket, OrderKind::Limit] {
            let mut index = 0;
            while index < self.resting.len() {
                let order = self.resting[index];
                let Some(price) = crossing_price(&order, kind, candle) else {
                    index += 1;
                    continue;
                };
                self.resting.remove(index);
                let (price, fee, reason) = match kind {
                    OrderKind::StopMarket => (
                        self.slipped(order.side, price),
                        self.fees.taker,
                        ExitReason::StopLoss,
                    ),
                    _ => (price, self.fees.maker, ExitReason::TakeProfit),
                };
                self.execute(&order, price, fee, candle.open_time_ms, reason, fills);
                // A fill may cancel other resting orders, so the scan starts over.
                index = 0;
            }
        }
    }

    /// Fills an approved market order at once at `price`, as when the data ends.
    pub fn fill_now(
        &mut self,
        order: &ApprovedOrder,
        price: f64,
        time_ms: i64,
        fills: &mut Vec<SimFill>,
    ) {
        let intent = order.intent();
        let order = Order {
            intent_id: intent.intent_id,
            side: intent.side,
            kind: intent.kind,
            quantity: intent.quantity.to_f64().unwrap_or(0.0),
            level: 0.0,
            reduce_only: intent.reduce_only,
            stop_loss: intent.stop_loss,
        };
        let price = self.slipped(order.side, price);
        let fee = self.fees.taker;
        self.execute(&order, price, fee, time_ms, ExitReason::EndOfData, fills);
    }

    /// Charges the position funding at `rate` on its notional at `price`: a long pays a
    /// positive rate and a short receives it. Returns the amount paid.
    pub fn charge_funding(&mut self, rate: f64, price: f64) -> f64 {
        let Some(position) = self.position.as_mut() else {
            return 0.0;
        };
        let payment = position.direction() * position.quantity * price * rate;
        position.funding += payment;
        self.wallet -= payment;
        self.funding_paid += payment;
        payment
    }

    fn slipped(&self, side: Side, price: f64) -> f64 {
        match side {
            Side::Buy => price * (1.0 + self.slippage),
            Side::Sell => price * (1.0 - self.slippage),
        }
    }

    /// Applies one fill: it first reduces an opposite position, then opens or adds with the
    /// rest unless the order is reduce-only.
    fn execute(
        &mut self,
        order: &Order,
        price: f64,
        fee_rate: f64,
        time_ms: i64,
        reason: ExitReason,
        fills: &mut Vec<SimFill>,
    ) {
        let fill_side = trade_side(order.side);
        let mut remaining = order.quantity;
        let mut filled = 0.0;
        if let Some(position) = self.position
            && position.side != fill_side
        {
            let (closing, left) = if same_quantity(remaining, position.quantity) {
                (position.quantity, 0.0)
            } else {
                let closing = remaining.min(position.quantity);
                (closing, remaining - closing)
            };
            self.close(closing, price, fee_rate, time_ms, reason);
            remaining = left;
            filled += closing;
        }
        let opened = if order.reduce_only {
            0.0
        } else {
            remaining.max(0.0)
        };
        if opened > 0.0 {
            self.open(fill_side, opened, price, fee_rate, time_ms);
            filled += opened;
        }
        if filled > 0.0 {
            fills.push(SimFill {
                intent_id: order.intent_id,
                side: order.side,
                kind: order.kind,
                quantity: filled,
                price,
                fee: filled * price * fee_rate,
                time_ms,
                opened,
                stop_loss: order.stop_loss,
            });
        }
        self.cancel_stale_reduce_only();
    }

    /// Cancels resting reduce-only orders that no position remains for them to reduce.
    fn cancel_stale_reduce_only(&mut self) {
        let position_side = self.position.map(|position| position.side);
        let reduces = |order: &Order| {
            !order.reduce_only || position_side.is_some_and(|side| side != trade_side(order.side))
        };
        self.resting.retain(reduces);
    }

    fn open(&mut self, side: TradeSide, quantity: f64, price: f64, fee_rate: f64, time_ms: i64) {
        let fee = quantity * price * fee_rate;
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
                funding: 0.0,
            },
        };
        self.position = Some(position);
    }

    /// Closes `quantity` of the position (all of it or part) and records the trade.
    fn close(
        &mut self,
        quantity: f64,
        price: f64,
        fee_rate: f64,
        time_ms: i64,
        reason: ExitReason,
    ) {
        let Some(mut position) = self.position else {
            return;
        };
        let share = (quantity / position.quantity).min(1.0);
        let entry_fees = position.entry_fees * share;
        let funding = position.funding * share;
        let exit_fee = quantity * price * fee_rate;
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
            pnl: gross - entry_fees - exit_fee - funding,
            fees: entry_fees + exit_fee,
            funding,
            exit_reason: reason,
        });

        position.quantity -= quantity;
        position.entry_fees -= entry_fees;
        position.funding -= funding;
        self.position = (position.quantity > 0.0).then_some(position);
    }
}

/// Relative difference below which an order's quantity counts as the whole position.
/// Quantities pass the gate as decimals of 8 places and the simulation keeps them as f64, so
/// an order for the whole position can come back a few f64 units off it once the position
/// reaches about 2^53 units of 10^-8 (90 million, as with a large account or a cheap coin).
/// An exchange keeps decimals and closes such a position exactly.
const SAME_QUANTITY_WITHIN: f64 = 1e-12;

fn same_quantity(order: f64, position: f64) -> bool {
    (order - position).abs() <= position * SAME_QUANTITY_WITHIN
}

fn trade_side(side: Side) -> TradeSide {
    match side {
        Side::Buy => TradeSide::Long,
        Side::Sell => TradeSide::Short,
    }
}

/// Returns the fill price of a resting order of `kind` that the bar reaches, or `None`.
fn crossing_price(order: &Order, kind: OrderKind, candle: &Candle) -> Option<f64> {
    if order.kind != kind {
        return None;
    }
    let level = order.level;
    match (kind, order.side) {
        (OrderKind::StopMarket, Side::Buy) => {
            (candle.high >= level).then(|| candle.open.max(level))
        }
        (OrderKind::StopMarket, Side::Sell) => {
            (candle.low <= level).then(|| candle.open.min(level))
        }
        (OrderKind::Limit, Side::Buy) => (candle.low <= level).then(|| candle.open.min(level)),
        (OrderKind::Limit, Side::Sell) => (candle.high >= level).then(|| candle.open.max(level)),
        (OrderKind::Market, _) => None,
    }
}

/// Converts a candle time to a date. A time outside chrono's range becomes the Unix epoch, and
/// only candles built without the kline parser can have one.
pub(crate) fn bar_time(time_ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(time_ms).unwrap_or_default()
}

#[cfg(test)]
mod tests;
