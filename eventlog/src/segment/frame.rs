//! The on-disk frame of one record: a length, a CRC32C, and the record's stored fields.
//!
//! ```text
//! header   body_len: u32 LE, crc32c(body): u32 LE
//! body     position u64, version u64, event_id [16], recorded_at_us i64, schema_version u16,
//!          stream_len u16, event_type_len u16, metadata_len u32, payload_len u32, hash [32],
//!          then the stream, event type, metadata and payload bytes
//! ```
//!
//! Integers are little-endian. The CRC detects torn and decayed writes; the hash chain, which
//! covers the same fields, detects deliberate edits.

use keyward_events::{RecordedEvent, StreamName};
use uuid::Uuid;

use crate::MAX_PAYLOAD_BYTES;

/// Bytes before the body: its length and its CRC32C.
pub const HEADER_BYTES: usize = 8;
/// Bytes of the body's fixed-size fields.
const FIXED_BYTES: usize = 8 + 8 + 16 + 8 + 2 + 2 + 2 + 4 + 4 + 32;
/// Largest metadata accepted in one record.
pub const MAX_METADATA_BYTES: usize = 64 * 1024;
/// Largest body a valid frame can have; a larger length field marks a damaged frame.
pub const MAX_BODY_BYTES: usize =
    FIXED_BYTES + 2 * u16::MAX as usize + MAX_METADATA_BYTES + MAX_PAYLOAD_BYTES;

/// Offset of the position field from the start of a frame.
pub const POSITION_OFFSET: usize = HEADER_BYTES;

/// The fields of one record in the order they are framed.
#[derive(Clone, Copy, Debug)]
pub struct FrameFields<'a> {
    pub position: u64,
    pub version: u64,
    pub event_id: &'a [u8; 16],
    pub recorded_at_us: i64,
    pub schema_version: u16,
    pub stream: &'a str,
    pub event_type: &'a str,
    pub metadata: &'a [u8],
    pub payload: &'a [u8],
    pub hash: &'a [u8; 32],
}

/// Why bytes do not form a valid frame.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("the bytes end inside a frame")]
    Incomplete,
    #[error("frame length {0} is out of range")]
    BadLength(usize),
    #[error("frame checksum does not match its bytes")]
    Checksum,
    #[error("frame fields are malformed: {0}")]
    Malformed(&'static str),
}

/// Total bytes of a frame with these variable-length fields.
pub fn frame_len(stream: &str, event_type: &str, metadata: &[u8], payload: &[u8]) -> usize {
    HEADER_BYTES + FIXED_BYTES + stream.len() + event_type.len() + metadata.len() + payload.len()
}

/// Appends one frame to `out`. The caller has checked the field lengths.
pub fn encode(out: &mut Vec<u8>, fields: &FrameFields<'_>) {
    let start = out.len();
    let body_len = frame_len(
        fields.stream,
        fields.event_type,
        fields.metadata,
        fields.payload,
    ) - HEADER_BYTES;
    out.extend_from_slice(&len_u32(body_len).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&fields.position.to_le_bytes());
    out.extend_from_slice(&fields.version.to_le_bytes());
    out.extend_from_slice(fields.event_id);
    out.extend_from_slice(&fields.recorded_at_us.to_le_bytes());
    out.extend_from_slice(&fields.schema_version.to_le_bytes());
    out.extend_from_slice(&len_u16(fields.stream.len()).to_le_bytes());
    out.extend_from_slice(&len_u16(fields.event_type.len()).to_le_bytes());
    out.extend_from_slice(&len_u32(fields.metadata.len()).to_le_bytes());
    out.extend_from_slice(&len_u32(fields.payload.len()).to_le_bytes());
    out.extend_from_slice(fields.hash);
    out.extend_from_slice(fields.stream.as_bytes());
    out.extend_from_slice(fields.event_type.as_bytes());
    out.extend_from_slice(fields.metadata);
    out.extend_from_slice(fields.payload);
    let crc = crc32c::crc32c(&out[start + HEADER_BYTES..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn len_u16(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(u16::MAX)
}

fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Reads the body length from a frame header, checking it against the valid range.
///
/// # Errors
/// [`FrameError::Incomplete`] for fewer than 8 bytes, [`FrameError::BadLength`] for a length
/// no valid frame has.
pub fn body_len(header: &[u8]) -> Result<usize, FrameError> {
    let bytes: [u8; 4] = header
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or(FrameError::Incomplete)?;
    let len = u32::from_le_bytes(bytes) as usize;
    if !(FIXED_BYTES..=MAX_BODY_BYTES).contains(&len) {
        return Err(FrameError::BadLength(len));
    }
    Ok(len)
}

/// Decodes the frame at the start of `bytes`; returns the record and the frame's length.
///
/// # Errors
/// Fails when the bytes end early, the checksum does not match, or a field is malformed.
pub fn decode(bytes: &[u8]) -> Result<(RecordedEvent, usize), FrameError> {
    let len = body_len(bytes)?;
    let frame = bytes
        .get(..HEADER_BYTES + len)
        .ok_or(FrameError::Incomplete)?;
    let stored_crc = u32::from_le_bytes(take(frame, 4));
    let body = &frame[HEADER_BYTES..];
    if crc32c::crc32c(body) != stored_crc {
        return Err(FrameError::Checksum);
    }
    Ok((decode_body(body)?, frame.len()))
}

/// The position a frame claims, read without checking anything else; used to tell a torn tail
/// from damage in the middle of a segment.
pub fn claimed_position(bytes: &[u8]) -> Option<u64> {
    let field = bytes.get(POSITION_OFFSET..POSITION_OFFSET + 8)?;
    Some(u64::from_le_bytes(field.try_into().ok()?))
}

fn take<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(&bytes[at..at + N]);
    out
}

fn decode_body(body: &[u8]) -> Result<RecordedEvent, FrameError> {
    let stream_len = usize::from(u16::from_le_bytes(take(body, 42)));
    let type_len = usize::from(u16::from_le_bytes(take(body, 44)));
    let metadata_len = u32::from_le_bytes(take(body, 46)) as usize;
    let payload_len = u32::from_le_bytes(take(body, 50)) as usize;
    let variable = stream_len + type_len + metadata_len + payload_len;
    if FIXED_BYTES + variable != body.len() {
        return Err(FrameError::Malformed(
            "field lengths do not add up to the frame",
        ));
    }
    let mut at = FIXED_BYTES;
    let mut next = |len: usize| {
        let field = &body[at..at + len];
        at += len;
        field
    };
    let stream = std::str::from_utf8(next(stream_len))
        .map_err(|_| FrameError::Malformed("stream name is not UTF-8"))?;
    let event_type = std::str::from_utf8(next(type_len))
        .map_err(|_| FrameError::Malformed("event type is not UTF-8"))?;
    let metadata = next(metadata_len).to_vec();
    let payload = next(payload_len).to_vec();
    Ok(RecordedEvent {
        position: u64::from_le_bytes(take(body, 0)),
        stream: StreamName::from_stored(stream.to_owned()),
        version: u64::from_le_bytes(take(body, 8)),
        event_id: Uuid::from_bytes(take(body, 16)),
        event_type: event_type.to_owned(),
        schema_version: u16::from_le_bytes(take(body, 40)),
        recorded_at_us: i64::from_le_bytes(take(body, 32)),
        metadata,
        payload,
        hash: take(body, 54),
    })
}

/// Where a record's payload sits inside its frame: the offset from the frame's start and the
/// length. Used by tools and tests that inspect the stored bytes.
///
/// # Errors
/// Fails when the frame is incomplete or its length fields are malformed.
pub fn payload_span(frame: &[u8]) -> Result<(usize, usize), FrameError> {
    let len = body_len(frame)?;
    let body = frame
        .get(HEADER_BYTES..HEADER_BYTES + len)
        .ok_or(FrameError::Incomplete)?;
    let stream_len = usize::from(u16::from_le_bytes(take(body, 42)));
    let type_len = usize::from(u16::from_le_bytes(take(body, 44)));
    let metadata_len = u32::from_le_bytes(take(body, 46)) as usize;
    let payload_len = u32::from_le_bytes(take(body, 50)) as usize;
    let start = HEADER_BYTES + FIXED_BYTES + stream_len + type_len + metadata_len;
    if start + payload_len != HEADER_BYTES + len {
        return Err(FrameError::Malformed(
            "field lengths do not add up to the frame",
        ));
    }
    Ok((start, payload_len))
}

/// Recomputes the CRC of a frame in place; only tests that forge a record need this.
///
/// # Errors
/// Fails when the frame is incomplete.
pub fn reseal(frame: &mut [u8]) -> Result<(), FrameError> {
    let len = body_len(frame)?;
    let end = HEADER_BYTES + len;
    if frame.len() < end {
        return Err(FrameError::Incomplete);
    }
    let crc = crc32c::crc32c(&frame[HEADER_BYTES..end]);
    frame[4..8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(out: &mut Vec<u8>, payload: &[u8]) {
        let id = [7u8; 16];
        let hash = [9u8; 32];
        encode(
            out,
            &FrameFields {
                position: 42,
                version: 3,
                event_id: &id,
                recorded_at_us: 1_700_000_000_000_000,
                schema_version: 2,
                stream: "key-0192",
                event_type: "KeyAdded",
                metadata: b"{}",
                payload,
                hash: &hash,
            },
        );
    }

    #[test]
    fn frame_round_trips() {
        let mut out = Vec::new();
        sample(&mut out, b"{\"a\":1}");
        assert_eq!(
            out.len(),
            frame_len("key-0192", "KeyAdded", b"{}", b"{\"a\":1}")
        );
        let (record, used) = decode(&out).unwrap();
        assert_eq!(used, out.len());
        assert_eq!(record.position, 42);
        assert_eq!(record.version, 3);
        assert_eq!(record.stream.as_str(), "key-0192");
        assert_eq!(record.event_type, "KeyAdded");
        assert_eq!(record.schema_version, 2);
        assert_eq!(record.metadata, b"{}");
        assert_eq!(record.payload, b"{\"a\":1}");
        assert_eq!(record.hash, [9u8; 32]);
        assert_eq!(claimed_position(&out), Some(42));
    }

    #[test]
    fn damage_is_detected() {
        let mut out = Vec::new();
        sample(&mut out, b"payload");
        for cut in [0, 3, HEADER_BYTES, out.len() - 1] {
            assert_eq!(
                decode(&out[..cut]).unwrap_err(),
                FrameError::Incomplete,
                "cut at {cut}"
            );
        }
        let (start, len) = payload_span(&out).unwrap();
        assert_eq!(&out[start..start + len], b"payload");
        out[start] ^= 1;
        assert_eq!(decode(&out).unwrap_err(), FrameError::Checksum);
        reseal(&mut out).unwrap();
        assert_eq!(decode(&out).unwrap().0.payload, b"qayload");
        let zeros = vec![0u8; 64];
        assert_eq!(decode(&zeros).unwrap_err(), FrameError::BadLength(0));
    }
}
