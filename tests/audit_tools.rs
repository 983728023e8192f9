//! `keyward audit replay` and `keyward audit export` through the binary.

mod common;

use std::path::Path;

use keyward_eventlog::{EventLog, ExpectedVersion, SegmentLog};
use keyward_events::RecordedEvent;
use keyward_projections::synthetic::{History, Step};

/// Writes a history of two accounts and returns the stored records.
fn write_history(data_dir: &Path) -> Vec<RecordedEvent> {
    let mut history = History::new(21, 2);
    for i in 0..6 {
        for step in [
            Step::StartSession,
            Step::AddKey,
            Step::ProbeKey(i),
            Step::CreateBot,
            Step::CheckRisk {
                bot: i,
                approved: true,
            },
        ] {
            history.push(step);
        }
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let log = SegmentLog::open(data_dir).unwrap();
        for (stream, event) in history.events {
            log.append(&stream, ExpectedVersion::Any, vec![event])
                .await
                .unwrap();
        }
        log.read_all(0, usize::MAX).await.unwrap()
    })
}

fn stdout_of(output: &std::process::Output) -> String {
    assert!(output.status.success(), "keyward failed: {output:?}");
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn account_of(record: &RecordedEvent) -> String {
    record.parsed_metadata().account_id.unwrap().to_string()
}

#[test]
fn replay_prints_state_per_event() {
    let dir = tempfile::tempdir().unwrap();
    let records = write_history(dir.path());
    let key = records.iter().find(|r| r.event_type == "KeyAdded").unwrap();
    let stream = key.stream.to_string();
    let data_dir = dir.path().to_str().unwrap();

    let output = common::run(&[
        "audit",
        "replay",
        "--data-dir",
        data_dir,
        "--stream",
        &stream,
        "--json",
    ]);
    let lines: Vec<serde_json::Value> = stdout_of(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let expected = records.iter().filter(|r| r.stream == key.stream).count();
    assert_eq!(lines.len(), expected);
    assert_eq!(lines[0]["event_type"], "KeyAdded");
    assert_eq!(lines[0]["state"]["status"], "pending");
    assert_eq!(lines.last().unwrap()["state"]["status"], "verified");
    assert_eq!(lines[0]["state"]["masked_api_key"], "abcd…wxyz");
}

#[test]
fn replay_stops_at_until() {
    let dir = tempfile::tempdir().unwrap();
    let records = write_history(dir.path());
    let key = records.iter().find(|r| r.event_type == "KeyAdded").unwrap();
    let stream = key.stream.to_string();
    let until = key.position.to_string();
    let data_dir = dir.path().to_str().unwrap();

    let output = common::run(&[
        "audit",
        "replay",
        "--data-dir",
        data_dir,
        "--stream",
        &stream,
        "--until",
        &until,
    ]);
    let text = stdout_of(&output);
    assert!(text.contains("KeyAdded"), "{text}");
    assert!(!text.contains("KeyProbed"), "{text}");
}

#[test]
fn replay_rejects_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    write_history(dir.path());
    let data_dir = dir.path().to_str().unwrap();
    let unknown = format!("bot-{}", uuid::Uuid::nil());

    let output = common::run(&[
        "audit",
        "replay",
        "--data-dir",
        data_dir,
        "--stream",
        &unknown,
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("has no events"));

    let output = common::run(&[
        "audit",
        "replay",
        "--data-dir",
        data_dir,
        "--stream",
        &unknown,
        "--until",
        "yesterday",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("neither a position nor an RFC 3339"));
}

#[test]
fn export_jsonl_holds_one_account() {
    let dir = tempfile::tempdir().unwrap();
    let records = write_history(dir.path());
    let account = account_of(&records[0]);
    let data_dir = dir.path().to_str().unwrap();

    let output = common::run(&[
        "audit",
        "export",
        "--data-dir",
        data_dir,
        "--account",
        &account,
        "--format",
        "jsonl",
    ]);
    let lines: Vec<serde_json::Value> = stdout_of(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let expected = records.iter().filter(|r| account_of(r) == account).count();
    assert_eq!(lines.len(), expected);
    assert!(
        lines
            .iter()
            .all(|line| line["account_id"] == account.as_str())
    );
    assert!(
        lines
            .iter()
            .all(|line| line["source_address"] == "127.0.0.1")
    );
}

#[test]
fn export_csv_within_range() {
    let dir = tempfile::tempdir().unwrap();
    let records = write_history(dir.path());
    let account = account_of(&records[0]);
    let data_dir = dir.path().to_str().unwrap();

    let output = common::run(&[
        "audit",
        "export",
        "--data-dir",
        data_dir,
        "--account",
        &account,
        "--format",
        "csv",
        "--from",
        "5",
        "--to",
        "20",
    ]);
    let text = stdout_of(&output);
    let mut rows = text.lines();
    assert_eq!(
        rows.next().unwrap(),
        "position,recorded_at,account_id,session_id,source_address,stream,event_type,summary"
    );
    let positions: Vec<u64> = rows
        .map(|row| row.split(',').next().unwrap().parse().unwrap())
        .collect();
    let expected: Vec<u64> = records
        .iter()
        .filter(|r| account_of(r) == account && (5..=20).contains(&r.position))
        .map(|r| r.position)
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(positions, expected);
}
