//! A full disk: appends fail with a clear error, nothing acknowledged is lost, reads keep
//! working, and appends resume once space returns.
//!
//! The disk is a small tmpfs mounted under a temporary directory for this test alone and
//! unmounted when it ends; without the rights to mount one the test skips and says why.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use keyward_eventlog::chain::ChainVerifier;
use keyward_eventlog::conformance::event;
use keyward_eventlog::{AppendError, EventLog, ExpectedVersion, SegmentLog};
use keyward_events::{Category, StreamName};
use uuid::Uuid;

/// A tmpfs of a fixed size, unmounted on drop.
struct SmallDisk {
    mount: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let mount = dir.path().join("disk");
        std::fs::create_dir(&mount).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&mount)
            .status();
        match status {
            Ok(status) if status.success() => Some(SmallDisk { mount, _dir: dir }),
            other => {
                eprintln!("skipped: cannot mount a tmpfs to fill ({other:?}); run as root");
                None
            }
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let status = Command::new("umount").arg(&self.mount).status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!("could not unmount {}: {status:?}", self.mount.display());
        }
    }
}

/// Writes a file until the disk is full; returns its path.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 16 * 1024];
    while file.write_all(&chunk).is_ok() {}
    let _ = file.sync_all();
    path
}

#[tokio::test]
async fn full_disk_fails_appends_and_recovers() {
    let Some(disk) = SmallDisk::mount("2m") else {
        return;
    };
    let data = disk.mount.join("data");
    let log = SegmentLog::open(&data).unwrap();
    let stream = StreamName::new(Category::Stress, Uuid::now_v7());
    let mut acknowledged = Vec::new();
    for i in 0..20 {
        let new = event(&format!("{i}:{}", "p".repeat(400)));
        let appended = log
            .append(&stream, ExpectedVersion::Any, vec![new.clone()])
            .await
            .unwrap();
        acknowledged.push((appended.first_position, new));
    }
    let filler = fill(&disk.mount);

    let mut failures = 0;
    for i in 0..200 {
        let new = event(&format!("full {i}:{}", "q".repeat(8000)));
        match log
            .append(&stream, ExpectedVersion::Any, vec![new.clone()])
            .await
        {
            Ok(appended) => acknowledged.push((appended.first_position, new)),
            Err(err) => {
                assert!(matches!(err, AppendError::Storage(_)), "{err}");
                let message = err.to_string();
                assert!(message.contains("No space left on device"), "{message}");
                assert!(
                    message.contains("nothing of this append was stored"),
                    "{message}"
                );
                failures += 1;
                if failures == 3 {
                    break;
                }
            }
        }
    }
    assert_eq!(failures, 3, "the disk never filled up");

    let stored = log.read_all(0, 1000).await.unwrap();
    assert_eq!(
        stored.len(),
        acknowledged.len(),
        "reads work and hold what was acknowledged"
    );
    for (position, new) in &acknowledged {
        let record = &stored[usize::try_from(*position - 1).unwrap()];
        assert_eq!(record.event_id, new.event_id);
        assert_eq!(record.payload, new.payload);
    }

    std::fs::remove_file(filler).unwrap();
    let resumed = log
        .append(&stream, ExpectedVersion::Any, vec![event("space is back")])
        .await
        .unwrap();
    assert_eq!(
        resumed.first_position,
        acknowledged.len() as u64 + 1,
        "no gap"
    );
    drop(log);

    let log = SegmentLog::open(&data).unwrap();
    assert!(
        log.discarded_tail().is_none(),
        "failed writes left no torn bytes"
    );
    let stored = log.read_all(0, 1000).await.unwrap();
    assert_eq!(stored.len(), acknowledged.len() + 1);
    let mut verifier = ChainVerifier::default();
    for record in &stored {
        verifier.check(record).unwrap();
    }
    drop(log);
    drop(disk);
}
