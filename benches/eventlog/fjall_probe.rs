//! A minimal event log over fjall, to compare the storage engine against the segment log and
//! SQLite under the same loads. It frames and chains records exactly as the segment log does
//! and writes each batch (records by position, and a (stream, version) and an event-id index)
//! as one atomic fjall batch with `PersistMode::SyncAll`.
//!
//! NOTE: it only supports what the benchmark calls: appends with `ExpectedVersion::Any` and
//! `read_all`. It skips the idempotency and expected-version checks that the real backends
//! run, which flatters it slightly.

use std::collections::HashMap;
use std::sync::{Arc, mpsc};

use async_trait::async_trait;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use keyward_eventlog::chain::{GENESIS, RecordFields, chain_hash};
use keyward_eventlog::segment::frame::{self, FrameFields};
use keyward_eventlog::segment::gather_batch;
use keyward_eventlog::{AppendError, Appended, Direction, EventLog, ExpectedVersion, ReadError};
use keyward_events::{NewEvent, RecordedEvent, StreamName};
use tokio::sync::{oneshot, watch};

struct Request {
    stream: StreamName,
    events: Vec<NewEvent>,
    reply: oneshot::Sender<Result<Appended, AppendError>>,
}

/// The fjall-backed probe log.
pub struct FjallProbe {
    requests: mpsc::Sender<Request>,
    head: Arc<watch::Sender<u64>>,
    events: Keyspace,
}

impl FjallProbe {
    /// Opens a fresh probe database in `dir`.
    pub fn open(dir: &std::path::Path) -> FjallProbe {
        let db = Database::builder(dir).open().unwrap();
        let events = db
            .keyspace("events", KeyspaceCreateOptions::default)
            .unwrap();
        let streams = db
            .keyspace("streams", KeyspaceCreateOptions::default)
            .unwrap();
        let ids = db.keyspace("ids", KeyspaceCreateOptions::default).unwrap();
        let head = Arc::new(watch::Sender::new(0));
        let (requests, receiver) = mpsc::channel();
        let writer = Writer {
            db,
            events: events.clone(),
            streams,
            ids,
            head: Arc::clone(&head),
            position: 0,
            hash: GENESIS,
            versions: HashMap::new(),
        };
        std::thread::spawn(move || writer.run(&receiver));
        FjallProbe {
            requests,
            head,
            events,
        }
    }
}

struct Writer {
    db: Database,
    events: Keyspace,
    streams: Keyspace,
    ids: Keyspace,
    head: Arc<watch::Sender<u64>>,
    position: u64,
    hash: [u8; 32],
    versions: HashMap<StreamName, u64>,
}

impl Writer {
    fn run(mut self, requests: &mpsc::Receiver<Request>) {
        let mut recent = [0usize; 2];
        while let Ok(first) = requests.recv() {
            let batch = gather_batch(requests, first, recent[0].max(recent[1]));
            recent = [recent[1], batch.len()];
            self.commit(batch);
        }
    }

    fn commit(&mut self, batch: Vec<Request>) {
        let mut write = self.db.batch().durability(Some(PersistMode::SyncAll));
        let recorded_at_us = chrono::Utc::now().timestamp_micros();
        let mut answers = Vec::with_capacity(batch.len());
        for request in &batch {
            let first_position = self.position + 1;
            let mut version = self.versions.get(&request.stream).map_or(0, |v| v + 1);
            for event in &request.events {
                let frame = self.frame(&request.stream, version, recorded_at_us, event);
                write.insert(&self.events, self.position.to_be_bytes(), frame);
                let mut stream_key = request.stream.as_str().as_bytes().to_vec();
                stream_key.extend_from_slice(&version.to_be_bytes());
                write.insert(&self.streams, stream_key, self.position.to_be_bytes());
                write.insert(
                    &self.ids,
                    event.event_id.as_bytes(),
                    self.position.to_be_bytes(),
                );
                version += 1;
            }
            self.versions.insert(request.stream.clone(), version - 1);
            answers.push(Appended {
                first_position,
                last_position: self.position,
                last_version: version - 1,
            });
        }
        write.commit().unwrap();
        self.head.send_replace(self.position);
        for (request, answer) in batch.into_iter().zip(answers) {
            let _ = request.reply.send(Ok(answer));
        }
    }

    fn frame(&mut self, stream: &StreamName, version: u64, at: i64, event: &NewEvent) -> Vec<u8> {
        self.position += 1;
        let metadata = b"{}";
        self.hash = chain_hash(
            &self.hash,
            &RecordFields {
                position: self.position,
                stream: stream.as_str(),
                version,
                event_id: event.event_id.as_bytes(),
                event_type: &event.event_type,
                schema_version: event.schema_version,
                recorded_at_us: at,
                metadata,
                payload: &event.payload,
            },
        );
        let mut out = Vec::with_capacity(event.payload.len() + 200);
        frame::encode(
            &mut out,
            &FrameFields {
                position: self.position,
                version,
                event_id: event.event_id.as_bytes(),
                recorded_at_us: at,
                schema_version: event.schema_version,
                stream: stream.as_str(),
                event_type: &event.event_type,
                metadata,
                payload: &event.payload,
                hash: &self.hash,
            },
        );
        out
    }
}

#[async_trait]
impl EventLog for FjallProbe {
    async fn append(
        &self,
        stream: &StreamName,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Appended, AppendError> {
        assert_eq!(
            expected,
            ExpectedVersion::Any,
            "the fjall probe appends with Any only"
        );
        let (reply, answer) = oneshot::channel();
        let request = Request {
            stream: stream.clone(),
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
        _stream: &StreamName,
        _from: u64,
        _direction: Direction,
        _limit: usize,
    ) -> Result<Vec<RecordedEvent>, ReadError> {
        Err(ReadError::Storage(
            "the fjall probe does not read streams".into(),
        ))
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, ReadError> {
        let events = self.events.clone();
        let start = (after + 1).to_be_bytes();
        tokio::task::spawn_blocking(move || {
            events
                .range(start..)
                .take(limit)
                .map(|guard| {
                    let (_, value) = guard
                        .into_inner()
                        .map_err(|e| ReadError::Storage(e.to_string()))?;
                    frame::decode(&value)
                        .map(|(record, _)| record)
                        .map_err(|e| ReadError::Storage(e.to_string()))
                })
                .collect()
        })
        .await
        .map_err(|e| ReadError::Storage(e.to_string()))?
    }

    fn head(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }
}
