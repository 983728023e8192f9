//! Synthetic events for `keyward eventlog stress`, the benchmarks and the crash tests.
//!
//! A payload is derived from its stream and version alone, so a checker can recompute what an
//! acknowledged event must hold without keeping a copy.

use keyward_events::{Metadata, NewEvent, StreamName};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Event type of synthetic events.
pub const EVENT_TYPE: &str = "StressEventAppended";

/// Builds the payload of the synthetic event at `version` of `stream`: a JSON object padded to
/// `len` bytes (or a little more when `len` is too small for the object).
pub fn payload(stream: &StreamName, version: u64, len: usize) -> Vec<u8> {
    let digest = Sha256::digest(format!("{stream}/{version}").as_bytes());
    let seed = hex::encode(digest);
    let head = format!("{{\"stream\":\"{stream}\",\"version\":{version},\"fill\":\"");
    let room = len.saturating_sub(head.len() + 2);
    let fill: String = seed.chars().cycle().take(room).collect();
    format!("{head}{fill}\"}}").into_bytes()
}

/// Builds the synthetic event at `version` of `stream`, with a fresh event id.
pub fn event(stream: &StreamName, version: u64, len: usize) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: EVENT_TYPE.into(),
        schema_version: 1,
        metadata: Metadata::default(),
        payload: payload(stream, version, len),
    }
}

#[cfg(test)]
mod tests {
    use keyward_events::Category;

    use super::*;

    #[test]
    fn payload_is_json_of_the_asked_size() {
        let stream = StreamName::new(Category::Stress, Uuid::now_v7());
        let bytes = payload(&stream, 7, 400);
        assert_eq!(bytes.len(), 400);
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["version"], 7);
        assert_eq!(payload(&stream, 7, 400), bytes);
        assert_ne!(payload(&stream, 8, 400), bytes);
    }
}
