//! Going live through the API: refused while conditions are unmet, accepted once the account
//! has 2FA, the key is verified against the sandbox host, and a 30-day backtest of the same
//! configuration is recorded.

mod common;

use std::time::Duration;

use common::{
    Server, enable_two_factor, fresh_totp_step, key_entry, write_key_file, write_wave_csv,
};
use serde_json::{Value, json};

const SECRET: &str = "LiveGoodSecret0123456789";

fn unmet(body: &Value) -> Vec<String> {
    body["unmet"]
        .as_array()
        .unwrap()
        .iter()
        .map(|condition| condition.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn live_activation_needs_every_condition() {
    let dir = tempfile::tempdir().unwrap();
    let keys = write_key_file(dir.path(), &[key_entry("liveGoodKey", SECRET, true, false)]);
    let market = dir.path().join("market");
    std::fs::create_dir_all(&market).unwrap();
    // 8700 five-minute candles span a little over 30 days.
    write_wave_csv(&market.join("month.csv"), 8_700);
    let args = [
        "--sandbox",
        "--sandbox-keys",
        keys.to_str().unwrap(),
        "--market-data-dir",
        market.to_str().unwrap(),
    ];
    let server = Server::start(&dir.path().join("data"), &dir.path().join("log"), &args).await;
    server.login().await;

    let body = json!({"exchange": "binance", "label": "live", "api_key": "liveGoodKey",
                      "api_secret": SECRET});
    let (status, added) = server.post("/api/v1/keys", &body).await;
    assert_eq!(status, 202, "{added}");
    let key_id = added["key_id"].as_str().unwrap().to_owned();
    let key = server.wait_key(&key_id, Duration::from_secs(10)).await;
    assert_eq!(key["status"], "verified", "{key}");

    let bot = json!({"label": "live", "key_id": key_id, "exchange": "binance",
                     "symbol": "BTCUSDT",
                     "strategy": {"name": "sma", "params": {"fast": 10, "slow": 30}}});
    let (status, created) = server.post("/api/v1/bots", &bot).await;
    assert_eq!(status, 201, "{created}");
    let bot_id = created["bot_id"].as_str().unwrap().to_owned();
    let activate = format!("/api/v1/bots/{bot_id}/activate");
    let live = json!({"mode": "live"});

    let (status, body) = server.post(&activate, &live).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(unmet(&body), ["two_factor_disabled", "no_track_record"]);

    let step = fresh_totp_step().await;
    enable_two_factor(&server, step).await;
    let (status, body) = server.post(&activate, &live).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(unmet(&body), ["no_track_record"]);

    let backtests = format!("/api/v1/bots/{bot_id}/backtests");
    let (status, body) = server.post(&backtests, &json!({"data": "month.csv"})).await;
    assert_eq!(status, 201, "{body}");

    let (status, body) = server.post(&activate, &live).await;
    assert_eq!(status, 200, "{body}");
    let (_, bot) = server.get(&format!("/api/v1/bots/{bot_id}")).await;
    assert_eq!(bot["status"], "active");
    assert_eq!(bot["mode"], "live");
    server.stop();
}
