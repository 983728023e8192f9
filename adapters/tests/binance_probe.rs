//! Probing Binance keys against keyward's own exchange emulator on 127.0.0.1.

use std::error::Error;
use std::sync::Arc;

use keyward_adapters::binance::BinanceClient;
use keyward_adapters::hosts::{BINANCE, BINANCE_SPOT};
use keyward_adapters::{
    AdapterError, ClientOptions, Clock, Credentials, ExchangeClient, ExchangeHosts, PlainSigner,
    client_for, client_with_options, http_client_builder,
};
use keyward_emulator::{Emulator, EmulatorConfig, RunningEmulator, parse_keys};
use keyward_events::Exchange;
use serde_json::{Value, json};

const SECRET: &str = "probe-test-secret-0123456789";

fn key(api_key: &str, flags: Value) -> Value {
    let mut entry = json!({
        "exchange": "binance", "api_key": api_key, "api_secret": SECRET,
        "read": true, "spot": false, "futures": true, "withdraw": false, "transfer": false,
        "ip_allowlist": ["127.0.0.1", "::1"],
    });
    for (name, value) in flags.as_object().expect("flags object") {
        entry[name] = value.clone();
    }
    entry
}

async fn start_emulator() -> RunningEmulator {
    let keys = json!([
        key("good-key", json!({})),
        key("withdraw-key", json!({"withdraw": true})),
        key(
            "readonly-key",
            json!({"futures": false, "ip_allowlist": []})
        ),
        key("elsewhere-key", json!({"ip_allowlist": ["192.0.2.1"]})),
    ]);
    let keys = parse_keys(&keys.to_string(), "probe-keys.json".as_ref()).expect("valid keys");
    let listen = "127.0.0.1:0".parse().expect("address");
    let config = EmulatorConfig {
        listen,
        keys,
        market_data: None,
        ..EmulatorConfig::default()
    };
    Emulator::start(config).await.expect("emulator starts")
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    http_client_builder().build().expect("HTTP client")
}

fn hosts(futures_url: &str, spot_url: &str) -> ExchangeHosts {
    let mut hosts = ExchangeHosts::default();
    hosts.set(BINANCE, futures_url).expect("futures URL");
    hosts.set(BINANCE_SPOT, spot_url).expect("spot URL");
    hosts
}

fn client(emulator: &RunningEmulator) -> Arc<dyn ExchangeClient> {
    let url = emulator.base_url();
    client_for(Exchange::Binance, &hosts(&url, &url), http()).expect("Binance is supported")
}

fn credentials(api_key: &str, secret: &str) -> Credentials {
    Credentials::new(api_key, Arc::new(PlainSigner::new(secret)))
}

/// Collects the error's message and every source below it, to check that none is secret.
fn full_text(err: &AdapterError) -> String {
    let mut text = format!("{err} {err:?}");
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(&format!(" {inner} {inner:?}"));
        source = inner.source();
    }
    text
}

#[tokio::test]
async fn good_key_probes_as_futures_only() {
    let emulator = start_emulator().await;
    let client = client(&emulator);
    let report = client
        .probe(&credentials("good-key", SECRET))
        .await
        .expect("probe succeeds");

    assert!(report.permissions.read);
    assert!(report.permissions.futures_trade);
    assert!(!report.permissions.withdraw);
    assert!(!report.permissions.transfer);
    assert!(!report.permissions.spot_trade);
    assert!(report.permissions.ip_restricted);
    assert_eq!(report.permissions.expires_at, None);
    assert_eq!(
        report.raw_flags.get("enableWithdrawals"),
        Some(&json!(false))
    );
    assert_eq!(report.raw_flags.get("enableMargin"), Some(&json!(false)));
    assert!(
        report.clock_offset_ms.abs() < 1_000,
        "offset {}",
        report.clock_offset_ms
    );
    assert!(report.latency_ms < 5_000, "latency {}", report.latency_ms);
    assert_eq!(report.exchange_host, client.host());
    assert!(report.exchange_host.contains(&emulator.base_url()));
}

#[tokio::test]
async fn withdraw_enabled_key_reports_withdraw() {
    let emulator = start_emulator().await;
    let report = client(&emulator)
        .probe(&credentials("withdraw-key", SECRET))
        .await
        .unwrap();
    assert!(report.permissions.withdraw);
    assert!(report.permissions.futures_trade);
}

#[tokio::test]
async fn read_only_key_reports_no_trading() {
    let emulator = start_emulator().await;
    let report = client(&emulator)
        .probe(&credentials("readonly-key", SECRET))
        .await
        .unwrap();
    assert!(report.permissions.read);
    assert!(!report.permissions.futures_trade);
    assert!(!report.permissions.spot_trade);
    assert!(!report.permissions.withdraw);
    assert!(!report.permissions.ip_restricted);
}

#[tokio::test]
async fn unknown_key_is_invalid_key() {
    let emulator = start_emulator().await;
    let err = client(&emulator)
        .probe(&credentials("no-such-key", SECRET))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_key");
    assert_eq!(err.exchange_code().as_deref(), Some("-2015"));
    assert!(!err.is_transient());
    assert!(err.hint().contains("IP allowlist"), "{}", err.hint());
}

#[tokio::test]
async fn address_outside_allowlist_is_invalid_key() {
    let emulator = start_emulator().await;
    let err = client(&emulator)
        .probe(&credentials("elsewhere-key", SECRET))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_key");
}

#[tokio::test]
async fn wrong_secret_is_invalid_signature() {
    let emulator = start_emulator().await;
    let wrong = "not-the-secret-0123456789";
    let err = client(&emulator)
        .probe(&credentials("good-key", wrong))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_signature");
    assert_eq!(err.exchange_code().as_deref(), Some("-1022"));
    assert!(!err.is_transient());
    assert!(!full_text(&err).contains(wrong));
}

#[tokio::test]
async fn skewed_exchange_clock_is_corrected() {
    let emulator = start_emulator().await;
    emulator.state().set_clock_skew_ms(120_000);
    let report = client(&emulator)
        .probe(&credentials("good-key", SECRET))
        .await
        .unwrap();
    let offset = report.clock_offset_ms;
    assert!((119_000..=121_000).contains(&offset), "offset {offset}");
}

/// A local clock that runs a fixed amount behind the system clock.
struct LaggingClock(i64);

impl Clock for LaggingClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis() - self.0
    }
}

#[tokio::test]
async fn skewed_local_clock_is_corrected() {
    let emulator = start_emulator().await;
    let url = emulator.base_url();
    let client = BinanceClient::with_clock(
        &hosts(&url, &url),
        http(),
        ClientOptions::default(),
        Arc::new(LaggingClock(300_000)),
    );
    let report = client
        .probe(&credentials("good-key", SECRET))
        .await
        .unwrap();
    let offset = report.clock_offset_ms;
    assert!((299_000..=301_000).contains(&offset), "offset {offset}");
}

#[tokio::test]
async fn hosts_with_different_clocks_give_clock_skew() {
    let futures = start_emulator().await;
    let spot = start_emulator().await;
    futures.state().set_clock_skew_ms(30_000);
    let hosts = hosts(&futures.base_url(), &spot.base_url());
    let client = client_for(Exchange::Binance, &hosts, http()).unwrap();

    let err = client
        .probe(&credentials("good-key", SECRET))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "clock_skew");
    assert_eq!(err.exchange_code().as_deref(), Some("-1021"));
    assert!(err.is_transient());
    let AdapterError::ClockSkew {
        offset_ms: Some(offset),
        ..
    } = err
    else {
        panic!("expected a clock skew with offset, got {err:?}");
    };
    assert!((29_000..=31_000).contains(&offset), "offset {offset}");
}

#[tokio::test]
async fn server_time_reads_emulated_clock() {
    let emulator = start_emulator().await;
    emulator.state().set_clock_skew_ms(-50_000);
    let server = client(&emulator).server_time().await.unwrap();
    let expected = chrono::Utc::now().timestamp_millis() - 50_000;
    assert!(
        (server - expected).abs() < 1_000,
        "server {server}, expected {expected}"
    );
}

/// Returns a base URL on 127.0.0.1 where nothing listens.
async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

#[tokio::test]
async fn refused_connection_is_transport_failure_without_signature() {
    let futures = start_emulator().await;
    let hosts = hosts(&futures.base_url(), &closed_port_url().await);
    let client = client_for(Exchange::Binance, &hosts, http()).unwrap();

    let err = client
        .probe(&credentials("good-key", SECRET))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "transport_failed");
    assert!(err.is_transient());
    let text = full_text(&err);
    assert!(!text.contains("signature"), "{text}");
    assert!(!text.contains("timestamp="), "{text}");
    assert!(!text.contains(SECRET), "{text}");
}

#[tokio::test]
async fn silent_host_times_out() {
    let futures = start_emulator().await;
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let options = ClientOptions {
        request_timeout: std::time::Duration::from_millis(500),
        ..ClientOptions::default()
    };
    let hosts = hosts(&futures.base_url(), &silent_url);
    let client = client_with_options(Exchange::Binance, &hosts, http(), options);

    let err = client
        .unwrap()
        .probe(&credentials("good-key", SECRET))
        .await
        .unwrap_err();
    hold.abort();
    assert_eq!(err.code(), "timeout");
    assert!(err.is_transient());
    assert!(!full_text(&err).contains("signature"));
}

#[tokio::test]
async fn testnet_key_on_production_is_invalid_with_a_hint() {
    let keys = json!([key("testnet-key", json!({"testnet": true}))]);
    let keys = parse_keys(&keys.to_string(), "probe-keys.json".as_ref()).expect("valid keys");
    let config = EmulatorConfig {
        listen: "127.0.0.1:0".parse().expect("address"),
        keys,
        ..EmulatorConfig::default()
    };
    let production = Emulator::start(config.clone()).await.unwrap();
    let err = client(&production)
        .probe(&credentials("testnet-key", SECRET))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_key");
    assert!(err.hint().contains("testnet"), "{}", err.hint());

    let testnet = Emulator::start(EmulatorConfig {
        testnet: true,
        ..config
    })
    .await
    .unwrap();
    let report = client(&testnet)
        .probe(&credentials("testnet-key", SECRET))
        .await
        .unwrap();
    assert!(report.permissions.futures_trade);
}

#[tokio::test]
async fn expired_key_is_refused() {
    let emulator = start_emulator().await;
    let url = format!("{}/_emulator/keys/good-key", emulator.base_url());
    let response = http()
        .post(url)
        .json(&json!({"expires_at": "2020-01-01T00:00:00Z"}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let err = client(&emulator)
        .probe(&credentials("good-key", SECRET))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_key");
}
