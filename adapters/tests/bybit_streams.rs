//! Bybit websocket streams against keyward's emulator on 127.0.0.1: public trades, the
//! private stream, reconnects and the REST reconciliation after them.

mod common;

use common::*;
use keyward_adapters::domain::{MarketChannel, MarketSubscription};
use keyward_emulator::RunningEmulator;
use keyward_events::Exchange;
use serde_json::json;

const BYBIT: Exchange = Exchange::Bybit;

async fn emulator() -> RunningEmulator {
    start_emulator(json!([key(BYBIT, "trader", json!({}))])).await
}

#[tokio::test]
async fn market_stream_reconnects_and_subscribes_again() {
    streams::market_stream_reconnects(BYBIT).await;
}

#[tokio::test]
async fn unknown_candle_interval_is_rejected() {
    let emulator = emulator().await;
    let client = client(BYBIT, &emulator, fast_options());
    let candles = vec![MarketSubscription {
        symbol: "BTCUSDT".to_owned(),
        channel: MarketChannel::Candles {
            interval: "7s".to_owned(),
        },
    }];
    let err = client.market_stream(&candles).await.unwrap_err();
    assert_eq!(err.code(), "stream_failed");
}

#[tokio::test]
async fn fill_while_disconnected_is_reported_after_reconnect() {
    streams::fill_while_disconnected(BYBIT).await;
}

#[tokio::test]
async fn account_stream_refuses_an_invalid_key_at_once() {
    let emulator = emulator().await;
    let client = client(BYBIT, &emulator, fast_options());
    let err = client
        .account_stream(&credentials(BYBIT, "unknown-key"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_key");
}
