//! Errors of appends and reads.

use uuid::Uuid;

use crate::ExpectedVersion;

/// Why an append was not written.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error(
        "wrong expected version on stream {stream}: expected {expected}, actual {}",
        actual.map_or_else(|| "no stream".to_owned(), |v| v.to_string())
    )]
    WrongExpectedVersion {
        stream: String,
        expected: ExpectedVersion,
        /// Version of the stream's last event, `None` when the stream does not exist.
        actual: Option<u64>,
    },
    #[error("event id {event_id} is already stored with other content; use a new id")]
    EventIdReused { event_id: Uuid },
    #[error("payload of {event_type} has {size} bytes, more than the maximum of {max}")]
    PayloadTooLarge {
        event_type: String,
        size: usize,
        max: usize,
    },
    #[error("event {event_id} is invalid: {reason}")]
    InvalidEvent { event_id: Uuid, reason: String },
    #[error("an append needs at least one event")]
    Empty,
    #[error("the event log could not write to storage: {0}; nothing of this append was stored")]
    Storage(String),
    #[error("the event log is shut down")]
    Closed,
}

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("the event log could not read storage: {0}")]
    Storage(String),
    #[error("stored event at position {position} is unreadable: {reason}")]
    Corrupt { position: u64, reason: String },
    #[error("the event log is shut down")]
    Closed,
}
