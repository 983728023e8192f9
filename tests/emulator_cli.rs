//! `keyward emulator` as a user starts it: a key file, a replayed kline file and the admin
//! routes, on a loopback port; and `keyward serve` pointed at it with `--exchange-url`.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, binary, free_port, key_entry, write_key_file};
use serde_json::{Value, json};

/// Stops the emulator process when the test ends, whatever happens.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn get_json(http: &reqwest::Client, url: &str) -> Option<Value> {
    let response = http.get(url).send().await.ok()?;
    response.json().await.ok()
}

/// Starts `keyward emulator` on a free port with `extra` arguments and waits until it serves;
/// returns the process guard and the base URL.
async fn start_emulator(extra: &[&str]) -> (Running, String) {
    let port = free_port();
    let child = Command::new(binary())
        .args(["emulator", "--listen", &format!("127.0.0.1:{port}")])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let running = Running(child);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while get_json(&http, &format!("{base}/fapi/v1/time"))
        .await
        .is_none()
    {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the emulator did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (running, base)
}

#[tokio::test]
async fn emulator_replays_market_data_and_serves_admin_routes() {
    let dir = tempfile::tempdir().unwrap();
    let keys = write_key_file(
        dir.path(),
        &[key_entry("cliKey", "CliSecret85", true, false)],
    );
    let csv = dir.path().join("binance_um_BTCUSDT_5m.csv");
    std::fs::write(
        &csv,
        "open_time,open,high,low,close,volume\n\
         1758240000000,117017.1,117100.0,117010.8,117043.4,360.735\n",
    )
    .unwrap();
    let (_running, base) = start_emulator(&[
        "--keys",
        keys.to_str().unwrap(),
        "--market-data",
        csv.to_str().unwrap(),
        "--speed",
        "20",
    ])
    .await;
    let http = reqwest::Client::new();

    let started = Instant::now();
    let prices = loop {
        if let Some(prices) = get_json(&http, &format!("{base}/_emulator/prices")).await
            && prices["BTCUSDT"] != "60000"
        {
            break prices;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no replayed price in 15 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let replayed = ["117017.1", "117010.8", "117100.0", "117043.4"];
    assert!(
        replayed.contains(&prices["BTCUSDT"].as_str().unwrap()),
        "{prices}"
    );

    let time = get_json(&http, &format!("{base}/fapi/v1/time"))
        .await
        .unwrap();
    assert!(time["serverTime"].as_i64().unwrap() > 1_700_000_000_000);
    let info = get_json(&http, &format!("{base}/fapi/v1/exchangeInfo"))
        .await
        .unwrap();
    assert_eq!(info["symbols"][0]["symbol"], "BTCUSDT");
}

#[tokio::test]
async fn key_ends_unreachable_when_every_request_fails() {
    let dir = tempfile::tempdir().unwrap();
    let keys = write_key_file(
        dir.path(),
        &[key_entry("downKey", "DownSecret96", true, false)],
    );
    let (_running, base) = start_emulator(&["--keys", keys.to_str().unwrap()]).await;
    let faults = reqwest::Client::new()
        .post(format!("{base}/_emulator/faults"))
        .json(&json!({"server_error_rate": 1.0}))
        .send()
        .await
        .unwrap();
    assert!(faults.status().is_success());

    let binance = format!("binance={base}");
    let spot = format!("binance-spot={base}");
    let server = Server::start(
        &dir.path().join("data"),
        &dir.path().join("serve.log"),
        &["--exchange-url", &binance, "--exchange-url", &spot],
    )
    .await;
    server.login().await;
    let body = json!({"exchange": "binance", "label": "down",
                      "api_key": "downKey", "api_secret": "DownSecret96"});
    let (status, answer) = server.post("/api/v1/keys", &body).await;
    assert_eq!(status, 202, "{answer}");
    let key = server
        .wait_key(answer["key_id"].as_str().unwrap(), Duration::from_secs(30))
        .await;
    assert_eq!(key["status"], "unreachable", "{key}");
    server.stop();
}

#[test]
fn zero_replay_speed_is_rejected() {
    for args in [
        ["emulator", "--speed", "0"].as_slice(),
        ["serve", "--sandbox", "--sandbox-speed", "0"].as_slice(),
    ] {
        let output = common::run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("0 is not in 1.."), "{args:?}: {stderr}");
    }
}

#[test]
fn missing_market_data_dir_is_rejected_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-folder");
    let output = common::run(&[
        "serve",
        "--sandbox",
        "--data-dir",
        dir.path().join("data").to_str().unwrap(),
        "--market-data-dir",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not a folder"), "{stderr}");
    assert!(!dir.path().join("data").exists(), "nothing created");
}
