//! Binance USDT-M futures websockets: public market streams and the user data stream.
//!
//! Public streams connect to the routed endpoints (`/market/ws` for trades and candles,
//! `/public/ws` for the book ticker) and send `SUBSCRIBE` after every connect. The user data
//! stream connects to `/private/ws/<listenKey>` with a listen key from
//! `POST /fapi/v1/listenKey`, extended every 30 minutes (it lapses after 60), and renewed when
//! Binance reports it expired. Binance pings every 3 minutes and tungstenite sends the pong; keyward
//! also pings every minute so a dead connection shows within the idle timeout.

use std::time::Duration;

use keyward_events::Exchange;
use reqwest::Method;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use super::BinanceClient;
use super::parse::stream::{MarketMessage, UserMessage, market_message, user_message};
use super::rest::Call;
use crate::binance::wire::ListenKey;
use crate::credentials::Credentials;
use crate::domain::{
    AccountEvent, AccountStream, EventStream, MarketChannel, MarketEvent, MarketStream,
    MarketSubscription, StreamStatus,
};
use crate::error::AdapterError;
use crate::reconcile::{OpenOrders, reconcile};
use crate::ws::{Backoff, Session, Socket, send_text, spawn};

const EXCHANGE: Exchange = Exchange::Binance;
const LISTEN_KEY_PATH: &str = "/fapi/v1/listenKey";
/// Binance lets a listen key lapse 60 minutes after its last extension.
const LISTEN_KEY_KEEPALIVE: Duration = Duration::from_secs(30 * 60);
const PING_EVERY: Duration = Duration::from_secs(60);
const IDLE_TIMEOUT: Duration = Duration::from_secs(180);

fn backoff(client: &BinanceClient) -> Backoff {
    Backoff {
        first: client.options().reconnect_first_delay,
        max: client.options().reconnect_max_delay,
    }
}

/// Returns the route of a channel and its stream name, e.g. `("market", "btcusdt@aggTrade")`.
fn stream_name(subscription: &MarketSubscription) -> Result<(&'static str, String), AdapterError> {
    let symbol = &subscription.symbol;
    let valid = !symbol.is_empty() && symbol.bytes().all(|byte| byte.is_ascii_alphanumeric());
    if !valid {
        return Err(AdapterError::UnknownSymbol {
            exchange: EXCHANGE,
            symbol: symbol.clone(),
        });
    }
    let symbol = symbol.to_ascii_lowercase();
    Ok(match &subscription.channel {
        MarketChannel::Trades => ("market", format!("{symbol}@aggTrade")),
        MarketChannel::Candles { interval } => ("market", format!("{symbol}@kline_{interval}")),
        MarketChannel::BookTicker => ("public", format!("{symbol}@bookTicker")),
    })
}

/// Opens one connection per route the subscriptions need, merged into one stream.
pub(crate) fn market_stream(
    client: &BinanceClient,
    subscriptions: &[MarketSubscription],
) -> Result<MarketStream, AdapterError> {
    let mut routes: Vec<(&'static str, Vec<String>)> = Vec::new();
    for subscription in subscriptions {
        let (route, name) = stream_name(subscription)?;
        match routes.iter_mut().find(|(known, _)| *known == route) {
            Some((_, names)) => names.push(name),
            None => routes.push((route, vec![name])),
        }
    }
    let (sender, receiver) = tokio::sync::mpsc::channel(4096);
    let mut tasks = JoinSet::new();
    for (route, streams) in routes {
        let session = MarketSession {
            url: format!("{}/{route}/ws", client.inner.ws_url),
            streams,
            next_id: 1,
        };
        let mut stream = spawn(session, None, backoff(client));
        let sender = sender.clone();
        tasks.spawn(async move {
            while let Some(event) = stream.next().await {
                if sender.send(event).await.is_err() {
                    return;
                }
            }
        });
    }
    let task = tokio::spawn(async move { while tasks.join_next().await.is_some() {} });
    Ok(EventStream::new(receiver, task))
}

struct MarketSession {
    url: String,
    streams: Vec<String>,
    next_id: u64,
}

impl Session for MarketSession {
    type Event = MarketEvent;

    async fn url(&mut self) -> Result<String, AdapterError> {
        Ok(self.url.clone())
    }

    async fn open(&mut self, socket: &mut Socket) -> Result<Vec<MarketEvent>, AdapterError> {
        let request = serde_json::json!({
            "method": "SUBSCRIBE",
            "params": self.streams,
            "id": self.next_id,
        });
        self.next_id += 1;
        send_text(socket, EXCHANGE, &self.url, request.to_string()).await?;
        Ok(Vec::new())
    }

    fn message(&mut self, text: &str) -> Result<Vec<MarketEvent>, String> {
        match market_message(text)? {
            MarketMessage::Event(event) => Ok(vec![event]),
            MarketMessage::Subscribed { id } => {
                tracing::debug!(id, streams = self.streams.len(), "subscribed");
                Ok(Vec::new())
            }
            MarketMessage::Error { code, msg } => Err(format!(
                "Binance rejected the subscription (code {code}): {msg}"
            )),
        }
    }

    fn heartbeat(&self) -> Option<(Duration, Message)> {
        Some((PING_EVERY, Message::Ping(Vec::new().into())))
    }

    fn status(&self, status: StreamStatus) -> MarketEvent {
        MarketEvent::Status(status)
    }

    fn idle_timeout(&self) -> Duration {
        IDLE_TIMEOUT
    }
}

/// Opens the user data stream. The first listen key is requested before returning, so an
/// invalid key fails here instead of in the stream.
pub(crate) async fn account_stream(
    client: &BinanceClient,
    credentials: &Credentials,
) -> Result<AccountStream, AdapterError> {
    let mut session = AccountSession {
        client: client.clone(),
        credentials: credentials.clone(),
        known: OpenOrders::default(),
    };
    let first_url = match session.url().await {
        Ok(url) => Some(url),
        Err(error) if error.is_transient() => None,
        Err(error) => return Err(error),
    };
    Ok(spawn(session, first_url, backoff(client)))
}

struct AccountSession {
    client: BinanceClient,
    credentials: Credentials,
    known: OpenOrders,
}

impl AccountSession {
    async fn listen_key(&self) -> Result<String, AdapterError> {
        let call = Call::new(Method::POST, LISTEN_KEY_PATH, 1);
        let response = self.client.keyed(&call, &self.credentials).await?;
        let key: ListenKey =
            crate::binance::parse::decode(&self.client.endpoint(&call), &response.body)?;
        Ok(key.listen_key)
    }
}

impl Session for AccountSession {
    type Event = AccountEvent;

    /// Requests a listen key; Binance returns the current one while it is valid.
    async fn url(&mut self) -> Result<String, AdapterError> {
        let listen_key = self.listen_key().await?;
        Ok(format!(
            "{}/private/ws/{listen_key}",
            self.client.inner.ws_url
        ))
    }

    /// Reconciles over REST once the socket is open, so that events of the new connection
    /// buffer in the socket while the snapshot is read and nothing falls between the two.
    async fn open(&mut self, _socket: &mut Socket) -> Result<Vec<AccountEvent>, AdapterError> {
        let now_ms = self.client.now_ms();
        let snapshot = reconcile(&self.client, &self.credentials, &self.known, now_ms).await?;
        let event = AccountEvent::Reconciled(Box::new(snapshot));
        self.known.observe(&event);
        Ok(vec![event])
    }

    fn message(&mut self, text: &str) -> Result<Vec<AccountEvent>, String> {
        match user_message(text)? {
            UserMessage::Events(events) => {
                for event in &events {
                    self.known.observe(event);
                }
                Ok(events)
            }
            UserMessage::ListenKeyExpired => Err("the listen key expired".to_owned()),
        }
    }

    fn heartbeat(&self) -> Option<(Duration, Message)> {
        Some((PING_EVERY, Message::Ping(Vec::new().into())))
    }

    fn upkeep_interval(&self) -> Option<Duration> {
        Some(LISTEN_KEY_KEEPALIVE)
    }

    /// Extends the listen key; the body of the response is not needed.
    async fn upkeep(&mut self) -> Result<(), AdapterError> {
        let call = Call::new(Method::PUT, LISTEN_KEY_PATH, 1);
        self.client
            .keyed(&call, &self.credentials)
            .await
            .map(|_| ())
    }

    fn status(&self, status: StreamStatus) -> AccountEvent {
        AccountEvent::Status(status)
    }

    fn idle_timeout(&self) -> Duration {
        IDLE_TIMEOUT
    }
}
