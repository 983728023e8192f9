//! The single writer thread and its group commit.
//!
//! The thread takes every append waiting in its queue and checks each against the durable index
//! and the appends before it in the same batch. It frames the accepted events into one buffer,
//! writes the buffer with one `pwrite` and makes it durable with one `fdatasync`. Only then does
//! it publish the records to the index and answer the appenders.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, mpsc};
use std::time::{Duration, Instant};

use keyward_events::{NewEvent, StreamName};
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

use super::frame::{self, FrameFields};
use super::index::{Index, Segment};
use super::scan::segment_path;
use crate::chain::{RecordFields, chain_hash};
use crate::memory::{StoredId, check_expected, check_repeat};
use crate::{AppendError, Appended, ExpectedVersion};

/// Zeros written past the records at a time, so that the file grows once per this many bytes
/// of records instead of at every batch.
const FILL_AHEAD_BYTES: u64 = 1 << 20;

/// Appends taken into one commit at most; a cap keeps one fsync from waiting on a huge batch.
const MAX_BATCH: usize = 1024;

/// Maximum wait for appenders that the last batches suggest are about to send. It is small
/// next to the fsync that the batch then shares.
const GATHER_WINDOW: Duration = Duration::from_micros(200);

/// One append waiting for the writer.
pub(crate) struct WriteRequest {
    pub stream: StreamName,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
    /// Each event's metadata, serialized by the caller so the writer thread only frames bytes.
    pub metadata: Vec<Vec<u8>>,
    pub reply: oneshot::Sender<Result<Appended, AppendError>>,
}

/// State shared by the writer and the readers.
pub(crate) struct Shared {
    pub index: RwLock<Index>,
    pub head: watch::Sender<u64>,
    /// Batches made durable since open, one `fdatasync` each.
    pub commits: AtomicU64,
}

impl Shared {
    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// The writer's view of the active segment.
pub(crate) struct Writer {
    dir: PathBuf,
    shared: Arc<Shared>,
    file: Arc<File>,
    path: PathBuf,
    /// Durable length of the active segment.
    end: u64,
    /// Length of the active segment file: the records up to `end`, then zeros written ahead.
    filled: u64,
    segment_bytes: u64,
    /// A new segment that no durable batch has reached yet.
    pending: Option<Segment>,
    /// Whether bytes of a failed write may still follow `end`.
    needs_cut: bool,
    buffer: Vec<u8>,
}

/// An event accepted into the batch in progress, not yet durable.
struct StagedEvent<'a> {
    position: u64,
    version: u64,
    stream: &'a StreamName,
    event: &'a NewEvent,
}

/// The batch in progress: the chain tip and stream versions as they will be after it commits.
struct Staged<'a> {
    position: u64,
    hash: [u8; 32],
    recorded_at_us: i64,
    versions: HashMap<&'a StreamName, u64>,
    ids: HashMap<Uuid, StagedEvent<'a>>,
    /// Offset in the buffer, stream and id of every framed record, in position order.
    records: Vec<(usize, &'a StreamName, Uuid)>,
}

impl Writer {
    pub fn new(dir: &Path, shared: Arc<Shared>, segment_bytes: u64) -> Self {
        let (file, path, end) = {
            let index = shared.read();
            let last = index
                .segments
                .last()
                .unwrap_or_else(|| unreachable!("recovery creates the first segment"));
            (Arc::clone(&last.file), last.path.clone(), last.end)
        };
        let filled = file.metadata().map_or(end, |m| m.len()).max(end);
        Writer {
            dir: dir.to_owned(),
            file,
            path,
            shared,
            end,
            filled,
            segment_bytes,
            pending: None,
            needs_cut: false,
            buffer: Vec::with_capacity(1 << 20),
        }
    }

    /// Serves append requests until every sender is gone.
    pub fn run(mut self, requests: &mpsc::Receiver<WriteRequest>) {
        let mut recent = [0usize; 2];
        while let Ok(first) = requests.recv() {
            let expected = recent[0].max(recent[1]);
            let batch = gather_batch(requests, first, expected);
            recent = [recent[1], batch.len()];
            self.commit_batch(batch);
        }
    }

    fn commit_batch(&mut self, batch: Vec<WriteRequest>) {
        self.buffer.clear();
        let mut buffer = std::mem::take(&mut self.buffer);
        let (mut results, staged) = {
            let index = self.shared.read();
            let mut staged = Staged::after(&index);
            let results: Vec<_> = batch
                .iter()
                .map(|request| append_one(&index, &mut staged, request, &mut buffer))
                .collect();
            (results, staged)
        };
        if !buffer.is_empty() {
            let first_position = staged.position + 1 - staged.records.len() as u64;
            match self.write_durably(&buffer, first_position) {
                Ok(()) => {
                    metrics::histogram!(crate::COMMIT_BATCH_METRIC)
                        .record(staged.records.len() as f64);
                    self.publish(&staged, buffer.len());
                }
                Err(err) => fail_accepted(&mut results, &err),
            }
        }
        drop(staged);
        self.buffer = buffer;
        for (request, result) in batch.into_iter().zip(results) {
            // A caller that gave up waiting is not an error of the log.
            let _ = request.reply.send(result);
        }
    }

    /// Writes the framed batch and waits for `fdatasync`. A batch that would take the active
    /// segment past its size starts a new one, which readers see once a batch in it is durable.
    /// On failure the segment is cut back to its durable length.
    fn write_durably(&mut self, bytes: &[u8], first_position: u64) -> Result<(), String> {
        if self.needs_cut {
            self.cut_back();
            if self.needs_cut {
                return Err(format!(
                    "cannot remove a failed write from {}; retrying at the next append",
                    self.path.display()
                ));
            }
        }
        if self.end > 0 && self.end + bytes.len() as u64 > self.segment_bytes {
            let segment = create_segment(&self.dir, first_position)?;
            self.file = Arc::clone(&segment.file);
            self.path = segment.path.clone();
            self.end = 0;
            self.filled = 0;
            self.pending = Some(segment);
        }
        let written = self
            .fill_ahead(bytes.len() as u64)
            .and_then(|()| self.file.write_all_at(bytes, self.end))
            .and_then(|()| self.file.sync_data());
        if let Err(err) = written {
            self.cut_back();
            return Err(format!("cannot write {}: {err}", self.path.display()));
        }
        Ok(())
    }

    /// Writes zeros past the end of the file when `len` more bytes would not fit, so that
    /// most batches overwrite bytes the file already has and their `fdatasync` need not
    /// record a new file size. A zero frame header marks the end of the records.
    fn fill_ahead(&mut self, len: u64) -> std::io::Result<()> {
        if self.end + len <= self.filled {
            return Ok(());
        }
        let from = self.filled.max(self.end);
        let to = (self.end + len).max(from) + FILL_AHEAD_BYTES;
        self.file
            .write_all_at(&vec![0; usize::try_from(to - from).unwrap_or(0)], from)?;
        self.filled = to;
        Ok(())
    }

    /// Removes the bytes of a failed write, so the next batch starts on a frame boundary.
    fn cut_back(&mut self) {
        let cut = self
            .file
            .set_len(self.end)
            .and_then(|()| self.file.sync_data());
        self.filled = self.end;
        self.needs_cut = cut.is_err();
        if let Err(err) = cut {
            tracing::error!(
                error = %err,
                segment = %self.path.display(),
                end = self.end,
                "cannot cut a failed write from the event log"
            );
        }
    }

    fn publish(&mut self, staged: &Staged<'_>, len: usize) {
        let mut index = self.shared.write();
        if let Some(segment) = self.pending.take() {
            index.segments.push(segment);
        }
        for (offset, stream, id) in &staged.records {
            index.push(self.end + *offset as u64, stream, *id);
        }
        self.end += len as u64;
        if let Some(segment) = index.segments.last_mut() {
            segment.end = self.end;
        }
        index.tip_hash = staged.hash;
        index.last_recorded_at_us = staged.recorded_at_us;
        let head = index.head;
        drop(index);
        self.shared.commits.fetch_add(1, Ordering::Relaxed);
        self.shared.head.send_replace(head);
    }
}

impl<'a> Staged<'a> {
    fn after(index: &Index) -> Self {
        Staged {
            position: index.head,
            hash: index.tip_hash,
            recorded_at_us: chrono::Utc::now()
                .timestamp_micros()
                .max(index.last_recorded_at_us),
            versions: HashMap::new(),
            ids: HashMap::new(),
            records: Vec::new(),
        }
    }
}

/// Takes `first` and every request waiting behind it into one batch. When `expected` (the size
/// of the last batches) shows that more appenders are about to send, it also waits up to
/// [`GATHER_WINDOW`] for them. Appenders that just got their reply come back within
/// microseconds, and without the wait they would form a small batch of their own that costs
/// another fsync. Public so that engine comparisons can batch by the same rule.
pub fn gather_batch<T>(requests: &mpsc::Receiver<T>, first: T, expected: usize) -> Vec<T> {
    let mut batch = vec![first];
    let deadline = Instant::now() + GATHER_WINDOW;
    while batch.len() < MAX_BATCH {
        match requests.try_recv() {
            Ok(request) => batch.push(request),
            Err(_) if batch.len() >= expected => break,
            Err(_) => {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                match requests.recv_timeout(deadline - now) {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
        }
    }
    batch
}

/// Replaces the results of accepted appends with the storage error; rejected appends keep
/// their own error.
fn fail_accepted(results: &mut [Result<Appended, AppendError>], err: &str) {
    tracing::error!(error = %err, "event log commit failed; no append of the batch was stored");
    for result in results.iter_mut().filter(|r| r.is_ok()) {
        *result = Err(AppendError::Storage(err.to_owned()));
    }
}

/// Creates an empty segment file and makes its directory entry durable.
pub(crate) fn create_segment(dir: &Path, first_position: u64) -> Result<Segment, String> {
    let path = segment_path(dir, first_position);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .and_then(|file| {
            File::open(dir)?.sync_all()?;
            Ok(file)
        })
        .map_err(|e| format!("cannot create segment {}: {e}", path.display()))?;
    Ok(Segment {
        first_position,
        path,
        file: Arc::new(file),
        offsets: Vec::new(),
        end: 0,
    })
}

/// Checks one append and frames its events into `buffer`. An error rejects only this append.
fn append_one<'a>(
    index: &Index,
    staged: &mut Staged<'a>,
    request: &'a WriteRequest,
    buffer: &mut Vec<u8>,
) -> Result<Appended, AppendError> {
    let repeat = check_repeat(&request.stream, &request.events, |id| {
        lookup(index, staged, id)
    })?;
    if let Some(appended) = repeat {
        return Ok(appended);
    }
    let actual = staged
        .versions
        .get(&request.stream)
        .copied()
        .or_else(|| index.stream_version(&request.stream));
    check_expected(&request.stream, request.expected, actual)?;

    let first_position = staged.position + 1;
    let mut version = actual.map_or(0, |v| v + 1);
    for (event, metadata) in request.events.iter().zip(&request.metadata) {
        frame_event(staged, &request.stream, version, event, metadata, buffer);
        staged.ids.insert(
            event.event_id,
            StagedEvent {
                position: staged.position,
                version,
                stream: &request.stream,
                event,
            },
        );
        version += 1;
    }
    staged.versions.insert(&request.stream, version - 1);
    Ok(Appended {
        first_position,
        last_position: staged.position,
        last_version: version - 1,
    })
}

fn frame_event<'a>(
    staged: &mut Staged<'a>,
    stream: &'a StreamName,
    version: u64,
    event: &NewEvent,
    metadata: &[u8],
    buffer: &mut Vec<u8>,
) {
    let position = staged.position + 1;
    let hash = chain_hash(
        &staged.hash,
        &RecordFields {
            position,
            stream: stream.as_str(),
            version,
            event_id: event.event_id.as_bytes(),
            event_type: &event.event_type,
            schema_version: event.schema_version,
            recorded_at_us: staged.recorded_at_us,
            metadata,
            payload: &event.payload,
        },
    );
    staged.records.push((buffer.len(), stream, event.event_id));
    frame::encode(
        buffer,
        &FrameFields {
            position,
            version,
            event_id: event.event_id.as_bytes(),
            recorded_at_us: staged.recorded_at_us,
            schema_version: event.schema_version,
            stream: stream.as_str(),
            event_type: &event.event_type,
            metadata,
            payload: &event.payload,
            hash: &hash,
        },
    );
    staged.position = position;
    staged.hash = hash;
}

/// Finds a stored or staged event by id, for the idempotency check.
fn lookup(index: &Index, staged: &Staged<'_>, id: &Uuid) -> Result<Option<StoredId>, AppendError> {
    if let Some(event) = staged.ids.get(id) {
        return Ok(Some(StoredId {
            stream: event.stream.as_str().to_owned(),
            position: event.position,
            version: event.version,
            event_type: event.event.event_type.clone(),
            schema_version: event.event.schema_version,
            payload: event.event.payload.clone(),
        }));
    }
    let Some(&position) = index.ids.get(id) else {
        return Ok(None);
    };
    let span = index
        .span_of(position)
        .ok_or_else(|| AppendError::Storage(format!("position {position} is not indexed")))?;
    let record = span
        .read()
        .map_err(|e| AppendError::Storage(e.to_string()))?
        .pop()
        .ok_or_else(|| AppendError::Storage(format!("position {position} is not readable")))?;
    Ok(Some(StoredId::of(&record)))
}
