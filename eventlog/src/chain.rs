//! The SHA-256 hash chain over stored records.
//!
//! `hash(n) = SHA-256(hash(n-1) ‖ record_bytes(n))`, with 32 zero bytes before position 1.
//! `record_bytes` frames the stored fields exactly as stored: integers big-endian, byte strings
//! with a 4-byte big-endian length. Nothing is re-serialized, so verification needs only the
//! stored columns.

use keyward_events::RecordedEvent;
use sha2::{Digest, Sha256};

/// The hash before the first record.
pub const GENESIS: [u8; 32] = [0; 32];

/// The fields of one record that the chain covers.
#[derive(Clone, Copy, Debug)]
pub struct RecordFields<'a> {
    pub position: u64,
    pub stream: &'a str,
    pub version: u64,
    pub event_id: &'a [u8; 16],
    pub event_type: &'a str,
    pub schema_version: u16,
    pub recorded_at_us: i64,
    pub metadata: &'a [u8],
    pub payload: &'a [u8],
}

impl<'a> RecordFields<'a> {
    /// The chained fields of a stored record.
    pub fn of(record: &'a RecordedEvent) -> Self {
        RecordFields {
            position: record.position,
            stream: record.stream.as_str(),
            version: record.version,
            event_id: record.event_id.as_bytes(),
            event_type: &record.event_type,
            schema_version: record.schema_version,
            recorded_at_us: record.recorded_at_us,
            metadata: &record.metadata,
            payload: &record.payload,
        }
    }
}

/// Computes a record's chain hash from the previous hash and its stored fields.
pub fn chain_hash(previous: &[u8; 32], fields: &RecordFields<'_>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(previous);
    hasher.update(fields.position.to_be_bytes());
    framed(&mut hasher, fields.stream.as_bytes());
    hasher.update(fields.version.to_be_bytes());
    hasher.update(fields.event_id);
    framed(&mut hasher, fields.event_type.as_bytes());
    hasher.update(fields.schema_version.to_be_bytes());
    hasher.update(fields.recorded_at_us.to_be_bytes());
    framed(&mut hasher, fields.metadata);
    framed(&mut hasher, fields.payload);
    hasher.finalize().into()
}

fn framed(hasher: &mut Sha256, bytes: &[u8]) {
    // Payloads are capped far below 4 GiB, so the length always fits.
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    hasher.update(len.to_be_bytes());
    hasher.update(bytes);
}

/// The first problem found while walking the chain.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("position {position}: expected position {expected}; the log has a gap or reordering")]
    Gap { position: u64, expected: u64 },
    #[error("position {position}: stored hash does not match the record; the record was altered")]
    HashMismatch { position: u64 },
}

impl ChainBreak {
    /// The position at which the chain first breaks.
    pub fn position(&self) -> u64 {
        match self {
            ChainBreak::Gap { position, .. } | ChainBreak::HashMismatch { position } => *position,
        }
    }
}

/// Walks records in position order and checks positions and hashes.
#[derive(Clone, Debug)]
pub struct ChainVerifier {
    previous: [u8; 32],
    next_position: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            previous: GENESIS,
            next_position: 1,
        }
    }
}

impl ChainVerifier {
    /// Checks the next record.
    ///
    /// # Errors
    /// Returns the break when the record's position or hash is wrong.
    pub fn check(&mut self, record: &RecordedEvent) -> Result<(), ChainBreak> {
        if record.position != self.next_position {
            return Err(ChainBreak::Gap {
                position: record.position,
                expected: self.next_position,
            });
        }
        let expected = chain_hash(&self.previous, &RecordFields::of(record));
        if expected != record.hash {
            return Err(ChainBreak::HashMismatch {
                position: record.position,
            });
        }
        self.previous = record.hash;
        self.next_position += 1;
        Ok(())
    }

    /// The number of records checked so far.
    pub fn verified(&self) -> u64 {
        self.next_position - 1
    }

    /// The hash of the last record checked.
    pub fn last_hash(&self) -> [u8; 32] {
        self.previous
    }
}
