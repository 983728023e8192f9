//! Audit tools on the embedded log: exported checkpoints catch a cut tail, and `dump` and
//! `audit verify` work while a writer runs.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::run;
use keyward_eventlog::SegmentLog;
use keyward_eventlog::checkpoint::CheckpointStore;

fn stress(data: &Path, appends: u32) {
    let output = run(&[
        "eventlog",
        "stress",
        "--writers",
        "2",
        "--appends",
        &appends.to_string(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
}

/// Cuts the log after `keep` events, as an attacker hiding the latest events would.
fn cut_after(data: &Path, keep: u64) {
    let location = SegmentLog::open_read_only(data)
        .unwrap()
        .locate(keep + 1)
        .unwrap();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&location.segment)
        .unwrap();
    file.set_len(location.offset).unwrap();
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn exported_checkpoint_detects_a_cut_tail() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    let exported = dir.path().join("checkpoint.json");
    let exported_arg = exported.to_str().unwrap();
    stress(&data, 50);

    let export = run(&[
        "audit",
        "checkpoint",
        "--data-dir",
        data_arg,
        "--export",
        exported_arg,
    ]);
    assert_eq!(export.status.code(), Some(0), "{export:?}");
    assert!(
        stdout(&export).contains("position 50"),
        "{}",
        stdout(&export)
    );
    let intact = run(&[
        "audit",
        "verify",
        "--data-dir",
        data_arg,
        "--checkpoint",
        exported_arg,
    ]);
    assert_eq!(intact.status.code(), Some(0), "{intact:?}");
    assert!(
        stdout(&intact).contains("2 signed checkpoints match"),
        "{}",
        stdout(&intact)
    );

    cut_after(&data, 44);
    std::fs::remove_file(CheckpointStore::in_data_dir(&data).path()).unwrap();
    // The cut chain alone still verifies, but the keyring shows that checkpoints were signed.
    let unaware = run(&["audit", "verify", "--data-dir", data_arg]);
    assert_eq!(unaware.status.code(), Some(1), "{unaware:?}");
    assert!(
        stdout(&unaware).contains("verified 44 events"),
        "{}",
        stdout(&unaware)
    );
    assert!(
        stdout(&unaware).contains("was removed or emptied"),
        "{}",
        stdout(&unaware)
    );

    let caught = run(&[
        "audit",
        "verify",
        "--data-dir",
        data_arg,
        "--checkpoint",
        exported_arg,
    ]);
    assert_eq!(caught.status.code(), Some(1), "{caught:?}");
    let message = stdout(&caught);
    assert!(message.contains("position 50"), "{message}");
    assert!(message.contains("ends at position 44"), "{message}");
    assert!(message.contains("cut off"), "{message}");
}

#[test]
fn local_checkpoints_and_forgeries_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    let exported = dir.path().join("checkpoint.json");
    let exported_arg = exported.to_str().unwrap();
    stress(&data, 30);
    let export = run(&[
        "audit",
        "checkpoint",
        "--data-dir",
        data_arg,
        "--export",
        exported_arg,
    ]);
    assert_eq!(export.status.code(), Some(0), "{export:?}");

    let text = std::fs::read_to_string(&exported).unwrap();
    let mut forged: serde_json::Value = serde_json::from_str(&text).unwrap();
    forged["position"] = serde_json::json!(20);
    let forged_path = dir.path().join("forged.json");
    std::fs::write(&forged_path, forged.to_string()).unwrap();
    let refused = run(&[
        "audit",
        "verify",
        "--data-dir",
        data_arg,
        "--checkpoint",
        forged_path.to_str().unwrap(),
    ]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(
        stdout(&refused).contains("invalid signature"),
        "{}",
        stdout(&refused)
    );

    cut_after(&data, 25);
    let caught = run(&["audit", "verify", "--data-dir", data_arg]);
    assert_eq!(
        caught.status.code(),
        Some(1),
        "the local checkpoint at 30 catches the cut"
    );
    assert!(
        stdout(&caught).contains("position 30"),
        "{}",
        stdout(&caught)
    );

    let wrong_key = Command::new(common::binary())
        .args(["audit", "verify", "--data-dir", data_arg])
        .env("KEYWARD_MASTER_KEY", base64_of([9u8; 32]))
        .output()
        .unwrap();
    assert_eq!(wrong_key.status.code(), Some(2), "{wrong_key:?}");

    std::fs::remove_file(data.join("events").join("checkpoints.jsonl")).unwrap();
    let removed = run(&["audit", "verify", "--data-dir", data_arg]);
    assert_eq!(removed.status.code(), Some(1), "{removed:?}");
    assert!(
        stdout(&removed).contains("was removed or emptied"),
        "{}",
        stdout(&removed)
    );
}

fn base64_of(bytes: [u8; 32]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn dump_and_verify_run_beside_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    stress(&data, 20);
    let mut writer = Command::new(common::binary())
        .args([
            "eventlog",
            "stress",
            "--writers",
            "4",
            "--data-dir",
            data_arg,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..3 {
        let verified = run(&["audit", "verify", "--data-dir", data_arg]);
        assert_eq!(verified.status.code(), Some(0), "{verified:?}");
        let dump = run(&["eventlog", "dump", "--data-dir", data_arg, "--json"]);
        assert_eq!(dump.status.code(), Some(0), "{dump:?}");
        let text = stdout(&dump);
        let mut expected_position = 1;
        for line in text.lines() {
            let event: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(event["position"], expected_position);
            for field in ["stream", "version", "event_type", "recorded_at", "payload"] {
                assert!(!event[field].is_null(), "{field} missing in {line}");
            }
            expected_position += 1;
        }
        assert!(
            expected_position > 20,
            "dump printed {} events",
            expected_position - 1
        );
    }
    writer.kill().unwrap();
    writer.wait().unwrap();

    let from = run(&["eventlog", "dump", "--data-dir", data_arg, "--from", "15"]);
    assert_eq!(from.status.code(), Some(0));
    let first = stdout(&from).lines().next().unwrap().to_owned();
    assert!(first.starts_with("16\t"), "{first}");
}
