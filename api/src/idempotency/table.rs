//! The stored responses on disk: one SQLite table beside the event log, so that a retry after
//! a restart still gets the first response.
//!
//! A row contains SHA-256 digests of the slot and of the request body (never the credential or
//! the request itself), the response's status, content type and body, and the storage time. Rows older than the retention
//! and rows past the count limit are deleted as new ones are written. Writes use
//! `synchronous=FULL`, so a response is on disk before the client receives it.

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use rusqlite::{Connection, params};

/// File of the table, in the data dir.
pub const IDEMPOTENCY_FILE: &str = "idempotency.db";

/// One stored response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub slot: [u8; 32],
    pub request: [u8; 32],
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// Milliseconds since the Unix epoch.
    pub stored_at_ms: i64,
}

/// The SQLite table of stored responses.
pub struct ResponseTable {
    conn: Mutex<Connection>,
}

impl ResponseTable {
    /// Opens (or creates) the table in `data_dir`.
    ///
    /// # Errors
    /// Fails when the file cannot be opened or its schema cannot be created.
    pub fn open(data_dir: &Path) -> rusqlite::Result<Self> {
        let conn = Connection::open(data_dir.join(IDEMPOTENCY_FILE))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
             CREATE TABLE IF NOT EXISTS responses (
                 slot BLOB PRIMARY KEY,
                 request BLOB NOT NULL,
                 status INTEGER NOT NULL,
                 content_type TEXT,
                 body BLOB NOT NULL,
                 stored_at_ms INTEGER NOT NULL
             );
             CREATE INDEX IF NOT EXISTS responses_by_age ON responses (stored_at_ms);",
        )?;
        Ok(ResponseTable {
            conn: Mutex::new(conn),
        })
    }

    /// Returns the newest `max` rows stored at or after `since_ms`, after deleting older ones.
    ///
    /// # Errors
    /// Fails when the table cannot be read.
    pub fn load(&self, since_ms: i64, max: usize) -> rusqlite::Result<Vec<Row>> {
        let conn = self.lock();
        conn.execute(
            "DELETE FROM responses WHERE stored_at_ms < ?1",
            params![since_ms],
        )?;
        let mut statement = conn.prepare(
            "SELECT slot, request, status, content_type, body, stored_at_ms FROM responses
             ORDER BY stored_at_ms DESC LIMIT ?1",
        )?;
        let rows = statement.query_map(params![max as i64], |row| {
            Ok(Row {
                slot: row.get(0)?,
                request: row.get(1)?,
                status: row.get(2)?,
                content_type: row.get(3)?,
                body: row.get(4)?,
                stored_at_ms: row.get(5)?,
            })
        })?;
        rows.collect()
    }

    /// Stores `row`, replacing any row of its slot, then deletes rows stored before
    /// `since_ms` and all but the newest `max`.
    ///
    /// # Errors
    /// Fails when the row cannot be written.
    pub fn insert(&self, row: &Row, since_ms: i64, max: usize) -> rusqlite::Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT OR REPLACE INTO responses
                 (slot, request, status, content_type, body, stored_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                row.slot,
                row.request,
                row.status,
                row.content_type,
                row.body,
                row.stored_at_ms
            ],
        )?;
        tx.execute(
            "DELETE FROM responses WHERE stored_at_ms < ?1 OR slot IN
                 (SELECT slot FROM responses ORDER BY stored_at_ms DESC LIMIT -1 OFFSET ?2)",
            params![since_ms, max as i64],
        )?;
        tx.commit()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(slot: u8, stored_at_ms: i64) -> Row {
        Row {
            slot: [slot; 32],
            request: [7; 32],
            status: 201,
            content_type: Some("application/json".to_owned()),
            body: br#"{"bot_id":"x"}"#.to_vec(),
            stored_at_ms,
        }
    }

    #[test]
    fn rows_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let table = ResponseTable::open(dir.path()).unwrap();
        table.insert(&row(1, 1_000), 0, 10).unwrap();
        drop(table);
        let table = ResponseTable::open(dir.path()).unwrap();
        assert_eq!(table.load(0, 10).unwrap(), vec![row(1, 1_000)]);
    }

    #[test]
    fn expired_rows_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let table = ResponseTable::open(dir.path()).unwrap();
        table.insert(&row(1, 1_000), 0, 10).unwrap();
        table.insert(&row(2, 5_000), 2_000, 10).unwrap();
        assert_eq!(table.load(0, 10).unwrap(), vec![row(2, 5_000)]);
    }

    #[test]
    fn oldest_rows_past_the_limit_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let table = ResponseTable::open(dir.path()).unwrap();
        for slot in 1..=4u8 {
            table.insert(&row(slot, i64::from(slot)), 0, 2).unwrap();
        }
        assert_eq!(table.load(0, 10).unwrap(), vec![row(4, 4), row(3, 3)]);
    }

    #[test]
    fn load_deletes_rows_before_the_retention() {
        let dir = tempfile::tempdir().unwrap();
        let table = ResponseTable::open(dir.path()).unwrap();
        table.insert(&row(1, 1_000), 0, 10).unwrap();
        assert!(table.load(2_000, 10).unwrap().is_empty());
        assert!(table.load(0, 10).unwrap().is_empty());
    }
}
