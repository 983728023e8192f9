//! The embedded backend: SQLite in WAL mode with `synchronous=FULL`.
//!
//! One writer thread owns the write connection and commits every append that arrived while the
//! previous commit ran in one transaction, so concurrent appenders share one fsync (group
//! commit). An append is acknowledged only after its transaction committed. Reads use a small
//! pool of separate connections, which WAL lets run beside the writer.

mod reader;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};

use async_trait::async_trait;
use keyward_events::{NewEvent, RecordedEvent, StreamName};
use tokio::sync::{oneshot, watch};

use crate::{AppendError, Appended, Direction, EventLog, ExpectedVersion, ReadError};
use reader::ReaderPool;
use writer::{WriteRequest, Writer};

/// File name of the event database inside a data dir.
pub const EVENTS_FILE: &str = "events.db";

/// The embedded event log.
pub struct SqliteLog {
    requests: mpsc::Sender<WriteRequest>,
    readers: Arc<ReaderPool>,
    head: Arc<watch::Sender<u64>>,
    path: PathBuf,
}

impl SqliteLog {
    /// Opens (creating if needed) the log in `data_dir/events.db` and starts its writer thread.
    ///
    /// # Errors
    /// Fails when the file cannot be opened or created, or its schema cannot be set up.
    pub fn open(data_dir: &Path) -> Result<Self, ReadError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            ReadError::Storage(format!(
                "cannot create data dir {}: {e}",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join(EVENTS_FILE);
        let conn = schema::open_write_connection(&path)?;
        let writer = Writer::new(conn)?;
        let head = Arc::new(watch::Sender::new(writer.head_position()));
        let (requests, receiver) = mpsc::channel();
        let thread_head = Arc::clone(&head);
        std::thread::Builder::new()
            .name("eventlog-writer".into())
            .spawn(move || writer.run(&receiver, &thread_head))
            .map_err(|e| ReadError::Storage(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteLog {
            requests,
            readers: Arc::new(ReaderPool::new(path.clone())),
            head,
            path,
        })
    }

    /// Opens an existing log for reading only, without starting a writer; used by audit tools
    /// while a server may be running on the same data dir.
    ///
    /// # Errors
    /// Fails when the file does not exist or cannot be read.
    pub fn open_read_only(data_dir: &Path) -> Result<ReadOnlyLog, ReadError> {
        let path = data_dir.join(EVENTS_FILE);
        if !path.exists() {
            return Err(ReadError::Storage(format!(
                "no event log at {}; pass the --data-dir of a keyward server",
                path.display()
            )));
        }
        Ok(ReadOnlyLog {
            readers: ReaderPool::new(path),
        })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait]
impl EventLog for SqliteLog {
    async fn append(
        &self,
        stream: &StreamName,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Appended, AppendError> {
        crate::validate_new_events(&events)?;
        let (reply, answer) = oneshot::channel();
        let request = WriteRequest {
            stream: stream.clone(),
            expected,
            events,
            reply,
        };
        self.requests
            .send(request)
            .map_err(|_| AppendError::Closed)?;
        answer.await.map_err(|_| AppendError::Closed)?
    }

    async fn read_stream(
        &self,
        stream: &StreamName,
        from: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, ReadError> {
        let readers = Arc::clone(&self.readers);
        let stream = stream.clone();
        run_blocking(move || readers.read_stream(&stream, from, direction, limit)).await
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, ReadError> {
        let readers = Arc::clone(&self.readers);
        run_blocking(move || readers.read_all(after, limit)).await
    }

    fn head(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }
}

/// A read-only view of an embedded log, for tools that run beside a server.
pub struct ReadOnlyLog {
    readers: ReaderPool,
}

impl ReadOnlyLog {
    /// Reads up to `limit` events after `after`.
    ///
    /// # Errors
    /// Fails when storage cannot be read.
    pub fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, ReadError> {
        self.readers.read_all(after, limit)
    }
}

async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ReadError> + Send + 'static,
) -> Result<T, ReadError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ReadError::Storage(format!("read task failed: {e}")))?
}
