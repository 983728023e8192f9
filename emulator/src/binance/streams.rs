//! Binance websockets: public market streams (`/market`, `/public`) with live `SUBSCRIBE`,
//! and the user data stream at `/private/ws/<listenKey>` with the listen key routes.
//!
//! Every connection closes when the admin route drops websockets, so clients' reconnects can
//! be tested. The server pings every 3 minutes, as Binance does.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use axum::Json;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keyward_events::Exchange;
use rand::RngExt;
use rand::distr::Alphanumeric;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::account::position_side_text;
use super::auth::{ApiKeyRequest, Rejection};
use super::orders::{order_type_text, side_text, status_text, time_in_force_text};
use super::routes::require_futures;
use super::wire::{
    AccountUpdateData, AccountUpdateEvent, AggTradeEvent, BalanceUpdate, BookTickerEvent,
    KlineData, KlineEvent, ListenKeyExpiredEvent, ListenKeyResponse, OrderTradeUpdateEvent,
    OrderUpdateData, PositionUpdate, SubscribeResponse,
};
use crate::engine::{
    AccountChange, AccountId, BalanceRecord, FillRecord, MarketTick, OrderRecord, OrderStatus,
    PositionRecord, Side,
};
use crate::state::EmulatorState;

/// A listen key lapses this long after it was created or last extended.
const LISTEN_KEY_VALIDITY_MS: i64 = 60 * 60 * 1000;
const SERVER_PING_EVERY: Duration = Duration::from_secs(180);

fn no_listen_key() -> Rejection {
    Rejection::new(
        StatusCode::BAD_REQUEST,
        -1125,
        "This listenKey does not exist.",
    )
}

/// `POST /fapi/v1/listenKey`: the account's valid listen key, or a new one, good for 60 min.
pub(crate) async fn new_listen_key(
    State(state): State<EmulatorState>,
    ApiKeyRequest(stored): ApiKeyRequest,
) -> Result<Json<ListenKeyResponse>, Rejection> {
    require_futures(&stored.key)?;
    let account = AccountId::new(Exchange::Binance, stored.key.api_key.clone());
    let now = state.now_ms();
    let listen_key = state.stream_token_of(&account, now).unwrap_or_else(|| {
        rand::rng()
            .sample_iter(Alphanumeric)
            .take(64)
            .map(char::from)
            .collect()
    });
    state.put_stream_token(&listen_key, account, now + LISTEN_KEY_VALIDITY_MS);
    Ok(Json(ListenKeyResponse { listen_key }))
}

/// `PUT /fapi/v1/listenKey`: extends the account's listen key by 60 minutes.
pub(crate) async fn keep_listen_key(
    State(state): State<EmulatorState>,
    ApiKeyRequest(stored): ApiKeyRequest,
) -> Result<Json<ListenKeyResponse>, Rejection> {
    let account = AccountId::new(Exchange::Binance, stored.key.api_key.clone());
    let now = state.now_ms();
    let listen_key = state
        .stream_token_of(&account, now)
        .ok_or_else(no_listen_key)?;
    state.put_stream_token(&listen_key, account, now + LISTEN_KEY_VALIDITY_MS);
    Ok(Json(ListenKeyResponse { listen_key }))
}

/// `DELETE /fapi/v1/listenKey`: closes the account's listen key.
pub(crate) async fn close_listen_key(
    State(state): State<EmulatorState>,
    ApiKeyRequest(stored): ApiKeyRequest,
) -> Result<Json<Value>, Rejection> {
    let account = AccountId::new(Exchange::Binance, stored.key.api_key.clone());
    if let Some(listen_key) = state.stream_token_of(&account, state.now_ms()) {
        state.remove_stream_token(&listen_key);
    }
    Ok(Json(json!({})))
}

/// Query of a combined stream URL: `?streams=btcusdt@aggTrade/btcusdt@kline_1m`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct StreamsQuery {
    streams: Option<String>,
}

/// Opens a public stream connection; `/stream` URLs wrap every message as a combined stream
/// message.
pub(crate) async fn market_socket(
    State(state): State<EmulatorState>,
    uri: axum::http::Uri,
    Query(query): Query<StreamsQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let combined = uri.path().ends_with("/stream");
    let streams: BTreeSet<String> = query
        .streams
        .unwrap_or_default()
        .split('/')
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect();
    upgrade.on_upgrade(move |socket| serve_market(socket, state, streams, combined))
}

async fn serve_market(
    mut socket: WebSocket,
    state: EmulatorState,
    mut streams: BTreeSet<String>,
    combined: bool,
) {
    let mut ticks = state.engine().subscribe_market();
    let mut disconnect = state.websocket_disconnects();
    let mut ping = tokio::time::interval(SERVER_PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let Some(Ok(message)) = incoming else { return };
                if let Message::Text(text) = message {
                    let answer = subscription_request(&mut streams, text.as_str());
                    if socket.send(Message::text(answer.to_string())).await.is_err() {
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
                for text in market_messages(&state, &streams, &tick, combined) {
                    if socket.send(Message::text(text)).await.is_err() {
                        return;
                    }
                }
            }
            _ = ping.tick() => {
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
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

/// Handles `SUBSCRIBE`, `UNSUBSCRIBE` and `LIST_SUBSCRIPTIONS` and returns the response.
fn subscription_request(streams: &mut BTreeSet<String>, text: &str) -> Value {
    let Ok(request) = serde_json::from_str::<Value>(text) else {
        return json!({"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"});
    };
    let id = request.get("id").and_then(Value::as_u64);
    let params: Vec<String> = request
        .get("params")
        .and_then(Value::as_array)
        .map(|params| {
            params
                .iter()
                .filter_map(|param| param.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let Some(id) = id else {
        return json!({"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"});
    };
    let result = match request.get("method").and_then(Value::as_str) {
        Some("SUBSCRIBE") => {
            streams.extend(params);
            None
        }
        Some("UNSUBSCRIBE") => {
            for param in &params {
                streams.remove(param);
            }
            None
        }
        Some("LIST_SUBSCRIPTIONS") => Some(streams.iter().cloned().collect()),
        _ => return json!({"code": 2, "msg": "Invalid request: unknown variant", "id": id}),
    };
    serde_json::to_value(SubscribeResponse { result, id }).unwrap_or(Value::Null)
}

/// Builds the messages a tick produces for the subscribed streams.
fn market_messages(
    state: &EmulatorState,
    streams: &BTreeSet<String>,
    tick: &MarketTick,
    combined: bool,
) -> Vec<String> {
    let mut messages = Vec::new();
    let mut push = |stream: String, data: Value| {
        if !streams.contains(&stream) {
            return;
        }
        let message = if combined {
            json!({"stream": stream, "data": data})
        } else {
            data
        };
        messages.push(message.to_string());
    };
    match tick {
        MarketTick::Trade {
            symbol,
            trade_id,
            price,
            quantity,
            taker_side,
            time_ms,
        } => {
            let lower = symbol.to_ascii_lowercase();
            let trade = AggTradeEvent {
                e: "aggTrade",
                event_time: *time_ms,
                s: symbol.clone(),
                a: *trade_id,
                p: price.to_string(),
                q: quantity.to_string(),
                nq: quantity.to_string(),
                f: *trade_id,
                l: *trade_id,
                trade_time: *time_ms,
                m: *taker_side == Side::Sell,
            };
            push(format!("{lower}@aggTrade"), json_of(&trade));
            let tick_size = state
                .engine()
                .instrument(symbol)
                .map_or(Decimal::ZERO, |spec| spec.tick_size);
            let book = BookTickerEvent {
                e: "bookTicker",
                u: *trade_id,
                s: symbol.clone(),
                b: (*price - tick_size).to_string(),
                bid_quantity: "1".to_owned(),
                a: (*price + tick_size).to_string(),
                ask_quantity: "1".to_owned(),
                transaction_time: *time_ms,
                event_time: *time_ms,
            };
            push(format!("{lower}@bookTicker"), json_of(&book));
        }
        MarketTick::Candle { .. } => {
            if let Some((stream, event)) = kline_event(tick) {
                push(stream, json_of(&event));
            }
        }
    }
    messages
}

fn kline_event(tick: &MarketTick) -> Option<(String, KlineEvent)> {
    let MarketTick::Candle {
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
    } = tick
    else {
        return None;
    };
    let stream = format!("{}@kline_{interval}", symbol.to_ascii_lowercase());
    let event = KlineEvent {
        e: "kline",
        event_time: *time_ms,
        s: symbol.clone(),
        k: KlineData {
            t: *open_time_ms,
            close_time: open_time_ms + interval_ms(interval) - 1,
            s: symbol.clone(),
            i: interval.clone(),
            f: 0,
            last_trade: 0,
            o: open.to_string(),
            c: close.to_string(),
            h: high.to_string(),
            l: low.to_string(),
            v: volume.to_string(),
            n: 0,
            x: *closed,
            q: "0".to_owned(),
            taker_volume: "0".to_owned(),
            taker_quote_volume: "0".to_owned(),
            ignore: "0".to_owned(),
        },
    };
    Some((stream, event))
}

/// Milliseconds of an interval name such as `5m`, `1h` or `1d`.
fn interval_ms(interval: &str) -> i64 {
    let (number, unit) = interval.split_at(interval.len().saturating_sub(1));
    let number: i64 = number.parse().unwrap_or(1);
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 604_800_000,
        _ => 60_000,
    };
    number * unit_ms
}

fn json_of(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Opens the user data stream of the listen key's account.
pub(crate) async fn user_socket(
    State(state): State<EmulatorState>,
    Path(listen_key): Path<String>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Some(token) = state.stream_token(&listen_key, state.now_ms()) else {
        return no_listen_key().into_response();
    };
    upgrade.on_upgrade(move |socket| serve_user(socket, state, listen_key, token.account))
}

async fn serve_user(
    mut socket: WebSocket,
    state: EmulatorState,
    listen_key: String,
    account: AccountId,
) {
    let mut updates = state.engine().subscribe_account();
    let mut disconnect = state.websocket_disconnects();
    let mut ping = tokio::time::interval(SERVER_PING_EVERY);
    let mut expiry_check = tokio::time::interval(Duration::from_secs(1));
    let mut pending = PendingEvents::default();
    ping.tick().await;
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                if !matches!(incoming, Some(Ok(_))) { return }
            }
            update = updates.recv() => {
                let update = match update {
                    Ok(update) => update,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return,
                };
                if update.account != account {
                    continue;
                }
                if let Some(text) = pending.user_event(update.change, state.now_ms())
                    && socket.send(Message::text(text)).await.is_err()
                {
                    return;
                }
            }
            _ = expiry_check.tick() => {
                if state.stream_token(&listen_key, state.now_ms()).is_none() {
                    let expired = ListenKeyExpiredEvent {
                        e: "listenKeyExpired",
                        event_time: state.now_ms(),
                        listen_key: listen_key.clone(),
                    };
                    let _ = socket.send(Message::text(json_of(&expired).to_string())).await;
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                }
            }
            _ = ping.tick() => {
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
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

/// Joins the engine's separate changes into Binance's events: a fill into the order update
/// that follows it (`x` = `TRADE`), a position into the balance update that follows it.
#[derive(Debug, Default)]
struct PendingEvents {
    fills: HashMap<u64, FillRecord>,
    position: Option<PositionRecord>,
}

impl PendingEvents {
    fn user_event(&mut self, change: AccountChange, now_ms: i64) -> Option<String> {
        match change {
            AccountChange::Fill(fill) => {
                self.fills.insert(fill.order_id, fill);
                None
            }
            AccountChange::Order(order) => {
                let fill = self.fills.remove(&order.order_id);
                Some(json_of(&order_update(&order, fill.as_ref(), now_ms)).to_string())
            }
            AccountChange::Position(position) => {
                self.position = Some(position);
                None
            }
            AccountChange::Balance(balance) => {
                let position = self.position.take();
                Some(json_of(&account_update(&balance, position.as_ref(), now_ms)).to_string())
            }
        }
    }
}

fn order_update(
    order: &OrderRecord,
    fill: Option<&FillRecord>,
    now_ms: i64,
) -> OrderTradeUpdateEvent {
    let execution = match (fill, order.status) {
        (Some(_), _) => "TRADE",
        (None, OrderStatus::Canceled) => "CANCELED",
        (None, OrderStatus::Expired) => "EXPIRED",
        (None, _) => "NEW",
    };
    let text = |value: Option<Decimal>| value.unwrap_or_default().to_string();
    OrderTradeUpdateEvent {
        e: "ORDER_TRADE_UPDATE",
        event_time: now_ms,
        transaction_time: order.updated_ms,
        o: OrderUpdateData {
            s: order.symbol.clone(),
            c: order.client_order_id.clone(),
            side: side_text(order.side),
            o: order_type_text(order.order_type),
            f: time_in_force_text(order.time_in_force),
            q: order.quantity.to_string(),
            p: text(order.price),
            ap: order.average_price.normalize().to_string(),
            sp: text(order.stop_price),
            x: execution,
            status: status_text(order.status),
            i: order.order_id,
            l: text(fill.map(|fill| fill.quantity)),
            z: order.filled_quantity.to_string(),
            last_price: text(fill.map(|fill| fill.price)),
            fee_asset: "USDT".to_owned(),
            n: text(fill.map(|fill| fill.fee)),
            trade_time: fill.map_or(order.updated_ms, |fill| fill.time_ms),
            t: fill.map_or(0, |fill| fill.trade_id),
            b: "0".to_owned(),
            a: "0".to_owned(),
            m: fill.is_some_and(|fill| fill.maker),
            reduce_only: order.reduce_only,
            wt: "CONTRACT_PRICE",
            ot: order_type_text(order.order_type),
            ps: position_side_text(order.position_side),
            cp: false,
            rp: text(fill.map(|fill| fill.realized_pnl)),
        },
    }
}

fn account_update(
    balance: &BalanceRecord,
    position: Option<&PositionRecord>,
    now_ms: i64,
) -> AccountUpdateEvent {
    let positions = position
        .map(|position| PositionUpdate {
            s: position.symbol.clone(),
            pa: position.quantity.to_string(),
            ep: position.entry_price.to_string(),
            bep: position.entry_price.to_string(),
            cr: "0".to_owned(),
            up: position.unrealized_pnl.to_string(),
            mt: "cross",
            iw: "0".to_owned(),
            ps: position_side_text(position.position_side),
        })
        .into_iter()
        .collect();
    AccountUpdateEvent {
        e: "ACCOUNT_UPDATE",
        event_time: now_ms,
        transaction_time: balance.updated_ms,
        a: AccountUpdateData {
            m: "ORDER",
            balances: vec![BalanceUpdate {
                a: balance.asset.clone(),
                wb: balance.wallet_balance.to_string(),
                cw: balance.wallet_balance.to_string(),
                bc: "0".to_owned(),
            }],
            positions,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribe_list_and_unsubscribe() {
        let mut streams = BTreeSet::new();
        let answer = subscription_request(
            &mut streams,
            r#"{"method":"SUBSCRIBE","params":["btcusdt@aggTrade","btcusdt@kline_1m"],"id":1}"#,
        );
        assert_eq!(answer, json!({"result": null, "id": 1}));
        let listed =
            subscription_request(&mut streams, r#"{"method":"LIST_SUBSCRIPTIONS","id":2}"#);
        assert_eq!(
            listed,
            json!({"result": ["btcusdt@aggTrade", "btcusdt@kline_1m"], "id": 2})
        );
        subscription_request(
            &mut streams,
            r#"{"method":"UNSUBSCRIBE","params":["btcusdt@aggTrade"],"id":3}"#,
        );
        assert_eq!(streams.len(), 1);
        let bad = subscription_request(&mut streams, "not json");
        assert_eq!(bad["code"], 3);
    }

    #[test]
    fn interval_names_convert() {
        assert_eq!(interval_ms("1m"), 60_000);
        assert_eq!(interval_ms("5m"), 300_000);
        assert_eq!(interval_ms("4h"), 14_400_000);
        assert_eq!(interval_ms("1d"), 86_400_000);
    }
}
