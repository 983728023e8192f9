//! Websocket connections that stay up: the loop every exchange's streams run in.
//!
//! A [`Session`] contains what differs per exchange and channel (URL, subscribe or login
//! messages, parsing, application pings, listen key upkeep). [`spawn`] runs it in a task that
//! connects, subscribes, forwards events, reconnects with exponential backoff and jitter after
//! any loss, and subscribes again. Every (re)connect and loss is reported in order with the
//! data, so a consumer knows where a gap may be.

use std::future::Future;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rand::RngExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::domain::{EventStream, StreamStatus};
use crate::error::AdapterError;

/// A websocket connection as the sessions see it.
pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Events a stream buffers before the reading task waits for the consumer.
const CHANNEL_CAPACITY: usize = 4096;
/// Time allowed to open a connection (TCP, TLS and the websocket handshake).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The exchange-specific part of a stream's connection.
pub(crate) trait Session: Send + 'static {
    type Event: Send + 'static;

    /// Returns the URL of the next connection; may call REST first (a listen key).
    fn url(&mut self) -> impl Future<Output = Result<String, AdapterError>> + Send;

    /// Runs on a fresh connection: sends subscriptions or the login, and returns events to
    /// deliver before any message of the connection (a REST reconciliation).
    fn open(
        &mut self,
        socket: &mut Socket,
    ) -> impl Future<Output = Result<Vec<Self::Event>, AdapterError>> + Send;

    /// Turns one text message into events; `Err` drops the connection with the reason.
    fn message(&mut self, text: &str) -> Result<Vec<Self::Event>, String>;

    /// Returns the application-level ping the exchange expects and how often to send it.
    fn heartbeat(&self) -> Option<(Duration, Message)>;

    /// Returns how often [`Session::upkeep`] must run, if at all.
    fn upkeep_interval(&self) -> Option<Duration> {
        None
    }

    /// Work outside the socket that keeps the stream valid, such as extending a listen key.
    fn upkeep(&mut self) -> impl Future<Output = Result<(), AdapterError>> + Send {
        async { Ok(()) }
    }

    /// Wraps a connection status as an event of this stream.
    fn status(&self, status: StreamStatus) -> Self::Event;

    /// Returns how long a silent connection is kept before it counts as lost.
    fn idle_timeout(&self) -> Duration;
}

/// Pauses between connection attempts: `first` doubling up to `max`, each with up to 50%
/// random jitter taken off so many clients do not reconnect in step.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Backoff {
    fn delay(&self, failures: u32) -> Duration {
        let full = self
            .first
            .saturating_mul(1u32 << failures.min(16))
            .min(self.max);
        let keep = rand::rng().random_range(0.5..=1.0);
        full.mul_f64(keep)
    }
}

/// Runs `session` in a background task and returns its events. `first_url` is used for the
/// first connection when the caller already obtained one.
pub(crate) fn spawn<S: Session>(
    session: S,
    first_url: Option<String>,
    backoff: Backoff,
) -> EventStream<S::Event> {
    let (events, receiver) = mpsc::channel(CHANNEL_CAPACITY);
    let task = tokio::spawn(run(session, first_url, events, backoff));
    EventStream::new(receiver, task)
}

/// The reason a connection ended.
enum Ended {
    /// The consumer dropped the stream.
    ConsumerGone,
    /// The connection failed or was lost. `opened` is true when it got as far as open.
    Lost { reason: String, opened: bool },
}

async fn run<S: Session>(
    mut session: S,
    mut url: Option<String>,
    events: mpsc::Sender<S::Event>,
    backoff: Backoff,
) {
    let mut reconnects = 0;
    let mut failures = 0;
    loop {
        let ended = connect_and_serve(&mut session, url.take(), &events, reconnects).await;
        let Ended::Lost { reason, opened } = ended else {
            return;
        };
        failures = if opened { 0 } else { failures + 1 };
        let delay = backoff.delay(failures);
        let retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        tracing::warn!(reason = %reason, retry_in_ms, reconnects, "stream disconnected; reconnecting");
        let status = session.status(StreamStatus::Disconnected {
            reason,
            retry_in_ms,
        });
        if events.send(status).await.is_err() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = events.closed() => return,
        }
        reconnects += 1;
    }
}

async fn connect_and_serve<S: Session>(
    session: &mut S,
    url: Option<String>,
    events: &mpsc::Sender<S::Event>,
    reconnects: u32,
) -> Ended {
    let lost = |reason: String| Ended::Lost {
        reason,
        opened: false,
    };
    let url = match url {
        Some(url) => url,
        None => match session.url().await {
            Ok(url) => url,
            Err(error) => return lost(error.to_string()),
        },
    };
    let connected = tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(&url));
    let mut socket = match connected.await {
        Ok(Ok((socket, _))) => socket,
        Ok(Err(error)) => return lost(format!("cannot connect: {error}")),
        Err(_) => return lost("connecting timed out".to_owned()),
    };
    let initial = match session.open(&mut socket).await {
        Ok(initial) => initial,
        Err(error) => return lost(error.to_string()),
    };
    tracing::info!(reconnects, "stream connected");
    let connected = session.status(StreamStatus::Connected { reconnects });
    for event in std::iter::once(connected).chain(initial) {
        if events.send(event).await.is_err() {
            return Ended::ConsumerGone;
        }
    }
    serve(session, &mut socket, events).await
}

/// Reads the connection until it ends, forwarding events and sending heartbeats.
async fn serve<S: Session>(
    session: &mut S,
    socket: &mut Socket,
    events: &mpsc::Sender<S::Event>,
) -> Ended {
    let lost = |reason: String| Ended::Lost {
        reason,
        opened: true,
    };
    let far = Duration::from_secs(86_400);
    let heartbeat = session.heartbeat();
    let mut heartbeat_tick = interval(heartbeat.as_ref().map_or(far, |(every, _)| *every));
    let mut upkeep_tick = interval(session.upkeep_interval().unwrap_or(far));
    let idle_timeout = session.idle_timeout();
    loop {
        tokio::select! {
            next = tokio::time::timeout(idle_timeout, socket.next()) => {
                let message = match next {
                    Err(_) => return lost(format!("no message for {} s", idle_timeout.as_secs())),
                    Ok(None) => return lost("closed by the exchange".to_owned()),
                    Ok(Some(Err(error))) => return lost(error.to_string()),
                    Ok(Some(Ok(message))) => message,
                };
                if let Some(ended) = handle(session, socket, events, message).await {
                    return ended;
                }
            }
            _ = heartbeat_tick.tick(), if heartbeat.is_some() => {
                if let Some((_, ping)) = &heartbeat
                    && let Err(error) = socket.send(ping.clone()).await
                {
                    return lost(format!("cannot send ping: {error}"));
                }
            }
            _ = upkeep_tick.tick(), if session.upkeep_interval().is_some() => {
                if let Err(error) = session.upkeep().await {
                    return lost(error.to_string());
                }
            }
            () = events.closed() => return Ended::ConsumerGone,
        }
    }
}

/// Handles one message; returns how the connection ended if it did.
async fn handle<S: Session>(
    session: &mut S,
    socket: &mut Socket,
    events: &mpsc::Sender<S::Event>,
    message: Message,
) -> Option<Ended> {
    match message {
        Message::Text(text) => match session.message(text.as_str()) {
            Ok(parsed) => {
                for event in parsed {
                    if events.send(event).await.is_err() {
                        return Some(Ended::ConsumerGone);
                    }
                }
                None
            }
            Err(reason) => Some(Ended::Lost {
                reason,
                opened: true,
            }),
        },
        // tungstenite queues the pong; flushing sends it now rather than with the next write.
        Message::Ping(_) => socket.flush().await.err().map(|error| Ended::Lost {
            reason: format!("cannot answer ping: {error}"),
            opened: true,
        }),
        Message::Close(frame) => Some(Ended::Lost {
            reason: frame.map_or_else(
                || "closed by the exchange".to_owned(),
                |frame| format!("closed by the exchange: {} {}", frame.code, frame.reason),
            ),
            opened: true,
        }),
        Message::Pong(_) | Message::Binary(_) | Message::Frame(_) => None,
    }
}

/// Returns a ticker whose first tick is one period from now.
fn interval(period: Duration) -> tokio::time::Interval {
    let start = tokio::time::Instant::now() + period;
    let mut interval = tokio::time::interval_at(start, period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval
}

/// Sends one text message on a socket.
///
/// # Errors
/// Returns [`AdapterError::Stream`] naming `endpoint` when the send fails.
pub(crate) async fn send_text(
    socket: &mut Socket,
    exchange: keyward_events::Exchange,
    endpoint: &str,
    text: String,
) -> Result<(), AdapterError> {
    socket
        .send(Message::text(text))
        .await
        .map_err(|error| AdapterError::Stream {
            exchange,
            endpoint: endpoint.to_owned(),
            detail: format!("cannot send: {error}"),
        })
}
