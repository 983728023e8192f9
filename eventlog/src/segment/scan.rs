//! Walking segment files frame by frame: the open-time recovery scan and the read-only reader
//! that audit tools use beside a running server.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use keyward_events::RecordedEvent;

use super::frame::{self, FrameError, HEADER_BYTES};
use super::index::corrupt;
use crate::ReadError;

/// File name ending of segment files; the name before it is the first position, zero-padded.
pub(crate) const SEGMENT_SUFFIX: &str = ".seg";

/// Returns the path of the segment whose first record has `first_position`.
pub(crate) fn segment_path(dir: &Path, first_position: u64) -> PathBuf {
    dir.join(format!("{first_position:020}{SEGMENT_SUFFIX}"))
}

/// Lists the segment files in `dir`, sorted by first position.
///
/// # Errors
/// Fails when the directory cannot be listed.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, ReadError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| ReadError::Storage(format!("cannot list {}: {e}", dir.display())))?;
    let mut segments = Vec::new();
    for entry in entries {
        let entry =
            entry.map_err(|e| ReadError::Storage(format!("cannot list {}: {e}", dir.display())))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(SEGMENT_SUFFIX)) else {
            continue;
        };
        if let Ok(first) = stem.parse::<u64>() {
            segments.push((first, entry.path()));
        }
    }
    segments.sort_unstable_by_key(|(first, _)| *first);
    Ok(segments)
}

/// The content of a segment at the reader's offset.
pub(crate) enum Next {
    Record(RecordedEvent, u64),
    End,
    Damaged(u64, FrameError),
}

/// Reads frames one after another from a segment file.
pub(crate) struct FrameReader {
    reader: BufReader<File>,
    offset: u64,
    buffer: Vec<u8>,
}

impl FrameReader {
    /// Opens a segment for reading from its start.
    ///
    /// # Errors
    /// Fails when the file cannot be opened.
    pub fn open(path: &Path) -> Result<Self, ReadError> {
        let file = File::open(path)
            .map_err(|e| ReadError::Storage(format!("cannot open {}: {e}", path.display())))?;
        Ok(FrameReader {
            reader: BufReader::with_capacity(1 << 20, file),
            offset: 0,
            buffer: Vec::new(),
        })
    }

    /// Returns the offset just after the last frame read.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads the next frame.
    ///
    /// # Errors
    /// Fails when the file cannot be read.
    pub fn next_frame(&mut self, path: &Path) -> Result<Next, ReadError> {
        let io =
            |e: std::io::Error| ReadError::Storage(format!("cannot read {}: {e}", path.display()));
        self.buffer.resize(HEADER_BYTES, 0);
        let got = read_full(&mut self.reader, &mut self.buffer).map_err(io)?;
        // Zeros written ahead of the records start where the records end: no frame has a
        // zero length.
        if got == 0 || self.buffer.iter().all(|&b| b == 0) {
            return Ok(Next::End);
        }
        if got < HEADER_BYTES {
            return Ok(Next::Damaged(self.offset, FrameError::Incomplete));
        }
        let body = match frame::body_len(&self.buffer) {
            Ok(len) => len,
            Err(err) => return Ok(Next::Damaged(self.offset, err)),
        };
        self.buffer.resize(HEADER_BYTES + body, 0);
        let got = read_full(&mut self.reader, &mut self.buffer[HEADER_BYTES..]).map_err(io)?;
        if got < body {
            return Ok(Next::Damaged(self.offset, FrameError::Incomplete));
        }
        match frame::decode(&self.buffer) {
            Ok((record, used)) => {
                let at = self.offset;
                self.offset += used as u64;
                Ok(Next::Record(record, at))
            }
            Err(err) => Ok(Next::Damaged(self.offset, err)),
        }
    }
}

fn read_full(reader: &mut impl Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Checks whether a valid frame with a position after `expected` starts anywhere after
/// `offset`. A damaged frame followed by valid ones is damage inside the log, not a torn tail.
///
/// # Errors
/// Fails when the file cannot be read.
pub(crate) fn valid_frame_after(
    path: &Path,
    offset: u64,
    expected: u64,
) -> Result<bool, ReadError> {
    let bytes = std::fs::read(path)
        .map_err(|e| ReadError::Storage(format!("cannot read {}: {e}", path.display())))?;
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .saturating_add(1);
    let plausible = expected..expected.saturating_add(1 << 24);
    for at in start..bytes.len() {
        let rest = &bytes[at..];
        let claimed = frame::claimed_position(rest).unwrap_or(0);
        if plausible.contains(&claimed) && claimed > expected && frame::decode(rest).is_ok() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Tells whether the damaged frame at `offset` of the newest segment is a write that a crash
/// cut short: either the file ends inside it, or its own last byte and every byte after it are
/// the zeros written ahead of the records. A frame that is whole and still fails its checks
/// may have been acknowledged, so it is damage.
///
/// # Errors
/// Fails when the file cannot be read.
pub(crate) fn is_torn(path: &Path, offset: u64, err: &FrameError) -> Result<bool, ReadError> {
    if matches!(err, FrameError::Incomplete) {
        return Ok(true);
    }
    let bytes = std::fs::read(path)
        .map_err(|e| ReadError::Storage(format!("cannot read {}: {e}", path.display())))?;
    let Some(tail) = usize::try_from(offset).ok().and_then(|at| bytes.get(at..)) else {
        return Ok(false);
    };
    let frame_len = frame::body_len(tail).map_or(HEADER_BYTES, |len| HEADER_BYTES + len);
    let last_written = tail.iter().rposition(|&b| b != 0);
    Ok(last_written.is_none_or(|at| at + 1 < frame_len))
}

/// A read-only, forward walk over the records of a data dir, for tools that run beside a
/// server. Stops at the first record that fails its checks.
pub struct Records {
    segments: std::vec::IntoIter<(u64, PathBuf)>,
    current: Option<(FrameReader, PathBuf, bool)>,
    next_position: u64,
    after: u64,
    failed: bool,
}

impl Records {
    pub(crate) fn new(segments: Vec<(u64, PathBuf)>, after: u64) -> Self {
        let first_needed = after + 1;
        let skip = segments
            .iter()
            .rposition(|(first, _)| *first <= first_needed)
            .unwrap_or(0);
        let next_position = segments.get(skip).map_or(1, |(first, _)| *first);
        let segments: Vec<_> = segments.into_iter().skip(skip).collect();
        Records {
            segments: segments.into_iter(),
            current: None,
            next_position,
            after,
            failed: false,
        }
    }

    fn advance(&mut self) -> Result<Option<RecordedEvent>, ReadError> {
        loop {
            if self.current.is_none() {
                let Some((first, path)) = self.segments.next() else {
                    return Ok(None);
                };
                if first != self.next_position {
                    let reason = format!(
                        "segment {} starts at position {first}, expected {}",
                        path.display(),
                        self.next_position
                    );
                    return Err(ReadError::Corrupt {
                        position: self.next_position,
                        reason,
                    });
                }
                let last = self.segments.len() == 0;
                self.current = Some((FrameReader::open(&path)?, path, last));
            }
            let Some((reader, path, last)) = self.current.as_mut() else {
                continue;
            };
            match reader.next_frame(path)? {
                Next::Record(record, offset) => {
                    if record.position != self.next_position {
                        let reason = format!(
                            "frame in {} at byte {offset} holds position {}",
                            path.display(),
                            record.position
                        );
                        return Err(ReadError::Corrupt {
                            position: self.next_position,
                            reason,
                        });
                    }
                    self.next_position += 1;
                    if record.position > self.after {
                        return Ok(Some(record));
                    }
                }
                Next::End => self.current = None,
                Next::Damaged(offset, err) => {
                    let (offset, err, last) = (offset, err, *last);
                    return self.damaged(offset, &err, last);
                }
            }
        }
    }

    /// Handles a damaged frame. In the last segment it may be a write still in progress, so
    /// the frame is read again a few times before it counts as damage. A frame there that
    /// stays cut short ends the records.
    fn damaged(
        &mut self,
        offset: u64,
        err: &FrameError,
        last: bool,
    ) -> Result<Option<RecordedEvent>, ReadError> {
        let Some((_, path, _)) = self.current.take() else {
            return Ok(None);
        };
        if last {
            for _ in 0..10 {
                std::thread::sleep(std::time::Duration::from_millis(20));
                let mut probe = reader_at(&path, offset)?;
                if let Next::Record(..) = probe.next_frame(&path)? {
                    self.current = Some((reader_at(&path, offset)?, path, true));
                    return self.advance();
                }
            }
            // A frame cut short at the end of the newest segment is a write that a crash
            // interrupted before it was acknowledged. The next open for writing discards it.
            if is_torn(&path, offset, err)? {
                return Ok(None);
            }
        }
        Err(corrupt(self.next_position, &path, offset, err))
    }
}

fn reader_at(path: &Path, offset: u64) -> Result<FrameReader, ReadError> {
    let mut reader = FrameReader::open(path)?;
    reader
        .reader
        .seek_relative(i64::try_from(offset).unwrap_or(i64::MAX))
        .map_err(|e| ReadError::Storage(format!("cannot read {}: {e}", path.display())))?;
    reader.offset = offset;
    Ok(reader)
}

impl Iterator for Records {
    type Item = Result<RecordedEvent, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let next = self.advance();
        self.failed = next.is_err();
        next.transpose()
    }
}

/// Finds the frame of `position` by walking the segment that contains it.
///
/// # Errors
/// Fails when the position is not stored, a frame before it is damaged, or a file cannot be
/// read.
pub(crate) fn locate(
    segments: &[(u64, PathBuf)],
    position: u64,
) -> Result<super::RecordLocation, ReadError> {
    let missing = || ReadError::Storage(format!("position {position} is not in the log"));
    let (_, path) = segments
        .iter()
        .rev()
        .find(|(first, _)| *first <= position)
        .ok_or_else(missing)?;
    let mut reader = FrameReader::open(path)?;
    loop {
        match reader.next_frame(path)? {
            Next::Record(record, offset) if record.position == position => {
                let len = usize::try_from(reader.offset() - offset).unwrap_or(usize::MAX);
                return Ok(super::RecordLocation {
                    segment: path.clone(),
                    offset,
                    len,
                });
            }
            Next::Record(..) => {}
            Next::End => return Err(missing()),
            Next::Damaged(offset, err) => return Err(corrupt(position, path, offset, &err)),
        }
    }
}
