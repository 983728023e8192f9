//! Binance websocket messages into market and account events.

use keyward_events::bot::Side;
use rust_decimal::Decimal;
use serde_json::Value;

use super::orders::{order_type, side, state};
use crate::binance::wire::{
    AccountUpdate, BookTickerEvent, CombinedMessage, DepthSnapshot, DepthUpdate, KlineEvent,
    OrderTradeUpdate, StreamEvent, SubscribeResponse, UserEvent,
};
use crate::domain::{
    AccountEvent, Balance, BookTicker, BookUpdate, CandleUpdate, ClientOrderId, Fill, MarketEvent,
    OrderStatus, Position, Trade,
};

/// The content of one public stream message.
#[derive(Clone, Debug, PartialEq)]
pub enum MarketMessage {
    Event(MarketEvent),
    /// The response to the `SUBSCRIBE` request with this id.
    Subscribed {
        id: u64,
    },
    /// An error response `{"code", "msg"}` to a request on the socket.
    Error {
        code: i64,
        msg: String,
    },
}

/// Parses one public stream message, raw or wrapped as a combined stream message.
///
/// # Errors
/// Returns the reason when the text is not a message Binance documents.
pub fn market_message(text: &str) -> Result<MarketMessage, String> {
    let value: Value = serde_json::from_str(text).map_err(|err| err.to_string())?;
    let data = match value.get("stream") {
        Some(_) => {
            let wrapped: CombinedMessage<Value> =
                serde_json::from_value(value).map_err(|err| err.to_string())?;
            wrapped.data
        }
        None => value,
    };
    if data.get("e").is_some() {
        let event: StreamEvent = serde_json::from_value(data).map_err(|err| err.to_string())?;
        return Ok(MarketMessage::Event(market_event(event)));
    }
    if let (Some(code), Some(msg)) = (data.get("code"), data.get("msg")) {
        return Ok(MarketMessage::Error {
            code: code.as_i64().unwrap_or(0),
            msg: msg.as_str().unwrap_or_default().to_owned(),
        });
    }
    let ack: SubscribeResponse = serde_json::from_value(data).map_err(|err| err.to_string())?;
    Ok(MarketMessage::Subscribed { id: ack.id })
}

fn market_event(event: StreamEvent) -> MarketEvent {
    match event {
        StreamEvent::AggTrade(trade) => MarketEvent::Trade(Trade {
            symbol: trade.symbol,
            trade_id: trade.aggregate_id.to_string(),
            price: trade.price,
            quantity: trade.quantity,
            taker_side: Some(taker_side(trade.buyer_is_maker)),
            time_ms: trade.trade_time,
        }),
        StreamEvent::Trade(trade) => MarketEvent::Trade(Trade {
            symbol: trade.symbol,
            trade_id: trade.trade_id.to_string(),
            price: trade.price,
            quantity: trade.quantity,
            taker_side: Some(taker_side(trade.buyer_is_maker)),
            time_ms: trade.trade_time,
        }),
        StreamEvent::Kline(event) => MarketEvent::Candle(candle(event)),
        StreamEvent::BookTicker(event) => MarketEvent::BookTicker(book_ticker(event)),
        StreamEvent::DepthUpdate(update) => MarketEvent::Book(depth_update(update)),
    }
}

/// When the buyer made the market, the taker sold.
fn taker_side(buyer_is_maker: bool) -> Side {
    if buyer_is_maker {
        Side::Sell
    } else {
        Side::Buy
    }
}

fn candle(event: KlineEvent) -> CandleUpdate {
    let kline = event.kline;
    CandleUpdate {
        symbol: event.symbol,
        interval: kline.interval,
        open_time_ms: kline.open_time,
        open: kline.open,
        high: kline.high,
        low: kline.low,
        close: kline.close,
        volume: kline.volume,
        closed: kline.closed,
    }
}

fn book_ticker(event: BookTickerEvent) -> BookTicker {
    BookTicker {
        symbol: event.symbol,
        bid_price: event.bid_price,
        bid_quantity: event.bid_quantity,
        ask_price: event.ask_price,
        ask_quantity: event.ask_quantity,
        time_ms: event.transaction_time,
    }
}

fn depth_update(update: DepthUpdate) -> BookUpdate {
    BookUpdate {
        symbol: update.symbol,
        snapshot: false,
        bids: update.bids,
        asks: update.asks,
        first_update_id: Some(update.first_update_id),
        last_update_id: Some(update.last_update_id),
        previous_update_id: Some(update.previous_update_id),
        time_ms: update.transaction_time,
    }
}

/// Parses a `GET /fapi/v1/depth` snapshot, which names no symbol, as a book snapshot of
/// `symbol`.
///
/// # Errors
/// Returns the reason when the text is not a depth snapshot.
pub fn depth_snapshot(symbol: &str, text: &str) -> Result<BookUpdate, String> {
    let snapshot: DepthSnapshot = serde_json::from_str(text).map_err(|err| err.to_string())?;
    Ok(BookUpdate {
        symbol: symbol.to_owned(),
        snapshot: true,
        bids: snapshot.bids,
        asks: snapshot.asks,
        first_update_id: None,
        last_update_id: Some(snapshot.last_update_id),
        previous_update_id: None,
        time_ms: snapshot.transaction_time,
    })
}

/// The content of one user data stream message.
#[derive(Clone, Debug, PartialEq)]
pub enum UserMessage {
    Events(Vec<AccountEvent>),
    /// The listen key expired; the stream must reconnect with a new one.
    ListenKeyExpired,
}

/// Parses one user data stream message.
///
/// # Errors
/// Returns the reason when the text is not a message Binance documents.
pub fn user_message(text: &str) -> Result<UserMessage, String> {
    let event: UserEvent = serde_json::from_str(text).map_err(|err| err.to_string())?;
    let events = match event {
        UserEvent::OrderTradeUpdate(update) => order_events(*update)?,
        UserEvent::AccountUpdate(update) => account_events(update),
        UserEvent::ListenKeyExpired {} => return Ok(UserMessage::ListenKeyExpired),
        UserEvent::Other => Vec::new(),
    };
    Ok(UserMessage::Events(events))
}

/// Maps an order update, preceded by its fill when the update reports a trade.
fn order_events(update: OrderTradeUpdate) -> Result<Vec<AccountEvent>, String> {
    let order = update.order;
    let nonzero = |value: Decimal| (!value.is_zero()).then_some(value);
    let status = OrderStatus {
        symbol: order.symbol.clone(),
        client_order_id: ClientOrderId::from_exchange(order.client_order_id.clone()),
        exchange_order_id: order.order_id.to_string(),
        side: side(&order.side)?,
        order_type: order_type(&order.order_type),
        state: state(&order.status)?,
        quantity: order.quantity,
        filled_quantity: order.filled_quantity,
        price: nonzero(order.price),
        average_price: nonzero(order.average_price),
        trigger_price: nonzero(order.stop_price),
        reduce_only: order.reduce_only,
        updated_at_ms: update.transaction_time,
    };
    let mut events = Vec::new();
    if order.execution_type == "TRADE" {
        events.push(AccountEvent::Fill(Fill {
            symbol: order.symbol,
            client_order_id: status.client_order_id.clone(),
            exchange_order_id: status.exchange_order_id.clone(),
            trade_id: order.trade_id.to_string(),
            side: status.side,
            price: order.last_price,
            quantity: order.last_quantity,
            fee: order.fee.unwrap_or_default(),
            fee_asset: order.fee_asset.unwrap_or_default(),
            realized_pnl: order.realized_pnl,
            maker: order.maker,
            time_ms: order.trade_time,
        }));
    }
    events.push(AccountEvent::Order(status));
    Ok(events)
}

fn account_events(update: AccountUpdate) -> Vec<AccountEvent> {
    let time_ms = update.transaction_time;
    let balances = update.account.balances.into_iter().map(|balance| {
        AccountEvent::Balance(Balance {
            asset: balance.asset,
            wallet_balance: balance.wallet_balance,
            available_balance: balance.cross_wallet_balance,
            // NOTE: ACCOUNT_UPDATE carries no unrealized PnL per asset; positions carry it.
            unrealized_pnl: Decimal::ZERO,
            updated_at_ms: time_ms,
        })
    });
    let positions = update.account.positions.into_iter().map(|position| {
        AccountEvent::Position(Position {
            symbol: position.symbol,
            quantity: position.position_amount,
            entry_price: position.entry_price,
            mark_price: None,
            unrealized_pnl: position.unrealized_pnl,
            leverage: None,
            liquidation_price: None,
            updated_at_ms: time_ms,
        })
    });
    balances.chain(positions).collect()
}
