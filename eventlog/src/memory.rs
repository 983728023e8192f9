//! An in-memory backend: the reference model for tests and the log of a CLI backtest.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use keyward_events::{NewEvent, RecordedEvent, StreamName};
use tokio::sync::watch;
use uuid::Uuid;

use crate::chain::{GENESIS, RecordFields, chain_hash};
use crate::{AppendError, Appended, Direction, EventLog, ExpectedVersion, ReadError};

#[derive(Default)]
struct Inner {
    events: Vec<RecordedEvent>,
    streams: HashMap<StreamName, Vec<usize>>,
    ids: HashMap<Uuid, usize>,
}

/// A log kept in memory; nothing survives the process.
pub struct MemoryLog {
    inner: Mutex<Inner>,
    head: watch::Sender<u64>,
}

impl Default for MemoryLog {
    fn default() -> Self {
        MemoryLog {
            inner: Mutex::new(Inner::default()),
            head: watch::Sender::new(0),
        }
    }
}

impl MemoryLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data: every write is one push.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What an idempotency check needs to know about a stored event.
pub(crate) struct StoredId {
    pub stream: String,
    pub position: u64,
    pub version: u64,
    pub event_type: String,
    pub schema_version: u16,
    pub payload: Vec<u8>,
}

impl StoredId {
    pub(crate) fn of(record: &RecordedEvent) -> Self {
        StoredId {
            stream: record.stream.as_str().to_owned(),
            position: record.position,
            version: record.version,
            event_type: record.event_type.clone(),
            schema_version: record.schema_version,
            payload: record.payload.clone(),
        }
    }
}

/// Returns the original positions if every event id is stored with the same content, `None` if
/// none is stored, and an error for a partial or conflicting repeat.
///
/// Metadata is not compared: a retried command may carry a new correlation id.
pub(crate) fn check_repeat(
    stream: &StreamName,
    events: &[NewEvent],
    mut lookup: impl FnMut(&Uuid) -> Result<Option<StoredId>, AppendError>,
) -> Result<Option<Appended>, AppendError> {
    let Some(first) = lookup(&events[0].event_id)? else {
        for event in &events[1..] {
            if lookup(&event.event_id)?.is_some() {
                return Err(AppendError::EventIdReused {
                    event_id: event.event_id,
                });
            }
        }
        return Ok(None);
    };
    let mut last_version = first.version;
    for (i, event) in events.iter().enumerate() {
        let reused = AppendError::EventIdReused {
            event_id: event.event_id,
        };
        let stored = lookup(&event.event_id)?.ok_or(AppendError::EventIdReused {
            event_id: events[0].event_id,
        })?;
        let same = stored.stream == stream.as_str()
            && stored.position == first.position + i as u64
            && stored.event_type == event.event_type
            && stored.schema_version == event.schema_version
            && stored.payload == event.payload;
        if !same {
            return Err(reused);
        }
        last_version = stored.version;
    }
    Ok(Some(Appended {
        first_position: first.position,
        last_position: first.position + events.len() as u64 - 1,
        last_version,
    }))
}

/// Checks an expected version against the stream's actual one.
pub(crate) fn check_expected(
    stream: &StreamName,
    expected: ExpectedVersion,
    actual: Option<u64>,
) -> Result<(), AppendError> {
    let ok = match expected {
        ExpectedVersion::Any => true,
        ExpectedVersion::NoStream => actual.is_none(),
        ExpectedVersion::Exact(v) => actual == Some(v),
    };
    if ok {
        Ok(())
    } else {
        Err(AppendError::WrongExpectedVersion {
            stream: stream.to_string(),
            expected,
            actual,
        })
    }
}

#[async_trait]
impl EventLog for MemoryLog {
    async fn append(
        &self,
        stream: &StreamName,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Appended, AppendError> {
        crate::validate_new_events(&events)?;
        let mut inner = self.lock();
        let repeat = check_repeat(stream, &events, |id| {
            Ok(inner.ids.get(id).map(|&i| StoredId::of(&inner.events[i])))
        })?;
        if let Some(appended) = repeat {
            return Ok(appended);
        }
        let actual = inner
            .streams
            .get(stream)
            .and_then(|idx| idx.last())
            .map(|&i| inner.events[i].version);
        check_expected(stream, expected, actual)?;

        let recorded_at_us = chrono::Utc::now().timestamp_micros();
        let mut version = actual.map_or(0, |v| v + 1);
        let first_position = inner.events.len() as u64 + 1;
        for event in events {
            let position = inner.events.len() as u64 + 1;
            let previous = inner.events.last().map_or(GENESIS, |e| e.hash);
            let metadata = serde_json::to_vec(&event.metadata).unwrap_or_default();
            let mut record = RecordedEvent {
                position,
                stream: stream.clone(),
                version,
                event_id: event.event_id,
                event_type: event.event_type,
                schema_version: event.schema_version,
                recorded_at_us,
                metadata,
                payload: event.payload,
                hash: [0; 32],
            };
            record.hash = chain_hash(&previous, &RecordFields::of(&record));
            let index = inner.events.len();
            inner.ids.insert(record.event_id, index);
            inner.streams.entry(stream.clone()).or_default().push(index);
            inner.events.push(record);
            version += 1;
        }
        let last_position = inner.events.len() as u64;
        drop(inner);
        self.head.send_replace(last_position);
        Ok(Appended {
            first_position,
            last_position,
            last_version: version - 1,
        })
    }

    async fn read_stream(
        &self,
        stream: &StreamName,
        from: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, ReadError> {
        let inner = self.lock();
        let Some(indexes) = inner.streams.get(stream) else {
            return Ok(Vec::new());
        };
        let picked: Vec<RecordedEvent> = match direction {
            Direction::Forward => indexes
                .iter()
                .skip(usize::try_from(from).unwrap_or(usize::MAX))
                .take(limit)
                .map(|&i| inner.events[i].clone())
                .collect(),
            Direction::Backward => indexes
                .iter()
                .rev()
                .filter(|&&i| inner.events[i].version <= from)
                .take(limit)
                .map(|&i| inner.events[i].clone())
                .collect(),
        };
        Ok(picked)
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, ReadError> {
        let inner = self.lock();
        let start = usize::try_from(after).unwrap_or(usize::MAX);
        Ok(inner
            .events
            .iter()
            .skip(start)
            .take(limit)
            .cloned()
            .collect())
    }

    fn head(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }
}
