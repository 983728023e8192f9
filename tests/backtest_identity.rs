//! The command line, a sweep and the server's backtest route run the same code: for the same
//! bot configuration and data they produce the same trade list.

mod common;

use std::path::Path;
use std::process::Command;

use common::Server;
use serde_json::json;

const START_MS: i64 = 1_758_240_000_000;
const STEP_MS: i64 = 300_000;
const HEADER: &str = "open_time,open,high,low,close,volume,close_time,quote_volume,count,\
                      taker_buy_volume,taker_buy_quote_volume,ignore";

/// Writes `count` 5-minute candles of a deterministic random walk with trends, so that a 10/30
/// crossover trades, hits stops and reaches targets.
fn write_klines(path: &Path, count: usize) {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 10_001) as f64 / 10_000.0 - 0.5
    };
    let mut text = format!("{HEADER}\n");
    let mut close = 60_000.0_f64;
    for index in 0..count {
        let drift = ((index / 150) % 2) as f64 * 2.0 - 1.0;
        let open = close;
        close = (open * (1.0 + 0.004 * next() + 0.0004 * drift) * 10.0).round() / 10.0;
        let high = (open.max(close) * (1.0 + 0.002 * next().abs()) * 10.0).ceil() / 10.0;
        let low = (open.min(close) * (1.0 - 0.002 * next().abs()) * 10.0).floor() / 10.0;
        let time = START_MS + index as i64 * STEP_MS;
        let close_time = time + STEP_MS - 1;
        text.push_str(&format!(
            "{time},{open:.1},{high:.1},{low:.1},{close:.1},12.5,{close_time},,,,,0\n"
        ));
    }
    std::fs::write(path, text).unwrap();
}

/// Writes funding every 8 hours over the candles, with rates of both signs.
fn write_funding(path: &Path, count: usize) {
    let mut text = "calc_time,funding_interval_hours,last_funding_rate\n".to_owned();
    let end = START_MS + count as i64 * STEP_MS;
    let mut time = START_MS + 5;
    let mut index = 0;
    while time < end {
        let rate = if index % 3 == 0 { -0.0002 } else { 0.0003 };
        text.push_str(&format!("{time},8,{rate}\n"));
        time += 8 * 3_600_000;
        index += 1;
    }
    std::fs::write(path, text).unwrap();
}

fn keyward_json(args: &[&str]) -> serde_json::Value {
    let output = Command::new(common::binary())
        .arg("backtest")
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{args:?}: {stderr}");
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn cli_sweep_and_route_give_equal_trades() {
    let dir = tempfile::tempdir().unwrap();
    let market = dir.path().join("market");
    std::fs::create_dir(&market).unwrap();
    let (klines, funding) = (market.join("klines.csv"), market.join("funding.csv"));
    write_klines(&klines, 3_000);
    write_funding(&funding, 3_000);
    let risk = json!({"stop_loss_pct": 0.6, "risk_per_trade_pct": 1, "max_position_pct": 100,
                      "daily_loss_limit_pct": 50, "max_drawdown_pct": 50});
    let risk_file = dir.path().join("risk.json");
    std::fs::write(&risk_file, risk.to_string()).unwrap();

    let market_arg = market.to_str().unwrap().to_owned();
    let server = Server::start(
        &dir.path().join("data"),
        &dir.path().join("log"),
        &["--sandbox", "--market-data-dir", &market_arg],
    )
    .await;
    server.login().await;
    let bot = json!({"label": "identity", "exchange": "binance", "symbol": "BTCUSDT",
                     "strategy": {"name": "sma",
                                  "params": {"fast": 10, "slow": 30, "take_profit_pct": 2}},
                     "risk": risk});
    let (status, created) = server.post("/api/v1/bots", &bot).await;
    assert_eq!(status, 201, "{created}");
    let path = format!(
        "/api/v1/bots/{}/backtests",
        created["bot_id"].as_str().unwrap()
    );
    let body = json!({"data": "klines.csv", "funding": "funding.csv"});
    let (status, route) = server.post(&path, &body).await;
    assert_eq!(status, 201, "{route}");
    server.stop();

    let data = klines.to_str().unwrap();
    let common_args = [
        "--data",
        data,
        "--funding",
        funding.to_str().unwrap(),
        "--strategy",
        "sma",
        "--take-profit-pct",
        "2",
        "--risk",
        risk_file.to_str().unwrap(),
        "--json",
    ];
    let mut single_args = common_args.to_vec();
    single_args.extend(["--fast", "10", "--slow", "30"]);
    let cli = keyward_json(&single_args);
    let mut sweep_args = common_args.to_vec();
    sweep_args.extend(["--fast", "8..12:2", "--slow", "30"]);
    let sweep = keyward_json(&sweep_args);

    let trades = route["trade_list"].as_array().unwrap();
    assert!(trades.len() > 10, "only {} trades", trades.len());
    let exits: Vec<&str> = trades
        .iter()
        .filter_map(|t| t["exit_reason"].as_str())
        .collect();
    for reason in ["signal", "stop_loss", "take_profit"] {
        assert!(exits.contains(&reason), "no {reason} exit in {exits:?}");
    }
    assert_eq!(route["trade_list"], cli["trade_list"]);

    let details = &route["backtest"]["details"];
    assert_eq!(details["trade_list_hash"], cli["trade_list_hash"]);
    assert_eq!(route["backtest"]["config_hash"], cli["config_hash"]);
    assert_eq!(route["backtest"]["data_hash"], cli["data_hash"]);
    assert_eq!(details["funding_hash"], cli["funding_hash"]);
    assert_eq!(route["backtest"]["final_equity"], cli["final_equity"]);
    assert_ne!(cli["funding_paid"], 0.0);

    let rows = sweep["results"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let row = rows.iter().find(|row| row["fast"] == 10).unwrap();
    assert_eq!(row["trade_list_hash"], cli["trade_list_hash"]);
    assert_eq!(row["final_equity"], cli["final_equity"]);
}
