//! OKX websockets: the public and business streams (`/ws/v5/public`, `/ws/v5/business`) with
//! `subscribe` and the text `ping`, and the private stream (`/ws/v5/private`) with `login`,
//! the `orders` and `positions` channels of swaps, and the `account` channel.
//!
//! The public and business paths share one handler, so trades and candles are served on
//! both. Every connection closes when the admin route drops websockets.

use std::collections::{BTreeSet, HashMap};

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use keyward_events::Exchange;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::account::position_json;
use super::orders::order_entry;
use super::routes::inst_id;
use super::signing;
use crate::engine::{AccountChange, AccountId, FillRecord, MarketTick, OrderType, Side};
use crate::state::EmulatorState;

const CONN_ID: &str = "emulator";
/// How far a login timestamp may be from the server clock, in seconds.
const LOGIN_WINDOW_S: i64 = 30;

/// Opens a public or business stream connection.
pub(crate) async fn public_socket(
    State(state): State<EmulatorState>,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade.on_upgrade(move |socket| serve_public(socket, state))
}

/// Opens a private stream connection; it serves account channels once `login` succeeds.
pub(crate) async fn private_socket(
    State(state): State<EmulatorState>,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade.on_upgrade(move |socket| serve_private(socket, state))
}

/// A subscribed channel: `(channel, instId or instType)`.
type Channel = (String, String);

/// Handles `subscribe` and `unsubscribe` and returns one response per argument.
fn operation(channels: &mut BTreeSet<Channel>, request: &Value) -> Vec<String> {
    let op = request.get("op").and_then(Value::as_str).unwrap_or("");
    let id = request.get("id").cloned().unwrap_or(json!(""));
    let args = request
        .get("args")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !matches!(op, "subscribe" | "unsubscribe") || args.is_empty() {
        return vec![error("60012", &format!("Invalid request: {request}"))];
    }
    args.into_iter()
        .map(|arg| {
            let channel = arg.get("channel").and_then(Value::as_str).unwrap_or("");
            let target = arg
                .get("instId")
                .or_else(|| arg.get("instType"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let key = (channel.to_owned(), target.to_owned());
            if op == "subscribe" {
                channels.insert(key);
            } else {
                channels.remove(&key);
            }
            json!({"id": id, "event": op, "arg": arg, "connId": CONN_ID}).to_string()
        })
        .collect()
}

fn error(code: &str, msg: &str) -> String {
    json!({"event": "error", "code": code, "msg": msg, "connId": CONN_ID}).to_string()
}

async fn serve_public(mut socket: WebSocket, state: EmulatorState) {
    let mut channels = BTreeSet::new();
    let mut ticks = state.engine().subscribe_market();
    let mut disconnect = state.websocket_disconnects();
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let Some(Ok(message)) = incoming else { return };
                let Message::Text(text) = message else { continue };
                let responses = if text.as_str() == "ping" {
                    vec!["pong".to_owned()]
                } else {
                    match serde_json::from_str::<Value>(text.as_str()) {
                        Ok(request) => operation(&mut channels, &request),
                        Err(_) => vec![error("60012", "Invalid request")],
                    }
                };
                for response in responses {
                    if socket.send(Message::text(response)).await.is_err() {
                        return;
                    }
                }
            }
            tick = ticks.recv() => {
                let tick = match tick {
                    Ok(tick) => tick,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return,
                };
                if let Some(text) = market_message(&state, &channels, &tick)
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

/// Writes a tick as the push of its channel, when subscribed; sizes in contracts.
fn market_message(
    state: &EmulatorState,
    channels: &BTreeSet<Channel>,
    tick: &MarketTick,
) -> Option<String> {
    let symbol = match tick {
        MarketTick::Trade { symbol, .. } | MarketTick::Candle { symbol, .. } => symbol,
    };
    let spec = state.engine().instrument(symbol)?;
    let id = inst_id(&spec);
    let contracts =
        |base: rust_decimal::Decimal| (base / spec.contract_value).normalize().to_string();
    match tick {
        MarketTick::Trade {
            trade_id,
            price,
            quantity,
            taker_side,
            time_ms,
            ..
        } => channels
            .contains(&("trades".to_owned(), id.clone()))
            .then(|| {
                json!({
                    "arg": {"channel": "trades", "instId": id},
                    "data": [{
                        "instId": id, "tradeId": trade_id.to_string(), "px": price.to_string(),
                        "sz": contracts(*quantity),
                        "side": if *taker_side == Side::Buy { "buy" } else { "sell" },
                        "ts": time_ms.to_string(), "count": "1",
                    }],
                })
                .to_string()
            }),
        MarketTick::Candle {
            interval,
            open_time_ms,
            open,
            high,
            low,
            close,
            volume,
            closed,
            ..
        } => {
            let channel = format!("candle{}", okx_bar(interval));
            channels.contains(&(channel.clone(), id.clone())).then(|| {
                json!({
                    "arg": {"channel": channel, "instId": id},
                    "data": [[
                        open_time_ms.to_string(), open.to_string(), high.to_string(),
                        low.to_string(), close.to_string(), contracts(*volume),
                        volume.to_string(), (*volume * *close).to_string(),
                        if *closed { "1" } else { "0" },
                    ]],
                })
                .to_string()
            })
        }
    }
}

/// Returns OKX's bar of a Binance-style interval: `5m` stays, `1h` is `1H`, `1d` is `1D`.
fn okx_bar(interval: &str) -> String {
    match interval.chars().last() {
        Some('h' | 'd' | 'w') => interval.to_uppercase(),
        _ => interval.to_owned(),
    }
}

async fn serve_private(mut socket: WebSocket, state: EmulatorState) {
    let mut account: Option<AccountId> = None;
    let mut channels = BTreeSet::new();
    let mut fills = HashMap::new();
    let mut updates = state.engine().subscribe_account();
    let mut disconnect = state.websocket_disconnects();
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let Some(Ok(message)) = incoming else { return };
                let Message::Text(text) = message else { continue };
                let responses = if text.as_str() == "ping" {
                    vec!["pong".to_owned()]
                } else {
                    let request: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                    if request.get("op").and_then(Value::as_str) == Some("login") {
                        let (logged_in, response) = login(&state, &request);
                        account = logged_in.or(account);
                        vec![response]
                    } else if account.is_none() {
                        vec![error("60011", "Please log in")]
                    } else {
                        operation(&mut channels, &request)
                    }
                };
                for response in responses {
                    if socket.send(Message::text(response)).await.is_err() {
                        return;
                    }
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
                if let Some(text) = account_message(&state, &channels, &mut fills, update.change)
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

/// Checks a `login`: `{apiKey, passphrase, timestamp, sign}`, the signature over the Unix
/// time in seconds and `GET/users/self/verify`, within 30 seconds of the server clock.
fn login(state: &EmulatorState, request: &Value) -> (Option<AccountId>, String) {
    let arg = &request["args"][0];
    let text = |name: &str| arg.get(name).and_then(Value::as_str).unwrap_or("");
    let failed = || (None, error("60009", "Login failed."));
    let Some(stored) = state.find_key(Exchange::Okx, text("apiKey")) else {
        return (None, error("60005", "Invalid apiKey"));
    };
    let passphrase = stored.key.passphrase.as_ref().map(|secret| secret.expose());
    if passphrase != Some(text("passphrase")) {
        return (None, error("60024", "Wrong passphrase"));
    }
    let signed = signing::websocket_text(text("timestamp"));
    if !signing::verify(
        stored.key.api_secret.expose().as_bytes(),
        &signed,
        text("sign"),
    ) {
        return failed();
    }
    let Ok(seconds) = text("timestamp").parse::<i64>() else {
        return (None, error("60004", "Invalid timestamp"));
    };
    if (state.now_ms() / 1000 - seconds).abs() > LOGIN_WINDOW_S {
        return (None, error("60006", "Timestamp request expired"));
    }
    let response = json!({"event": "login", "code": "0", "msg": "", "connId": CONN_ID});
    let account = AccountId::new(Exchange::Okx, stored.key.api_key.clone());
    (Some(account), response.to_string())
}

/// Writes an account change as the push of its channel, when subscribed for swaps. A fill is
/// held until the order update that follows it, which then carries the fill's fields, as
/// OKX's `orders` channel reports executions.
fn account_message(
    state: &EmulatorState,
    channels: &BTreeSet<Channel>,
    fills: &mut HashMap<u64, FillRecord>,
    change: AccountChange,
) -> Option<String> {
    let (channel, symbol, data) = match change {
        AccountChange::Fill(fill) => {
            fills.insert(fill.order_id, fill);
            return None;
        }
        // A trigger order shows on the `orders` channel only once it fired and its market
        // order filled. Before that it is an algo order, which this channel does not carry.
        AccountChange::Order(record)
            if record.order_type == OrderType::StopMarket && record.filled_quantity.is_zero() =>
        {
            return None;
        }
        AccountChange::Order(record) => {
            let spec = state.engine().instrument(&record.symbol)?;
            let mut entry = order_entry(&record, &spec);
            if let Some(fill) = fills.remove(&record.order_id) {
                add_fill(&mut entry, &fill, spec.contract_value);
            }
            ("orders", record.symbol.clone(), entry)
        }
        AccountChange::Position(position) => {
            let spec = state.engine().instrument(&position.symbol)?;
            (
                "positions",
                position.symbol.clone(),
                position_json(&position, &spec),
            )
        }
        AccountChange::Balance(balance) => {
            let subscribed = channels.contains(&("account".to_owned(), String::new()));
            let data = super::account::balance_json(&balance);
            return subscribed
                .then(|| json!({"arg": {"channel": "account"}, "data": [data]}).to_string());
        }
    };
    let subscribed = channels.contains(&(channel.to_owned(), "SWAP".to_owned()))
        || state
            .engine()
            .instrument(&symbol)
            .is_some_and(|spec| channels.contains(&(channel.to_owned(), inst_id(&spec))));
    subscribed.then(|| {
        json!({"arg": {"channel": channel, "instType": "SWAP"}, "data": [data]}).to_string()
    })
}

/// Adds a fill's fields to an `orders` entry: size in contracts, the fee negative when
/// charged (OKX's sign), `execType` `M` for maker and `T` for taker.
fn add_fill(entry: &mut Value, fill: &FillRecord, contract_value: rust_decimal::Decimal) {
    entry["tradeId"] = json!(fill.trade_id.to_string());
    entry["fillPx"] = json!(fill.price.to_string());
    entry["fillSz"] = json!((fill.quantity / contract_value).normalize().to_string());
    entry["fillTime"] = json!(fill.time_ms.to_string());
    entry["fee"] = json!((-fill.fee).to_string());
    entry["feeCcy"] = json!("USDT");
    entry["fillPnl"] = json!(fill.realized_pnl.to_string());
    entry["execType"] = json!(if fill.maker { "M" } else { "T" });
}
