//! OKX websocket streams against keyward's emulator on 127.0.0.1: public trades and candles, the
//! private stream, reconnects and the REST reconciliation after them.

mod common;

use common::streams::next_event;
use common::*;
use keyward_adapters::domain::{MarketChannel, MarketEvent, MarketSubscription};
use keyward_emulator::RunningEmulator;
use keyward_events::Exchange;
use serde_json::json;

const OKX: Exchange = Exchange::Okx;

async fn emulator() -> RunningEmulator {
    start_emulator(json!([key(OKX, "trader", json!({}))])).await
}

#[tokio::test]
async fn market_stream_reconnects_and_subscribes_again() {
    streams::market_stream_reconnects(OKX).await;
}

#[tokio::test]
async fn replayed_candles_arrive_on_the_business_route() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("binance_um_BTCUSDT_5m.csv");
    let rows = "open_time,open,high,low,close,volume\n\
                1758240000000,117017.1,117100.0,117010.8,117043.4,360.735\n\
                1758240300000,117043.4,117050.0,117000.0,117001.0,10\n";
    std::fs::write(&csv, rows).unwrap();
    let keys = keyward_emulator::parse_keys("[]", "keys.json".as_ref()).unwrap();
    let config = keyward_emulator::EmulatorConfig {
        keys,
        market_data: Some(csv),
        speed: 50,
        ..keyward_emulator::EmulatorConfig::default()
    };
    let emulator = keyward_emulator::Emulator::start(config).await.unwrap();
    let client = client(OKX, &emulator, fast_options());
    let candles = vec![MarketSubscription {
        symbol: "BTCUSDT".to_owned(),
        channel: MarketChannel::Candles {
            interval: "5m".to_owned(),
        },
    }];
    let mut stream = client.market_stream(&candles).await.unwrap();
    let closed = next_event(&mut stream, |event| match event {
        MarketEvent::Candle(candle) if candle.closed => Some(candle),
        _ => None,
    })
    .await;
    assert_eq!(closed.interval, "5m");
    assert_eq!(closed.symbol, "BTCUSDT");
    let first = closed.open_time_ms == 1_758_240_000_000;
    let (close, volume) = if first {
        ("117043.4", "360.735")
    } else {
        ("117001.0", "10")
    };
    assert_eq!(closed.close, dec(close));
    assert_eq!(
        closed.volume,
        dec(volume),
        "base-asset volume, not contracts"
    );
}

#[tokio::test]
async fn fill_while_disconnected_is_reported_after_reconnect() {
    streams::fill_while_disconnected(OKX).await;
}

#[tokio::test]
async fn account_stream_refuses_an_invalid_key_at_once() {
    let emulator = emulator().await;
    let client = client(OKX, &emulator, fast_options());
    let err = client
        .account_stream(&credentials(OKX, "unknown-key"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_key");
}

#[tokio::test]
async fn fired_trigger_order_reports_its_fill() {
    use keyward_adapters::domain::AccountEvent;
    use keyward_events::bot::{OrderKind, Side};

    let emulator = emulator().await;
    let client = client(OKX, &emulator, fast_options());
    let trader = credentials(OKX, "trader");
    let mut stream = client.account_stream(&trader).await.unwrap();
    common::streams::next_event(&mut stream, |event| {
        matches!(event, AccountEvent::Reconciled(_)).then_some(())
    })
    .await;
    let entry = request(
        client.as_ref(),
        intent(OrderKind::Market, Side::Buy, "0.01", "60000"),
    )
    .await;
    client.place_order(&trader, &entry).await.unwrap();

    let mut stop_intent = intent(OrderKind::StopMarket, Side::Sell, "0.01", "59500");
    stop_intent.reduce_only = true;
    let instrument = client.instrument("BTCUSDT").await.unwrap();
    let stop = keyward_adapters::OrderRequest::from_approved(
        &approve(stop_intent, dec("0.01")),
        &instrument,
    )
    .unwrap();
    client.place_order(&trader, &stop).await.unwrap();
    common::streams::move_price(&emulator, "59400").await;
    let fill = common::streams::next_event(&mut stream, |event| match event {
        AccountEvent::Fill(fill) if &fill.client_order_id == stop.client_order_id() => Some(fill),
        _ => None,
    })
    .await;
    assert_eq!(fill.side, Side::Sell);
    assert_eq!(fill.quantity, dec("0.01"));
}
