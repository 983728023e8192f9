//! Recovery of the segment log: reopening, torn tails, damage, locking and read-only readers.

use std::os::unix::fs::FileExt;
use std::path::Path;

use keyward_eventlog::chain::ChainVerifier;
use keyward_eventlog::conformance::event;
use keyward_eventlog::segment::{RECOVERY_FILE, SegmentOptions};
use keyward_eventlog::{EventLog, ExpectedVersion, ReadError, SegmentLog};
use keyward_events::{Category, StreamName};
use uuid::Uuid;

fn stream() -> StreamName {
    StreamName::new(Category::Stress, Uuid::now_v7())
}

async fn append_n(log: &SegmentLog, stream: &StreamName, n: usize) {
    for i in 0..n {
        log.append(
            stream,
            ExpectedVersion::Any,
            vec![event(&format!("event {i}"))],
        )
        .await
        .unwrap();
    }
}

fn last_segment(data: &Path) -> std::path::PathBuf {
    let mut segments: Vec<_> = std::fs::read_dir(data.join("events"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segments.sort();
    segments.pop().unwrap()
}

fn verify_chain(data: &Path) -> u64 {
    let reader = SegmentLog::open_read_only(data).unwrap();
    let mut verifier = ChainVerifier::default();
    for record in reader.records(0).unwrap() {
        verifier.check(&record.unwrap()).unwrap();
    }
    verifier.verified()
}

#[tokio::test]
async fn reopen_keeps_records_and_continues() {
    let dir = tempfile::tempdir().unwrap();
    let s = stream();
    let options = SegmentOptions {
        segment_bytes: 2048,
    };
    {
        let log = SegmentLog::open_with(dir.path(), options).unwrap();
        append_n(&log, &s, 40).await;
    }
    let log = SegmentLog::open_with(dir.path(), options).unwrap();
    assert_eq!(*log.head().borrow(), 40);
    assert!(log.discarded_tail().is_none());
    let next = log
        .append(&s, ExpectedVersion::Exact(39), vec![event("after reopen")])
        .await
        .unwrap();
    assert_eq!(next.first_position, 41);
    assert_eq!(next.last_version, 40);
    drop(log);
    assert_eq!(verify_chain(dir.path()), 41);
}

#[tokio::test]
async fn torn_tail_is_discarded_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let s = stream();
    {
        let log = SegmentLog::open(dir.path()).unwrap();
        append_n(&log, &s, 5).await;
    }
    let segment = last_segment(dir.path());
    let reader = SegmentLog::open_read_only(dir.path()).unwrap();
    let first_frame = reader.locate(1).unwrap();
    let last_frame = reader.locate(5).unwrap();
    let records_end = usize::try_from(last_frame.offset).unwrap() + last_frame.len;
    let intact = std::fs::read(&segment).unwrap()[..records_end].to_vec();
    // The frame the crash cut short: its start written over the zeros ahead of the records.
    let torn = intact[..first_frame.len - 7].to_vec();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap()
        .write_all_at(&torn, records_end as u64)
        .unwrap();

    let log = SegmentLog::open(dir.path()).unwrap();
    let discarded = log
        .discarded_tail()
        .expect("a torn tail was discarded")
        .clone();
    assert_eq!(discarded.bytes, torn.len() as u64);
    assert_eq!(discarded.offset, intact.len() as u64);
    assert_eq!(discarded.last_position, 5);
    assert_eq!(*log.head().borrow(), 5);
    let recorded = std::fs::read_to_string(dir.path().join("events").join(RECOVERY_FILE)).unwrap();
    assert_eq!(recorded.lines().count(), 1, "{recorded}");
    assert!(
        recorded.contains(&format!("\"bytes\":{}", torn.len())),
        "{recorded}"
    );
    let next = log
        .append(&s, ExpectedVersion::Exact(4), vec![event("after")])
        .await
        .unwrap();
    assert_eq!(next.first_position, 6);
    drop(log);
    assert_eq!(std::fs::read(&segment).unwrap()[..intact.len()], intact[..]);
    assert_eq!(verify_chain(dir.path()), 6);
}

#[tokio::test]
async fn damage_inside_the_log_is_never_discarded() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = SegmentLog::open(dir.path()).unwrap();
        append_n(&log, &stream(), 5).await;
    }
    let location = SegmentLog::open_read_only(dir.path())
        .unwrap()
        .locate(2)
        .unwrap();
    let mut bytes = std::fs::read(&location.segment).unwrap();
    let at = usize::try_from(location.offset).unwrap() + location.len - 3;
    bytes[at] ^= 0x40;
    std::fs::write(&location.segment, &bytes).unwrap();

    let err = SegmentLog::open(dir.path()).err().expect("open must fail");
    assert!(
        matches!(err, ReadError::Corrupt { position: 2, .. }),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&location.segment).unwrap(),
        bytes,
        "nothing cut"
    );
    let reader = SegmentLog::open_read_only(dir.path()).unwrap();
    let results: Vec<_> = reader.records(0).unwrap().collect();
    assert_eq!(results.len(), 2);
    assert!(results[0].is_ok());
    assert!(
        matches!(results[1], Err(ReadError::Corrupt { position: 2, .. })),
        "{:?}",
        results[1]
    );
}

#[tokio::test]
async fn damaged_last_frame_is_never_discarded() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = SegmentLog::open(dir.path()).unwrap();
        append_n(&log, &stream(), 5).await;
    }
    let location = SegmentLog::open_read_only(dir.path())
        .unwrap()
        .locate(5)
        .unwrap();
    let mut bytes = std::fs::read(&location.segment).unwrap();
    let at = usize::try_from(location.offset).unwrap() + location.len - 3;
    bytes[at] ^= 0x40;
    std::fs::write(&location.segment, &bytes).unwrap();

    let err = SegmentLog::open(dir.path()).err().expect("open must fail");
    assert!(
        matches!(err, ReadError::Corrupt { position: 5, .. }),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&location.segment).unwrap(),
        bytes,
        "nothing cut"
    );
    assert!(!dir.path().join("events").join(RECOVERY_FILE).exists());
}

#[tokio::test]
async fn altered_record_with_a_valid_checksum_fails_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = SegmentLog::open(dir.path()).unwrap();
        append_n(&log, &stream(), 5).await;
    }
    let location = SegmentLog::open_read_only(dir.path())
        .unwrap()
        .locate(3)
        .unwrap();
    let mut bytes = std::fs::read(&location.segment).unwrap();
    let start = usize::try_from(location.offset).unwrap();
    let end = start + location.len;
    bytes[end - 3] ^= 0x40;
    let crc = crc32c::crc32c(&bytes[start + 8..end]);
    bytes[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&location.segment, &bytes).unwrap();

    let err = SegmentLog::open(dir.path()).err().expect("open must fail");
    assert!(
        matches!(err, ReadError::Corrupt { position: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("altered"), "{err}");
}

#[tokio::test]
async fn second_writer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _log = SegmentLog::open(dir.path()).unwrap();
    let err = SegmentLog::open(dir.path())
        .err()
        .expect("second open fails");
    assert!(err.to_string().contains("another keyward process"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_reader_runs_beside_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let log = std::sync::Arc::new(SegmentLog::open(dir.path()).unwrap());
    let writer = {
        let log = std::sync::Arc::clone(&log);
        tokio::spawn(async move {
            let s = stream();
            let mut expected = ExpectedVersion::NoStream;
            for i in 0..300 {
                let events = vec![event(&"x".repeat(i % 200)), event("y")];
                let appended = log.append(&s, expected, events).await.unwrap();
                expected = ExpectedVersion::Exact(appended.last_version);
            }
        })
    };
    let data = dir.path().to_owned();
    let mut last_seen = 0;
    while !writer.is_finished() {
        let data = data.clone();
        last_seen = tokio::task::spawn_blocking(move || verify_chain(&data))
            .await
            .unwrap()
            .max(last_seen);
    }
    writer.await.unwrap();
    assert_eq!(verify_chain(&data), 600);
    assert!(last_seen <= 600);
}
