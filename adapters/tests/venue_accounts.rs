//! Bybit and OKX account rules against the emulator: position mode, clock skew, OKX
//! passphrases and environments, and read-only keys.

mod common;

use std::sync::Arc;

use common::*;
use keyward_adapters::domain::PositionMode;
use keyward_adapters::{Credentials, PlainSigner};
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
