//! OKX v5 websocket messages into market events.
//!
//! Pushes carry `arg` (`{channel, instId}`) and `data`; events carry `event` (`subscribe`,
//! `login`, `error`, `notice`). The server's heartbeat response is the plain text `pong`. Swap
//! sizes count contracts, so the parser takes each instrument's contract value.

use keyward_events::bot::Side;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;

use super::{balances, order_status, position, symbol_of};
use crate::domain::{
    AccountEvent, CandleUpdate, ClientOrderId, Fill, Instrument, MarketEvent, Ticker, Trade,
};
use crate::okx::wire::{OkxBalance, OkxOrder, OkxPosition};
use crate::wire_decimal::optional_decimal;

/// One message of an OKX websocket.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamMessage {
    /// Market data; empty for channels keyward does not read.
    Market(Vec<MarketEvent>),
    /// A `subscribe`, `unsubscribe` or `login` confirmation.
    Confirmed { event: String },
    /// An `error` event: the request it responds to failed.
    Error { code: String, msg: String },
    /// A `notice` event, such as 64008: the server closes the connection soon.
    Notice { code: String, msg: String },
    /// The response to the text `ping`.
    Pong,
}

#[derive(Deserialize)]
struct Arg {
    channel: String,
    #[serde(rename = "instId")]
    inst_id: String,
}

#[derive(Deserialize)]
struct EventMessage {
    event: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    msg: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OkxTrade {
    trade_id: String,
    px: Decimal,
    sz: Decimal,
    side: String,
    ts: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OkxTicker {
    #[serde(default, deserialize_with = "optional_decimal")]
    last: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_decimal")]
    bid_px: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_decimal")]
    ask_px: Option<Decimal>,
    /// Base currency on swaps, quote currency on spot.
    #[serde(default, rename = "volCcy24h", deserialize_with = "optional_decimal")]
    vol_ccy_24h: Option<Decimal>,
    /// Contracts on swaps, base currency on spot.
    #[serde(default, rename = "vol24h", deserialize_with = "optional_decimal")]
    vol_24h: Option<Decimal>,
    ts: String,
}

/// Returns OKX's bar of one of keyward's intervals: `1m` stays, `1h` is `1H`, `1d` is `1D`.
pub fn okx_bar(interval: &str) -> String {
    match interval.chars().last() {
        Some('h' | 'd' | 'w') => interval.to_uppercase(),
        _ => interval.to_owned(),
    }
}

/// Builds the `subscribe` operation for `(channel, instId)` pairs.
pub fn subscribe_request(id: &str, args: &[(String, String)]) -> String {
    let args: Vec<Value> = args
        .iter()
        .map(|(channel, inst_id)| serde_json::json!({"channel": channel, "instId": inst_id}))
        .collect();
    serde_json::json!({"id": id, "op": "subscribe", "args": args}).to_string()
}

/// Parses one text message. `contract_value` returns the base asset per contract of a swap
/// (`None` for an unknown instrument, whose sizes stay as sent).
///
/// # Errors
/// Returns the reason when the message is not JSON or a known channel has an unexpected shape.
pub fn message(
    text: &str,
    contract_value: &dyn Fn(&str) -> Option<Decimal>,
) -> Result<StreamMessage, String> {
    if text == "pong" {
        return Ok(StreamMessage::Pong);
    }
    let value: Value = serde_json::from_str(text).map_err(|err| format!("not JSON: {err}"))?;
    if value.get("event").is_some() {
        let event: EventMessage =
            serde_json::from_value(value).map_err(|err| format!("unknown event: {err}"))?;
        return Ok(match event.event.as_str() {
            "error" => StreamMessage::Error {
                code: event.code,
                msg: event.msg,
            },
            "notice" => StreamMessage::Notice {
                code: event.code,
                msg: event.msg,
            },
            _ => StreamMessage::Confirmed { event: event.event },
        });
    }
    let arg: Arg = value
        .get("arg")
        .cloned()
        .map(serde_json::from_value)
        .ok_or_else(|| "a push without arg".to_owned())?
        .map_err(|err| format!("arg: {err}"))?;
    let data = value.get("data").cloned().unwrap_or(Value::Null);
    let swap = arg.inst_id.ends_with("-SWAP");
    let multiplier = contract_value(&arg.inst_id).unwrap_or(Decimal::ONE);
    let symbol = symbol_of(&arg.inst_id).unwrap_or_else(|| arg.inst_id.replace('-', ""));
    let shape = |err: serde_json::Error| format!("{}: {err}", arg.channel);
    let events = match arg.channel.as_str() {
        "trades" => {
            let trades: Vec<OkxTrade> = serde_json::from_value(data).map_err(shape)?;
            trades
                .into_iter()
                .map(|wire| trade(wire, &symbol, multiplier))
                .collect::<Result<_, _>>()?
        }
        "tickers" => {
            let tickers: Vec<OkxTicker> = serde_json::from_value(data).map_err(shape)?;
            tickers
                .into_iter()
                .map(|wire| ticker(wire, &symbol, swap))
                .collect()
        }
        channel if channel.starts_with("candle") => {
            let rows: Vec<Vec<String>> = serde_json::from_value(data).map_err(shape)?;
            let interval = candle_interval(&channel["candle".len()..]);
            rows.iter()
                .map(|row| candle(row, &symbol, &interval, swap))
                .collect::<Result<_, _>>()?
        }
        _ => Vec::new(),
    };
    Ok(StreamMessage::Market(events))
}

/// Parses a private `orders`, `positions` or `account` push; `None` for any other message. An `orders`
/// entry that carries a fill yields the fill before the order. Entries of instruments missing
/// from `instruments` are skipped.
///
/// # Errors
/// Returns the reason when the message is not JSON or an entry has an unexpected shape.
pub fn account_events(
    text: &str,
    instruments: &[Instrument],
) -> Result<Option<Vec<AccountEvent>>, String> {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return Ok(None);
    };
    // Events (subscribe confirmations, errors) carry `arg` too, but no data.
    if value.get("event").is_some() {
        return Ok(None);
    }
    let channel = value["arg"]["channel"].as_str().unwrap_or("");
    let data = value.get("data").cloned().unwrap_or(Value::Null);
    let shape = |err: serde_json::Error| format!("{channel}: {err}");
    let instrument_of = |inst_id: &str| {
        instruments
            .iter()
            .find(|instrument| instrument.exchange_symbol == inst_id)
    };
    let mut events = Vec::new();
    match channel {
        "orders" => {
            let orders: Vec<OkxOrder> = serde_json::from_value(data).map_err(shape)?;
            for wire in orders {
                let Some(instrument) = instrument_of(&wire.inst_id) else {
                    continue;
                };
                if let Some(fill) = fill(&wire, instrument)? {
                    events.push(AccountEvent::Fill(fill));
                }
                let status =
                    order_status(wire, instrument.symbol.clone(), instrument.contract_value)?;
                events.push(AccountEvent::Order(status));
            }
        }
        "positions" => {
            let positions: Vec<OkxPosition> = serde_json::from_value(data).map_err(shape)?;
            for wire in positions {
                let Some(instrument) = instrument_of(&wire.inst_id) else {
                    continue;
                };
                let symbol = instrument.symbol.clone();
                events.push(AccountEvent::Position(position(
                    wire,
                    symbol,
                    instrument.contract_value,
                )));
            }
        }
        "account" => {
            let list: Vec<OkxBalance> = serde_json::from_value(data).map_err(shape)?;
            events.extend(balances(list).into_iter().map(AccountEvent::Balance));
        }
        _ => return Ok(None),
    }
    Ok(Some(events))
}

/// Returns the fill an `orders` push reports, when it carries one: a `tradeId` and a
/// positive `fillSz`.
fn fill(wire: &OkxOrder, instrument: &Instrument) -> Result<Option<Fill>, String> {
    let Some(size) = wire.fill_sz.filter(|size| !size.is_zero()) else {
        return Ok(None);
    };
    if wire.trade_id.is_empty() {
        return Ok(None);
    }
    let side = super::side(&wire.side)?;
    let price = wire
        .fill_px
        .ok_or_else(|| format!("fill {} has no fillPx", wire.trade_id))?;
    Ok(Some(Fill {
        symbol: instrument.symbol.clone(),
        client_order_id: ClientOrderId::from_exchange(wire.cl_ord_id.clone()),
        exchange_order_id: wire.ord_id.clone(),
        trade_id: wire.trade_id.clone(),
        side,
        price,
        quantity: (size * instrument.contract_value).normalize(),
        fee: -wire.fee.unwrap_or_default(),
        fee_asset: wire.fee_ccy.clone().unwrap_or_else(|| "USDT".to_owned()),
        realized_pnl: wire.fill_pnl,
        maker: wire.exec_type.as_deref() == Some("M"),
        time_ms: millis(wire.fill_time.as_deref().unwrap_or("0"))?,
    }))
}

/// Returns keyward's interval of an OKX bar: `1m`, `1H` becomes `1h`, `1D` becomes `1d`, and
/// the `utc` suffix is dropped.
pub fn candle_interval(bar: &str) -> String {
    let bar = bar.trim_end_matches("utc");
    match bar.chars().last() {
        Some('H' | 'D' | 'W') => bar.to_lowercase(),
        _ => bar.to_owned(),
    }
}

fn trade(wire: OkxTrade, symbol: &str, contract_value: Decimal) -> Result<MarketEvent, String> {
    let taker_side = match wire.side.as_str() {
        "buy" => Side::Buy,
        "sell" => Side::Sell,
        other => return Err(format!("unknown trade side {other:?}")),
    };
    Ok(MarketEvent::Trade(Trade {
        symbol: symbol.to_owned(),
        trade_id: wire.trade_id,
        price: wire.px,
        quantity: (wire.sz * contract_value).normalize(),
        taker_side: Some(taker_side),
        time_ms: millis(&wire.ts)?,
    }))
}

fn ticker(wire: OkxTicker, symbol: &str, swap: bool) -> MarketEvent {
    MarketEvent::Ticker(Ticker {
        symbol: symbol.to_owned(),
        last_price: wire.last,
        mark_price: None,
        bid_price: wire.bid_px,
        ask_price: wire.ask_px,
        volume_24h: if swap { wire.vol_ccy_24h } else { wire.vol_24h },
        time_ms: wire.ts.parse().unwrap_or(0),
    })
}

/// Reads `[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]`. The base-asset volume is
/// `volCcy` on swaps and `vol` elsewhere.
fn candle(row: &[String], symbol: &str, interval: &str, swap: bool) -> Result<MarketEvent, String> {
    let field = |index: usize| {
        row.get(index)
            .ok_or_else(|| format!("candle row has {} fields, expected 9", row.len()))
    };
    let decimal = |index: usize| -> Result<Decimal, String> {
        let text = field(index)?;
        text.parse()
            .map_err(|_| format!("candle field {index} {text:?} is not a decimal"))
    };
    Ok(MarketEvent::Candle(CandleUpdate {
        symbol: symbol.to_owned(),
        interval: interval.to_owned(),
        open_time_ms: millis(field(0)?)?,
        open: decimal(1)?,
        high: decimal(2)?,
        low: decimal(3)?,
        close: decimal(4)?,
        volume: decimal(if swap { 6 } else { 5 })?,
        closed: field(8)? == "1",
    }))
}

fn millis(text: &str) -> Result<i64, String> {
    text.parse()
        .map_err(|_| format!("time {text:?} is not a number of ms"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_map_to_intervals() {
        assert_eq!(candle_interval("1m"), "1m");
        assert_eq!(candle_interval("1H"), "1h");
        assert_eq!(candle_interval("1Dutc"), "1d");
    }

    #[test]
    fn swap_trade_size_is_in_base_asset() {
        let text = r#"{"arg":{"channel":"trades","instId":"BTC-USDT-SWAP"},"data":[{"instId":"BTC-USDT-SWAP","tradeId":"1","px":"60000","sz":"3","side":"sell","ts":"5"}]}"#;
        let value = |_: &str| Some(Decimal::new(1, 2));
        let Ok(StreamMessage::Market(events)) = message(text, &value) else {
            panic!("expected market events");
        };
        let MarketEvent::Trade(trade) = &events[0] else {
            panic!("expected a trade");
        };
        assert_eq!(trade.symbol, "BTCUSDT");
        assert_eq!(trade.quantity, Decimal::new(3, 2));
        assert_eq!(trade.taker_side, Some(Side::Sell));
    }
}
