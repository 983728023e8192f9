//! The single writer thread and its group commit.

use std::collections::HashMap;
use std::sync::mpsc;

use keyward_events::{NewEvent, StreamName};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

use super::reader::to_i64;
use super::schema::storage_error;
use crate::chain::{GENESIS, RecordFields, chain_hash};
use crate::memory::{StoredId, check_expected, check_repeat};
use crate::{AppendError, Appended, ExpectedVersion, ReadError};

/// Appends waiting for the same commit are capped so one fsync never waits on a huge batch.
const MAX_BATCH: usize = 1024;

pub(crate) struct WriteRequest {
    pub stream: StreamName,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
    pub reply: oneshot::Sender<Result<Appended, AppendError>>,
}

/// The tip of the chain and the stream versions known to be committed.
#[derive(Clone)]
struct Tip {
    position: u64,
    hash: [u8; 32],
    recorded_at_us: i64,
}

pub(crate) struct Writer {
    conn: Connection,
    tip: Tip,
    /// Last committed version of streams seen since start; a miss is looked up in storage.
    versions: HashMap<StreamName, u64>,
}

/// Changes made by the transaction in progress, applied to the writer only after commit.
struct Staged {
    tip: Tip,
    versions: HashMap<StreamName, u64>,
}

impl Writer {
    pub(crate) fn new(conn: Connection) -> Result<Self, ReadError> {
        let tip = conn
            .query_row(
                "SELECT position, hash, recorded_at_us FROM events ORDER BY position DESC LIMIT 1",
                [],
                |row| {
                    let position: i64 = row.get(0)?;
                    let hash: Vec<u8> = row.get(1)?;
                    Ok((position, hash, row.get::<_, i64>(2)?))
                },
            )
            .optional()
            .map_err(|e| storage_error("cannot read the log's last record", e))?;
        let tip = match tip {
            None => Tip {
                position: 0,
                hash: GENESIS,
                recorded_at_us: 0,
            },
            Some((position, hash, recorded_at_us)) => Tip {
                position: u64::try_from(position).unwrap_or(0),
                hash: <[u8; 32]>::try_from(hash.as_slice()).map_err(|_| ReadError::Corrupt {
                    position: u64::try_from(position).unwrap_or(0),
                    reason: "hash is not 32 bytes".into(),
                })?,
                recorded_at_us,
            },
        };
        Ok(Writer {
            conn,
            tip,
            versions: HashMap::new(),
        })
    }

    pub(crate) fn head_position(&self) -> u64 {
        self.tip.position
    }

    /// Serves append requests until every sender is gone.
    pub(crate) fn run(
        mut self,
        requests: &mpsc::Receiver<WriteRequest>,
        head: &watch::Sender<u64>,
    ) {
        while let Ok(first) = requests.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match requests.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            self.commit_batch(batch, head);
        }
    }

    /// Commits a batch, publishes the new head, then answers the appenders, so that an
    /// appender who reads the head after its answer sees its own events.
    fn commit_batch(&mut self, batch: Vec<WriteRequest>, head: &watch::Sender<u64>) {
        let mut staged = Staged {
            tip: self.tip.clone(),
            versions: HashMap::new(),
        };
        staged.tip.recorded_at_us = chrono::Utc::now()
            .timestamp_micros()
            .max(self.tip.recorded_at_us);
        let outcome = self.write_batch(&batch, &mut staged);
        match outcome {
            Ok(results) => {
                let events = staged.tip.position - self.tip.position;
                if events > 0 {
                    metrics::histogram!(crate::COMMIT_BATCH_METRIC).record(events as f64);
                }
                self.tip = staged.tip;
                self.versions.extend(staged.versions);
                head.send_if_modified(|position| {
                    let changed = *position != self.tip.position;
                    *position = self.tip.position;
                    changed
                });
                for (request, result) in batch.into_iter().zip(results) {
                    // A caller that gave up waiting is not an error of the log.
                    let _ = request.reply.send(result);
                }
            }
            Err(err) => {
                tracing::error!(error = %err, appends = batch.len(), "event log commit failed");
                for request in batch {
                    let _ = request
                        .reply
                        .send(Err(AppendError::Storage(err.to_string())));
                }
            }
        }
    }

    /// Writes every request in one transaction; a storage error fails the whole batch.
    fn write_batch(
        &mut self,
        batch: &[WriteRequest],
        staged: &mut Staged,
    ) -> Result<Vec<Result<Appended, AppendError>>, rusqlite::Error> {
        let tx = self.conn.transaction()?;
        let mut results = Vec::with_capacity(batch.len());
        for request in batch {
            results.push(append_one(&tx, &self.versions, staged, request)?);
        }
        tx.commit()?;
        Ok(results)
    }
}

/// Appends one request inside the open transaction. The outer error aborts the batch; the inner
/// one rejects only this request.
fn append_one(
    tx: &Transaction<'_>,
    committed: &HashMap<StreamName, u64>,
    staged: &mut Staged,
    request: &WriteRequest,
) -> rusqlite::Result<Result<Appended, AppendError>> {
    let mut storage_failure = None;
    let repeat = check_repeat(&request.stream, &request.events, |id| {
        lookup_event_id(tx, id).map_err(|e| {
            let message = e.to_string();
            storage_failure = Some(e);
            AppendError::Storage(message)
        })
    });
    if let Some(err) = storage_failure {
        return Err(err);
    }
    match repeat {
        Err(err) => return Ok(Err(err)),
        Ok(Some(appended)) => return Ok(Ok(appended)),
        Ok(None) => {}
    }
    let actual = stream_version(tx, committed, staged, &request.stream)?;
    if let Err(err) = check_expected(&request.stream, request.expected, actual) {
        return Ok(Err(err));
    }
    let first_position = staged.tip.position + 1;
    let mut version = actual.map_or(0, |v| v + 1);
    for event in &request.events {
        insert_event(tx, staged, &request.stream, version, event)?;
        version += 1;
    }
    staged.versions.insert(request.stream.clone(), version - 1);
    Ok(Ok(Appended {
        first_position,
        last_position: staged.tip.position,
        last_version: version - 1,
    }))
}

fn stream_version(
    tx: &Transaction<'_>,
    committed: &HashMap<StreamName, u64>,
    staged: &Staged,
    stream: &StreamName,
) -> rusqlite::Result<Option<u64>> {
    if let Some(&v) = staged
        .versions
        .get(stream)
        .or_else(|| committed.get(stream))
    {
        return Ok(Some(v));
    }
    let mut statement = tx.prepare_cached("SELECT max(version) FROM events WHERE stream = ?1")?;
    let version: Option<i64> = statement.query_row([stream.as_str()], |row| row.get(0))?;
    Ok(version.and_then(|v| u64::try_from(v).ok()))
}

fn lookup_event_id(tx: &Transaction<'_>, id: &Uuid) -> rusqlite::Result<Option<StoredId>> {
    let mut statement = tx.prepare_cached(
        "SELECT stream, position, version, event_type, schema_version, payload \
         FROM events WHERE event_id = ?1",
    )?;
    statement
        .query_row([id.as_bytes().as_slice()], |row| {
            Ok(StoredId {
                stream: row.get(0)?,
                position: u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
                version: u64::try_from(row.get::<_, i64>(2)?).unwrap_or(0),
                event_type: row.get(3)?,
                schema_version: u16::try_from(row.get::<_, i64>(4)?).unwrap_or(0),
                payload: row.get(5)?,
            })
        })
        .optional()
}

fn insert_event(
    tx: &Transaction<'_>,
    staged: &mut Staged,
    stream: &StreamName,
    version: u64,
    event: &NewEvent,
) -> rusqlite::Result<()> {
    let position = staged.tip.position + 1;
    let metadata = serde_json::to_vec(&event.metadata).unwrap_or_default();
    let fields = RecordFields {
        position,
        stream: stream.as_str(),
        version,
        event_id: event.event_id.as_bytes(),
        event_type: &event.event_type,
        schema_version: event.schema_version,
        recorded_at_us: staged.tip.recorded_at_us,
        metadata: &metadata,
        payload: &event.payload,
    };
    let hash = chain_hash(&staged.tip.hash, &fields);
    let mut statement = tx.prepare_cached(
        "INSERT INTO events (position, stream, version, event_id, event_type, schema_version, \
         recorded_at_us, metadata, payload, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    statement.execute(params![
        to_i64(position),
        stream.as_str(),
        to_i64(version),
        event.event_id.as_bytes().as_slice(),
        event.event_type,
        i64::from(event.schema_version),
        staged.tip.recorded_at_us,
        metadata,
        event.payload,
        hash.as_slice(),
    ])?;
    staged.tip.position = position;
    staged.tip.hash = hash;
    Ok(())
}
