//! Bybit websockets: the public linear stream (`/v5/public/linear`) with `subscribe` and
//! `ping` operations, and the private stream (`/v5/private`) with `auth` and the `order`,
//! `execution`, `position` and `wallet` topics.
//!
//! Every connection closes when the admin route drops websockets, so clients' reconnects can
//! be tested.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use keyward_events::Exchange;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::orders::order_entry;
use super::signing;
use crate::engine::{AccountChange, AccountId, FillRecord, MarketTick, Side};
use crate::state::EmulatorState;

/// The connection id Bybit puts in operation responses.
const CONN_ID: &str = "emulator";

/// Opens a public linear stream connection.
pub(crate) async fn public_socket(
    State(state): State<EmulatorState>,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade.on_upgrade(move |socket| serve_public(socket, state))
}

/// Opens a private stream connection; it serves account topics once `auth` succeeds.
pub(crate) async fn private_socket(
    State(state): State<EmulatorState>,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade.on_upgrade(move |socket| serve_private(socket, state))
}

/// Builds the response to an operation, as Bybit sends it.
fn answer(op: &str, req_id: &Value, success: bool, ret_msg: &str) -> String {
    json!({
        "success": success,
        "ret_msg": ret_msg,
        "conn_id": CONN_ID,
        "req_id": req_id.as_str().unwrap_or(""),
        "op": op,
    })
    .to_string()
}

/// Handles `subscribe`, `unsubscribe` and `ping` and returns the response text.
fn operation(topics: &mut BTreeSet<String>, request: &Value) -> String {
    let req_id = request.get("req_id").cloned().unwrap_or(Value::Null);
    let op = request.get("op").and_then(Value::as_str).unwrap_or("");
    let args: Vec<String> = request
        .get("args")
        .and_then(Value::as_array)
        .map(|args| {
            args.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    match op {
        "ping" => answer("ping", &req_id, true, "pong"),
        "subscribe" => {
            topics.extend(args);
            answer(op, &req_id, true, "")
        }
        "unsubscribe" => {
            for topic in &args {
                topics.remove(topic);
            }
            answer(op, &req_id, true, "")
        }
        other => answer(other, &req_id, false, &format!("Invalid op: {other}")),
    }
}

async fn serve_public(mut socket: WebSocket, state: EmulatorState) {
    let mut topics = BTreeSet::new();
    let mut ticks = state.engine().subscribe_market();
    let mut disconnect = state.websocket_disconnects();
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let Some(Ok(message)) = incoming else { return };
                let Message::Text(text) = message else { continue };
                let response = match serde_json::from_str::<Value>(text.as_str()) {
                    Ok(request) => operation(&mut topics, &request),
                    Err(_) => answer("", &Value::Null, false, "Invalid JSON"),
                };
                if socket.send(Message::text(response)).await.is_err() {
                    return;
                }
            }
            tick = ticks.recv() => {
                let tick = match tick {
                    Ok(tick) => tick,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return,
                };
                if let Some(text) = market_message(&topics, &tick)
                    && socket.send(Message::text(text)).await.is_err()
                {
                    return;
                }
            }
            _ = disconnect.recv() => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
        }
    }
}

/// Writes a tick as the message of its topic, when the connection subscribed to it.
fn market_message(topics: &BTreeSet<String>, tick: &MarketTick) -> Option<String> {
    match tick {
        MarketTick::Trade {
            symbol,
            trade_id,
            price,
            quantity,
            taker_side,
            time_ms,
        } => {
            let topic = format!("publicTrade.{symbol}");
            topics.contains(&topic).then(|| {
                json!({
                    "topic": topic, "type": "snapshot", "ts": time_ms,
                    "data": [{
                        "T": time_ms, "s": symbol,
                        "S": if *taker_side == Side::Buy { "Buy" } else { "Sell" },
                        "v": quantity.to_string(), "p": price.to_string(),
                        "L": "ZeroPlusTick", "i": trade_id.to_string(), "BT": false,
                    }],
                })
                .to_string()
            })
        }
        MarketTick::Candle {
            symbol,
            interval,
            open_time_ms,
            open,
            high,
            low,
            close,
            volume,
            closed,
            time_ms,
        } => {
            let topic = format!("kline.{}.{symbol}", bybit_interval(interval)?);
            topics.contains(&topic).then(|| {
                json!({
                    "topic": topic, "type": "snapshot", "ts": time_ms,
                    "data": [{
                        "start": open_time_ms, "end": open_time_ms, "interval": bybit_interval(interval),
                        "open": open.to_string(), "close": close.to_string(),
                        "high": high.to_string(), "low": low.to_string(),
                        "volume": volume.to_string(), "turnover": "0",
                        "confirm": closed, "timestamp": time_ms,
                    }],
                })
                .to_string()
            })
        }
    }
}

/// Returns Bybit's kline interval of a Binance-style interval name: `5m` is `5`, `1h` is
/// `60`, `1d` is `D`.
fn bybit_interval(interval: &str) -> Option<String> {
    let (number, unit) = interval.split_at(interval.len().checked_sub(1)?);
    let number: u32 = number.parse().ok()?;
    match unit {
        "m" => Some(number.to_string()),
        "h" => Some((number * 60).to_string()),
        "d" if number == 1 => Some("D".to_owned()),
        _ => None,
    }
}

async fn serve_private(mut socket: WebSocket, state: EmulatorState) {
    let mut account: Option<AccountId> = None;
    let mut topics = BTreeSet::new();
    let mut updates = state.engine().subscribe_account();
    let mut disconnect = state.websocket_disconnects();
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let Some(Ok(message)) = incoming else { return };
                let Message::Text(text) = message else { continue };
                let Ok(request) = serde_json::from_str::<Value>(text.as_str()) else { continue };
                let response = if request.get("op").and_then(Value::as_str) == Some("auth") {
                    let (authenticated, response) = auth(&state, &request);
                    account = authenticated.or(account);
                    response
                } else if account.is_none() {
                    answer("subscribe", &Value::Null, false, "Request not authorized")
                } else {
                    operation(&mut topics, &request)
                };
                if socket.send(Message::text(response)).await.is_err() {
                    return;
                }
            }
            update = updates.recv() => {
                let update = match update {
                    Ok(update) => update,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return,
                };
                if account.as_ref() != Some(&update.account) {
                    continue;
                }
                if let Some(text) = account_message(&topics, update.change, state.now_ms())
                    && socket.send(Message::text(text)).await.is_err()
                {
                    return;
                }
            }
            _ = disconnect.recv() => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
        }
    }
}

/// Checks an `auth` operation: `[apiKey, expires, signature]`, the signature over
/// `GET/realtime` and `expires`, which must still be in the future.
fn auth(state: &EmulatorState, request: &Value) -> (Option<AccountId>, String) {
    let req_id = request.get("req_id").cloned().unwrap_or(Value::Null);
    let args = request.get("args").and_then(Value::as_array);
    let api_key = args.and_then(|args| args.first()).and_then(Value::as_str);
    let expires = args.and_then(|args| args.get(1)).and_then(Value::as_i64);
    let signature = args.and_then(|args| args.get(2)).and_then(Value::as_str);
    let (Some(api_key), Some(expires), Some(signature)) = (api_key, expires, signature) else {
        return (None, answer("auth", &req_id, false, "Params Error"));
    };
    let Some(stored) = state.find_key(Exchange::Bybit, api_key) else {
        return (None, answer("auth", &req_id, false, "Invalid apikey"));
    };
    let text = signing::websocket_text(&expires.to_string());
    if !signing::verify(stored.key.api_secret.expose().as_bytes(), &text, signature) {
        return (None, answer("auth", &req_id, false, "Signature error"));
    }
    if expires <= state.now_ms() {
        return (
            None,
            answer("auth", &req_id, false, "Params Error: request expired"),
        );
    }
    let account = AccountId::new(Exchange::Bybit, api_key);
    (Some(account), answer("auth", &req_id, true, ""))
}

/// Writes a fill as Bybit's `execution` entry; the fee is positive when charged.
fn execution_json(fill: &FillRecord) -> Value {
    json!({
        "category": "linear",
        "symbol": fill.symbol,
        "orderId": fill.order_id.to_string(),
        "orderLinkId": fill.client_order_id,
        "side": if fill.side == Side::Buy { "Buy" } else { "Sell" },
        "execId": fill.trade_id.to_string(),
        "execPrice": fill.price.to_string(),
        "execQty": fill.quantity.to_string(),
        "execFee": fill.fee.to_string(),
        "feeCurrency": "USDT",
        "execPnl": fill.realized_pnl.to_string(),
        "isMaker": fill.maker,
        "execType": "Trade",
        "execTime": fill.time_ms.to_string(),
    })
}

/// Writes an account change as the message of its topic, when subscribed.
fn account_message(
    topics: &BTreeSet<String>,
    change: AccountChange,
    now_ms: i64,
) -> Option<String> {
    let (topic, data) = match change {
        AccountChange::Order(record) => {
            let mut entry = order_entry(&record);
            entry["category"] = json!("linear");
            ("order", entry)
        }
        AccountChange::Position(position) => {
            let mut entry = super::account::position_json(&position);
            entry["category"] = json!("linear");
            ("position", entry)
        }
        AccountChange::Fill(fill) => ("execution", execution_json(&fill)),
        AccountChange::Balance(balance) => ("wallet", super::account::wallet_json(&balance)),
    };
    topics.contains(topic).then(|| {
        json!({"id": now_ms.to_string(), "topic": topic, "creationTime": now_ms, "data": [data]})
            .to_string()
    })
}
