//! OKX websocket streams against keyward's emulator on 127.0.0.1: public trades and candles, the
//! private stream, reconnects and the REST reconciliation after them.

mod common;

use std::time::Duration;

use common::*;
use keyward_adapters::domain::{
    AccountEvent, EventStream, MarketChannel, MarketEvent, MarketStream, MarketSubscription,
    OrderState, StreamStatus,
};
use keyward_emulator::RunningEmulator;
use keyward_events::Exchange;
use keyward_events::bot::{OrderKind, Side};
use serde_json::json;

const OKX: Exchange = Exchange::Okx;
const WAIT: Duration = Duration::from_secs(5);

async fn emulator() -> RunningEmulator {
    start_emulator(json!([key(OKX, "trader", json!({}))])).await
}

async fn move_price(emulator: &RunningEmulator, price: &str) {
    admin(
        emulator,
        "POST",
        "/prices",
        json!({"symbol": "BTCUSDT", "price": price, "quantity": "0.5"}),
    )
    .await;
}

/// Waits for the first event of a stream that `pick` accepts.
async fn next_event<E, T>(stream: &mut EventStream<E>, mut pick: impl FnMut(E) -> Option<T>) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            let event = stream.next().await.expect("the stream is open");
            if let Some(found) = pick(event) {
                return found;
            }
        }
    })
    .await
    .expect("event within 5 s")
}

/// Moves the price until a trade at it arrives, since the subscription may land just after
/// the first move.
async fn trade_at(emulator: &RunningEmulator, stream: &mut MarketStream, price: &str) {
    let expected = dec(price);
    for _ in 0..20 {
        move_price(emulator, price).await;
        let seen = tokio::time::timeout(Duration::from_millis(250), async {
            loop {
                match stream.next().await {
                    Some(MarketEvent::Trade(trade)) if trade.price == expected => return true,
                    Some(_) => {}
                    None => return false,
                }
            }
        })
        .await;
        if seen == Ok(true) {
            return;
        }
    }
    panic!("no trade at {price} arrived");
}

fn trades() -> Vec<MarketSubscription> {
    vec![MarketSubscription {
        symbol: "BTCUSDT".to_owned(),
        channel: MarketChannel::Trades,
    }]
}

#[tokio::test]
async fn market_stream_reconnects_and_subscribes_again() {
    let emulator = emulator().await;
    let client = client(OKX, &emulator, fast_options());
    let mut stream = client.market_stream(&trades()).await.unwrap();
    let connected = next_event(&mut stream, |event| match event {
        MarketEvent::Status(StreamStatus::Connected { reconnects }) => Some(reconnects),
        _ => None,
    })
    .await;
    assert_eq!(connected, 0);
    trade_at(&emulator, &mut stream, "60001").await;

    admin(&emulator, "POST", "/websockets/disconnect", json!({})).await;
    next_event(&mut stream, |event| match event {
        MarketEvent::Status(StreamStatus::Disconnected { .. }) => Some(()),
        _ => None,
    })
    .await;
    let reconnects = next_event(&mut stream, |event| match event {
        MarketEvent::Status(StreamStatus::Connected { reconnects }) => Some(reconnects),
        _ => None,
    })
    .await;
    assert_eq!(reconnects, 1);
    trade_at(&emulator, &mut stream, "60002").await;
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
    let emulator = emulator().await;
    let client = client(OKX, &emulator, fast_options());
    let trader = credentials(OKX, "trader");
    let mut stream = client.account_stream(&trader).await.unwrap();
    let snapshot = next_event(&mut stream, |event| match event {
        AccountEvent::Reconciled(snapshot) => Some(snapshot),
        _ => None,
    })
    .await;
    assert!(snapshot.open_orders.is_empty());
    assert_eq!(snapshot.balances[0].wallet_balance, dec("10000"));

    let order = request(
        client.as_ref(),
        intent(OrderKind::Limit, Side::Buy, "0.01", "59000"),
    )
    .await;
    client.place_order(&trader, &order).await.unwrap();
    let new = next_event(&mut stream, |event| match event {
        AccountEvent::Order(status) if status.state == OrderState::New => Some(status),
        _ => None,
    })
    .await;
    assert_eq!(&new.client_order_id, order.client_order_id());

    admin(&emulator, "POST", "/websockets/disconnect", json!({})).await;
    next_event(&mut stream, |event| match event {
        AccountEvent::Status(StreamStatus::Disconnected { .. }) => Some(()),
        _ => None,
    })
    .await;
    move_price(&emulator, "58900").await;

    let snapshot = next_event(&mut stream, |event| match event {
        AccountEvent::Reconciled(snapshot) => Some(snapshot),
        _ => None,
    })
    .await;
    assert!(snapshot.open_orders.is_empty());
    let [missed] = snapshot.closed_while_disconnected.as_slice() else {
        panic!("one order closed while disconnected: {snapshot:?}");
    };
    assert_eq!(&missed.client_order_id, order.client_order_id());
    assert_eq!(missed.state, OrderState::Filled);
    assert_eq!(snapshot.positions[0].quantity, dec("0.01"));

    let market = request(
        client.as_ref(),
        intent(OrderKind::Market, Side::Buy, "0.01", "58900"),
    )
    .await;
    client.place_order(&trader, &market).await.unwrap();
    let position = next_event(&mut stream, |event| match event {
        AccountEvent::Position(position) if position.quantity == dec("0.02") => Some(position),
        _ => None,
    })
    .await;
    assert_eq!(position.symbol, "BTCUSDT");
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
