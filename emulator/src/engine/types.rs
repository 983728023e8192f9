//! The engine's exchange-neutral vocabulary. Dialects translate their wire shapes into these
//! and back; quantities are in the base asset, prices in the quote asset.

use keyward_events::Exchange;
use rust_decimal::Decimal;
use serde::Serialize;

/// The account behind an API key: every key has an account of its own.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct AccountId {
    pub exchange: Exchange,
    pub api_key: String,
}

impl Ord for AccountId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.exchange.as_str(), &self.api_key).cmp(&(other.exchange.as_str(), &other.api_key))
    }
}

impl PartialOrd for AccountId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl AccountId {
    pub fn new(exchange: Exchange, api_key: impl Into<String>) -> Self {
        AccountId {
            exchange,
            api_key: api_key.into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Buy,
    Sell,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderType {
    Market,
    Limit,
    /// A market order that waits for the price to reach its stop price.
    StopMarket,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeInForce {
    Gtc,
    Ioc,
    Fok,
    /// Rejected (expired) instead of taking liquidity.
    PostOnly,
}

/// Which position an order belongs to: `Both` in one-way mode, `Long` or `Short` in hedge mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PositionSide {
    Both,
    Long,
    Short,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PositionMode {
    OneWay,
    Hedge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    New,
    PartiallyFilled,
    Filled,
    Canceled,
    Expired,
}

impl OrderStatus {
    pub fn is_open(self) -> bool {
        matches!(self, OrderStatus::New | OrderStatus::PartiallyFilled)
    }
}

/// An order as a dialect hands it to the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOrder {
    pub symbol: String,
    pub side: Side,
    pub order_type: OrderType,
    pub quantity: Decimal,
    /// Limit price; required for limit orders.
    pub price: Option<Decimal>,
    /// Trigger price; required for stop orders.
    pub stop_price: Option<Decimal>,
    pub time_in_force: TimeInForce,
    pub reduce_only: bool,
    /// The client's id; the engine makes one up when absent.
    pub client_order_id: Option<String>,
    pub position_side: PositionSide,
}

/// How an order is named in a query or cancellation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderKey {
    ClientOrderId(String),
    OrderId(u64),
}

/// An order as the engine keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OrderRecord {
    pub order_id: u64,
    pub client_order_id: String,
    pub symbol: String,
    pub side: Side,
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    pub position_side: PositionSide,
    pub status: OrderStatus,
    pub quantity: Decimal,
    pub filled_quantity: Decimal,
    pub price: Option<Decimal>,
    pub stop_price: Option<Decimal>,
    /// Average fill price; zero before the first fill.
    pub average_price: Decimal,
    pub reduce_only: bool,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// Queries do not show the order before this time (the delayed-visibility fault).
    pub visible_from_ms: i64,
}

/// One execution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FillRecord {
    pub trade_id: u64,
    pub order_id: u64,
    pub client_order_id: String,
    pub symbol: String,
    pub side: Side,
    pub price: Decimal,
    pub quantity: Decimal,
    /// Fee in the settlement asset, positive.
    pub fee: Decimal,
    pub realized_pnl: Decimal,
    pub maker: bool,
    pub time_ms: i64,
}

/// A position, net in one-way mode or one side in hedge mode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PositionRecord {
    pub symbol: String,
    pub position_side: PositionSide,
    /// Signed quantity: positive long, negative short.
    pub quantity: Decimal,
    pub entry_price: Decimal,
    pub mark_price: Decimal,
    pub unrealized_pnl: Decimal,
    pub leverage: u32,
    /// Initial margin of the position at its leverage.
    pub initial_margin: Decimal,
    pub updated_ms: i64,
}

/// The account's settlement asset (USDT).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BalanceRecord {
    pub asset: String,
    pub wallet_balance: Decimal,
    pub unrealized_pnl: Decimal,
    /// Wallet balance plus unrealized PnL minus the margin of positions and open orders.
    pub available_balance: Decimal,
    pub updated_ms: i64,
}

/// The outcome of a leverage change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LeverageChange {
    pub symbol: String,
    pub leverage: u32,
    /// Largest position value allowed at this leverage.
    pub max_notional: Decimal,
    /// False when the leverage already had this value.
    pub changed: bool,
}

/// What changed in an account, for private streams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccountChange {
    Order(OrderRecord),
    Fill(FillRecord),
    Position(PositionRecord),
    Balance(BalanceRecord),
}

/// One change of one account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountUpdate {
    pub account: AccountId,
    pub change: AccountChange,
}

/// Public market data from the price feed or from fills.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MarketTick {
    Trade {
        symbol: String,
        trade_id: u64,
        price: Decimal,
        quantity: Decimal,
        /// The taker's side.
        taker_side: Side,
        time_ms: i64,
    },
    Candle {
        symbol: String,
        interval: String,
        open_time_ms: i64,
        open: Decimal,
        high: Decimal,
        low: Decimal,
        close: Decimal,
        volume: Decimal,
        closed: bool,
        time_ms: i64,
    },
}

/// Reason the engine rejected a request. Each dialect returns its exchange's own code for it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("unknown symbol {0}")]
    UnknownSymbol(String),
    #[error("price {price} is not a multiple of the tick size {tick}")]
    PriceNotOnTick { price: Decimal, tick: Decimal },
    #[error("quantity {quantity} is not a multiple of the step size {step}")]
    QuantityNotOnStep { quantity: Decimal, step: Decimal },
    #[error("quantity {quantity} is below the minimum {min}")]
    QuantityBelowMinimum { quantity: Decimal, min: Decimal },
    #[error("quantity {quantity} is above the maximum {max}")]
    QuantityAboveMaximum { quantity: Decimal, max: Decimal },
    #[error("order value {notional} is below the minimum {min}")]
    NotionalBelowMinimum { notional: Decimal, min: Decimal },
    #[error("price {price} is outside the allowed range")]
    PriceOutOfRange { price: Decimal },
    #[error("a limit order needs a price and a stop order a stop price")]
    PriceMissing,
    #[error("there is no price for {0} yet")]
    NoMarketPrice(String),
    #[error("margin is insufficient: {required} needed, {available} available")]
    InsufficientMargin {
        required: Decimal,
        available: Decimal,
    },
    #[error("the position would exceed {max_notional}, the maximum at leverage {leverage}")]
    ExceedsLeverageBracket {
        leverage: u32,
        max_notional: Decimal,
    },
    #[error("leverage {leverage} is outside 1 to {max}")]
    InvalidLeverage { leverage: u32, max: u32 },
    #[error("the order's position side does not match the account's position mode")]
    PositionSideMismatch,
    #[error("a reduce-only order would increase the position")]
    ReduceOnlyRejected,
    #[error("the client order id {0} is already used")]
    DuplicateClientOrderId(String),
    #[error("no such order")]
    OrderNotFound,
    #[error("the position mode is already {0:?}")]
    PositionModeUnchanged(PositionMode),
    #[error("the position mode cannot change while a position is open")]
    PositionModeBlockedByPosition,
    #[error("the position mode cannot change while an order is open")]
    PositionModeBlockedByOrders,
}
