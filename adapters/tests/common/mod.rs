//! Helpers of the adapter tests: an emulator on 127.0.0.1, clients pointed at it, and orders
//! approved by the real risk gate.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the helpers"
)]

pub mod fault;
pub mod streams;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use keyward_adapters::orders::OrderRetryPolicy;
use keyward_adapters::{
    ClientOptions, Credentials, ExchangeClient, ExchangeHosts, OrderRequest, PlainSigner,
    client_with_options, http_client_builder,
};
use keyward_emulator::{Emulator, EmulatorConfig, RunningEmulator, parse_keys};
use keyward_events::Exchange;
use keyward_events::bot::{BotMode, OrderIntent, OrderKind, Side};
use keyward_risk::{ApprovedOrder, RiskConfig, RiskContext, RiskGate};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

pub const SECRET: &str = "adapter-test-secret-0123456789";
pub const PASSPHRASE: &str = "adapter-test-passphrase";

pub fn dec(text: &str) -> Decimal {
    text.parse().expect("decimal literal")
}

/// Builds a key file entry with every permission keyward wants, changed by `flags`.
pub fn key(exchange: Exchange, api_key: &str, flags: Value) -> Value {
    let mut entry = json!({
        "exchange": exchange.as_str(), "api_key": api_key, "api_secret": SECRET,
        "read": true, "spot": false, "futures": true, "withdraw": false, "transfer": false,
        "ip_allowlist": ["127.0.0.1", "::1"],
    });
    if exchange.requires_passphrase() {
        entry["passphrase"] = json!(PASSPHRASE);
    }
    for (name, value) in flags.as_object().expect("flags object") {
        entry[name] = value.clone();
    }
    entry
}

/// Starts an emulator with the given key file entries and the built-in instruments.
pub async fn start_emulator(keys: Value) -> RunningEmulator {
    let keys = parse_keys(&keys.to_string(), "test-keys.json".as_ref()).expect("valid keys");
    let config = EmulatorConfig {
        keys,
        ..EmulatorConfig::default()
    };
    Emulator::start(config).await.expect("emulator starts")
}

pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    http_client_builder().build().expect("HTTP client")
}

/// Options with short timeouts and pauses, so fault tests run in seconds.
pub fn fast_options() -> ClientOptions {
    ClientOptions {
        request_timeout: Duration::from_millis(500),
        orders: OrderRetryPolicy {
            max_submissions: 6,
            lookups_before_resend: 4,
            first_lookup_delay: Duration::from_millis(40),
            max_delay: Duration::from_millis(400),
            max_failed_lookups: 12,
            max_rejections: 12,
        },
        rate_limit_backoff: Duration::from_millis(50),
        reconnect_first_delay: Duration::from_millis(200),
        reconnect_max_delay: Duration::from_secs(2),
        ..ClientOptions::default()
    }
}

/// Builds a client of `exchange` with every host of it pointed at the emulator.
pub fn client(
    exchange: Exchange,
    emulator: &RunningEmulator,
    options: ClientOptions,
) -> Arc<dyn ExchangeClient> {
    let hosts = ExchangeHosts::all_at(&emulator.base_url()).expect("emulator URL");
    client_with_options(exchange, &hosts, http(), options).expect("supported exchange")
}

pub fn credentials(exchange: Exchange, api_key: &str) -> Credentials {
    let mut signer = PlainSigner::new(SECRET);
    if exchange.requires_passphrase() {
        signer = signer.with_passphrase(PASSPHRASE);
    }
    Credentials::new(api_key, Arc::new(signer))
}

/// Builds an order intent with a protective stop 1% away on the losing side.
pub fn intent(kind: OrderKind, side: Side, quantity: &str, price: &str) -> OrderIntent {
    let price = dec(price);
    let stop = match side {
        Side::Buy => price * dec("0.99"),
        Side::Sell => price * dec("1.01"),
    };
    OrderIntent {
        intent_id: Uuid::now_v7(),
        symbol: "BTCUSDT".to_owned(),
        side,
        kind,
        quantity: dec(quantity),
        price: Some(price),
        stop_loss: Some(stop),
        reduce_only: false,
    }
}

/// Runs `intent` through the risk gate with an account large enough for any test order and
/// the last price at the intent's price. `position` is the bot's signed position.
pub fn approve(intent: OrderIntent, position: Decimal) -> ApprovedOrder {
    let config = RiskConfig {
        max_orders_per_minute: 100_000,
        ..RiskConfig::default()
    };
    let gate = RiskGate::new(config).expect("valid risk configuration");
    let context = RiskContext {
        position,
        last_price: intent.price,
        ..RiskContext::new(BotMode::Live, Utc::now(), dec("100000000"))
    };
    let decision = gate.check(intent, &context);
    decision.approved.unwrap_or_else(|| {
        panic!(
            "the gate rejected the test order: {:?}",
            decision.checked.rules
        )
    })
}

/// Builds the order request of an approved intent for the exchange's instrument.
pub async fn request(client: &dyn ExchangeClient, intent: OrderIntent) -> OrderRequest {
    let instrument = client.instrument("BTCUSDT").await.expect("instrument");
    OrderRequest::from_approved(&approve(intent, Decimal::ZERO), &instrument).expect("valid order")
}

/// Calls an admin route of the emulator and returns its JSON response.
pub async fn admin(emulator: &RunningEmulator, method: &str, path: &str, body: Value) -> Value {
    let url = format!("{}/_emulator{path}", emulator.base_url());
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let response = http()
        .request(method, url)
        .json(&body)
        .send()
        .await
        .expect("admin route answers");
    assert!(
        response.status().is_success(),
        "admin {path}: {}",
        response.status()
    );
    response.json().await.expect("admin JSON")
}

/// Returns every order the emulator holds for an account, hidden ones included.
pub async fn orders_on_exchange(
    emulator: &RunningEmulator,
    exchange: Exchange,
    api_key: &str,
) -> Vec<Value> {
    let account = admin(
        emulator,
        "GET",
        &format!("/accounts/{exchange}/{api_key}"),
        json!({}),
    )
    .await;
    account["orders"].as_array().expect("orders").clone()
}
