//! Event subscription for API consumers: the account's own events from a position, stored ones
//! first and then live ones, as server-sent events (`GET /api/v1/events`) or over a websocket
//! (`GET /api/v1/events/ws`). Each message carries its global position, so a consumer that
//! reconnects with `from=` (or SSE's `Last-Event-ID`) continues without a gap.
//!
//! Each consumer reads through its own log subscription, which buffers at most one page: a
//! consumer slower than the writers reads older events from storage when it gets to them.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, Stream, StreamExt};
use keyward_eventlog::{ReadError, Subscription, SubscriptionFilter};
use keyward_events::{Category, RecordedEvent};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::{Authenticated, same_origin};
use crate::{ApiError, AppState};

/// Timing of event streams.
#[derive(Clone, Copy, Debug)]
pub struct StreamSettings {
    /// Time without an event after which a stream sends a heartbeat.
    pub heartbeat: Duration,
    /// Maximum time one websocket send may take before the client counts as too slow.
    pub send_timeout: Duration,
    /// Feed messages buffered per feed client; a client further behind is closed.
    pub feed_buffer: usize,
}

impl Default for StreamSettings {
    fn default() -> Self {
        StreamSettings {
            heartbeat: Duration::from_secs(15),
            send_timeout: Duration::from_secs(10),
            feed_buffer: 4096,
        }
    }
}

/// The `from` query parameter of event streams: deliver events after this position.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FromQuery {
    /// Deliver events after this global position; 0 streams everything.
    pub from: Option<u64>,
}

/// Parses the query, mapping a bad `from` to 400.
pub(crate) fn from_query(
    query: Result<Query<FromQuery>, QueryRejection>,
) -> Result<FromQuery, ApiError> {
    query.map(|Query(query)| query).map_err(|e| {
        ApiError::invalid(e.body_text())
            .with_hint("pass from=POSITION, a whole number; from=0 streams everything")
    })
}

/// Rejects a cookie-authenticated websocket opened from another site's page, since browsers
/// send cookies with cross-site websocket handshakes.
pub(crate) fn check_websocket_origin(
    auth: &Authenticated,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    if auth.via_cookie && !same_origin(headers) {
        return Err(ApiError::forbidden(
            "websocket opened from another origin with the session cookie",
        ));
    }
    Ok(())
}

/// Maps a request that is not a websocket handshake to 400, after the route's own checks ran,
/// so that another account's resource is 404 however it is requested.
pub(crate) fn websocket_upgrade(
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<WebSocketUpgrade, ApiError> {
    upgrade.map_err(|rejection| {
        ApiError::invalid(format!(
            "not a websocket handshake: {}",
            rejection.body_text()
        ))
        .with_hint("open this route with a websocket client")
    })
}

/// Converts one stored event to the JSON that consumers receive.
pub fn event_json(record: &RecordedEvent) -> Value {
    let payload: Value = serde_json::from_slice(&record.payload).unwrap_or(Value::Null);
    let metadata: Value = serde_json::from_slice(&record.metadata).unwrap_or(Value::Null);
    json!({
        "position": record.position,
        "stream": record.stream.as_str(),
        "version": record.version,
        "event_id": record.event_id,
        "event_type": record.event_type,
        "schema_version": record.schema_version,
        "recorded_at": record.recorded_at(),
        "metadata": metadata,
        "payload": payload,
    })
}

/// Returns whether `record` belongs to `account`: recorded on its behalf, in its account stream, or
/// in the stream of one of its keys or bots.
pub(crate) async fn belongs_to(state: &AppState, account: Uuid, record: &RecordedEvent) -> bool {
    if let Some(owner) = record.parsed_metadata().account_id {
        return owner == account;
    }
    let id = record.stream.id();
    match record.stream.category() {
        Category::Account => id == account,
        Category::Key | Category::Bot => {
            // The entity's first event comes before this one, so the dashboard has recorded its
            // owner once it has reached this position.
            if !state
                .dashboard
                .wait_for(record.position, crate::state::READ_WAIT)
                .await
            {
                tracing::warn!(
                    position = record.position,
                    "dashboard behind; skipping an event of unknown owner"
                );
                return false;
            }
            state.dashboard.read(|d| match record.stream.category() {
                Category::Key => d.key_of(account, id).is_some(),
                _ => d.bot_of(account, id).is_some(),
            })
        }
        _ => false,
    }
}

/// Waits at most `wait` for the next event of `account` after the subscription's cursor;
/// `Ok(None)` when none arrived in time.
async fn next_owned(
    state: &AppState,
    account: Uuid,
    subscription: &mut Subscription,
    wait: Duration,
) -> Result<Option<RecordedEvent>, ReadError> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let next = tokio::time::timeout_at(deadline, subscription.next()).await;
        let Ok(record) = next else {
            return Ok(None);
        };
        let record = record?;
        if belongs_to(state, account, &record).await {
            return Ok(Some(record));
        }
    }
}

/// `GET /api/v1/events?from=P`: the account's events after P as server-sent events, each with
/// `id: POSITION`. `Last-Event-ID` takes precedence over `from`.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "events",
    summary = "The account's events as server-sent events",
    params(
        FromQuery,
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this position; takes precedence over from"),
    ),
    responses((status = 200, description = "A stream of events, each with `id: POSITION`, and heartbeats", content_type = "text/event-stream", body = String))
)]
pub async fn sse(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    query: Result<Query<FromQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let query = from_query(query)?;
    let last_event_id = headers
        .get("last-event-id")
        .map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|text| text.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::invalid("Last-Event-ID must be an event position"))
        })
        .transpose()?;
    let from = last_event_id.or(query.from).unwrap_or(0);
    let stream = sse_stream(state, auth.account_id, from);
    Ok(Sse::new(stream).into_response())
}

fn sse_stream(
    state: AppState,
    account: Uuid,
    from: u64,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let subscription = Subscription::new(state.log.clone(), from, SubscriptionFilter::All);
    let heartbeat = state.streams.heartbeat;
    let client = crate::metrics::ClientGuard::new("events_sse");
    futures::stream::unfold(
        (state, subscription, client),
        move |(state, mut subscription, client)| async move {
            match next_owned(&state, account, &mut subscription, heartbeat).await {
                Ok(Some(record)) => {
                    let event = Event::default()
                        .id(record.position.to_string())
                        .event(record.event_type.clone())
                        .data(event_json(&record).to_string());
                    Some((Ok(event), (state, subscription, client)))
                }
                Ok(None) => {
                    let data = json!({"position": subscription.cursor()}).to_string();
                    let event = Event::default().event("heartbeat").data(data);
                    Some((Ok(event), (state, subscription, client)))
                }
                Err(err) => {
                    tracing::warn!(%account, error = %err, "event stream ended");
                    None
                }
            }
        },
    )
}

/// `GET /api/v1/events/ws?from=P`: the account's events after P over a websocket, one JSON
/// event per text message, and `{"type": "heartbeat", "position"}` when idle.
#[utoipa::path(
    get,
    path = "/api/v1/events/ws",
    tag = "events",
    summary = "The account's events over a websocket",
    params(FromQuery),
    responses((status = 101, description = "Websocket: one JSON event per message, heartbeats when idle"))
)]
pub async fn websocket(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    query: Result<Query<FromQuery>, QueryRejection>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    check_websocket_origin(&auth, &headers)?;
    let from = from_query(query)?.from.unwrap_or(0);
    let upgrade = websocket_upgrade(upgrade)?;
    let account = auth.account_id;
    Ok(upgrade.on_upgrade(move |socket| serve_events(state, account, from, socket)))
}

async fn serve_events(state: AppState, account: Uuid, from: u64, socket: WebSocket) {
    let _client = crate::metrics::ClientGuard::new("events_ws");
    let (mut sink, mut incoming) = socket.split();
    let mut subscription = Subscription::new(state.log.clone(), from, SubscriptionFilter::All);
    let settings = state.streams;
    loop {
        let next = tokio::select! {
            next = next_owned(&state, account, &mut subscription, settings.heartbeat) => next,
            closed = client_closed(&mut incoming) => {
                tracing::debug!(%account, closed, "event websocket closed by the client");
                return;
            }
        };
        let text = match next {
            Ok(Some(record)) => event_json(&record).to_string(),
            Ok(None) => json!({"type": "heartbeat", "position": subscription.cursor()}).to_string(),
            Err(err) => {
                tracing::warn!(%account, error = %err, "event websocket ended");
                return;
            }
        };
        let sent = tokio::time::timeout(
            settings.send_timeout,
            sink.send(Message::Text(Utf8Bytes::from(text))),
        )
        .await;
        if !matches!(sent, Ok(Ok(()))) {
            tracing::info!(%account, "event websocket client gone");
            return;
        }
    }
}

/// Waits until the client closes the websocket or the connection fails; ignores other
/// messages. Returns whether the client sent a close frame.
pub(crate) async fn client_closed<S>(incoming: &mut S) -> bool
where
    S: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    loop {
        match incoming.next().await {
            Some(Ok(Message::Close(_))) => return true,
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return false,
        }
    }
}
