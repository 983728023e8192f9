//! A small pool of read connections.

use std::path::PathBuf;
use std::sync::Mutex;

use keyward_events::{RecordedEvent, StreamName};
use rusqlite::{Connection, Row, params};
use uuid::Uuid;

use super::schema::{open_read_connection, storage_error};
use crate::{Direction, ReadError};

const COLUMNS: &str = "position, stream, version, event_id, event_type, schema_version, \
                       recorded_at_us, metadata, payload, hash";

pub(crate) struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ReaderPool {
    pub(crate) fn new(path: PathBuf) -> Self {
        ReaderPool {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn with_connection<T>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, ReadError>,
    ) -> Result<T, ReadError> {
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => open_read_connection(&self.path)?,
        };
        let result = work(&conn);
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(conn);
        result
    }

    pub(crate) fn read_all(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, ReadError> {
        self.with_connection(|conn| {
            let sql = format!(
                "SELECT {COLUMNS} FROM events WHERE position > ?1 ORDER BY position LIMIT ?2"
            );
            query(conn, &sql, params![to_i64(after), to_i64(limit as u64)])
        })
    }

    pub(crate) fn read_stream(
        &self,
        stream: &StreamName,
        from: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, ReadError> {
        self.with_connection(|conn| {
            let sql = match direction {
                Direction::Forward => format!(
                    "SELECT {COLUMNS} FROM events WHERE stream = ?1 AND version >= ?2 \
                     ORDER BY version LIMIT ?3"
                ),
                Direction::Backward => format!(
                    "SELECT {COLUMNS} FROM events WHERE stream = ?1 AND version <= ?2 \
                     ORDER BY version DESC LIMIT ?3"
                ),
            };
            let args = params![stream.as_str(), to_i64(from), to_i64(limit as u64)];
            query(conn, &sql, args)
        })
    }
}

/// Clamps to SQLite's signed integers; positions and versions never come near the limit.
pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn query(
    conn: &Connection,
    sql: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Vec<RecordedEvent>, ReadError> {
    let mut statement = conn
        .prepare_cached(sql)
        .map_err(|e| storage_error("cannot prepare a read", e))?;
    let rows = statement
        .query_map(args, decode_row)
        .map_err(|e| storage_error("cannot read events", e))?;
    let mut events = Vec::new();
    for row in rows {
        events.push(row.map_err(|e| storage_error("cannot read an event row", e))??);
    }
    Ok(events)
}

/// Decodes one row; a row whose columns have the wrong shape is reported as corrupt.
fn decode_row(row: &Row<'_>) -> rusqlite::Result<Result<RecordedEvent, ReadError>> {
    let position: i64 = row.get(0)?;
    let position = u64::try_from(position).unwrap_or(0);
    let corrupt = |reason: &str| ReadError::Corrupt {
        position,
        reason: reason.to_owned(),
    };
    let stream: String = row.get(1)?;
    let version: i64 = row.get(2)?;
    let event_id: Vec<u8> = row.get(3)?;
    let schema_version: i64 = row.get(5)?;
    let hash: Vec<u8> = row.get(9)?;
    let Ok(event_id) = Uuid::from_slice(&event_id) else {
        return Ok(Err(corrupt("event id is not 16 bytes")));
    };
    let Ok(hash) = <[u8; 32]>::try_from(hash.as_slice()) else {
        return Ok(Err(corrupt("hash is not 32 bytes")));
    };
    Ok(Ok(RecordedEvent {
        position,
        stream: StreamName::from_stored(stream),
        version: u64::try_from(version).unwrap_or(0),
        event_id,
        event_type: row.get(4)?,
        schema_version: u16::try_from(schema_version).unwrap_or(0),
        recorded_at_us: row.get(6)?,
        metadata: row.get(7)?,
        payload: row.get(8)?,
        hash,
    }))
}
