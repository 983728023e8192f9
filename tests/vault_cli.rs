//! `keyward vault` through the binary: rotation keeps old checkpoints verifiable, retirement is
//! rejected while keys use a version, and `serve` rejects a start without a master key.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use base64::Engine;
use common::{binary, master_key_b64};

fn new_key_b64() -> String {
    base64::engine::general_purpose::STANDARD.encode([77u8; 32])
}

/// Runs `keyward ARGS` with exactly the given master key variables.
fn keyward(args: &[&str], master: Option<&str>, new_master: Option<&str>) -> Output {
    let mut command = Command::new(binary());
    command
        .args(args)
        .env_remove("KEYWARD_MASTER_KEY")
        .env_remove("KEYWARD_NEW_MASTER_KEY");
    if let Some(key) = master {
        command.env("KEYWARD_MASTER_KEY", key);
    }
    if let Some(key) = new_master {
        command.env("KEYWARD_NEW_MASTER_KEY", key);
    }
    command.output().expect("keyward runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stress(data: &Path) {
    let output = common::run(&[
        "eventlog",
        "stress",
        "--writers",
        "1",
        "--appends",
        "20",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
}

fn event_types(data: &Path) -> Vec<String> {
    common::stored_events(data)
        .into_iter()
        .filter(|e| e.stream.as_str().starts_with("vault-"))
        .map(|e| e.event_type)
        .collect()
}

#[test]
fn rotation_keeps_old_checkpoints_verifiable() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    let exported = dir.path().join("checkpoint.json");
    let exported_arg = exported.to_str().unwrap();
    let old = master_key_b64();
    let new = new_key_b64();
    stress(&data);
    let export = keyward(
        &[
            "audit",
            "checkpoint",
            "--data-dir",
            data_arg,
            "--export",
            exported_arg,
        ],
        Some(&old),
        None,
    );
    assert_eq!(export.status.code(), Some(0), "{export:?}");

    let retire = [
        "vault",
        "retire-master",
        "--data-dir",
        data_arg,
        "--version",
        "1",
    ];
    let refused = keyward(&retire, Some(&old), None);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(
        stderr(&refused).contains("1 checkpoint keys"),
        "{}",
        stderr(&refused)
    );

    let rotate = ["vault", "rotate-master", "--data-dir", data_arg];
    let missing = keyward(&rotate, Some(&old), None);
    assert_eq!(missing.status.code(), Some(2), "{missing:?}");
    assert!(stderr(&missing).contains("KEYWARD_NEW_MASTER_KEY"));
    let rotated = keyward(&rotate, Some(&old), Some(&new));
    assert_eq!(rotated.status.code(), Some(0), "{rotated:?}");
    assert!(
        stdout(&rotated).contains("from version 1 to 2"),
        "{}",
        stdout(&rotated)
    );
    assert!(stdout(&rotated).contains("1 checkpoint keys"));

    let verify = [
        "audit",
        "verify",
        "--data-dir",
        data_arg,
        "--checkpoint",
        exported_arg,
    ];
    let with_old = keyward(&verify, Some(&old), None);
    assert_eq!(with_old.status.code(), Some(2), "{with_old:?}");
    assert!(
        stderr(&with_old).contains("rotated out"),
        "{}",
        stderr(&with_old)
    );
    let retired = keyward(&retire, Some(&new), None);
    assert_eq!(retired.status.code(), Some(0), "{retired:?}");
    let verified = keyward(&verify, Some(&new), None);
    assert_eq!(verified.status.code(), Some(0), "{verified:?}");
    assert!(
        stdout(&verified).contains("signed checkpoints match the log"),
        "{}",
        stdout(&verified)
    );

    let status = keyward(
        &["vault", "status", "--data-dir", data_arg],
        Some(&new),
        None,
    );
    assert_eq!(status.status.code(), Some(0), "{status:?}");
    let lines: Vec<String> = stdout(&status).lines().map(str::to_owned).collect();
    assert!(lines[1].trim_start().starts_with("1  retired"), "{lines:?}");
    assert!(lines[2].trim_start().starts_with("2  current"), "{lines:?}");
    assert!(lines[2].trim_end().ends_with('1'), "{lines:?}");
    assert_eq!(
        event_types(&data),
        ["MasterKeyRotated", "MasterKeyVersionRetired"]
    );
}

#[test]
fn rotation_needs_the_current_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    stress(&data);
    let status = keyward(
        &["vault", "status", "--data-dir", data_arg],
        Some(&master_key_b64()),
        None,
    );
    assert_eq!(status.status.code(), Some(0), "{status:?}");

    let rotate = ["vault", "rotate-master", "--data-dir", data_arg];
    let wrong = keyward(&rotate, Some(&new_key_b64()), Some(&master_key_b64()));
    assert_eq!(wrong.status.code(), Some(2), "{wrong:?}");
    assert!(
        stderr(&wrong).contains("does not match"),
        "{}",
        stderr(&wrong)
    );
    let same = keyward(&rotate, Some(&master_key_b64()), Some(&master_key_b64()));
    assert_eq!(same.status.code(), Some(2), "{same:?}");
    assert!(
        stderr(&same).contains("version 1 already"),
        "{}",
        stderr(&same)
    );
    assert!(event_types(&data).is_empty());
}

#[test]
fn serve_without_master_key_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let output = keyward(
        &[
            "serve",
            "--data-dir",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        None,
        None,
    );
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let message = stderr(&output);
    assert!(message.contains("no master key"), "{message}");
    assert!(message.contains("KEYWARD_MASTER_KEY"), "{message}");
    assert!(message.contains("--master-key-file"), "{message}");
    assert!(
        !data.join(keyward_vault::KEYRING_FILE).exists(),
        "a keyring was created without a master key"
    );
    assert!(!data.join("master.key").exists());
}
