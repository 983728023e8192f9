//! The envelope around every event: what an appender supplies and what the log returns.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::stream::StreamName;

/// Who caused an event and why, stored beside the payload.
///
/// Never holds a secret: session ids are the public ids of sessions, not their tokens.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// Id shared by every event that one user request or one job caused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Uuid>,
    /// Id of the command or event that directly caused this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    /// Account on whose behalf the event was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<Uuid>,
    /// Public id of the session that issued the command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<Uuid>,
    /// Network address the command came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_address: Option<String>,
    /// Exchange REST host an outside call went to, where one was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange_host: Option<String>,
}

/// An event ready to append: its id, type, schema version, metadata and payload bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    /// Derived from the command id, so a retried command appends nothing new.
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u16,
    pub metadata: Metadata,
    /// Payload bytes, stored and hashed exactly as given.
    pub payload: Vec<u8>,
}

/// An event as stored in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedEvent {
    /// Global position, from 1, gap-free, in commit order.
    pub position: u64,
    pub stream: StreamName,
    /// Version within the stream, from 0.
    pub version: u64,
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u16,
    /// Commit time in microseconds since the Unix epoch, as stored and hashed.
    pub recorded_at_us: i64,
    /// Metadata bytes (JSON of [`Metadata`]) exactly as stored.
    pub metadata: Vec<u8>,
    /// Payload bytes exactly as stored.
    pub payload: Vec<u8>,
    /// SHA-256 over the previous record's hash and this record's stored bytes.
    pub hash: [u8; 32],
}

impl RecordedEvent {
    /// The commit time as a UTC timestamp.
    pub fn recorded_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.recorded_at_us).unwrap_or_default()
    }

    /// Parses the stored metadata; unreadable metadata yields the empty default.
    pub fn parsed_metadata(&self) -> Metadata {
        serde_json::from_slice(&self.metadata).unwrap_or_default()
    }
}
