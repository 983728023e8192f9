//! Bybit v5 websockets: the public linear stream and the private account stream.
//!
//! The public stream connects to `/v5/public/linear` and subscribes to its topics after every
//! connect. The private stream connects to `/v5/private`, authenticates with a signature over
//! `GET/realtime` and an expiry 10 s ahead, subscribes to `order`, `execution`, `position` and
//! `wallet`, and then reconciles over REST. Bybit drops a connection without traffic, so both
//! send the `ping` operation every 20 seconds, as Bybit recommends.

use std::time::Duration;

use keyward_events::Exchange;
use tokio_tungstenite::tungstenite::Message;

use super::parse::stream::{self, StreamMessage};
use super::rest::BybitClient;
use super::signing;
use crate::credentials::Credentials;
use crate::domain::{
    AccountEvent, AccountStream, MarketChannel, MarketEvent, MarketStream, MarketSubscription,
    StreamStatus,
};
use crate::error::AdapterError;
use crate::reconcile::{OpenOrders, reconcile};
use crate::ws::{Backoff, Session, Socket, send_text, spawn};

const EXCHANGE: Exchange = Exchange::Bybit;
const PING_EVERY: Duration = Duration::from_secs(20);
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How far ahead the private stream's `auth` expiry is set.
const AUTH_VALIDITY_MS: i64 = 10_000;

fn backoff(client: &BybitClient) -> Backoff {
    Backoff {
        first: client.options().reconnect_first_delay,
        max: client.options().reconnect_max_delay,
    }
}

fn ping() -> Message {
    Message::text(stream::ping_request("keyward"))
}

/// Returns the topic of a subscription, e.g. `publicTrade.BTCUSDT` or `kline.5.BTCUSDT`.
fn topic(subscription: &MarketSubscription) -> Result<String, AdapterError> {
    let symbol = &subscription.symbol;
    let valid = !symbol.is_empty() && symbol.bytes().all(|byte| byte.is_ascii_alphanumeric());
    let unknown = || AdapterError::UnknownSymbol {
        exchange: EXCHANGE,
        symbol: symbol.clone(),
    };
    if !valid {
        return Err(unknown());
    }
    match &subscription.channel {
        MarketChannel::Trades => Ok(format!("publicTrade.{symbol}")),
        MarketChannel::Candles { interval } => {
            let bybit = stream::bybit_interval(interval).ok_or_else(|| AdapterError::Stream {
                exchange: EXCHANGE,
                endpoint: "/v5/public/linear".to_owned(),
                detail: format!("Bybit has no candle interval {interval:?}"),
            })?;
            Ok(format!("kline.{bybit}.{symbol}"))
        }
        MarketChannel::BookTicker => Ok(format!("tickers.{symbol}")),
    }
}

/// Opens the public linear stream for the subscriptions.
pub(crate) fn market_stream(
    client: &BybitClient,
    subscriptions: &[MarketSubscription],
) -> Result<MarketStream, AdapterError> {
    let topics = subscriptions.iter().map(topic).collect::<Result<_, _>>()?;
    let session = MarketSession {
        url: format!("{}/v5/public/linear", client.inner.ws_url),
        topics,
    };
    Ok(spawn(session, None, backoff(client)))
}

struct MarketSession {
    url: String,
    topics: Vec<String>,
}

impl Session for MarketSession {
    type Event = MarketEvent;

    async fn url(&mut self) -> Result<String, AdapterError> {
        Ok(self.url.clone())
    }

    async fn open(&mut self, socket: &mut Socket) -> Result<Vec<MarketEvent>, AdapterError> {
        let request = stream::subscribe_request("keyward", &self.topics);
        send_text(socket, EXCHANGE, &self.url, request).await?;
        Ok(Vec::new())
    }

    fn message(&mut self, text: &str) -> Result<Vec<MarketEvent>, String> {
        match stream::message(text)? {
            StreamMessage::Market(events) => Ok(events),
            StreamMessage::Pong => Ok(Vec::new()),
            StreamMessage::Answer { success: true, .. } => Ok(Vec::new()),
            StreamMessage::Answer { op, ret_msg, .. } => {
                Err(format!("Bybit rejected the {op} operation: {ret_msg}"))
            }
        }
    }

    fn heartbeat(&self) -> Option<(Duration, Message)> {
        Some((PING_EVERY, ping()))
    }

    fn status(&self, status: StreamStatus) -> MarketEvent {
        MarketEvent::Status(status)
    }

    fn idle_timeout(&self) -> Duration {
        IDLE_TIMEOUT
    }
}

/// Opens the private stream of orders and positions.
pub(crate) async fn account_stream(
    client: &BybitClient,
    credentials: &Credentials,
) -> Result<AccountStream, AdapterError> {
    // The first REST read fails here for a key a retry cannot fix, instead of in the stream.
    match client.read_positions(credentials, None).await {
        Err(error) if !error.is_transient() => return Err(error),
        _ => {}
    }
    let session = AccountSession {
        client: client.clone(),
        credentials: credentials.clone(),
        url: format!("{}/v5/private", client.inner.ws_url),
        known: OpenOrders::default(),
    };
    Ok(spawn(session, None, backoff(client)))
}

struct AccountSession {
    client: BybitClient,
    credentials: Credentials,
    url: String,
    known: OpenOrders,
}

impl Session for AccountSession {
    type Event = AccountEvent;

    async fn url(&mut self) -> Result<String, AdapterError> {
        Ok(self.url.clone())
    }

    /// Authenticates and subscribes, then reconciles over REST, so that events of the new
    /// connection buffer in the socket while the snapshot is read.
    async fn open(&mut self, socket: &mut Socket) -> Result<Vec<AccountEvent>, AdapterError> {
        let expires = self.client.now_ms() + AUTH_VALIDITY_MS;
        let signature = signing::websocket_signature(self.credentials.signer.as_ref(), expires)?;
        let auth = serde_json::json!({
            "req_id": "auth",
            "op": "auth",
            "args": [self.credentials.api_key, expires, signature],
        });
        send_text(socket, EXCHANGE, &self.url, auth.to_string()).await?;
        let topics = [
            "order".to_owned(),
            "execution".to_owned(),
            "position".to_owned(),
            "wallet".to_owned(),
        ];
        send_text(
            socket,
            EXCHANGE,
            &self.url,
            stream::subscribe_request("account", &topics),
        )
        .await?;

        let now_ms = self.client.now_ms();
        let snapshot = reconcile(&self.client, &self.credentials, &self.known, now_ms).await?;
        let event = AccountEvent::Reconciled(Box::new(snapshot));
        self.known.observe(&event);
        Ok(vec![event])
    }

    fn message(&mut self, text: &str) -> Result<Vec<AccountEvent>, String> {
        let events = match stream::account_events(text)? {
            Some(events) => events,
            None => match stream::message(text)? {
                StreamMessage::Answer {
                    success: false,
                    op,
                    ret_msg,
                } => return Err(format!("Bybit rejected the {op} operation: {ret_msg}")),
                _ => return Ok(Vec::new()),
            },
        };
        for event in &events {
            self.known.observe(event);
        }
        Ok(events)
    }

    fn heartbeat(&self) -> Option<(Duration, Message)> {
        Some((PING_EVERY, ping()))
    }

    fn status(&self, status: StreamStatus) -> AccountEvent {
        AccountEvent::Status(status)
    }

    fn idle_timeout(&self) -> Duration {
        IDLE_TIMEOUT
    }
}
