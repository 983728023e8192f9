//! Open-time recovery: rebuild the index from the segment files and cut off a torn tail.
//!
//! Every acknowledged append was followed by an `fdatasync`, so only the bytes of the batch
//! that was being written when the process died can be incomplete, and they can only sit at the
//! end of the last segment, cut short. A whole frame that fails its checksum, damage followed
//! by valid frames, or damage in an earlier segment is not a torn tail: opening fails and names
//! the position instead of discarding anything.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use super::frame::FrameError;
use super::index::{Index, Segment, corrupt};
use super::scan::{FrameReader, Next, is_torn, list_segments, valid_frame_after};
use super::writer::create_segment;
use crate::ReadError;
use crate::chain::{GENESIS, RecordFields, chain_hash};

/// File in the events directory where every discarded tail is recorded, one JSON object a line.
pub const RECOVERY_FILE: &str = "recovery.jsonl";

/// A torn tail that recovery removed: bytes of a write that was never acknowledged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DiscardedTail {
    /// When recovery ran, in microseconds since the Unix epoch.
    pub at_us: i64,
    pub segment: PathBuf,
    /// Byte offset in the segment where the discarded bytes started.
    pub offset: u64,
    pub bytes: u64,
    /// The last position kept; the discarded bytes would have followed it.
    pub last_position: u64,
    pub reason: String,
}

/// Scans every segment in `dir`, rebuilding the index; a torn tail is cut off and recorded.
///
/// # Errors
/// [`ReadError::Corrupt`] for damage that is not a torn tail, storage errors otherwise.
pub(crate) fn recover(dir: &Path) -> Result<(Index, Option<DiscardedTail>), ReadError> {
    let listed = list_segments(dir)?;
    let mut index = Index {
        tip_hash: GENESIS,
        ..Index::default()
    };
    let mut discarded = None;
    let count = listed.len();
    for (i, (first, path)) in listed.into_iter().enumerate() {
        if first != index.head + 1 {
            let reason = format!("segment {} starts at position {first}", path.display());
            return Err(ReadError::Corrupt {
                position: index.head + 1,
                reason,
            });
        }
        index.segments.push(open_segment(first, &path)?);
        let damage = scan_segment(&mut index, &path)?;
        if let Some((offset, err)) = damage {
            let expected = index.head + 1;
            // Only a frame cut short, in the newest segment, can be a write the crash
            // interrupted. A whole frame that fails its checks may have been acknowledged, so
            // it is reported, never discarded.
            let torn = i + 1 == count && is_torn(&path, offset, &err)?;
            if !torn || valid_frame_after(&path, offset, expected)? {
                return Err(corrupt(expected, &path, offset, &err));
            }
            discarded = Some(discard_tail(dir, &path, offset, &err, index.head)?);
        }
    }
    if index.segments.is_empty() {
        index
            .segments
            .push(create_segment(dir, 1).map_err(ReadError::Storage)?);
    }
    Ok((index, discarded))
}

fn open_segment(first_position: u64, path: &Path) -> Result<Segment, ReadError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| ReadError::Storage(format!("cannot open {}: {e}", path.display())))?;
    Ok(Segment {
        first_position,
        path: path.to_owned(),
        file: Arc::new(file),
        offsets: Vec::new(),
        end: 0,
    })
}

/// Indexes the frames of the last segment in `index`, checking each one's link in the hash
/// chain; returns where damage starts, if any.
fn scan_segment(index: &mut Index, path: &Path) -> Result<Option<(u64, FrameError)>, ReadError> {
    let mut reader = FrameReader::open(path)?;
    let damage = loop {
        match reader.next_frame(path)? {
            Next::Record(record, offset) => {
                let expected = index.head + 1;
                if record.position != expected {
                    let reason = format!(
                        "frame in {} at byte {offset} holds position {}",
                        path.display(),
                        record.position
                    );
                    return Err(ReadError::Corrupt {
                        position: expected,
                        reason,
                    });
                }
                let hash = chain_hash(&index.tip_hash, &RecordFields::of(&record));
                if hash != record.hash {
                    let reason = format!(
                        "the stored hash of the frame in {} at byte {offset} does not match the \
                         record, so the record was altered; run `keyward audit verify`",
                        path.display()
                    );
                    return Err(ReadError::Corrupt {
                        position: expected,
                        reason,
                    });
                }
                index.push(offset, &record.stream, record.event_id);
                index.tip_hash = record.hash;
                index.last_recorded_at_us = record.recorded_at_us;
            }
            Next::End => break None,
            Next::Damaged(offset, err) => break Some((offset, err)),
        }
    };
    if let Some(segment) = index.segments.last_mut() {
        segment.end = reader.offset();
    }
    Ok(damage)
}

fn discard_tail(
    dir: &Path,
    path: &Path,
    offset: u64,
    err: &FrameError,
    last_position: u64,
) -> Result<DiscardedTail, ReadError> {
    let storage = |e: std::io::Error| {
        ReadError::Storage(format!(
            "cannot cut the torn tail of {}: {e}",
            path.display()
        ))
    };
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(storage)?;
    // The zeros written ahead of the records were never part of a write, so they are cut
    // but not counted.
    let bytes = std::fs::read(path).map_err(storage)?;
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    let written = bytes[start..]
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |at| at + 1);
    file.set_len(offset).map_err(storage)?;
    file.sync_all().map_err(storage)?;
    let tail = DiscardedTail {
        at_us: chrono::Utc::now().timestamp_micros(),
        segment: path.to_owned(),
        offset,
        bytes: written as u64,
        last_position,
        reason: err.to_string(),
    };
    record_discard(dir, &tail).map_err(|e| {
        ReadError::Storage(format!(
            "cannot record the discarded tail in {RECOVERY_FILE}: {e}"
        ))
    })?;
    tracing::warn!(
        segment = %path.display(),
        offset,
        bytes = tail.bytes,
        last_position,
        reason = %tail.reason,
        "discarded the torn tail of an unacknowledged write"
    );
    Ok(tail)
}

fn record_discard(dir: &Path, tail: &DiscardedTail) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(tail).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(RECOVERY_FILE))?;
    file.write_all(&line)?;
    file.sync_all()
}
