//! The Binance adapter's trading calls against keyward's emulator on 127.0.0.1: instruments,
//! leverage, position mode, orders, precision, and recovery from injected faults.

mod common;

use common::*;
use keyward_adapters::domain::{OrderState, PositionMode};
use keyward_adapters::{AdapterError, ClientOptions, OrderProblem, OrderRequest};
use keyward_emulator::RunningEmulator;
use keyward_emulator::binance::signing::expected_signature;
use keyward_events::Exchange;
use keyward_events::bot::{OrderKind, Side};
use rust_decimal::Decimal;
use serde_json::json;

const BINANCE: Exchange = Exchange::Binance;

async fn emulator() -> RunningEmulator {
    start_emulator(json!([
        key(BINANCE, "trader", json!({})),
        key(BINANCE, "second", json!({})),
        key(BINANCE, "readonly", json!({"futures": false})),
    ]))
    .await
}

#[tokio::test]
async fn instruments_and_brackets() {
    let emulator = emulator().await;
    let client = client(BINANCE, &emulator, fast_options());
    let instruments = client.instruments().await.unwrap();
    let symbols: Vec<&str> = instruments.iter().map(|i| i.symbol.as_str()).collect();
    assert_eq!(symbols, ["BTCUSDT", "ETHUSDT"]);
    let btc = client.instrument("BTCUSDT").await.unwrap();
    assert_eq!(btc.tick_size, dec("0.1"));
    assert_eq!(btc.step_size, dec("0.001"));
    assert_eq!(btc.min_notional, Some(dec("5")));
    let err = client.instrument("DOGEUSDT").await.unwrap_err();
    assert_eq!(err.code(), "unknown_symbol");

    let brackets = client
        .leverage_brackets(&credentials(BINANCE, "trader"), "BTCUSDT")
        .await
        .unwrap();
    assert_eq!(brackets.len(), 5);
    assert_eq!(brackets[0].max_leverage, dec("125"));
    assert_eq!(brackets[0].notional_cap, dec("50000"));
    assert_eq!(brackets[1].notional_floor, dec("50000"));
}

#[tokio::test]
async fn leverage_is_set_within_the_bracket() {
    let emulator = emulator().await;
    let client = client(BINANCE, &emulator, fast_options());
    let trader = credentials(BINANCE, "trader");
    let set = client.set_leverage(&trader, "BTCUSDT", 10).await.unwrap();
    assert_eq!(set.leverage, dec("10"));
    assert_eq!(set.max_notional, Some(dec("70000000")));
    let err = client
        .set_leverage(&trader, "BTCUSDT", 126)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_leverage");
    assert_eq!(err.exchange_code().as_deref(), Some("-4028"));
}

#[tokio::test]
async fn read_only_key_cannot_trade() {
    let emulator = emulator().await;
    let client = client(BINANCE, &emulator, fast_options());
    let err = client
        .balances(&credentials(BINANCE, "readonly"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_key");
    assert!(err.hint().contains("permissions"), "{}", err.hint());
}

/// Places an order in hedge mode with a raw signed request, as another program on the account
/// could, so that the account cannot leave hedge mode.
async fn open_hedge_position(emulator: &RunningEmulator, api_key: &str) {
    let now = chrono::Utc::now().timestamp_millis();
    let params = format!(
        "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.01&positionSide=LONG&timestamp={now}"
    );
    let signature = expected_signature(SECRET.as_bytes(), params.as_bytes());
    let url = format!(
        "{}/fapi/v1/order?{params}&signature={signature}",
        emulator.base_url()
    );
    let response = http()
        .post(url)
        .header("X-MBX-APIKEY", api_key)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
}

#[tokio::test]
async fn hedge_mode_is_switched_or_refused_with_the_reason() {
    let emulator = emulator().await;
    let client = client(BINANCE, &emulator, fast_options());
    let trader = credentials(BINANCE, "trader");
    assert_eq!(
        client.position_mode(&trader).await.unwrap(),
        PositionMode::OneWay
    );
    client.ensure_one_way(&trader).await.unwrap();

    admin(
        &emulator,
        "POST",
        "/accounts/binance/trader",
        json!({"position_mode": "hedge"}),
    )
    .await;
    assert_eq!(
        client.position_mode(&trader).await.unwrap(),
        PositionMode::Hedge
    );
    client.ensure_one_way(&trader).await.unwrap();
    assert_eq!(
        client.position_mode(&trader).await.unwrap(),
        PositionMode::OneWay
    );

    admin(
        &emulator,
        "POST",
        "/accounts/binance/second",
        json!({"position_mode": "hedge"}),
    )
    .await;
    open_hedge_position(&emulator, "second").await;
    let second = credentials(BINANCE, "second");
    let err = client.ensure_one_way(&second).await.unwrap_err();
    assert_eq!(err.code(), "position_mode_refused");
    assert!(err.to_string().contains("exists position"), "{err}");
    assert!(err.hint().contains("one-way"), "{}", err.hint());
}

#[tokio::test]
async fn market_order_is_rounded_placed_and_found() {
    let emulator = emulator().await;
    let client = client(BINANCE, &emulator, fast_options());
    let trader = credentials(BINANCE, "trader");
    let order = request(
        client.as_ref(),
        intent(OrderKind::Market, Side::Buy, "0.02988799", "60000"),
    )
    .await;
    assert_eq!(order.quantity(), dec("0.029"));

    let ack = client.place_order(&trader, &order).await.unwrap();
    assert_eq!(ack.state, OrderState::Filled);
    assert_eq!(ack.filled_quantity, dec("0.029"));
    assert_eq!(ack.average_price, Some(dec("60000")));
    assert_eq!(ack.submissions, 1);
    assert!(!ack.recovered);
    assert_eq!(&ack.client_order_id, order.client_order_id());
    assert_eq!(ack.client_order_id.intent_id(), Some(order.intent_id()));

    let positions = client.positions(&trader, Some("BTCUSDT")).await.unwrap();
    assert_eq!(positions.len(), 1);
    assert_eq!(positions[0].quantity, dec("0.029"));
    assert_eq!(positions[0].entry_price, dec("60000"));
    let balances = client.balances(&trader).await.unwrap();
    assert_eq!(balances[0].asset, "USDT");
    assert_eq!(balances[0].wallet_balance, dec("10000") - dec("0.87"));

    let found = client
        .query_order(&trader, "BTCUSDT", order.client_order_id())
        .await
        .unwrap();
    assert_eq!(found.state, OrderState::Filled);
    assert!(client.open_orders(&trader, None).await.unwrap().is_empty());
}

#[tokio::test]
async fn limit_order_rests_and_cancels_idempotently() {
    let emulator = emulator().await;
    let client = client(BINANCE, &emulator, fast_options());
    let trader = credentials(BINANCE, "trader");
    let order = request(
        client.as_ref(),
        intent(OrderKind::Limit, Side::Buy, "0.01", "55000.07"),
    )
    .await;
    assert_eq!(
        order.price(),
        Some(dec("55000")),
        "a buy rounds down to the tick"
    );
    let ack = client.place_order(&trader, &order).await.unwrap();
    assert_eq!(ack.state, OrderState::New);
    let open = client.open_orders(&trader, Some("BTCUSDT")).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].price, Some(dec("55000")));

    let id = order.client_order_id();
    let cancelled = client.cancel_order(&trader, "BTCUSDT", id).await.unwrap();
    assert_eq!(cancelled.state, OrderState::Canceled);
    let again = client.cancel_order(&trader, "BTCUSDT", id).await.unwrap();
    assert_eq!(again.state, OrderState::Canceled);

    let unknown = keyward_adapters::ClientOrderId::from_exchange("never-placed");
    let err = client
        .cancel_order(&trader, "BTCUSDT", &unknown)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "order_not_found");
    assert!(err.to_string().contains("never-placed"), "{err}");
}

#[tokio::test]
async fn below_minimum_is_rejected_before_sending() {
    let emulator = emulator().await;
    let client = client(BINANCE, &emulator, fast_options());
    let instrument = client.instrument("BTCUSDT").await.unwrap();
    let cases = [
        ("0.0009", "60000", "quantity 0.0009 rounds down to 0"),
        (
            "0.001",
            "3000",
            "order value 3.000 is below the minimum notional 5",
        ),
    ];
    for (quantity, price, message) in cases {
        let approved = approve(
            intent(OrderKind::Limit, Side::Buy, quantity, price),
            Decimal::ZERO,
        );
        let err = OrderRequest::from_approved(&approved, &instrument).unwrap_err();
        let AdapterError::InvalidOrder { problem, .. } = &err else {
            panic!("expected an invalid order, got {err:?}");
        };
        assert!(
            matches!(
                problem,
                OrderProblem::QuantityBelowMinimum { .. }
                    | OrderProblem::NotionalBelowMinimum { .. }
            ),
            "{problem:?}"
        );
        assert!(err.to_string().contains(message), "{err}");
    }
    let stats = admin(&emulator, "GET", "/stats", json!({})).await;
    assert_eq!(stats["engine"]["orders_accepted"], 0);
    assert_eq!(stats["engine"]["orders_rejected"], 0);
}

#[tokio::test]
async fn exchange_refusals_are_typed() {
    let emulator = emulator().await;
    let client = client(BINANCE, &emulator, fast_options());
    let trader = credentials(BINANCE, "trader");
    let mut finer = client.instrument("BTCUSDT").await.unwrap();
    finer.tick_size = dec("0.01");
    let approved = approve(
        intent(OrderKind::Limit, Side::Buy, "0.01", "55000.05"),
        Decimal::ZERO,
    );
    let order = OrderRequest::from_approved(&approved, &finer).unwrap();
    let err = client.place_order(&trader, &order).await.unwrap_err();
    assert_eq!(err.code(), "filter_rejected");
    assert_eq!(err.exchange_code().as_deref(), Some("-1111"));

    let big = request(
        client.as_ref(),
        intent(OrderKind::Market, Side::Buy, "5", "60000"),
    )
    .await;
    let err = client.place_order(&trader, &big).await.unwrap_err();
    assert_eq!(err.code(), "insufficient_margin");
    assert!(err.hint().contains("margin"), "{}", err.hint());
}

/// Places one order with `fault` queued for its placement and returns the ack and how many
/// orders the emulator holds for it.
async fn place_through(fault: &str, options: ClientOptions) -> (keyward_adapters::OrderAck, usize) {
    let emulator = emulator().await;
    admin(
        &emulator,
        "POST",
        "/faults",
        json!({"next": [fault], "orders_only": true, "stall_ms": 1500, "retry_after_s": 1}),
    )
    .await;
    let client = client(BINANCE, &emulator, options);
    let order = request(
        client.as_ref(),
        intent(OrderKind::Limit, Side::Buy, "0.01", "55000"),
    )
    .await;
    let ack = client
        .place_order(&credentials(BINANCE, "trader"), &order)
        .await
        .unwrap_or_else(|err| panic!("{fault}: {err}"));
    let orders = orders_on_exchange(&emulator, BINANCE, "trader").await;
    (ack, orders.len())
}

#[tokio::test]
async fn dropped_response_is_recovered_by_lookup() {
    let (ack, orders) = place_through("dropped_response", fast_options()).await;
    assert!(ack.recovered);
    assert_eq!(ack.submissions, 1);
    assert_eq!(orders, 1);
}

#[tokio::test]
async fn timeout_is_looked_up_then_sent_again() {
    let (ack, orders) = place_through("timeout", fast_options()).await;
    assert_eq!(
        ack.submissions, 2,
        "the stalled request was not carried out"
    );
    assert_eq!(orders, 1);
}

#[tokio::test]
async fn server_error_and_unknown_status_never_double() {
    for fault in ["server_error", "unknown_status"] {
        let (ack, orders) = place_through(fault, fast_options()).await;
        assert_eq!(orders, 1, "{fault}");
        assert!(ack.submissions <= 2, "{fault}: {}", ack.submissions);
    }
}

#[tokio::test]
async fn rate_limit_waits_for_retry_after() {
    let started = std::time::Instant::now();
    let (ack, orders) = place_through("rate_limited", fast_options()).await;
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(ack.submissions, 2);
    assert_eq!(orders, 1);
}

#[tokio::test]
async fn late_visibility_after_a_dropped_response_never_doubles() {
    let emulator = emulator().await;
    admin(
        &emulator,
        "POST",
        "/faults",
        json!({"next": ["dropped_response"], "delayed_visibility_rate": 1.0, "visibility_delay_ms": 400}),
    )
    .await;
    let client = client(BINANCE, &emulator, fast_options());
    let order = request(
        client.as_ref(),
        intent(OrderKind::Limit, Side::Buy, "0.01", "55000"),
    )
    .await;
    let ack = client
        .place_order(&credentials(BINANCE, "trader"), &order)
        .await
        .unwrap();
    assert!(ack.recovered);
    assert_eq!(ack.submissions, 1);
    assert_eq!(
        orders_on_exchange(&emulator, BINANCE, "trader").await.len(),
        1
    );
}

#[tokio::test]
async fn clock_moved_after_measuring_is_resynchronized() {
    let emulator = emulator().await;
    let client = client(BINANCE, &emulator, fast_options());
    let trader = credentials(BINANCE, "trader");
    client.balances(&trader).await.unwrap();
    admin(
        &emulator,
        "POST",
        "/faults",
        json!({"clock_skew_ms": 30000}),
    )
    .await;
    let balances = client.balances(&trader).await.unwrap();
    assert_eq!(balances.len(), 1);
}

#[tokio::test]
async fn clients_of_one_host_share_the_request_budget() {
    let emulator = emulator().await;
    let first = client(BINANCE, &emulator, fast_options());
    let second = client(BINANCE, &emulator, fast_options());
    let key = keyward_adapters::rate_limit::budget_key("binance", &emulator.base_url());
    let budget = keyward_adapters::rate_limit::shared_budget(&key, || {
        unreachable!("created by the clients")
    });
    let before = budget.usage().0;
    first
        .balances(&credentials(BINANCE, "trader"))
        .await
        .unwrap();
    second
        .balances(&credentials(BINANCE, "second"))
        .await
        .unwrap();
    let after = budget.usage().0;
    assert!(
        after >= before + 10,
        "two balance reads of weight 5: {before} -> {after}"
    );
}
