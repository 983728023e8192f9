//! The conformance suite against every backend in this crate, and backend-specific recovery.

use std::sync::Arc;

use keyward_eventlog::{EventLog, MemoryLog, SegmentLog, SqliteLog};

fn memory() -> (Arc<dyn EventLog>, ()) {
    (Arc::new(MemoryLog::new()), ())
}

fn sqlite() -> (Arc<dyn EventLog>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let log = SqliteLog::open(dir.path()).unwrap();
    (Arc::new(log), dir)
}

fn segment() -> (Arc<dyn EventLog>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(dir.path()).unwrap();
    (Arc::new(log), dir)
}

/// Segments of 4 KiB, so that the suite crosses many segment boundaries.
fn small_segments() -> (Arc<dyn EventLog>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let options = keyward_eventlog::segment::SegmentOptions {
        segment_bytes: 4096,
    };
    let log = SegmentLog::open_with(dir.path(), options).unwrap();
    (Arc::new(log), dir)
}

keyward_eventlog::conformance_suite!(memory_backend, memory());
keyward_eventlog::conformance_suite!(sqlite_backend, sqlite());
keyward_eventlog::conformance_suite!(segment_backend, segment());
keyward_eventlog::conformance_suite!(small_segment_backend, small_segments());
