//! The websocket live bot feed: orders, fills, position, PnL and risk verdicts of one bot
//! (`/api/v1/bots/{bot_id}/feed`) or of every bot of the account (`/api/v1/feed`), from a
//! position.
//!
//! One hub task follows the log's bot events and serializes each feed message once, then
//! broadcasts it to every client through a bounded channel. A client first catches up from
//! storage, then takes live messages from the channel. A client that falls further behind
//! than the channel has room for is closed with code 4008 and a JSON reason carrying `resume_from`,
//! the position to reconnect with, rather than being buffered without bound.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use keyward_eventlog::{EventLog, ReadError, Subscription, SubscriptionFilter};
use keyward_events::{Category, RecordedEvent};
use keyward_projections::{Dashboard, FeedMessage, ProjectionHandle};
use serde_json::json;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use crate::auth::Authenticated;
use crate::stream::{
    FromQuery, StreamSettings, check_websocket_origin, client_closed, from_query, websocket_upgrade,
};
use crate::{ApiError, AppState};

/// Close code for a client too slow to keep up.
pub const CLOSE_TOO_SLOW: u16 = 4008;

/// Times a client may fall behind while still catching up from storage before it counts as
/// too slow.
const MAX_CATCH_UPS: u32 = 3;

/// One feed message, serialized once for every client.
#[derive(Clone, Debug)]
pub struct FeedFrame {
    pub position: u64,
    pub bot_id: Uuid,
    pub account_id: Option<Uuid>,
    pub text: Utf8Bytes,
}

impl FeedFrame {
    fn new(message: &FeedMessage, account_id: Option<Uuid>) -> Self {
        let text = serde_json::to_string(message).unwrap_or_default();
        FeedFrame {
            position: message.position,
            bot_id: message.bot_id,
            account_id,
            text: Utf8Bytes::from(text),
        }
    }
}

/// The bots a feed client follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedScope {
    /// One bot of the account.
    Bot(Uuid),
    /// Every bot of the account.
    Account(Uuid),
}

impl FeedScope {
    fn includes(self, frame: &FeedFrame) -> bool {
        match self {
            FeedScope::Bot(bot_id) => frame.bot_id == bot_id,
            FeedScope::Account(account_id) => frame.account_id == Some(account_id),
        }
    }
}

/// Follows the log's bot events and broadcasts feed messages to every client.
pub struct FeedHub {
    log: Arc<dyn EventLog>,
    owners: Owners,
    sender: broadcast::Sender<Arc<FeedFrame>>,
    task: tokio::task::JoinHandle<()>,
}

impl FeedHub {
    /// Starts the hub at the log's head; clients catch up on older events from storage.
    pub fn start(
        log: Arc<dyn EventLog>,
        dashboard: Arc<ProjectionHandle<Dashboard>>,
        settings: StreamSettings,
    ) -> Arc<Self> {
        let (sender, _) = broadcast::channel(settings.feed_buffer.max(1));
        let owners = Owners::new(dashboard);
        let after = *log.head().borrow();
        let subscription = Subscription::new(Arc::clone(&log), after, bot_events());
        let task = tokio::spawn(broadcast_feed(subscription, owners.clone(), sender.clone()));
        Arc::new(FeedHub {
            log,
            owners,
            sender,
            task,
        })
    }

    /// Live feed messages from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<FeedFrame>> {
        self.sender.subscribe()
    }
}

impl Drop for FeedHub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn bot_events() -> SubscriptionFilter {
    SubscriptionFilter::Category(Category::Bot)
}

async fn broadcast_feed(
    mut subscription: Subscription,
    mut owners: Owners,
    sender: broadcast::Sender<Arc<FeedFrame>>,
) {
    loop {
        let record = match subscription.next().await {
            Ok(record) => record,
            Err(err) => {
                tracing::error!(error = %err, "bot feed stopped");
                return;
            }
        };
        if let Some(frame) = owners.frame(&record).await {
            // No receiver just means no client is connected.
            let _ = sender.send(Arc::new(frame));
        }
    }
}

/// The account of each bot, from the dashboard, cached since it never changes.
#[derive(Clone)]
struct Owners {
    dashboard: Arc<ProjectionHandle<Dashboard>>,
    known: HashMap<Uuid, Uuid>,
}

impl Owners {
    fn new(dashboard: Arc<ProjectionHandle<Dashboard>>) -> Self {
        Owners {
            dashboard,
            known: HashMap::new(),
        }
    }

    /// Builds the feed frame of a stored event, or `None` when the feed does not carry it.
    async fn frame(&mut self, record: &RecordedEvent) -> Option<FeedFrame> {
        let message = FeedMessage::from_record(record)?;
        let account = self.owner(message.bot_id, record.position).await;
        Some(FeedFrame::new(&message, account))
    }

    async fn owner(&mut self, bot_id: Uuid, position: u64) -> Option<Uuid> {
        if let Some(account) = self.known.get(&bot_id) {
            return Some(*account);
        }
        // The bot's creation comes before its feed events, so the dashboard has recorded the
        // owner once it has reached this position.
        if !self
            .dashboard
            .wait_for(position, crate::state::READ_WAIT)
            .await
        {
            tracing::warn!(%bot_id, position, "dashboard behind; feed message without an owner");
        }
        let account = self
            .dashboard
            .read(|d| d.bots.get(&bot_id).and_then(|bot| bot.account_id))?;
        self.known.insert(bot_id, account);
        Some(account)
    }
}

/// `GET /api/v1/bots/{bot_id}/feed?from=P`: one bot's feed after position P.
#[utoipa::path(
    get,
    path = "/api/v1/bots/{bot_id}/feed",
    tag = "events",
    summary = "Live feed of one bot over a websocket",
    params(("bot_id" = Uuid, Path, description = "The bot"), crate::stream::FromQuery),
    responses((status = 101, description = "Websocket: orders, fills, position, PnL and risk verdicts; a client too slow to keep up is closed with code 4008 and its resume_from"))
)]
pub async fn bot_feed(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    bot_id: Result<Path<Uuid>, PathRejection>,
    query: Result<Query<FromQuery>, QueryRejection>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    check_websocket_origin(&auth, &headers)?;
    let Path(bot_id) = bot_id.map_err(|_| ApiError::not_found("no bot with that id"))?;
    let from = from_query(query)?.from.unwrap_or(0);
    state.dashboard_at(auth.credential_id(), None).await;
    let owned = state
        .dashboard
        .read(|d| d.bot_of(auth.account_id, bot_id).is_some());
    if !owned {
        return Err(ApiError::not_found(format!("no bot {bot_id}")));
    }
    let upgrade = websocket_upgrade(upgrade)?;
    Ok(upgrade.on_upgrade(move |socket| serve_feed(state, FeedScope::Bot(bot_id), from, socket)))
}

/// `GET /api/v1/feed?from=P`: the feed of every bot of the account after position P.
#[utoipa::path(
    get,
    path = "/api/v1/feed",
    tag = "events",
    summary = "Live feed of every bot of the account over a websocket",
    params(crate::stream::FromQuery),
    responses((status = 101, description = "Websocket: as the feed of one bot, for all of them; a slow client is closed with code 4008"))
)]
pub async fn account_feed(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    query: Result<Query<FromQuery>, QueryRejection>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    check_websocket_origin(&auth, &headers)?;
    let from = from_query(query)?.from.unwrap_or(0);
    let upgrade = websocket_upgrade(upgrade)?;
    let scope = FeedScope::Account(auth.account_id);
    Ok(upgrade.on_upgrade(move |socket| serve_feed(state, scope, from, socket)))
}

/// The reason a feed connection ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The client closed the socket or the connection failed.
    ClientGone,
    /// The client fell too far behind; it may resume after `resume_from`.
    TooSlow { resume_from: u64 },
    /// The log could not be read.
    Failed,
}

async fn serve_feed(state: AppState, scope: FeedScope, from: u64, socket: WebSocket) {
    let _client = crate::metrics::ClientGuard::new("bot_feed");
    let (sink, mut incoming) = socket.split();
    let mut client = FeedClient::new(sink, scope, from, state.streams);
    let ended = tokio::select! {
        ended = client.run(&state.feed) => ended,
        _ = client_closed(&mut incoming) => Ended::ClientGone,
    };
    if let Ended::TooSlow { resume_from } = ended {
        tracing::info!(
            ?scope,
            resume_from,
            "closing a bot feed client that fell behind"
        );
    }
    if let Some(close) = close_message(&ended) {
        let _ = tokio::time::timeout(Duration::from_secs(1), client.sink.send(close)).await;
    }
}

/// Builds the close frame that gives the client the reason its feed ended, if the server
/// ended it.
pub fn close_message(ended: &Ended) -> Option<Message> {
    let frame = match ended {
        Ended::TooSlow { resume_from } => CloseFrame {
            code: CLOSE_TOO_SLOW,
            reason: Utf8Bytes::from(
                json!({"error": "too_slow", "resume_from": resume_from}).to_string(),
            ),
        },
        Ended::Failed => CloseFrame {
            code: axum::extract::ws::close_code::ERROR,
            reason: Utf8Bytes::from_static("the event log could not be read"),
        },
        Ended::ClientGone => return None,
    };
    Some(Message::Close(Some(frame)))
}

/// One connected feed client and the position it has been served up to.
pub struct FeedClient<S> {
    sink: S,
    scope: FeedScope,
    /// Every event up to this position was sent or does not belong to the scope.
    cursor: u64,
    /// Whether the client has received a message from the live channel since its last
    /// catch-up.
    went_live: bool,
    settings: StreamSettings,
}

impl<S> FeedClient<S>
where
    S: futures::Sink<Message> + Unpin,
{
    /// Creates a client that is sent the feed of `scope` after position `from` through `sink`.
    pub fn new(sink: S, scope: FeedScope, from: u64, settings: StreamSettings) -> Self {
        FeedClient {
            sink,
            scope,
            cursor: from,
            went_live: false,
            settings,
        }
    }

    /// Sends the feed until the client goes, falls behind, or the log fails.
    pub async fn run(&mut self, hub: &FeedHub) -> Ended {
        let mut catch_ups = 0;
        loop {
            // Subscribing before reading storage means every event after the catch-up's end
            // is in the channel.
            let mut live = hub.subscribe();
            if let Err(ended) = self.catch_up(hub).await {
                return ended;
            }
            self.went_live = false;
            match self.follow(&mut live).await {
                // Falling behind before the first live message means that catching up took
                // longer than the channel holds, not that the client is slow.
                Ended::TooSlow { .. } if catch_ups < MAX_CATCH_UPS && !self.went_live => {
                    catch_ups += 1;
                }
                ended => return ended,
            }
        }
    }

    /// Sends stored feed messages after the cursor, up to the log's head.
    async fn catch_up(&mut self, hub: &FeedHub) -> Result<(), Ended> {
        let mut subscription = Subscription::new(Arc::clone(&hub.log), self.cursor, bot_events());
        let mut owners = hub.owners.clone();
        loop {
            let next = subscription.try_next().await;
            let record = match next {
                Ok(Some(record)) => record,
                Ok(None) => break,
                Err(err) => return Err(read_failed(&err)),
            };
            if let Some(frame) = owners.frame(&record).await {
                self.deliver(&frame).await?;
            }
        }
        self.cursor = self.cursor.max(subscription.cursor());
        Ok(())
    }

    /// Sends live messages until the client goes or falls behind.
    async fn follow(&mut self, live: &mut broadcast::Receiver<Arc<FeedFrame>>) -> Ended {
        loop {
            let received = tokio::time::timeout(self.settings.heartbeat, live.recv()).await;
            let result = match received {
                Ok(Ok(frame)) => {
                    self.went_live = true;
                    if frame.position <= self.cursor {
                        continue;
                    }
                    self.deliver(&frame).await
                }
                Ok(Err(RecvError::Lagged(missed))) => {
                    tracing::debug!(missed, cursor = self.cursor, "bot feed client fell behind");
                    return Ended::TooSlow {
                        resume_from: self.cursor,
                    };
                }
                Ok(Err(RecvError::Closed)) => return Ended::Failed,
                Err(_) => self.heartbeat().await,
            };
            if let Err(ended) = result {
                return ended;
            }
        }
    }

    async fn deliver(&mut self, frame: &FeedFrame) -> Result<(), Ended> {
        if self.scope.includes(frame) {
            self.send(Message::Text(frame.text.clone())).await?;
        }
        self.cursor = frame.position;
        Ok(())
    }

    async fn heartbeat(&mut self) -> Result<(), Ended> {
        let text = json!({"type": "heartbeat", "position": self.cursor}).to_string();
        self.send(Message::Text(Utf8Bytes::from(text))).await
    }

    async fn send(&mut self, message: Message) -> Result<(), Ended> {
        match tokio::time::timeout(self.settings.send_timeout, self.sink.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Ended::ClientGone),
            // The client stopped reading: its socket buffers are full.
            Err(_) => Err(Ended::TooSlow {
                resume_from: self.cursor,
            }),
        }
    }
}

fn read_failed(err: &ReadError) -> Ended {
    tracing::error!(error = %err, "bot feed cannot read the log");
    Ended::Failed
}

#[cfg(test)]
mod tests;
