//! A paper bot in `keyward serve --sandbox`, fed by the emulator's replayed candles: it trades
//! on the order path, and every order it submits follows an approving verdict in the log.

mod common;

use std::time::{Duration, Instant};

use common::{Server, stored_events, write_wave_csv};
use keyward_actors::bot::audit::check_order_path;
use serde_json::json;

#[tokio::test]
async fn paper_bot_trades_on_replayed_candles() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("wave.csv");
    write_wave_csv(&csv, 2_000);
    let data = dir.path().join("data");
    let args = [
        "--sandbox",
        "--sandbox-market-data",
        csv.to_str().unwrap(),
        "--sandbox-speed",
        "100",
    ];
    let server = Server::start(&data, &dir.path().join("log"), &args).await;
    server.login().await;

    let bot = json!({"label": "paper", "exchange": "binance", "symbol": "BTCUSDT",
                     "strategy": {"name": "sma",
                                  "params": {"fast": 5, "slow": 20, "interval": "5m"}}});
    let (status, created) = server.post("/api/v1/bots", &bot).await;
    assert_eq!(status, 201, "{created}");
    let bot_id = created["bot_id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/bots/{bot_id}");
    let (status, body) = server
        .post(&format!("{path}/activate"), &json!({"mode": "paper"}))
        .await;
    assert_eq!(status, 200, "{body}");

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, view) = server.get(&path).await;
        if view["risk_checks"].as_u64().unwrap_or(0) >= 4 {
            break;
        }
        assert!(Instant::now() < deadline, "no verdicts recorded: {view}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = server.post(&format!("{path}/stop"), &json!({})).await;
    assert_eq!(status, 200, "{body}");
    server.stop();

    let events = stored_events(&data);
    assert_eq!(check_order_path(&events), Ok(()));
    let stream = format!("bot-{bot_id}");
    let types: Vec<&str> = events
        .iter()
        .filter(|event| event.stream.as_str() == stream)
        .map(|event| event.event_type.as_str())
        .collect();
    assert!(types.contains(&"OrderSubmitted"), "{types:?}");
    assert_eq!(types.last(), Some(&"PaperRunCompleted"), "{types:?}");
}
