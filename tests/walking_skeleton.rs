//! End to end through the binary: keys verified or rejected, no secret at rest, restart,
//! tamper evidence, and clear errors on bad input.

mod common;

use std::time::Duration;

use common::{Server, key_entry, run, scan_for_secrets, write_key_file};
use keyward_eventlog::segment::frame;
use serde_json::json;

const GOOD_SECRET: &str = "SkeletonGoodSecret41";
const WITHDRAW_SECRET: &str = "SkeletonWithdrawSecret52";
const READ_ONLY_SECRET: &str = "SkeletonReadOnlySecret63";

struct Added {
    good: String,
    withdraw: String,
    read_only: String,
}

async fn add_three_keys(server: &Server) -> Added {
    let mut ids = Vec::new();
    for (api_key, secret) in [
        ("skelGoodKey", GOOD_SECRET),
        ("skelWithdrawKey", WITHDRAW_SECRET),
        ("skelReadOnlyKey", READ_ONLY_SECRET),
    ] {
        let body = json!({"exchange": "binance", "label": "e2e", "api_key": api_key,
                          "api_secret": secret});
        let (status, answer) = server.post("/api/v1/keys", &body).await;
        assert_eq!(status, 202, "{answer}");
        assert!(answer["position"].as_u64().unwrap() >= 1, "{answer}");
        ids.push(answer["key_id"].as_str().unwrap().to_owned());
    }
    Added {
        good: ids[0].clone(),
        withdraw: ids[1].clone(),
        read_only: ids[2].clone(),
    }
}

fn reason_codes(key: &serde_json::Value) -> Vec<String> {
    key["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn keys_verified_persisted_and_tamper_evident() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log_path = dir.path().join("serve.log");
    let keys = write_key_file(
        dir.path(),
        &[
            key_entry("skelGoodKey", GOOD_SECRET, true, false),
            key_entry("skelWithdrawKey", WITHDRAW_SECRET, true, true),
            key_entry("skelReadOnlyKey", READ_ONLY_SECRET, false, false),
        ],
    );
    let keys_arg = keys.to_str().unwrap();
    let sandbox = ["--sandbox", "--sandbox-keys", keys_arg];

    let server = Server::start(&data, &log_path, &sandbox).await;
    server.login().await;
    let added = add_three_keys(&server).await;
    let good = server.wait_key(&added.good, Duration::from_secs(2)).await;
    let withdraw = server
        .wait_key(&added.withdraw, Duration::from_secs(2))
        .await;
    let read_only = server
        .wait_key(&added.read_only, Duration::from_secs(2))
        .await;
    assert_eq!(good["status"], "verified", "{good}");
    assert_eq!(good["permissions"]["withdraw"], false);
    assert_eq!(withdraw["status"], "rejected", "{withdraw}");
    assert!(reason_codes(&withdraw).contains(&"withdraw_enabled".to_owned()));
    assert_eq!(read_only["status"], "rejected", "{read_only}");
    assert!(reason_codes(&read_only).contains(&"futures_trading_missing".to_owned()));
    assert!(good["masked_api_key"].as_str().unwrap().contains('…'));
    server.stop();

    let secrets = [GOOD_SECRET, WITHDRAW_SECRET, READ_ONLY_SECRET];
    let mut hits = scan_for_secrets(&data, &secrets);
    hits.extend(scan_for_secrets(&log_path, &secrets));
    assert!(
        hits.is_empty(),
        "secrets found at rest or in logs: {hits:?}"
    );

    let server = Server::start(&data, &log_path, &sandbox).await;
    server.login().await;
    for (id, expected) in [
        (&added.good, "verified"),
        (&added.withdraw, "rejected"),
        (&added.read_only, "rejected"),
    ] {
        // The sandbox's emulator listens on a new port, so the verified key is probed again.
        let key = server.wait_key(id, Duration::from_secs(5)).await;
        assert_eq!(key["status"], expected, "after restart: {key}");
    }
    server.stop();

    let data_arg = data.to_str().unwrap();
    let intact = run(&["audit", "verify", "--data-dir", data_arg]);
    assert_eq!(intact.status.code(), Some(0), "{intact:?}");

    let tampered_position = 3;
    let location = keyward_eventlog::SegmentLog::open_read_only(&data)
        .unwrap()
        .locate(tampered_position)
        .unwrap();
    let mut bytes = std::fs::read(&location.segment).unwrap();
    let start = usize::try_from(location.offset).unwrap();
    let stored = &mut bytes[start..start + location.len];
    let (payload_at, payload_len) = frame::payload_span(stored).unwrap();
    stored[payload_at + payload_len / 2] ^= 0x01;
    std::fs::write(&location.segment, &bytes).unwrap();
    let damaged = run(&["audit", "verify", "--data-dir", data_arg]);
    assert_eq!(damaged.status.code(), Some(1), "{damaged:?}");
    let output = String::from_utf8_lossy(&damaged.stdout);
    assert!(
        output.contains(&format!("position {tampered_position}")),
        "{output}"
    );

    // A forger who also fixes the frame's checksum still breaks the hash chain.
    frame::reseal(&mut bytes[start..start + location.len]).unwrap();
    std::fs::write(&location.segment, &bytes).unwrap();
    let broken = run(&["audit", "verify", "--data-dir", data_arg]);
    assert_eq!(broken.status.code(), Some(1), "{broken:?}");
    let output = String::from_utf8_lossy(&broken.stdout);
    assert!(
        output.contains(&format!("position {tampered_position}")),
        "{output}"
    );
    assert!(output.contains("hash does not match"), "{output}");
}

#[tokio::test]
async fn bad_key_input_gets_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &dir.path().join("log"),
        &["--sandbox"],
    )
    .await;
    server.login().await;
    let cases = [
        (
            json!({"exchange": "nosuch", "label": "x", "api_key": "k", "api_secret": "s"}),
            "nosuch",
        ),
        (
            json!({"exchange": "binance", "label": "x", "api_key": "k", "api_secret": ""}),
            "api_secret",
        ),
        (
            json!({"exchange": "binance", "label": "x", "api_key": "", "api_secret": "s"}),
            "api_key",
        ),
        (
            json!({"exchange": "okx", "label": "x", "api_key": "k", "api_secret": "s"}),
            "passphrase",
        ),
        (json!({"exchange": "binance", "api_key": "k"}), "api_secret"),
    ];
    for (body, named) in cases {
        let (status, answer) = server.post("/api/v1/keys", &body).await;
        assert_eq!(status, 400, "{body} answered {answer}");
        assert_eq!(answer["error"], "invalid_request", "{answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(message.contains(named), "{message} should name {named}");
    }
    let (status, answer) = server.post_raw("/api/v1/keys", "{\"exchange\": ").await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"], "invalid_request");
    let (status, answer) = server.get("/api/v1/keys/not-a-uuid").await;
    assert_eq!(status, 404, "{answer}");
    let (status, keys) = server.get("/api/v1/keys").await;
    assert_eq!(status, 200);
    assert_eq!(
        keys["keys"].as_array().unwrap().len(),
        0,
        "bad input stored nothing: {keys}"
    );
    server.stop();
}

#[test]
fn serve_without_master_key_explains() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(common::binary())
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .env_remove("KEYWARD_MASTER_KEY")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("KEYWARD_MASTER_KEY"), "{stderr}");
}

#[test]
fn secret_scan_finds_every_form() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let marker = "PlantedMarkerSecret99";
    let forms = [
        marker.to_owned(),
        hex::encode(marker),
        base64::engine::general_purpose::STANDARD.encode(marker),
    ];
    for (i, form) in forms.iter().enumerate() {
        let path = dir.path().join(format!("file{i}"));
        std::fs::write(&path, format!("prefix {form} suffix")).unwrap();
        let hits = scan_for_secrets(&path, &[marker]);
        assert_eq!(hits.len(), 1, "form {form} was not found");
    }
    assert!(scan_for_secrets(dir.path(), &["NotPlanted"]).is_empty());
}

#[tokio::test]
async fn bot_backtest_reaches_the_dashboard() {
    let dir = tempfile::tempdir().unwrap();
    let market = dir.path().join("market");
    std::fs::create_dir(&market).unwrap();
    common::write_wave_csv(&market.join("wave.csv"), 600);
    let market_arg = market.to_str().unwrap().to_owned();
    let server = Server::start(
        &dir.path().join("data"),
        &dir.path().join("log"),
        &["--sandbox", "--market-data-dir", &market_arg],
    )
    .await;
    server.login().await;

    let bot = json!({"label": "wave", "exchange": "binance", "symbol": "BTCUSDT",
                     "strategy": {"name": "sma", "params": {"fast": 5, "slow": 20}},
                     "risk": {"max_position_pct": 100, "risk_per_trade_pct": 5}});
    let (status, created) = server.post("/api/v1/bots", &bot).await;
    assert_eq!(status, 201, "{created}");
    let bot_id = created["bot_id"].as_str().unwrap();

    let path = format!("/api/v1/bots/{bot_id}/backtests");
    let (status, done) = server.post(&path, &json!({"data": "wave.csv"})).await;
    assert_eq!(status, 201, "{done}");
    assert_eq!(done["backtest"]["bars"], 600);
    assert!(done["backtest"]["trades"].as_u64().unwrap() > 0, "{done}");

    let (status, dashboard) = server.get("/api/v1/dashboard").await;
    assert_eq!(status, 200);
    let bots = dashboard["bots"].as_array().unwrap();
    assert_eq!(bots.len(), 1, "{dashboard}");
    assert_eq!(bots[0]["backtests"][0]["bars"], 600, "{dashboard}");

    // Backtests of one bot at the same time all land on its stream.
    let body = json!({"data": "wave.csv"});
    let runs: Vec<_> = (0..6).map(|_| server.post(&path, &body)).collect();
    for (status, done) in futures::future::join_all(runs).await {
        assert_eq!(status, 201, "{done}");
    }

    let (status, refused) = server.post(&path, &json!({"data": "../wave.csv"})).await;
    assert_eq!(status, 400, "{refused}");
    let bad_strategy = json!({"label": "x", "exchange": "binance", "symbol": "BTCUSDT",
                              "strategy": {"name": "sma", "params": {"fast": 30, "slow": 10}}});
    let (status, refused) = server.post("/api/v1/bots", &bad_strategy).await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("slow"),
        "{refused}"
    );
    server.stop();
}

#[tokio::test]
async fn serve_refuses_a_log_without_its_keyring() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &dir.path().join("log"), &["--sandbox"]).await;
    server.login().await;
    server.stop();
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&data).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o700, "a new data dir is its owner's alone");
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("keyring.db") {
            std::fs::remove_file(&path).unwrap();
        }
    }

    let output = std::process::Command::new(common::binary())
        .args(["serve", "--sandbox", "--data-dir"])
        .arg(&data)
        .env("KEYWARD_MASTER_KEY", common::master_key_b64())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("keyring"), "{stderr}");
    assert!(stderr.contains("restore"), "{stderr}");
    assert!(
        !data.join("keyring.db").exists(),
        "the refusal created an empty keyring"
    );
}
