//! `keyward projections rebuild` through the binary.

mod common;

use std::path::Path;

use keyward_eventlog::{EventLog, ExpectedVersion, SegmentLog};
use keyward_projections::synthetic::{History, Step};
use keyward_projections::{AuditTrail, CheckpointDir, Dashboard, rebuild};

fn write_history(data_dir: &Path) -> u64 {
    let mut history = History::new(11, 2);
    for i in 0..30 {
        for step in [
            Step::AddKey,
            Step::ProbeKey(i),
            Step::CreateBot,
            Step::CheckRisk {
                bot: i,
                approved: i.is_multiple_of(2),
            },
            Step::StartSession,
        ] {
            history.push(step);
        }
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let log = open_when_unlocked(data_dir);
        let mut head = 0;
        for (stream, event) in history.events {
            head = log
                .append(&stream, ExpectedVersion::Any, vec![event])
                .await
                .unwrap()
                .last_position;
        }
        head
    })
}

#[test]
fn rebuild_writes_every_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let head = write_history(dir.path());
    let data_dir = dir.path().to_str().unwrap();

    let output = common::run(&["projections", "rebuild", "--data-dir", data_dir]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "rebuild failed: {output:?}");
    for name in ["dashboard", "audit", "feed"] {
        assert!(
            stdout.contains(&format!("rebuilt {name} from {head} events")),
            "no line for {name} in {stdout}"
        );
    }

    let reader = SegmentLog::open_read_only(dir.path()).unwrap();
    let expected = rebuild::<Dashboard>(reader.records(0).unwrap(), |_| {}).unwrap();
    let checkpoints = CheckpointDir::in_data_dir(dir.path());
    let saved = checkpoints.load::<Dashboard>("dashboard").unwrap().unwrap();
    assert_eq!(saved.position, head);
    assert_eq!(saved.state, expected.projection);
    assert_eq!(saved.state.bots.len(), 30);
}

#[test]
fn rebuild_one_by_name() {
    let dir = tempfile::tempdir().unwrap();
    write_history(dir.path());
    let data_dir = dir.path().to_str().unwrap();

    let output = common::run(&[
        "projections",
        "rebuild",
        "--data-dir",
        data_dir,
        "--name",
        "audit",
    ]);
    assert!(output.status.success(), "rebuild failed: {output:?}");
    let checkpoints = CheckpointDir::in_data_dir(dir.path());
    assert!(checkpoints.load::<AuditTrail>("audit").unwrap().is_some());
    assert!(
        checkpoints
            .load::<Dashboard>("dashboard")
            .unwrap()
            .is_none()
    );
}

#[test]
fn rebuild_rejects_unknown_name() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let output = common::run(&[
        "projections",
        "rebuild",
        "--data-dir",
        data_dir,
        "--name",
        "ledger",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown projection \"ledger\""), "{stderr}");
    assert!(stderr.contains("dashboard, audit, feed"), "{stderr}");
}

/// Opens the log for writing, waiting up to five seconds for its lock. Tests in this file
/// start `keyward` from several threads; a child forked while this process still held the
/// lock file open keeps the lock until it runs `keyward`, a moment after the file was closed.
fn open_when_unlocked(data_dir: &Path) -> SegmentLog {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match SegmentLog::open(data_dir) {
            Ok(log) => return log,
            Err(err) if std::time::Instant::now() < deadline => {
                eprintln!("waiting for the log lock: {err}");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(err) => panic!("cannot open the log: {err}"),
        }
    }
}

#[test]
fn rebuild_refuses_a_log_in_use() {
    let dir = tempfile::tempdir().unwrap();
    write_history(dir.path());
    let _writer = open_when_unlocked(dir.path());
    let data_dir = dir.path().to_str().unwrap();
    let output = common::run(&["projections", "rebuild", "--data-dir", data_dir]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("stop the server before rebuilding"),
        "{stderr}"
    );
}
