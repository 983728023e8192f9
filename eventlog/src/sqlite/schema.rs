//! Connection settings and the table layout.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::ReadError;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    position       INTEGER PRIMARY KEY,
    stream         TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    event_id       BLOB    NOT NULL UNIQUE,
    event_type     TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    recorded_at_us INTEGER NOT NULL,
    metadata       BLOB    NOT NULL,
    payload        BLOB    NOT NULL,
    hash           BLOB    NOT NULL,
    UNIQUE (stream, version)
);
";

pub(crate) fn storage_error(context: &str, err: rusqlite::Error) -> ReadError {
    ReadError::Storage(format!("{context}: {err}"))
}

/// Opens the write connection: WAL, `synchronous=FULL`, and the schema.
pub(crate) fn open_write_connection(path: &Path) -> Result<Connection, ReadError> {
    let conn = Connection::open(path)
        .map_err(|e| storage_error(&format!("cannot open {}", path.display()), e))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
        .map_err(|e| storage_error("cannot switch to WAL mode", e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(ReadError::Storage(format!(
            "{} refused WAL mode (journal mode is {mode}); is it on a network filesystem?",
            path.display()
        )));
    }
    conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;")
        .map_err(|e| storage_error("cannot set synchronous=FULL", e))?;
    conn.execute_batch(SCHEMA)
        .map_err(|e| storage_error("cannot create the events table", e))?;
    Ok(conn)
}

/// Opens a read connection.
pub(crate) fn open_read_connection(path: &Path) -> Result<Connection, ReadError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| storage_error(&format!("cannot open {}", path.display()), e))?;
    conn.execute_batch("PRAGMA query_only=1; PRAGMA busy_timeout=5000;")
        .map_err(|e| storage_error("cannot configure a read connection", e))?;
    Ok(conn)
}
