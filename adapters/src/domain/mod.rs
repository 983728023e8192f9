//! keyward's exchange-neutral trading types: instruments, balances, positions, orders and
//! stream events. Every adapter parses its wire types into these; nothing outside the adapters
//! sees a wire type.

mod account;
mod instrument;
mod order;
mod stream;

pub use account::{Balance, LeverageSet, Position, PositionMode};
pub use instrument::{Instrument, LeverageBracket, max_leverage_in};
pub use order::{
    ClientOrderId, Fill, OrderAck, OrderRequest, OrderState, OrderStatus, OrderType, TimeInForce,
};
pub use stream::{
    AccountEvent, AccountSnapshot, AccountStream, BookTicker, BookUpdate, CandleUpdate,
    EventStream, MarketChannel, MarketEvent, MarketStream, MarketSubscription, StreamStatus,
    Ticker, Trade,
};
