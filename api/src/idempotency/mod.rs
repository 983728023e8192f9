//! `Idempotency-Key` on commands: a retried command with the same key gets the first response
//! again instead of running twice.
//!
//! Responses are stored per credential (a SHA-256 of the `Authorization` header or the session
//! cookie), method, path and key, for [`KEEP_FOR`]. A store opened on a data dir also writes
//! each response to a table beside the event log before the client receives it, so a retry
//! after a restart gets it too. The same key with another body is a conflict, and so is a retry
//! while the first request still runs. Server errors (5xx) are not stored, so a retry after one
//! runs again. Only the key and bot commands and the account risk routes take part: their
//! responses carry ids and positions, never a secret.
// NOTE: a request still running when the process stops is not stored, so its retry runs again;
// the actors' own event-id checks are what then keeps it from appending twice. Nodes sharing
// one log do not share this table.

mod table;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
pub use table::IDEMPOTENCY_FILE;
use table::{ResponseTable, Row};

use crate::ApiError;
use crate::routes::MAX_BODY_BYTES;

/// How long a response is stored, in memory and on disk.
pub const KEEP_FOR: Duration = Duration::from_secs(24 * 60 * 60);

/// How long a request may run before a retry with its key runs again; a request whose client
/// went away never stores its response.
pub const RUNNING_FOR: Duration = Duration::from_secs(60);

/// Maximum responses stored; past it the oldest half is dropped.
pub const MAX_KEPT: usize = 10_000;

/// Maximum length of a key, in bytes.
pub const MAX_KEY_BYTES: usize = 255;

/// Header set on a response that replays a stored one.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// Path prefixes of the commands that honour `Idempotency-Key`.
const COMMAND_PREFIXES: &[&str] = &["/api/v1/keys", "/api/v1/bots", "/api/v1/account/"];

/// Stored responses by credential, method, path and key, in memory and, when opened on a data
/// dir, in a table beside the event log.
#[derive(Default)]
pub struct IdempotencyStore {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
    table: Option<ResponseTable>,
}

enum Entry {
    Running {
        since: Instant,
    },
    Done {
        request: [u8; 32],
        response: StoredResponse,
        /// Milliseconds since the Unix epoch, which outlive a restart, unlike an `Instant`.
        stored_at_ms: i64,
    },
}

#[derive(Clone)]
struct StoredResponse {
    status: StatusCode,
    content_type: Option<HeaderValue>,
    body: Bytes,
}

/// The store's decision on an incoming request.
enum Claim {
    /// First time: run it and store the response.
    Run,
    Replay(StoredResponse),
    Conflict(&'static str),
}

/// An error opening the stored responses.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the stored Idempotency-Key responses in {path}: {source}")]
pub struct OpenError {
    path: String,
    #[source]
    source: rusqlite::Error,
}

impl IdempotencyStore {
    /// Opens the stored responses in `data_dir`, creating the table on first use, and loads
    /// those younger than [`KEEP_FOR`].
    ///
    /// # Errors
    /// Fails when the table cannot be opened or read.
    pub fn open(data_dir: &Path) -> Result<Self, OpenError> {
        let error = |source| OpenError {
            path: data_dir.join(IDEMPOTENCY_FILE).display().to_string(),
            source,
        };
        let table = ResponseTable::open(data_dir).map_err(error)?;
        let rows = table.load(expiry_ms(now_ms()), MAX_KEPT).map_err(error)?;
        let entries = rows
            .into_iter()
            .filter_map(|row| Some((row.slot, done_entry(row)?)))
            .collect();
        Ok(IdempotencyStore {
            entries: Mutex::new(entries),
            table: Some(table),
        })
    }

    fn claim(&self, slot: [u8; 32], request: [u8; 32]) -> Claim {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match entries.get(&slot) {
            Some(Entry::Done {
                request: stored,
                response,
                stored_at_ms,
            }) if *stored_at_ms >= expiry_ms(now_ms()) => {
                if *stored == request {
                    return Claim::Replay(response.clone());
                }
                return Claim::Conflict("this Idempotency-Key was used with another request body");
            }
            Some(Entry::Running { since }) if now - *since < RUNNING_FOR => {
                return Claim::Conflict("a request with this Idempotency-Key is still running");
            }
            _ => {}
        }
        if entries.len() >= MAX_KEPT {
            evict_oldest(&mut entries);
        }
        entries.insert(slot, Entry::Running { since: now });
        Claim::Run
    }

    /// Stores the response of a finished request (`None` removes the request, so a retry runs
    /// again). The table write happens first; when it fails, the failure is logged and the
    /// response is kept in memory only.
    fn finish(&self, slot: [u8; 32], request: [u8; 32], response: Option<StoredResponse>) {
        let Some(response) = response else {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            entries.remove(&slot);
            return;
        };
        let stored_at_ms = now_ms();
        if let Some(table) = &self.table {
            let row = Row {
                slot,
                request,
                status: response.status.as_u16(),
                content_type: response
                    .content_type
                    .as_ref()
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_owned),
                body: response.body.to_vec(),
                stored_at_ms,
            };
            if let Err(err) = table.insert(&row, expiry_ms(stored_at_ms), MAX_KEPT) {
                tracing::warn!(error = %err, "cannot store an Idempotency-Key response on disk; a retry after a restart runs again");
            }
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.insert(
            slot,
            Entry::Done {
                request,
                response,
                stored_at_ms,
            },
        );
    }
}

/// Rebuilds a stored response; a row with a status or content type that no longer parses is
/// skipped, so its retry runs again.
fn done_entry(row: Row) -> Option<Entry> {
    let status = StatusCode::from_u16(row.status).ok()?;
    let content_type = match row.content_type {
        Some(text) => Some(HeaderValue::from_str(&text).ok()?),
        None => None,
    };
    Some(Entry::Done {
        request: row.request,
        response: StoredResponse {
            status,
            content_type,
            body: Bytes::from(row.body),
        },
        stored_at_ms: row.stored_at_ms,
    })
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Returns the oldest storage time still kept at `now_ms`.
fn expiry_ms(now_ms: i64) -> i64 {
    now_ms - i64::try_from(KEEP_FOR.as_millis()).unwrap_or(i64::MAX)
}

fn evict_oldest(entries: &mut HashMap<[u8; 32], Entry>) {
    let now = now_ms();
    let mut ages: Vec<([u8; 32], i64)> = entries
        .iter()
        .map(|(slot, entry)| match entry {
            Entry::Running { since } => {
                let age = i64::try_from(since.elapsed().as_millis()).unwrap_or(i64::MAX);
                (*slot, now.saturating_sub(age))
            }
            Entry::Done { stored_at_ms, .. } => (*slot, *stored_at_ms),
        })
        .collect();
    ages.sort_by_key(|(_, at)| *at);
    for (slot, _) in ages.iter().take(entries.len() / 2 + 1) {
        entries.remove(slot);
    }
}

/// Middleware that applies `Idempotency-Key` to the command routes.
pub async fn middleware(
    State(store): State<Arc<IdempotencyStore>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(key) = request.headers().get("idempotency-key").cloned() else {
        return next.run(request).await;
    };
    if !is_command(request.method(), request.uri().path()) {
        return next.run(request).await;
    }

    if key.is_empty() || key.len() > MAX_KEY_BYTES || key.to_str().is_err() {
        return ApiError::invalid(format!(
            "invalid Idempotency-Key; use 1 to {MAX_KEY_BYTES} visible ASCII characters, such as a UUID"
        ))
        .into_response();
    }
    let Some(credential) = credential_hash(request.headers()) else {
        // Unauthenticated commands are rejected by the route itself.
        return next.run(request).await;
    };

    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, MAX_BODY_BYTES).await else {
        return ApiError::with_code(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
        )
        .into_response();
    };

    let slot = digest(&[
        &credential,
        parts.method.as_str().as_bytes(),
        parts.uri.path().as_bytes(),
        key.as_bytes(),
    ]);
    let fingerprint = digest(&[&body]);
    match store.claim(slot, fingerprint) {
        Claim::Run => {}
        Claim::Replay(stored) => return replay(stored),
        Claim::Conflict(message) => {
            return ApiError::conflict(message)
                .with_hint("use a new Idempotency-Key for a new request")
                .into_response();
        }
    }

    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
    let stored = (!parts.status.is_server_error()).then(|| StoredResponse {
        status: parts.status,
        content_type: parts.headers.get(header::CONTENT_TYPE).cloned(),
        body: bytes.clone(),
    });
    // The table write waits for an fsync, so it runs off the async threads.
    let finished = tokio::task::spawn_blocking(move || store.finish(slot, fingerprint, stored));
    if let Err(err) = finished.await {
        tracing::error!(error = %err, "storing an Idempotency-Key response failed");
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Returns whether a request to `path` with `method` honours `Idempotency-Key`.
pub fn is_command(method: &Method, path: &str) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::DELETE)
        && COMMAND_PREFIXES
            .iter()
            .any(|prefix| path.starts_with(prefix))
}

/// Hashes the caller's credential, so stored responses are never shared between callers.
fn credential_hash(headers: &HeaderMap) -> Option<[u8; 32]> {
    let authorization = headers.get(header::AUTHORIZATION);
    let cookie = headers.get(header::COOKIE);
    let credential = authorization.or(cookie)?;
    Some(digest(&[credential.as_bytes()]))
}

fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

fn replay(stored: StoredResponse) -> Response {
    let mut response = Response::new(Body::from(stored.body));
    *response.status_mut() = stored.status;
    if let Some(content_type) = stored.content_type {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
    }
    response
        .headers_mut()
        .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    response
}
