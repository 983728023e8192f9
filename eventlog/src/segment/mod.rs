//! The embedded backend: an append-only segment log with CRC framing and group commit.
//!
//! Records live in segment files under `DATA_DIR/events/`, each named by its first position and
//! holding frames laid end to end (see [`frame`]). One writer thread batches every append that
//! waits while the previous batch is written, writes the batch with one `pwrite` and makes it
//! durable with one `fdatasync` before any appender gets its reply. An in-memory index, rebuilt at
//! open, finds positions, streams and event ids. Chosen over SQLite and fjall by the benchmarks
//! in `docs/benchmarks.md`.

pub mod frame;
mod index;
mod recovery;
mod scan;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, mpsc};
use std::thread::JoinHandle;

use async_trait::async_trait;
use keyward_events::{NewEvent, RecordedEvent, StreamName};
use tokio::sync::{oneshot, watch};

use crate::{AppendError, Appended, Direction, EventLog, ExpectedVersion, ReadError};
use index::Span;
pub use recovery::{DiscardedTail, RECOVERY_FILE};
pub use scan::Records;
pub use writer::gather_batch;
use writer::{Shared, WriteRequest, Writer};

/// Directory of the segment files inside a data dir.
pub const EVENTS_DIR: &str = "events";

/// Size past which the writer starts a new segment file.
pub const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

/// File that the writing process holds an exclusive lock on.
const LOCK_FILE: &str = "LOCK";

/// Settings of a segment log; the defaults suit production.
#[derive(Clone, Copy, Debug)]
pub struct SegmentOptions {
    /// Size past which a new segment file starts.
    pub segment_bytes: u64,
}

impl Default for SegmentOptions {
    fn default() -> Self {
        SegmentOptions {
            segment_bytes: SEGMENT_BYTES,
        }
    }
}

/// The embedded event log.
pub struct SegmentLog {
    requests: Mutex<Option<mpsc::Sender<WriteRequest>>>,
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<()>>>,
    dir: PathBuf,
    discarded: Option<DiscardedTail>,
    _lock: std::fs::File,
}

impl SegmentLog {
    /// Opens (creating if needed) the log in `data_dir/events/`, recovers it and starts its
    /// writer thread.
    ///
    /// # Errors
    /// Fails when the directory cannot be created or locked (another process writes it), a
    /// segment cannot be read, or a segment is damaged other than by a torn tail.
    pub fn open(data_dir: &Path) -> Result<Self, ReadError> {
        Self::open_with(data_dir, SegmentOptions::default())
    }

    /// Opens the log with explicit settings.
    ///
    /// # Errors
    /// As [`SegmentLog::open`].
    pub fn open_with(data_dir: &Path, options: SegmentOptions) -> Result<Self, ReadError> {
        let dir = data_dir.join(EVENTS_DIR);
        std::fs::create_dir_all(&dir)
            .map_err(|e| ReadError::Storage(format!("cannot create {}: {e}", dir.display())))?;
        let lock = lock_dir(&dir)?;
        let (index, discarded) = recovery::recover(&dir)?;
        let head = index.head;
        let shared = Arc::new(Shared {
            index: RwLock::new(index),
            head: watch::Sender::new(head),
            commits: AtomicU64::new(0),
        });
        let writer = Writer::new(&dir, Arc::clone(&shared), options.segment_bytes);
        let (requests, receiver) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("eventlog-writer".into())
            .spawn(move || writer.run(&receiver))
            .map_err(|e| ReadError::Storage(format!("cannot start the writer thread: {e}")))?;
        tracing::info!(dir = %dir.display(), head, "event log opened");
        Ok(SegmentLog {
            requests: Mutex::new(Some(requests)),
            shared,
            writer: Mutex::new(Some(handle)),
            dir,
            discarded,
            _lock: lock,
        })
    }

    /// Opens the log of `data_dir` for reading only, without recovery or a lock, so that audit
    /// tools can run while a server writes it.
    ///
    /// # Errors
    /// Fails when the data dir has no event log.
    pub fn open_read_only(data_dir: &Path) -> Result<ReadOnlyLog, ReadError> {
        let dir = data_dir.join(EVENTS_DIR);
        if !dir.is_dir() {
            return Err(ReadError::Storage(format!(
                "no event log at {}; pass the --data-dir of a keyward server",
                dir.display()
            )));
        }
        Ok(ReadOnlyLog { dir })
    }

    /// Returns the directory of the segment files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Returns the torn tail that recovery discarded when this log was opened, if there was one.
    pub fn discarded_tail(&self) -> Option<&DiscardedTail> {
        self.discarded.as_ref()
    }

    /// Batches made durable since the log was opened; each took one `fdatasync`.
    pub fn commits(&self) -> u64 {
        self.shared.commits.load(Ordering::Relaxed)
    }

    fn sender(&self) -> Option<mpsc::Sender<WriteRequest>> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Drop for SegmentLog {
    fn drop(&mut self) {
        // Closing the queue ends the writer once it has replied to every append already queued.
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let handle = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

fn lock_dir(dir: &Path) -> Result<std::fs::File, ReadError> {
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| ReadError::Storage(format!("cannot open {}: {e}", path.display())))?;
    file.try_lock().map_err(|e| {
        ReadError::Storage(format!(
            "cannot lock {}: {e}; is another keyward process writing this data dir?",
            path.display()
        ))
    })?;
    Ok(file)
}

#[async_trait]
impl EventLog for SegmentLog {
    async fn append(
        &self,
        stream: &StreamName,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Appended, AppendError> {
        crate::validate_new_events(&events)?;
        let metadata = crate::serialize_metadata(&events)?;
        let (reply, answer) = oneshot::channel();
        let request = WriteRequest {
            stream: stream.clone(),
            expected,
            events,
            metadata,
            reply,
        };
        let sender = self.sender().ok_or(AppendError::Closed)?;
        sender.send(request).map_err(|_| AppendError::Closed)?;
        answer.await.map_err(|_| AppendError::Closed)?
    }

    async fn read_stream(
        &self,
        stream: &StreamName,
        from: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, ReadError> {
        let spans = {
            let index = self.shared.read();
            let Some(positions) = index.streams.get(stream) else {
                return Ok(Vec::new());
            };
            let picked = pick_versions(positions, from, direction, limit);
            picked
                .iter()
                .filter_map(|&position| index.span_of(position))
                .collect::<Vec<_>>()
        };
        read_spans_async(spans).await
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, ReadError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let spans = self
            .shared
            .read()
            .spans_from(after.saturating_add(1), limit);
        if spans.is_empty() {
            return Ok(Vec::new());
        }
        run_blocking(move || read_spans(&spans)).await
    }

    fn head(&self) -> watch::Receiver<u64> {
        self.shared.head.subscribe()
    }
}

/// Selects the positions of the versions that a stream read requests.
fn pick_versions(positions: &[u64], from: u64, direction: Direction, limit: usize) -> Vec<u64> {
    let from = usize::try_from(from).unwrap_or(usize::MAX);
    match direction {
        Direction::Forward => positions.iter().skip(from).take(limit).copied().collect(),
        Direction::Backward => {
            let end = from.saturating_add(1).min(positions.len());
            positions[..end].iter().rev().take(limit).copied().collect()
        }
    }
}

fn read_spans(spans: &[Span]) -> Result<Vec<RecordedEvent>, ReadError> {
    let mut records = Vec::with_capacity(spans.len());
    for span in spans {
        records.extend(span.read()?);
    }
    Ok(records)
}

/// Reads of at most this many bytes run on the calling task: they are the tail that
/// subscribers follow, just written and in the page cache, and a hop to the blocking pool would
/// cost more than the read. Larger reads go to the blocking pool.
const INLINE_READ_BYTES: u64 = 64 * 1024;

async fn read_spans_async(spans: Vec<Span>) -> Result<Vec<RecordedEvent>, ReadError> {
    let bytes: u64 = spans.iter().map(|span| span.end - span.start).sum();
    if bytes <= INLINE_READ_BYTES {
        return read_spans(&spans);
    }
    run_blocking(move || read_spans(&spans)).await
}

async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ReadError> + Send + 'static,
) -> Result<T, ReadError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ReadError::Storage(format!("read task failed: {e}")))?
}

/// A read-only view of an embedded log, for tools that run beside a server.
pub struct ReadOnlyLog {
    dir: PathBuf,
}

impl ReadOnlyLog {
    /// Walks the records after position `after`, in order, stopping at the first damaged one.
    ///
    /// # Errors
    /// Fails when the segment files cannot be listed.
    pub fn records(&self, after: u64) -> Result<Records, ReadError> {
        Ok(Records::new(scan::list_segments(&self.dir)?, after))
    }

    /// Reads up to `limit` records after position `after`.
    ///
    /// # Errors
    /// Fails when storage cannot be read or a record is damaged.
    pub fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, ReadError> {
        self.records(after)?.take(limit).collect()
    }

    /// Finds where the frame of `position` is stored, for tools that inspect the stored bytes.
    ///
    /// # Errors
    /// Fails when the position is not stored or the files cannot be read.
    pub fn locate(&self, position: u64) -> Result<RecordLocation, ReadError> {
        scan::locate(&scan::list_segments(&self.dir)?, position)
    }
}

/// The stored location of one record's frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordLocation {
    pub segment: PathBuf,
    /// Byte offset of the frame in the segment file.
    pub offset: u64,
    /// Length of the whole frame.
    pub len: usize,
}
