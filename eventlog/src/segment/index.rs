//! The in-memory index over the segment files: where each position's frame starts, each
//! stream's positions by version, and each event id's position.
//!
//! The writer thread is the only one that changes it, and only after an fsync, so readers never
//! see a record that is not durable.
//!
//! NOTE: the index is rebuilt by scanning every segment at open. It costs about 40 bytes of
//! memory per event (offset, stream entry, event id entry), so past tens of millions of events
//! it needs a persistent index instead.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use keyward_events::{RecordedEvent, StreamName};
use uuid::Uuid;

use super::frame::{self, FrameError};
use crate::ReadError;

/// Reads of consecutive records stop adding frames past this many bytes, so one page of large
/// events cannot take unbounded memory. At least one record is always returned.
pub(crate) const READ_BYTES_CAP: u64 = 4 * 1024 * 1024;

/// One segment file: the records from `first_position` on, in frames laid end to end.
pub(crate) struct Segment {
    pub first_position: u64,
    pub path: PathBuf,
    pub file: Arc<File>,
    /// Byte offset of each record's frame; record `i` has position `first_position + i`.
    pub offsets: Vec<u64>,
    /// Bytes of durable frames; the next frame starts here.
    pub end: u64,
}

impl Segment {
    fn frame_range(&self, index: usize) -> (u64, u64) {
        let start = self.offsets[index];
        let end = self.offsets.get(index + 1).copied().unwrap_or(self.end);
        (start, end)
    }
}

/// The durable state of the log as readers see it.
#[derive(Default)]
pub(crate) struct Index {
    pub segments: Vec<Segment>,
    pub streams: HashMap<StreamName, Vec<u64>>,
    pub ids: HashMap<Uuid, u64>,
    pub head: u64,
    pub tip_hash: [u8; 32],
    pub last_recorded_at_us: i64,
}

/// The location of a run of consecutive records in one segment file.
pub(crate) struct Span {
    pub file: Arc<File>,
    pub path: PathBuf,
    pub first_position: u64,
    pub start: u64,
    pub end: u64,
    pub count: usize,
}

impl Index {
    /// Adds one durable record at `offset` of the last segment.
    pub fn push(&mut self, record_offset: u64, stream: &StreamName, event_id: Uuid) {
        self.head += 1;
        if let Some(segment) = self.segments.last_mut() {
            segment.offsets.push(record_offset);
        }
        self.ids.insert(event_id, self.head);
        match self.streams.get_mut(stream) {
            Some(positions) => positions.push(self.head),
            None => {
                self.streams.insert(stream.clone(), vec![self.head]);
            }
        }
    }

    /// The last version of a stream, `None` when it has no events.
    pub fn stream_version(&self, stream: &StreamName) -> Option<u64> {
        let positions = self.streams.get(stream)?;
        Some(positions.len() as u64 - 1)
    }

    fn segment_of(&self, position: u64) -> Option<(usize, usize)> {
        if position == 0 || position > self.head {
            return None;
        }
        let at = self
            .segments
            .partition_point(|s| s.first_position <= position)
            .checked_sub(1)?;
        let segment = &self.segments[at];
        let index = usize::try_from(position - segment.first_position).ok()?;
        (index < segment.offsets.len()).then_some((at, index))
    }

    /// Returns the span of up to `limit` records from `position` on, within one segment and within
    /// [`READ_BYTES_CAP`] (but always at least one record).
    pub fn span_from(&self, position: u64, limit: usize) -> Option<Span> {
        let (at, index) = self.segment_of(position)?;
        let segment = &self.segments[at];
        let available = segment.offsets.len() - index;
        let start = segment.offsets[index];
        let mut count = 1;
        while count < limit.min(available) {
            let next_end = segment.frame_range(index + count).1;
            if next_end - start > READ_BYTES_CAP {
                break;
            }
            count += 1;
        }
        let end = segment.frame_range(index + count - 1).1;
        Some(Span {
            file: Arc::clone(&segment.file),
            path: segment.path.clone(),
            first_position: position,
            start,
            end,
            count,
        })
    }

    /// Returns the spans of up to `limit` records from `position` on, across segments, within
    /// [`READ_BYTES_CAP`] in total (but always at least one record when one exists).
    pub fn spans_from(&self, position: u64, limit: usize) -> Vec<Span> {
        let mut spans = Vec::new();
        let (mut next, mut remaining, mut bytes) = (position, limit, 0);
        while remaining > 0 && bytes < READ_BYTES_CAP {
            let Some(span) = self.span_from(next, remaining) else {
                break;
            };
            bytes += span.end - span.start;
            next += span.count as u64;
            remaining -= span.count;
            spans.push(span);
        }
        spans
    }

    /// Returns the span of exactly one record.
    pub fn span_of(&self, position: u64) -> Option<Span> {
        self.span_from(position, 1)
    }
}

impl Span {
    /// Reads and decodes the records of this span.
    ///
    /// # Errors
    /// [`ReadError::Corrupt`] when a frame fails its checksum or does not hold the expected
    /// position; [`ReadError::Storage`] when the file cannot be read.
    pub fn read(&self) -> Result<Vec<RecordedEvent>, ReadError> {
        READ_BUFFER.with_borrow_mut(|buffer| {
            let records = self.read_with(buffer);
            if buffer.len() > 4 * READ_CHUNK {
                buffer.truncate(READ_CHUNK);
                buffer.shrink_to_fit();
            }
            records
        })
    }

    /// Reads the span in chunks of about [`READ_CHUNK`] bytes through `buffer`, so the bytes
    /// are still in the CPU cache when they are decoded.
    fn read_with(&self, buffer: &mut Vec<u8>) -> Result<Vec<RecordedEvent>, ReadError> {
        let mut records = Vec::with_capacity(self.count);
        let (mut base, mut at, mut filled) = (self.start, 0, 0);
        while records.len() < self.count {
            let position = self.first_position + records.len() as u64;
            let offset = base + at as u64;
            match frame::decode(&buffer[at..filled]) {
                Ok((record, used)) => {
                    if record.position != position {
                        let reason = format!("frame holds position {} instead", record.position);
                        return Err(ReadError::Corrupt { position, reason });
                    }
                    records.push(record);
                    at += used;
                }
                Err(FrameError::Incomplete) if offset < self.end => {
                    let frame_len = frame::body_len(&buffer[at..filled])
                        .map_or(0, |len| len + frame::HEADER_BYTES);
                    let want = READ_CHUNK.max(frame_len).min(to_usize(self.end - offset));
                    if buffer.len() < want {
                        buffer.resize(want, 0);
                    }
                    self.file
                        .read_exact_at(&mut buffer[..want], offset)
                        .map_err(|e| {
                            ReadError::Storage(format!("cannot read {}: {e}", self.path.display()))
                        })?;
                    (base, at, filled) = (offset, 0, want);
                }
                Err(err) => return Err(corrupt(position, &self.path, offset, &err)),
            }
        }
        Ok(records)
    }
}

/// Bytes read from a segment at once.
const READ_CHUNK: usize = 256 * 1024;

thread_local! {
    /// The read buffer of each reading thread, kept between reads.
    static READ_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn to_usize(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

pub(crate) fn corrupt(position: u64, path: &Path, offset: u64, err: &FrameError) -> ReadError {
    ReadError::Corrupt {
        position,
        reason: format!("{err} in {} at byte {offset}", path.display()),
    }
}
