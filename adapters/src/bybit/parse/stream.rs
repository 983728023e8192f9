//! Bybit v5 websocket messages into market events.
//!
//! Public linear messages carry a `topic` (`publicTrade.BTCUSDT`, `kline.1.BTCUSDT`,
//! `tickers.BTCUSDT`, `orderbook.200.BTCUSDT`) and `data`; responses to operations carry `op`
//! (`subscribe`, `ping`, `auth`) and `success`.

use keyward_events::bot::Side;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;

use super::{balances, order_status, position};
use crate::bybit::wire::{BybitExecution, BybitOrder, BybitPosition, BybitWallet, BybitWalletPage};
use crate::domain::{
    AccountEvent, BookUpdate, CandleUpdate, ClientOrderId, Fill, MarketEvent, Ticker, Trade,
};
use crate::wire_decimal::optional_decimal;

/// One message of a Bybit websocket.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamMessage {
    /// Market data; empty for topics keyward does not read.
    Market(Vec<MarketEvent>),
    /// The response to `subscribe`, `auth` or another operation.
    Answer {
        op: String,
        success: bool,
        ret_msg: String,
    },
    /// The response to `ping`.
    Pong,
}

#[derive(Deserialize)]
struct OperationAnswer {
    op: String,
    #[serde(default)]
    success: Option<bool>,
    #[serde(default)]
    ret_msg: String,
}

/// One trade of `publicTrade.{symbol}`.
#[derive(Deserialize)]
struct BybitTrade {
    #[serde(rename = "T")]
    time: i64,
    #[serde(rename = "s")]
    symbol: String,
    #[serde(rename = "S")]
    taker_side: String,
    #[serde(rename = "v")]
    size: Decimal,
    #[serde(rename = "p")]
    price: Decimal,
    #[serde(rename = "i")]
    id: String,
}

/// One candle of `kline.{interval}.{symbol}`.
#[derive(Deserialize)]
struct BybitKline {
    start: i64,
    open: Decimal,
    high: Decimal,
    low: Decimal,
    close: Decimal,
    volume: Decimal,
    confirm: bool,
}

/// `tickers.{symbol}`: a snapshot, then deltas with only the changed fields.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BybitTicker {
    symbol: String,
    #[serde(default, deserialize_with = "optional_decimal")]
    last_price: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_decimal")]
    mark_price: Option<Decimal>,
    #[serde(default, rename = "bid1Price", deserialize_with = "optional_decimal")]
    bid_price: Option<Decimal>,
    #[serde(default, rename = "ask1Price", deserialize_with = "optional_decimal")]
    ask_price: Option<Decimal>,
    #[serde(default, rename = "volume24h", deserialize_with = "optional_decimal")]
    volume_24h: Option<Decimal>,
}

/// `orderbook.{depth}.{symbol}`: price levels as `[price, size]`; size 0 removes a level.
#[derive(Deserialize)]
struct BybitBook {
    #[serde(rename = "s")]
    symbol: String,
    #[serde(rename = "b")]
    bids: Vec<(Decimal, Decimal)>,
    #[serde(rename = "a")]
    asks: Vec<(Decimal, Decimal)>,
    #[serde(rename = "u")]
    update_id: u64,
}

/// Returns keyward's interval for a Bybit kline interval: `1` is `1m`, `60` is `1h`, `D` is
/// `1d`.
pub fn interval_name(bybit: &str) -> String {
    match bybit {
        "D" => "1d".to_owned(),
        "W" => "1w".to_owned(),
        "M" => "1M".to_owned(),
        minutes => match minutes.parse::<u32>() {
            Ok(minutes) if minutes >= 60 && minutes % 60 == 0 => format!("{}h", minutes / 60),
            _ => format!("{minutes}m"),
        },
    }
}

/// Returns Bybit's kline interval for one of keyward's: `1m` is `1`, `1h` is `60`.
pub fn bybit_interval(interval: &str) -> Option<String> {
    let (number, unit) = interval.split_at(interval.len().checked_sub(1)?);
    let number: u32 = number.parse().ok()?;
    match (number, unit) {
        (1, "d") => Some("D".to_owned()),
        (1, "w") => Some("W".to_owned()),
        (1, "M") => Some("M".to_owned()),
        (minutes, "m") => Some(minutes.to_string()),
        (hours, "h") => Some((hours * 60).to_string()),
        _ => None,
    }
}

/// Builds the `subscribe` operation for topics such as `publicTrade.BTCUSDT`.
pub fn subscribe_request(req_id: &str, topics: &[String]) -> String {
    serde_json::json!({"req_id": req_id, "op": "subscribe", "args": topics}).to_string()
}

/// Builds the `ping` operation Bybit expects every 20 seconds.
pub fn ping_request(req_id: &str) -> String {
    serde_json::json!({"req_id": req_id, "op": "ping"}).to_string()
}

/// Parses one text message of a public or private stream.
///
/// # Errors
/// Returns the reason when the message is not JSON or a known topic has an unexpected shape.
pub fn message(text: &str) -> Result<StreamMessage, String> {
    let value: Value = serde_json::from_str(text).map_err(|err| format!("not JSON: {err}"))?;
    if let Some(topic) = value.get("topic").and_then(Value::as_str) {
        let snapshot = value.get("type").and_then(Value::as_str) == Some("snapshot");
        let ts = value.get("ts").and_then(Value::as_i64).unwrap_or(0);
        let data = value.get("data").cloned().unwrap_or(Value::Null);
        return market_events(topic, snapshot, ts, data).map(StreamMessage::Market);
    }
    let answer: OperationAnswer =
        serde_json::from_value(value).map_err(|err| format!("unknown message: {err}"))?;
    if answer.op == "ping" || answer.op == "pong" {
        return Ok(StreamMessage::Pong);
    }
    Ok(StreamMessage::Answer {
        op: answer.op,
        success: answer.success.unwrap_or(false),
        ret_msg: answer.ret_msg,
    })
}

/// Parses a private `order`, `execution`, `position` or `wallet` message; `None` for any
/// other message. Executions other than trades (funding, settlement) are skipped.
///
/// # Errors
/// Returns the reason when the message is not JSON or an entry has an unexpected shape.
pub fn account_events(text: &str) -> Result<Option<Vec<AccountEvent>>, String> {
    let value: Value = serde_json::from_str(text).map_err(|err| format!("not JSON: {err}"))?;
    let topic = value.get("topic").and_then(Value::as_str).unwrap_or("");
    let data = value.get("data").cloned().unwrap_or(Value::Null);
    let shape = |err: serde_json::Error| format!("{topic}: {err}");
    let events = match topic {
        "order" => {
            let orders: Vec<BybitOrder> = serde_json::from_value(data).map_err(shape)?;
            orders
                .into_iter()
                .map(|wire| order_status(wire).map(AccountEvent::Order))
                .collect::<Result<_, _>>()?
        }
        "execution" => {
            let executions: Vec<BybitExecution> = serde_json::from_value(data).map_err(shape)?;
            executions
                .into_iter()
                .filter(|wire| wire.exec_type.as_deref().is_none_or(|kind| kind == "Trade"))
                .map(|wire| fill(wire).map(AccountEvent::Fill))
                .collect::<Result<_, _>>()?
        }
        "position" => {
            let positions: Vec<BybitPosition> = serde_json::from_value(data).map_err(shape)?;
            positions
                .into_iter()
                .map(|wire| AccountEvent::Position(position(wire)))
                .collect()
        }
        "wallet" => {
            let list: Vec<BybitWallet> = serde_json::from_value(data).map_err(shape)?;
            balances(BybitWalletPage { list })
                .into_iter()
                .map(AccountEvent::Balance)
                .collect()
        }
        _ => return Ok(None),
    };
    Ok(Some(events))
}

fn fill(wire: BybitExecution) -> Result<Fill, String> {
    let side = match wire.side.as_str() {
        "Buy" => Side::Buy,
        "Sell" => Side::Sell,
        other => return Err(format!("unknown execution side {other:?}")),
    };
    let time_ms = wire
        .exec_time
        .parse()
        .map_err(|_| format!("execTime {:?} is not a number of ms", wire.exec_time))?;
    Ok(Fill {
        symbol: wire.symbol,
        client_order_id: ClientOrderId::from_exchange(wire.order_link_id),
        exchange_order_id: wire.order_id,
        trade_id: wire.exec_id,
        side,
        price: wire.exec_price,
        quantity: wire.exec_qty,
        fee: wire.exec_fee.unwrap_or_default(),
        fee_asset: wire.fee_currency.unwrap_or_else(|| "USDT".to_owned()),
        realized_pnl: wire.exec_pnl,
        maker: wire.is_maker,
        time_ms,
    })
}

fn market_events(
    topic: &str,
    snapshot: bool,
    ts: i64,
    data: Value,
) -> Result<Vec<MarketEvent>, String> {
    let parts: Vec<&str> = topic.split('.').collect();
    let shape = |err: serde_json::Error| format!("{topic}: {err}");
    match parts.as_slice() {
        ["publicTrade", _] => {
            let trades: Vec<BybitTrade> = serde_json::from_value(data).map_err(shape)?;
            trades.into_iter().map(trade).collect()
        }
        ["kline", interval, symbol] => {
            let klines: Vec<BybitKline> = serde_json::from_value(data).map_err(shape)?;
            Ok(klines
                .into_iter()
                .map(|kline| candle(kline, symbol, interval))
                .collect())
        }
        ["tickers", _] => {
            let ticker: BybitTicker = serde_json::from_value(data).map_err(shape)?;
            Ok(vec![MarketEvent::Ticker(Ticker {
                symbol: ticker.symbol,
                last_price: ticker.last_price,
                mark_price: ticker.mark_price,
                bid_price: ticker.bid_price,
                ask_price: ticker.ask_price,
                volume_24h: ticker.volume_24h,
                time_ms: ts,
            })])
        }
        ["orderbook", _, _] => {
            let book: BybitBook = serde_json::from_value(data).map_err(shape)?;
            Ok(vec![MarketEvent::Book(BookUpdate {
                symbol: book.symbol,
                snapshot,
                bids: book.bids,
                asks: book.asks,
                first_update_id: None,
                last_update_id: Some(book.update_id),
                previous_update_id: None,
                time_ms: ts,
            })])
        }
        _ => Ok(Vec::new()),
    }
}

fn trade(wire: BybitTrade) -> Result<MarketEvent, String> {
    let taker_side = match wire.taker_side.as_str() {
        "Buy" => Side::Buy,
        "Sell" => Side::Sell,
        other => return Err(format!("unknown taker side {other:?}")),
    };
    Ok(MarketEvent::Trade(Trade {
        symbol: wire.symbol,
        trade_id: wire.id,
        price: wire.price,
        quantity: wire.size,
        taker_side: Some(taker_side),
        time_ms: wire.time,
    }))
}

fn candle(wire: BybitKline, symbol: &str, interval: &str) -> MarketEvent {
    MarketEvent::Candle(CandleUpdate {
        symbol: symbol.to_owned(),
        interval: interval_name(interval),
        open_time_ms: wire.start,
        open: wire.open,
        high: wire.high,
        low: wire.low,
        close: wire.close,
        volume: wire.volume,
        closed: wire.confirm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_map_both_ways() {
        for (keyward, bybit) in [
            ("1m", "1"),
            ("5m", "5"),
            ("1h", "60"),
            ("4h", "240"),
            ("1d", "D"),
        ] {
            assert_eq!(interval_name(bybit), keyward);
            assert_eq!(bybit_interval(keyward).as_deref(), Some(bybit));
        }
        assert_eq!(bybit_interval("7x"), None);
    }

    #[test]
    fn unknown_topic_yields_no_events() {
        let text = r#"{"topic":"allLiquidation.BTCUSDT","type":"snapshot","ts":1,"data":[]}"#;
        assert_eq!(message(text), Ok(StreamMessage::Market(Vec::new())));
    }
}
