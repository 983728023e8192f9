//! OKX v5 websockets: public market data and the private account stream.
//!
//! Trades and tickers are on `/ws/v5/public`, candles on `/ws/v5/business`, and each route
//! gets its own connection, subscribed again after every connect. The private stream logs in
//! on `/ws/v5/private` with a signature over the Unix time in seconds and
//! `GET/users/self/verify`, subscribes to the swap `orders` and `positions` channels and to
//! `account`, and then reconciles over REST. OKX drops a connection that is silent for 30
//! seconds, so every connection sends the text `ping` every 20 seconds.

use std::time::Duration;

use keyward_events::Exchange;
use rust_decimal::Decimal;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use super::parse::stream::{self, StreamMessage};
use super::rest::OkxClient;
use super::signing;
use crate::credentials::Credentials;
use crate::domain::{
    AccountEvent, AccountStream, EventStream, Instrument, MarketChannel, MarketEvent, MarketStream,
    MarketSubscription, StreamStatus,
};
use crate::error::AdapterError;
use crate::reconcile::{OpenOrders, reconcile};
use crate::ws::{Backoff, Session, Socket, send_text, spawn};

const EXCHANGE: Exchange = Exchange::Okx;
const PING_EVERY: Duration = Duration::from_secs(20);
const IDLE_TIMEOUT: Duration = Duration::from_secs(45);

fn backoff(client: &OkxClient) -> Backoff {
    Backoff {
        first: client.options().reconnect_first_delay,
        max: client.options().reconnect_max_delay,
    }
}

/// Returns the route and the `(channel, instId)` of a subscription.
fn channel(
    subscription: &MarketSubscription,
    instrument: &Instrument,
) -> (&'static str, (String, String)) {
    let inst_id = instrument.exchange_symbol.clone();
    match &subscription.channel {
        MarketChannel::Trades => ("public", ("trades".to_owned(), inst_id)),
        MarketChannel::BookTicker => ("public", ("tickers".to_owned(), inst_id)),
        MarketChannel::Candles { interval } => (
            "business",
            (format!("candle{}", stream::okx_bar(interval)), inst_id),
        ),
    }
}

/// Opens one connection per route the subscriptions need, merged into one stream.
pub(crate) async fn market_stream(
    client: &OkxClient,
    subscriptions: &[MarketSubscription],
) -> Result<MarketStream, AdapterError> {
    let instruments = client.cached_instruments().await?;
    let mut routes: Vec<(&'static str, Vec<(String, String)>)> = Vec::new();
    for subscription in subscriptions {
        let instrument = instruments
            .iter()
            .find(|instrument| instrument.symbol == subscription.symbol)
            .ok_or_else(|| AdapterError::UnknownSymbol {
                exchange: EXCHANGE,
                symbol: subscription.symbol.clone(),
            })?;
        let (route, arg) = channel(subscription, instrument);
        match routes.iter_mut().find(|(known, _)| *known == route) {
            Some((_, args)) => args.push(arg),
            None => routes.push((route, vec![arg])),
        }
    }
    let (sender, receiver) = tokio::sync::mpsc::channel(4096);
    let mut tasks = JoinSet::new();
    for (route, args) in routes {
        let session = MarketSession {
            url: format!("{}/ws/v5/{route}", client.inner.ws_url),
            args,
            instruments: instruments.clone(),
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
    args: Vec<(String, String)>,
    instruments: Vec<Instrument>,
}

impl MarketSession {
    fn contract_value(&self, inst_id: &str) -> Option<Decimal> {
        self.instruments
            .iter()
            .find(|instrument| instrument.exchange_symbol == inst_id)
            .map(|instrument| instrument.contract_value)
    }
}

impl Session for MarketSession {
    type Event = MarketEvent;

    async fn url(&mut self) -> Result<String, AdapterError> {
        Ok(self.url.clone())
    }

    async fn open(&mut self, socket: &mut Socket) -> Result<Vec<MarketEvent>, AdapterError> {
        let request = stream::subscribe_request("1", &self.args);
        send_text(socket, EXCHANGE, &self.url, request).await?;
        Ok(Vec::new())
    }

    fn message(&mut self, text: &str) -> Result<Vec<MarketEvent>, String> {
        let contract_value = |inst_id: &str| self.contract_value(inst_id);
        match stream::message(text, &contract_value)? {
            StreamMessage::Market(events) => Ok(events),
            StreamMessage::Confirmed { .. } | StreamMessage::Pong => Ok(Vec::new()),
            StreamMessage::Error { code, msg } => {
                Err(format!("OKX rejected the request (code {code}): {msg}"))
            }
            StreamMessage::Notice { code, msg } => {
                Err(format!("OKX closes the connection (code {code}): {msg}"))
            }
        }
    }

    fn heartbeat(&self) -> Option<(Duration, Message)> {
        Some((PING_EVERY, Message::text("ping")))
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
    client: &OkxClient,
    credentials: &Credentials,
) -> Result<AccountStream, AdapterError> {
    // The first REST read fails here for a key a retry cannot fix, instead of in the stream.
    match client.read_position_mode(credentials).await {
        Err(error) if !error.is_transient() => return Err(error),
        _ => {}
    }
    let session = AccountSession {
        client: client.clone(),
        credentials: credentials.clone(),
        url: format!("{}/ws/v5/private", client.inner.ws_url),
        known: OpenOrders::default(),
        instruments: client.cached_instruments().await?,
    };
    Ok(spawn(session, None, backoff(client)))
}

struct AccountSession {
    client: OkxClient,
    credentials: Credentials,
    url: String,
    known: OpenOrders,
    instruments: Vec<Instrument>,
}

impl Session for AccountSession {
    type Event = AccountEvent;

    async fn url(&mut self) -> Result<String, AdapterError> {
        Ok(self.url.clone())
    }

    /// Logs in and subscribes, then reconciles over REST, so that pushes of the new connection
    /// buffer in the socket while the snapshot is read.
    // NOTE: the subscription follows the login without waiting for its confirmation; OKX
    // rejects it with an error event if the login fails, which reconnects.
    async fn open(&mut self, socket: &mut Socket) -> Result<Vec<AccountEvent>, AdapterError> {
        let passphrase = self.credentials.signer.passphrase()?.ok_or_else(|| {
            AdapterError::InvalidCredentials {
                exchange: EXCHANGE,
                reason: "the key has no passphrase; OKX requires the one chosen when the \
                             key was created"
                    .to_owned(),
            }
        })?;
        let seconds = (self.client.now_ms() / 1000).to_string();
        let sign = signing::websocket_signature(self.credentials.signer.as_ref(), &seconds)?;
        let login = serde_json::json!({
            "op": "login",
            "args": [{
                "apiKey": self.credentials.api_key,
                "passphrase": passphrase.as_str(),
                "timestamp": seconds,
                "sign": sign,
            }],
        });
        send_text(socket, EXCHANGE, &self.url, login.to_string()).await?;
        let subscribe = serde_json::json!({
            "id": "account",
            "op": "subscribe",
            "args": [
                {"channel": "orders", "instType": "SWAP"},
                {"channel": "positions", "instType": "SWAP"},
                {"channel": "account"},
            ],
        });
        send_text(socket, EXCHANGE, &self.url, subscribe.to_string()).await?;

        let now_ms = self.client.now_ms();
        let snapshot = reconcile(&self.client, &self.credentials, &self.known, now_ms).await?;
        let event = AccountEvent::Reconciled(Box::new(snapshot));
        self.known.observe(&event);
        Ok(vec![event])
    }

    fn message(&mut self, text: &str) -> Result<Vec<AccountEvent>, String> {
        if let Some(events) = stream::account_events(text, &self.instruments)? {
            for event in &events {
                self.known.observe(event);
            }
            return Ok(events);
        }
        match stream::message(text, &|_| None)? {
            StreamMessage::Error { code, msg } => {
                Err(format!("OKX rejected the request (code {code}): {msg}"))
            }
            StreamMessage::Notice { code, msg } => {
                Err(format!("OKX closes the connection (code {code}): {msg}"))
            }
            _ => Ok(Vec::new()),
        }
    }

    fn heartbeat(&self) -> Option<(Duration, Message)> {
        Some((PING_EVERY, Message::text("ping")))
    }

    fn status(&self, status: StreamStatus) -> AccountEvent {
        AccountEvent::Status(status)
    }

    fn idle_timeout(&self) -> Duration {
        IDLE_TIMEOUT
    }
}
