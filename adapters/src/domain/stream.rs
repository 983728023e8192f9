//! Events of the public market data and private account streams, and the handle that delivers
//! them.

use keyward_events::bot::Side;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::account::{Balance, Position};
use super::order::{Fill, OrderStatus};

/// One public channel of one instrument.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MarketSubscription {
    /// keyward's symbol, e.g. `BTCUSDT`.
    pub symbol: String,
    pub channel: MarketChannel,
}

/// The data a public subscription delivers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketChannel {
    /// Trades as they happen (Binance `aggTrade`, Bybit `publicTrade`, OKX `trades`).
    Trades,
    /// Candles of one interval, written as on Binance: `1m`, `5m`, `1h`, `1d`.
    Candles { interval: String },
    /// Best bid and ask.
    BookTicker,
}

/// One trade of an instrument.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trade {
    pub symbol: String,
    pub trade_id: String,
    pub price: Decimal,
    /// Quantity in the base asset.
    pub quantity: Decimal,
    /// The taker's side; `None` where the exchange does not report it.
    pub taker_side: Option<Side>,
    /// Milliseconds since the Unix epoch of the trade.
    pub time_ms: i64,
}

/// A candle as it forms; `closed` is true for its last update.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandleUpdate {
    pub symbol: String,
    pub interval: String,
    /// Milliseconds since the Unix epoch of the candle's start.
    pub open_time_ms: i64,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    /// Volume in the base asset.
    pub volume: Decimal,
    pub closed: bool,
}

/// Best bid and ask.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookTicker {
    pub symbol: String,
    pub bid_price: Decimal,
    pub bid_quantity: Decimal,
    pub ask_price: Decimal,
    pub ask_quantity: Decimal,
    /// Milliseconds since the Unix epoch; 0 where the exchange sends no time.
    pub time_ms: i64,
}

/// Order book levels: a full snapshot, or a delta whose zero quantities remove a level.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookUpdate {
    pub symbol: String,
    pub snapshot: bool,
    /// `(price, quantity)` pairs, best first.
    pub bids: Vec<(Decimal, Decimal)>,
    pub asks: Vec<(Decimal, Decimal)>,
    /// First update id covered, for sequencing deltas (Binance `U`); `None` where absent.
    pub first_update_id: Option<u64>,
    /// Last update id covered (Binance `u`, Bybit `u`, the snapshot's `lastUpdateId`).
    pub last_update_id: Option<u64>,
    /// Last update id of the previous delta (Binance `pu`), to detect a gap.
    pub previous_update_id: Option<u64>,
    /// Milliseconds since the Unix epoch; 0 where the exchange sends no time.
    pub time_ms: i64,
}

/// 24-hour ticker values; fields the exchange left out of an update are `None`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticker {
    pub symbol: String,
    pub last_price: Option<Decimal>,
    pub mark_price: Option<Decimal>,
    pub bid_price: Option<Decimal>,
    pub ask_price: Option<Decimal>,
    pub volume_24h: Option<Decimal>,
    pub time_ms: i64,
}

/// The state of a stream's connection, delivered in order with its data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum StreamStatus {
    /// Connected and subscribed; `reconnects` counts the connections before this one.
    Connected { reconnects: u32 },
    /// The connection was lost or could not be made; a new attempt follows after
    /// `retry_in_ms`.
    Disconnected { reason: String, retry_in_ms: u64 },
}

/// A message of a public market data stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MarketEvent {
    Trade(Trade),
    Candle(CandleUpdate),
    BookTicker(BookTicker),
    Book(BookUpdate),
    Ticker(Ticker),
    Status(StreamStatus),
}

/// The account state the REST reconciliation after a (re)connect of an account stream read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSnapshot {
    pub open_orders: Vec<OrderStatus>,
    /// Orders that were open before the connection was lost and are no longer open, with
    /// their final state: what happened to them while the stream was down.
    pub closed_while_disconnected: Vec<OrderStatus>,
    pub positions: Vec<Position>,
    pub balances: Vec<Balance>,
    /// Milliseconds since the Unix epoch when the reconciliation ran, local clock.
    pub taken_at_ms: i64,
}

/// A message of a private account stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AccountEvent {
    /// An order changed state.
    Order(OrderStatus),
    Fill(Fill),
    Position(Position),
    Balance(Balance),
    /// REST reconciliation, sent after every (re)connect before any live event of that
    /// connection; the account's state at that moment.
    Reconciled(Box<AccountSnapshot>),
    Status(StreamStatus),
}

/// Receives the events of a stream that runs in a background task. Dropping it stops the task
/// and closes the connection.
#[derive(Debug)]
pub struct EventStream<T> {
    events: mpsc::Receiver<T>,
    task: JoinHandle<()>,
}

/// A public market data stream.
pub type MarketStream = EventStream<MarketEvent>;
/// A private account stream.
pub type AccountStream = EventStream<AccountEvent>;

impl<T> EventStream<T> {
    /// Wraps the receiving end of a stream and the task that feeds it.
    pub fn new(events: mpsc::Receiver<T>, task: JoinHandle<()>) -> Self {
        EventStream { events, task }
    }

    /// Waits for the next event; `None` once the stream has ended.
    pub async fn next(&mut self) -> Option<T> {
        self.events.recv().await
    }
}

impl<T> Drop for EventStream<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}
