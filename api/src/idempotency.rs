//! `Idempotency-Key` on commands: a retried command with the same key gets the first response
//! again instead of running twice.
//!
//! Responses are stored in memory per credential (a SHA-256 of the `Authorization` header or the
//! session cookie), method, path and key, for [`KEEP_FOR`]. The same key with another body is
//! a conflict, and so is a retry while the first request still runs. Server errors (5xx) are
//! not stored, so a retry after one runs again. Only the key and bot commands and the account
//! risk routes take part: their responses carry ids and positions, never a secret.
// NOTE: the responses live in this process only; a restart or another node forgets them, and the
// actors' own event-id checks are what then keeps a retried command from appending twice.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::ApiError;
use crate::routes::MAX_BODY_BYTES;

/// How long a response is stored.
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

/// Stored responses by credential, method, path and key.
#[derive(Default)]
pub struct IdempotencyStore {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

enum Entry {
    Running {
        since: Instant,
    },
    Done {
        request: [u8; 32],
        response: StoredResponse,
        at: Instant,
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

impl IdempotencyStore {
    fn claim(&self, slot: [u8; 32], request: [u8; 32]) -> Claim {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match entries.get(&slot) {
            Some(Entry::Done {
                request: stored,
                response,
                at,
            }) if now - *at < KEEP_FOR => {
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

    fn finish(&self, slot: [u8; 32], request: [u8; 32], response: Option<StoredResponse>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match response {
            Some(response) => {
                let at = Instant::now();
                entries.insert(
                    slot,
                    Entry::Done {
                        request,
                        response,
                        at,
                    },
                );
            }
            None => {
                entries.remove(&slot);
            }
        }
    }
}

fn evict_oldest(entries: &mut HashMap<[u8; 32], Entry>) {
    let mut ages: Vec<([u8; 32], Instant)> = entries
        .iter()
        .map(|(slot, entry)| match entry {
            Entry::Running { since, .. } => (*slot, *since),
            Entry::Done { at, .. } => (*slot, *at),
        })
        .collect();
    ages.sort_by_key(|(_, at)| *at);
    for (slot, _) in ages.iter().take(entries.len() / 2 + 1) {
        entries.remove(slot);
    }
}

/// Middleware that applies `Idempotency-Key` to the command routes.
pub async fn middleware(
    State(store): State<std::sync::Arc<IdempotencyStore>>,
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
    store.finish(slot, fingerprint, stored);
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
