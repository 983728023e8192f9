//! One scenario run against the emulator in every exchange's dialect: the key probe,
//! instrument rules, leverage, position mode, an order, a cancellation, and faults. Each
//! exchange must give the same exchange-neutral results.

mod common;

use common::*;
use keyward_adapters::domain::{OrderState, PositionMode};
use keyward_adapters::{AdapterError, ExchangeHosts, client_for};
use keyward_emulator::RunningEmulator;
use keyward_events::Exchange;
use keyward_events::bot::{OrderKind, Side};
use serde_json::json;

/// Returns whether this build has an adapter for `exchange`; prints why a contract is skipped
/// otherwise.
fn supported(exchange: Exchange) -> bool {
    let result = client_for(exchange, &ExchangeHosts::default(), http());
    match result {
        Err(AdapterError::Unsupported { .. }) => {
            // NOTE: skipped until this exchange's adapter and emulator dialect exist.
            eprintln!("skipped: no {exchange} adapter in this build");
            false
        }
        _ => true,
    }
}

async fn emulator(exchange: Exchange) -> RunningEmulator {
    start_emulator(json!([
        key(exchange, "contract-good", json!({})),
        key(exchange, "contract-withdraw", json!({"withdraw": true})),
        key(
            exchange,
            "contract-elsewhere",
            json!({"ip_allowlist": ["192.0.2.1"]})
        ),
        key(exchange, "contract-open", json!({"ip_allowlist": []})),
    ]))
    .await
}

async fn probe_step(emulator: &RunningEmulator, exchange: Exchange) {
    let client = client(exchange, emulator, fast_options());
    let report = client
        .probe(&credentials(exchange, "contract-good"))
        .await
        .unwrap_or_else(|err| panic!("{exchange} probe: {err}"));
    assert!(report.permissions.read, "{exchange}");
    assert!(report.permissions.futures_trade, "{exchange}");
    assert!(!report.permissions.withdraw, "{exchange}");
    assert!(!report.permissions.transfer, "{exchange}");
    assert!(report.permissions.ip_restricted, "{exchange}");
    assert!(report.clock_offset_ms.abs() < 1_000, "{exchange}");
    assert_eq!(report.exchange_host, client.host(), "{exchange}");

    let open = client
        .probe(&credentials(exchange, "contract-open"))
        .await
        .unwrap();
    assert!(!open.permissions.ip_restricted, "{exchange}");
    let withdraw = client
        .probe(&credentials(exchange, "contract-withdraw"))
        .await
        .unwrap();
    assert!(withdraw.permissions.withdraw, "{exchange}");

    let elsewhere = client
        .probe(&credentials(exchange, "contract-elsewhere"))
        .await
        .unwrap_err();
    assert!(
        matches!(elsewhere.code(), "ip_not_allowed" | "invalid_key"),
        "{exchange}: {elsewhere}"
    );
    let unknown = client
        .probe(&credentials(exchange, "no-such-key"))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), "invalid_key", "{exchange}: {unknown}");
    assert!(!unknown.is_transient(), "{exchange}");
}

async fn instrument_step(emulator: &RunningEmulator, exchange: Exchange) {
    let client = client(exchange, emulator, fast_options());
    let btc = client.instrument("BTCUSDT").await.unwrap();
    assert_eq!(btc.symbol, "BTCUSDT", "{exchange}");
    assert_eq!(btc.tick_size, dec("0.1"), "{exchange}");
    assert_eq!(
        btc.step_size,
        dec("0.001"),
        "{exchange}: quantities are in BTC everywhere"
    );
    assert_eq!(btc.min_quantity, dec("0.001"), "{exchange}");
    assert!(btc.trading, "{exchange}");
    let err = client.instrument("NOSUCHUSDT").await.unwrap_err();
    assert_eq!(err.code(), "unknown_symbol", "{exchange}");
}

async fn account_step(emulator: &RunningEmulator, exchange: Exchange) {
    let client = client(exchange, emulator, fast_options());
    let good = credentials(exchange, "contract-good");
    let set = client.set_leverage(&good, "BTCUSDT", 10).await.unwrap();
    assert_eq!(set.leverage, dec("10"), "{exchange}");
    let again = client.set_leverage(&good, "BTCUSDT", 10).await.unwrap();
    assert_eq!(
        again.leverage,
        dec("10"),
        "{exchange}: an unchanged leverage is success"
    );
    let err = client
        .set_leverage(&good, "BTCUSDT", 126)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_leverage", "{exchange}: {err}");

    assert_eq!(
        client.position_mode(&good).await.unwrap(),
        PositionMode::OneWay
    );
    client.ensure_one_way(&good).await.unwrap();
    let balances = client.balances(&good).await.unwrap();
    let usdt = balances
        .iter()
        .find(|b| b.asset == "USDT")
        .expect("USDT balance");
    assert_eq!(usdt.wallet_balance, dec("10000"), "{exchange}");
}

async fn order_step(emulator: &RunningEmulator, exchange: Exchange) {
    let client = client(exchange, emulator, fast_options());
    let good = credentials(exchange, "contract-good");
    let market = request(
        client.as_ref(),
        intent(OrderKind::Market, Side::Buy, "0.02988799", "60000"),
    )
    .await;
    assert_eq!(market.quantity(), dec("0.029"));
    let ack = client.place_order(&good, &market).await.unwrap();
    assert_eq!(&ack.client_order_id, market.client_order_id(), "{exchange}");
    let status = client
        .query_order(&good, "BTCUSDT", market.client_order_id())
        .await
        .unwrap();
    assert_eq!(status.state, OrderState::Filled, "{exchange}");
    assert_eq!(status.filled_quantity, dec("0.029"), "{exchange}");
    let positions = client.positions(&good, Some("BTCUSDT")).await.unwrap();
    assert_eq!(positions[0].quantity, dec("0.029"), "{exchange}");

    let limit = request(
        client.as_ref(),
        intent(OrderKind::Limit, Side::Buy, "0.01", "55000"),
    )
    .await;
    client.place_order(&good, &limit).await.unwrap();
    let open = client.open_orders(&good, Some("BTCUSDT")).await.unwrap();
    assert_eq!(open.len(), 1, "{exchange}");
    assert_eq!(open[0].price, Some(dec("55000")), "{exchange}");
    let cancelled = client
        .cancel_order(&good, "BTCUSDT", limit.client_order_id())
        .await
        .unwrap();
    assert_eq!(cancelled.state, OrderState::Canceled, "{exchange}");
    assert!(
        client.open_orders(&good, None).await.unwrap().is_empty(),
        "{exchange}"
    );
}

async fn fault_step(emulator: &RunningEmulator, exchange: Exchange) {
    let client = client(exchange, emulator, fast_options());
    let good = credentials(exchange, "contract-good");
    let before = orders_on_exchange(emulator, exchange, "contract-good")
        .await
        .len();
    let faults = [
        "dropped_response",
        "timeout",
        "server_error",
        "unknown_status",
        "rate_limited",
    ];
    admin(
        emulator,
        "POST",
        "/faults",
        json!({"next": faults, "orders_only": true, "stall_ms": 1000, "retry_after_s": 1,
               "delayed_visibility_rate": 0.5, "visibility_delay_ms": 200}),
    )
    .await;
    for fault in faults {
        let order = request(
            client.as_ref(),
            intent(OrderKind::Limit, Side::Buy, "0.01", "55000"),
        )
        .await;
        let ack = client
            .place_order(&good, &order)
            .await
            .unwrap_or_else(|err| panic!("{exchange} {fault}: {err}"));
        assert_eq!(
            &ack.client_order_id,
            order.client_order_id(),
            "{exchange} {fault}"
        );
    }
    admin(emulator, "DELETE", "/faults", json!({})).await;
    let orders = orders_on_exchange(emulator, exchange, "contract-good").await;
    assert_eq!(
        orders.len(),
        before + faults.len(),
        "{exchange}: one order per fault"
    );

    admin(emulator, "POST", "/faults", json!({"clock_skew_ms": 20000})).await;
    client
        .balances(&good)
        .await
        .unwrap_or_else(|err| panic!("{exchange} after skew: {err}"));
    admin(emulator, "DELETE", "/faults", json!({})).await;
}

/// Returns whether the exchange's adapter trades yet; prints why the trading steps are skipped
/// otherwise.
async fn trades(emulator: &RunningEmulator, exchange: Exchange) -> bool {
    let client = client(exchange, emulator, fast_options());
    match client.instruments().await {
        Err(AdapterError::Unsupported { .. }) => {
            // NOTE: skipped until this exchange's trading calls exist.
            eprintln!("skipped: the {exchange} adapter does not trade yet");
            false
        }
        _ => true,
    }
}

async fn contract(exchange: Exchange) {
    if !supported(exchange) {
        return;
    }
    let emulator = emulator(exchange).await;
    probe_step(&emulator, exchange).await;
    if !trades(&emulator, exchange).await {
        return;
    }
    instrument_step(&emulator, exchange).await;
    account_step(&emulator, exchange).await;
    order_step(&emulator, exchange).await;
    fault_step(&emulator, exchange).await;
}

#[tokio::test]
async fn binance_contract() {
    contract(Exchange::Binance).await;
}

#[tokio::test]
async fn bybit_contract() {
    contract(Exchange::Bybit).await;
}

#[tokio::test]
async fn okx_contract() {
    contract(Exchange::Okx).await;
}
