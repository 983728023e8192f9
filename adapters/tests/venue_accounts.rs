//! Bybit and OKX account rules against the emulator: position mode, clock skew, OKX
//! passphrases and environments, and read-only keys.

mod common;

use std::sync::Arc;

use common::*;
use keyward_adapters::domain::PositionMode;
use keyward_adapters::{Credentials, ExchangeHosts, PlainSigner, client_with_options};
use keyward_emulator::RunningEmulator;
use keyward_events::Exchange;
use keyward_events::bot::{OrderKind, Side};
use serde_json::json;

async fn emulator(exchange: Exchange) -> RunningEmulator {
    start_emulator(json!([
        key(exchange, "trader", json!({})),
        key(exchange, "reader", json!({"futures": false})),
        key(exchange, "demo", json!({"testnet": true})),
    ]))
    .await
}

async fn hedge_mode_is_switched(exchange: Exchange) {
    let emulator = emulator(exchange).await;
    let client = client(exchange, &emulator, fast_options());
    let trader = credentials(exchange, "trader");
    let path = format!("/accounts/{exchange}/trader");
    admin(&emulator, "POST", &path, json!({"position_mode": "hedge"})).await;
    assert_eq!(
        client.position_mode(&trader).await.unwrap(),
        PositionMode::Hedge
    );
    client.ensure_one_way(&trader).await.unwrap();
    assert_eq!(
        client.position_mode(&trader).await.unwrap(),
        PositionMode::OneWay
    );
    let account = admin(&emulator, "GET", &path, json!({})).await;
    assert_eq!(account["position_mode"], "one_way");
}

#[tokio::test]
async fn bybit_hedge_mode_is_switched() {
    hedge_mode_is_switched(Exchange::Bybit).await;
}

#[tokio::test]
async fn okx_hedge_mode_is_switched() {
    hedge_mode_is_switched(Exchange::Okx).await;
}

async fn read_only_key_cannot_trade(exchange: Exchange) {
    let emulator = emulator(exchange).await;
    let client = client(exchange, &emulator, fast_options());
    let reader = credentials(exchange, "reader");
    let report = client.probe(&reader).await.unwrap();
    assert!(report.permissions.read, "{exchange}");
    assert!(!report.permissions.futures_trade, "{exchange}");
    let order = request(
        client.as_ref(),
        intent(OrderKind::Market, Side::Buy, "0.01", "60000"),
    )
    .await;
    let err = client.place_order(&reader, &order).await.unwrap_err();
    assert_eq!(err.code(), "permission_denied", "{exchange}: {err}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn bybit_read_only_key_cannot_trade() {
    read_only_key_cannot_trade(Exchange::Bybit).await;
}

#[tokio::test]
async fn okx_read_only_key_cannot_trade() {
    read_only_key_cannot_trade(Exchange::Okx).await;
}

async fn clock_skew_is_resynchronized(exchange: Exchange) {
    let emulator = emulator(exchange).await;
    let client = client(exchange, &emulator, fast_options());
    let trader = credentials(exchange, "trader");
    client.balances(&trader).await.unwrap();
    admin(
        &emulator,
        "POST",
        "/faults",
        json!({"clock_skew_ms": 60_000}),
    )
    .await;
    let balances = client.balances(&trader).await;
    assert!(balances.is_ok(), "{exchange}: {balances:?}");
    let report = client.probe(&trader).await.unwrap();
    let offset = report.clock_offset_ms;
    assert!((59_000..61_000).contains(&offset), "{exchange}: {offset}");
}

#[tokio::test]
async fn bybit_clock_skew_is_resynchronized() {
    clock_skew_is_resynchronized(Exchange::Bybit).await;
}

#[tokio::test]
async fn okx_clock_skew_is_resynchronized() {
    clock_skew_is_resynchronized(Exchange::Okx).await;
}

#[tokio::test]
async fn okx_passphrase_problems_are_named() {
    let emulator = emulator(Exchange::Okx).await;
    let client = client(Exchange::Okx, &emulator, fast_options());

    let without = Credentials::new("trader", Arc::new(PlainSigner::new(SECRET)));
    let err = client.probe(&without).await.unwrap_err();
    assert_eq!(err.code(), "invalid_credentials", "{err}");
    assert!(err.to_string().contains("passphrase"), "{err}");

    let wrong = Credentials::new(
        "trader",
        Arc::new(PlainSigner::new(SECRET).with_passphrase("not-it")),
    );
    let err = client.probe(&wrong).await.unwrap_err();
    assert_eq!(err.code(), "invalid_passphrase", "{err}");
    assert!(!err.to_string().contains("not-it"), "{err}");
    assert!(!err.to_string().contains(PASSPHRASE), "{err}");

    let err = client
        .probe(&credentials(Exchange::Okx, "demo"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "environment_mismatch", "{err}");
}

#[tokio::test]
async fn okx_demo_trading_takes_demo_keys_only() {
    let emulator = emulator(Exchange::Okx).await;
    let mut hosts = ExchangeHosts::all_at(&emulator.base_url()).unwrap();
    hosts.set_okx_demo(true);
    let demo_client = client_with_options(Exchange::Okx, &hosts, http(), fast_options()).unwrap();
    assert!(
        demo_client.host().ends_with("(demo trading)"),
        "{}",
        demo_client.host()
    );

    let report = demo_client
        .probe(&credentials(Exchange::Okx, "demo"))
        .await
        .unwrap();
    assert!(report.permissions.futures_trade);
    assert_eq!(report.exchange_host, demo_client.host());

    let err = demo_client
        .probe(&credentials(Exchange::Okx, "trader"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "environment_mismatch", "{err}");

    let production = client(Exchange::Okx, &emulator, fast_options());
    assert_ne!(production.host(), demo_client.host());
}

#[test]
fn okx_demo_trading_moves_the_default_websocket_host() {
    let mut hosts = ExchangeHosts::default();
    hosts.set_okx_demo(true);
    assert_eq!(hosts.get("okx-ws"), "wss://wspap.okx.com:8443");
    assert_eq!(hosts.get("okx"), "https://www.okx.com");

    let mut custom = ExchangeHosts::default();
    custom.set("okx-ws", "ws://127.0.0.1:9000").unwrap();
    custom.set_okx_demo(true);
    assert_eq!(custom.get("okx-ws"), "ws://127.0.0.1:9000");
}

#[tokio::test]
async fn bybit_wrong_secret_is_a_signature_error() {
    let emulator = emulator(Exchange::Bybit).await;
    let client = client(Exchange::Bybit, &emulator, fast_options());
    let wrong = Credentials::new("trader", Arc::new(PlainSigner::new("not-the-secret")));
    let err = client.probe(&wrong).await.unwrap_err();
    assert_eq!(err.code(), "invalid_signature", "{err}");
    let err = client
        .probe(&credentials(Exchange::Bybit, "demo"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_key", "{err}");
}

async fn leverage_brackets_follow_the_tiers(exchange: Exchange) {
    let emulator = emulator(exchange).await;
    let client = client(exchange, &emulator, fast_options());
    let trader = credentials(exchange, "trader");
    let brackets = client.leverage_brackets(&trader, "BTCUSDT").await.unwrap();
    assert_eq!(brackets.len(), 5, "{exchange}");
    assert_eq!(brackets[0].max_leverage, dec("125"), "{exchange}");
    assert_eq!(brackets[0].notional_floor, dec("0"), "{exchange}");
    assert_eq!(brackets[4].max_leverage, dec("25"), "{exchange}");
    assert_eq!(brackets[1].maint_margin_ratio, dec("0.005"), "{exchange}");
    // OKX sizes tiers in whole contracts, so its caps are values of whole contracts at the
    // last price (83 contracts of 0.01 BTC at 60,000 for the first tier).
    let first_cap = match exchange {
        Exchange::Okx => dec("49800"),
        _ => dec("50000"),
    };
    assert_eq!(brackets[0].notional_cap, first_cap, "{exchange}");
    let err = client
        .leverage_brackets(&trader, "NOSUCHUSDT")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "unknown_symbol", "{exchange}: {err}");
}

#[tokio::test]
async fn bybit_leverage_brackets_follow_the_tiers() {
    leverage_brackets_follow_the_tiers(Exchange::Bybit).await;
}

#[tokio::test]
async fn okx_leverage_brackets_follow_the_tiers() {
    leverage_brackets_follow_the_tiers(Exchange::Okx).await;
}

/// Builds an approved reduce-only stop-market sell that protects a long of `quantity`.
async fn protective_stop(
    client: &dyn keyward_adapters::ExchangeClient,
    quantity: &str,
    stop: &str,
) -> keyward_adapters::OrderRequest {
    let mut stop_intent = intent(OrderKind::StopMarket, Side::Sell, quantity, stop);
    stop_intent.reduce_only = true;
    let instrument = client.instrument("BTCUSDT").await.unwrap();
    let approved = approve(stop_intent, dec(quantity));
    keyward_adapters::OrderRequest::from_approved(&approved, &instrument).unwrap()
}

async fn stop_orders_rest_cancel_and_trigger(exchange: Exchange) {
    use keyward_adapters::domain::{OrderState, OrderType};

    let emulator = emulator(exchange).await;
    let client = client(exchange, &emulator, fast_options());
    let trader = credentials(exchange, "trader");
    let entry = request(
        client.as_ref(),
        intent(OrderKind::Market, Side::Buy, "0.01", "60000"),
    )
    .await;
    client.place_order(&trader, &entry).await.unwrap();

    let stop = protective_stop(client.as_ref(), "0.01", "59000").await;
    let ack = client.place_order(&trader, &stop).await.unwrap();
    assert_eq!(ack.state, OrderState::New, "{exchange}");
    let open = client.open_orders(&trader, Some("BTCUSDT")).await.unwrap();
    assert_eq!(open.len(), 1, "{exchange}: {open:?}");
    assert_eq!(open[0].order_type, OrderType::StopMarket, "{exchange}");
    assert_eq!(open[0].trigger_price, Some(dec("59000")), "{exchange}");
    let cancelled = client
        .cancel_order(&trader, "BTCUSDT", stop.client_order_id())
        .await
        .unwrap();
    assert_eq!(cancelled.state, OrderState::Canceled, "{exchange}");
    assert!(client.open_orders(&trader, None).await.unwrap().is_empty());

    let stop = protective_stop(client.as_ref(), "0.01", "59500").await;
    client.place_order(&trader, &stop).await.unwrap();
    admin(
        &emulator,
        "POST",
        "/prices",
        json!({"symbol": "BTCUSDT", "price": "59400", "quantity": "0.5"}),
    )
    .await;
    let triggered = client
        .query_order(&trader, "BTCUSDT", stop.client_order_id())
        .await
        .unwrap();
    assert_eq!(
        triggered.state,
        OrderState::Filled,
        "{exchange}: {triggered:?}"
    );
    assert_eq!(triggered.filled_quantity, dec("0.01"), "{exchange}");
    let positions = client.positions(&trader, Some("BTCUSDT")).await.unwrap();
    assert!(positions.is_empty(), "{exchange}: {positions:?}");
}

#[tokio::test]
async fn bybit_stop_orders_rest_cancel_and_trigger() {
    stop_orders_rest_cancel_and_trigger(Exchange::Bybit).await;
}

#[tokio::test]
async fn okx_stop_orders_rest_cancel_and_trigger() {
    stop_orders_rest_cancel_and_trigger(Exchange::Okx).await;
}
