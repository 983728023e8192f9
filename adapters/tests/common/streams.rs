//! Stream scenarios shared by the exchanges' websocket tests: moving the emulator's price,
//! waiting for events, and the reconnect and reconciliation scenarios.

use std::time::Duration;

use keyward_adapters::domain::{
    AccountEvent, EventStream, MarketChannel, MarketEvent, MarketStream, MarketSubscription,
    OrderState, StreamStatus,
};
use keyward_emulator::RunningEmulator;
use keyward_events::Exchange;
use keyward_events::bot::{OrderKind, Side};
use serde_json::json;

use super::*;

const WAIT: Duration = Duration::from_secs(5);

pub async fn move_price(emulator: &RunningEmulator, price: &str) {
    admin(
        emulator,
        "POST",
        "/prices",
        json!({"symbol": "BTCUSDT", "price": price, "quantity": "0.5"}),
    )
    .await;
}

/// Waits for the first event of a stream that `pick` accepts.
pub async fn next_event<E, T>(
    stream: &mut EventStream<E>,
    mut pick: impl FnMut(E) -> Option<T>,
) -> T {
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
pub async fn trade_at(emulator: &RunningEmulator, stream: &mut MarketStream, price: &str) {
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

pub fn trades() -> Vec<MarketSubscription> {
    vec![MarketSubscription {
        symbol: "BTCUSDT".to_owned(),
        channel: MarketChannel::Trades,
    }]
}

/// Receives trades, loses the connection, reconnects, subscribes again and receives trades.
pub async fn market_stream_reconnects(exchange: Exchange) {
    let emulator = start_emulator(json!([key(exchange, "trader", json!({}))])).await;
    let client = client(exchange, &emulator, fast_options());
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

/// Places an order, loses the private stream, fills the order meanwhile and expects the
/// reconciliation after the reconnect to report it, then follows a position change live.
pub async fn fill_while_disconnected(exchange: Exchange) {
    let emulator = start_emulator(json!([key(exchange, "trader", json!({}))])).await;
    let client = client(exchange, &emulator, fast_options());
    let trader = credentials(exchange, "trader");
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
    let fill = next_event(&mut stream, |event| match event {
        AccountEvent::Fill(fill) if &fill.client_order_id == market.client_order_id() => Some(fill),
        _ => None,
    })
    .await;
    assert_eq!(fill.quantity, dec("0.01"), "{exchange}");
    assert_eq!(fill.side, Side::Buy, "{exchange}");
    assert!(
        fill.fee > rust_decimal::Decimal::ZERO,
        "{exchange}: {fill:?}"
    );
    assert!(!fill.trade_id.is_empty(), "{exchange}");
    let position = next_event(&mut stream, |event| match event {
        AccountEvent::Position(position) if position.quantity == dec("0.02") => Some(position),
        _ => None,
    })
    .await;
    assert_eq!(position.symbol, "BTCUSDT");
    let balance = next_event(&mut stream, |event| match event {
        AccountEvent::Balance(balance) if balance.asset == "USDT" => Some(balance),
        _ => None,
    })
    .await;
    assert!(
        balance.wallet_balance < dec("10000"),
        "{exchange}: fees are charged: {balance:?}"
    );
}
