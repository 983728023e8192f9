//! The event log: the only record of everything that happened in keyward.
//!
//! Every backend implements [`EventLog`]: appends to one stream with an expected version,
//! durable before they return; reads of one stream or of everything after a global position;
//! and a head watch from which [`Subscription`] builds catch-up-then-live subscriptions. Each
//! record is chained to the previous one by SHA-256 over its stored bytes (see [`chain`]).

pub mod chain;
pub mod checkpoint;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
pub mod memory;
pub mod segment;
pub mod sqlite;
pub mod stress;
mod subscription;

use async_trait::async_trait;
use keyward_events::{NewEvent, RecordedEvent, StreamName};
use tokio::sync::watch;

pub use error::{AppendError, ReadError};
pub use memory::MemoryLog;
pub use segment::SegmentLog;
pub use sqlite::SqliteLog;
pub use subscription::{Subscription, SubscriptionFilter};

/// Name of the histogram of events made durable by one fsync (group commit), recorded by the
/// embedded backends through the `metrics` facade.
pub const COMMIT_BATCH_METRIC: &str = "keyward_eventlog_commit_batch_events";

/// Largest payload accepted in one event.
pub const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;

/// The stream version an append expects to find, checked atomically with the write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the stream's version.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last event must have this version.
    Exact(u64),
}

impl std::fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::Exact(v) => write!(f, "{v}"),
        }
    }
}

/// The positions and version an append was stored at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    /// Global position of the first appended event.
    pub first_position: u64,
    /// Global position of the last appended event.
    pub last_position: u64,
    /// Stream version of the last appended event; pass it as `Exact` to append after it.
    pub last_version: u64,
}

/// Direction of a stream read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
}

/// An append-only, hash-chained log of events.
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Appends events to one stream if its version matches `expected`, and returns once they
    /// are durable. Appending event ids that are already stored, with the same content, returns
    /// their original positions and writes nothing.
    ///
    /// # Errors
    /// [`AppendError::WrongExpectedVersion`] on a version conflict, [`AppendError::EventIdReused`]
    /// when a stored event id arrives with other content, size and storage errors otherwise.
    async fn append(
        &self,
        stream: &StreamName,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Appended, AppendError>;

    /// Reads up to `limit` events of one stream, starting at version `from` and going in
    /// `direction` (backward reads start at `from` and go down; `u64::MAX` means the end).
    ///
    /// # Errors
    /// Fails when storage cannot be read.
    async fn read_stream(
        &self,
        stream: &StreamName,
        from: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, ReadError>;

    /// Reads up to `limit` events with positions greater than `after`, in position order.
    ///
    /// # Errors
    /// Fails when storage cannot be read.
    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, ReadError>;

    /// A watch of the last durable position; it changes after every commit.
    fn head(&self) -> watch::Receiver<u64>;
}

/// Reads a whole stream forward.
///
/// # Errors
/// Fails when storage cannot be read.
pub async fn read_whole_stream(
    log: &dyn EventLog,
    stream: &StreamName,
) -> Result<Vec<RecordedEvent>, ReadError> {
    const PAGE: usize = 1000;
    let mut events = Vec::new();
    loop {
        let from = events.len() as u64;
        let page = log
            .read_stream(stream, from, Direction::Forward, PAGE)
            .await?;
        let done = page.len() < PAGE;
        events.extend(page);
        if done {
            return Ok(events);
        }
    }
}

/// Maximum length of an event type name, in bytes.
pub const MAX_EVENT_TYPE_BYTES: usize = 256;

fn validate_new_events(events: &[NewEvent]) -> Result<(), AppendError> {
    if events.is_empty() {
        return Err(AppendError::Empty);
    }
    for event in events {
        if event.event_type.is_empty() || event.event_type.len() > MAX_EVENT_TYPE_BYTES {
            return Err(AppendError::InvalidEvent {
                event_id: event.event_id,
                reason: format!(
                    "event type has {} bytes; it must have 1 to {MAX_EVENT_TYPE_BYTES}",
                    event.event_type.len()
                ),
            });
        }
        if event.payload.len() > MAX_PAYLOAD_BYTES {
            return Err(AppendError::PayloadTooLarge {
                event_type: event.event_type.clone(),
                size: event.payload.len(),
                max: MAX_PAYLOAD_BYTES,
            });
        }
    }
    Ok(())
}

/// Serializes each event's metadata to the JSON bytes that are stored and hashed.
fn serialize_metadata(events: &[NewEvent]) -> Result<Vec<Vec<u8>>, AppendError> {
    events
        .iter()
        .map(|event| {
            let bytes = serde_json::to_vec(&event.metadata).unwrap_or_default();
            if bytes.len() > segment::frame::MAX_METADATA_BYTES {
                return Err(AppendError::InvalidEvent {
                    event_id: event.event_id,
                    reason: format!(
                        "metadata has {} bytes, more than the maximum of {}",
                        bytes.len(),
                        segment::frame::MAX_METADATA_BYTES
                    ),
                });
            }
            Ok(bytes)
        })
        .collect()
}
