//! Going live through the API: refused while conditions are unmet, accepted once the account
//! has 2FA, the key is verified against the sandbox host, and a 30-day backtest of the same
//! configuration is recorded. A live bot then trades on an emulator's candles, keeps trading
//! after a server restart, and the kill switch leaves no order of it on the emulator.

mod common;

use std::time::{Duration, Instant};

use common::{
    Server, enable_two_factor, fresh_totp_step, key_entry, stored_events, write_key_file,
    write_wave_csv,
};
use keyward_actors::bot::audit::check_order_path;
use keyward_emulator::engine::{AccountId, MarketTick, OrderRecord, OrderType};
use keyward_emulator::{Emulator, EmulatorConfig, RunningEmulator, parse_keys};
use keyward_events::Exchange;
use rust_decimal::Decimal;
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

/// Adds a Binance key, waits until its probe verifies it, and creates an SMA crossover bot on
/// it with `params`. Returns the bot id.
async fn bot_on_new_key(server: &Server, api_key: &str, secret: &str, params: Value) -> String {
    let body = json!({"exchange": "binance", "label": "live", "api_key": api_key,
                      "api_secret": secret});
    let (status, added) = server.post("/api/v1/keys", &body).await;
    assert_eq!(status, 202, "{added}");
    let key_id = added["key_id"].as_str().unwrap().to_owned();
    let key = server.wait_key(&key_id, Duration::from_secs(10)).await;
    assert_eq!(key["status"], "verified", "{key}");

    let bot = json!({"label": "live", "key_id": key_id, "exchange": "binance",
                     "symbol": "BTCUSDT", "strategy": {"name": "sma", "params": params}});
    let (status, created) = server.post("/api/v1/bots", &bot).await;
    assert_eq!(status, 201, "{created}");
    created["bot_id"].as_str().unwrap().to_owned()
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

    let params = json!({"fast": 10, "slow": 30});
    let bot_id = bot_on_new_key(&server, "liveGoodKey", SECRET, params).await;
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

const TRADER_KEY: &str = "liveTraderKey";
const TRADER_SECRET: &str = "LiveTraderSecret0123456789";

async fn emulator() -> RunningEmulator {
    let keys = json!([key_entry(TRADER_KEY, TRADER_SECRET, true, false)]);
    let keys = parse_keys(&keys.to_string(), "keys.json".as_ref()).unwrap();
    let config = EmulatorConfig {
        keys,
        ..EmulatorConfig::default()
    };
    Emulator::start(config).await.unwrap()
}

/// `--exchange-url` arguments pointing every exchange host at the emulator.
fn exchange_urls(emulator: &RunningEmulator) -> Vec<String> {
    let http = emulator.base_url();
    let ws = http.replacen("http", "ws", 1);
    let mut args = Vec::new();
    for name in ["binance", "binance-spot", "bybit", "okx"] {
        args.extend(["--exchange-url".to_owned(), format!("{name}={http}")]);
    }
    for name in ["binance-ws", "bybit-ws", "okx-ws"] {
        args.extend(["--exchange-url".to_owned(), format!("{name}={ws}")]);
    }
    args
}

fn open_orders(emulator: &RunningEmulator) -> Vec<OrderRecord> {
    let account = AccountId {
        exchange: Exchange::Binance,
        api_key: TRADER_KEY.to_owned(),
    };
    let now_ms = chrono::Utc::now().timestamp_millis();
    let engine = emulator.state().engine();
    engine.open_orders(&account, Some("BTCUSDT"), now_ms)
}

fn has_resting_stop(emulator: &RunningEmulator) -> bool {
    open_orders(emulator)
        .iter()
        .any(|order| order.order_type == OrderType::StopMarket && order.reduce_only)
}

fn orders_placed(emulator: &RunningEmulator) -> usize {
    let account = AccountId {
        exchange: Exchange::Binance,
        api_key: TRADER_KEY.to_owned(),
    };
    emulator.state().engine().all_orders(&account).len()
}

/// Publishes closed one-minute candles of a sine wave around 100000 on the emulator from candle
/// `first` on, and moves its price to each close, until `done` holds. Fails after 40 seconds
/// with the server's log. Returns the next candle index.
async fn publish_until(
    emulator: &RunningEmulator,
    server: &Server,
    first: usize,
    done: impl Fn(&RunningEmulator) -> bool,
) -> usize {
    let engine = emulator.state().engine();
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut i = first;
    while !done(emulator) {
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(&server.log_path).unwrap_or_default();
            panic!("still waiting after candle {i}; server log:\n{log}");
        }
        let close = Decimal::from(100_000 + (2_000.0 * (i as f64 / 8.0).sin()).round() as i64);
        let now_ms = chrono::Utc::now().timestamp_millis();
        engine
            .set_price("BTCUSDT", close, Decimal::ONE, now_ms)
            .unwrap();
        engine.publish_candle(MarketTick::Candle {
            symbol: "BTCUSDT".to_owned(),
            interval: "1m".to_owned(),
            open_time_ms: 1_700_000_000_000 + i as i64 * 60_000,
            open: close,
            high: close,
            low: close,
            close,
            volume: Decimal::ONE,
            closed: true,
            time_ms: now_ms,
        });
        i += 1;
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    i
}

async fn set_withdraw(emulator: &RunningEmulator, withdraw: bool) {
    let url = format!("{}/_emulator/keys/{TRADER_KEY}", emulator.base_url());
    let response = reqwest::Client::new()
        .post(url)
        .json(&json!({"withdraw": withdraw}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
}

#[tokio::test]
async fn live_bot_trades_on_emulator_through_api() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let market = dir.path().join("market");
    std::fs::create_dir_all(&market).unwrap();
    write_wave_csv(&market.join("month.csv"), 8_700);
    let mut args = exchange_urls(&emulator);
    args.extend(["--market-data-dir".to_owned(), market.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let data = dir.path().join("data");
    let server = Server::start(&data, &dir.path().join("log"), &args).await;
    let login = server.login().await;

    let params = json!({"fast": 3, "slow": 8});
    let bot_id = bot_on_new_key(&server, TRADER_KEY, TRADER_SECRET, params).await;
    enable_two_factor(&server, fresh_totp_step().await).await;
    let backtests = format!("/api/v1/bots/{bot_id}/backtests");
    let (status, body) = server.post(&backtests, &json!({"data": "month.csv"})).await;
    assert_eq!(status, 201, "{body}");

    // The key is probed again at activation: withdrawals enabled since refuse going live.
    set_withdraw(&emulator, true).await;
    let activate = format!("/api/v1/bots/{bot_id}/activate");
    let (status, body) = server.post(&activate, &json!({"mode": "live"})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(unmet(&body), ["key_rejected"]);
    set_withdraw(&emulator, false).await;
    let (status, body) = server.post(&activate, &json!({"mode": "live"})).await;
    assert_eq!(status, 200, "{body}");

    // The market moves until an entry fills and its reduce-only stop rests.
    let next = publish_until(&emulator, &server, 0, has_resting_stop).await;
    let open = open_orders(&emulator);
    assert_eq!(open.len(), 1, "only the stop rests: {open:?}");

    // After a restart the bot resumes from its stream and places its next orders.
    server.stop();
    let server = Server::start(&data, &dir.path().join("log"), &args).await;
    server.use_token(Some(&login.token));
    let (status, view) = server.get(&format!("/api/v1/bots/{bot_id}")).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["status"], "active");
    let placed = orders_placed(&emulator);
    publish_until(&emulator, &server, next, |emulator| {
        orders_placed(emulator) > placed && has_resting_stop(emulator)
    })
    .await;

    let (status, body) = server.post("/api/v1/account/kill-switch", &json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stopped_bots"], json!([bot_id]));
    assert_eq!(
        open_orders(&emulator),
        Vec::new(),
        "the kill switch leaves no open order"
    );
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
    assert!(types.contains(&"OrderCancelled"), "{types:?}");
    assert!(types.contains(&"BotStopped"), "{types:?}");
}
