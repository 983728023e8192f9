use keyward_adapters::orders::OrderRetryPolicy;
use keyward_adapters::{ClientOptions, ExchangeHosts, PlainSigner, client_with_options};
use keyward_emulator::faults::FaultKind;
use keyward_emulator::{Emulator, EmulatorConfig, RunningEmulator, parse_keys};
use keyward_eventlog::{SegmentLog, read_whole_stream};
use keyward_events::bot::{BotEvent, PauseReason};
use keyward_events::{DomainEvent, Exchange, RecordedEvent};

use keyward_eventlog::ExpectedVersion;
use keyward_events::account::{AccountEvent, AccountRegistered};

use super::*;
use crate::bot::AccountLimits;
use crate::bot::audit::check_order_path;
use crate::bot::test_support::{account_loss_check, sma_bot};

const SECRET: &str = "live-trader-test-secret-0123456789";
const PASSPHRASE: &str = "live-trader-test-passphrase";

/// Starts an emulator with a key named `trader` on every exchange.
pub(super) async fn emulator() -> RunningEmulator {
    let keys: Vec<serde_json::Value> = [Exchange::Binance, Exchange::Bybit, Exchange::Okx]
        .into_iter()
        .map(|exchange| {
            let mut key = serde_json::json!({
                "exchange": exchange.as_str(), "api_key": "trader", "api_secret": SECRET,
                "read": true, "spot": false, "futures": true, "withdraw": false,
                "transfer": false, "ip_allowlist": ["127.0.0.1", "::1"],
            });
            if exchange.requires_passphrase() {
                key["passphrase"] = serde_json::json!(PASSPHRASE);
            }
            key
        })
        .collect();
    let keys = serde_json::Value::Array(keys);
    let keys = parse_keys(&keys.to_string(), "keys.json".as_ref()).unwrap();
    let config = EmulatorConfig {
        keys,
        ..EmulatorConfig::default()
    };
    Emulator::start(config).await.unwrap()
}

fn client(emulator: &RunningEmulator) -> Arc<dyn ExchangeClient> {
    client_of(Exchange::Binance, emulator)
}

/// Builds a client of `exchange` against the emulator, with short timeouts and reconnect
/// pauses.
pub(super) fn client_of(exchange: Exchange, emulator: &RunningEmulator) -> Arc<dyn ExchangeClient> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let hosts = ExchangeHosts::all_at(&emulator.base_url()).unwrap();
    let http = keyward_adapters::http_client_builder().build().unwrap();
    let options = ClientOptions {
        request_timeout: std::time::Duration::from_millis(500),
        orders: OrderRetryPolicy {
            max_submissions: 2,
            lookups_before_resend: 1,
            first_lookup_delay: std::time::Duration::from_millis(10),
            max_delay: std::time::Duration::from_millis(50),
            max_failed_lookups: 2,
            max_rejections: 2,
        },
        reconnect_first_delay: std::time::Duration::from_millis(50),
        reconnect_max_delay: std::time::Duration::from_millis(200),
        ..ClientOptions::default()
    };
    client_with_options(exchange, &hosts, http, options).unwrap()
}

/// Returns the credentials of the emulator's `trader` key.
pub(super) fn credentials_of(exchange: Exchange) -> Credentials {
    let mut signer = PlainSigner::new(SECRET);
    if exchange.requires_passphrase() {
        signer = signer.with_passphrase(PASSPHRASE);
    }
    Credentials::new("trader", Arc::new(signer))
}

async fn trader(emulator: &RunningEmulator, log: &Arc<dyn EventLog>) -> (Uuid, LiveTrader) {
    trader_on(Exchange::Binance, emulator, log).await
}

/// Creates a bot on `exchange` and starts trading it live against the emulator.
pub(super) async fn trader_on(
    exchange: Exchange,
    emulator: &RunningEmulator,
    log: &Arc<dyn EventLog>,
) -> (Uuid, LiveTrader) {
    account_trader(exchange, emulator, log, None).await
}

/// Creates a bot of `account_id` on `exchange` and starts trading it live.
async fn account_trader(
    exchange: Exchange,
    emulator: &RunningEmulator,
    log: &Arc<dyn EventLog>,
    account_id: Option<Uuid>,
) -> (Uuid, LiveTrader) {
    let service = BotService::new(Arc::clone(log));
    let bot = sma_bot("live", exchange, account_id);
    let (bot_id, _) = service.create(bot, Metadata::default()).await.unwrap();
    let client = client_of(exchange, emulator);
    let trader = LiveTrader::start(Arc::clone(log), bot_id, client, credentials_of(exchange))
        .await
        .unwrap();
    (bot_id, trader)
}

/// Moves the emulator's BTCUSDT price to `factor` times the current one, filling the orders
/// it reaches, and returns the new price.
pub(super) fn move_price(emulator: &RunningEmulator, factor: Decimal) -> Decimal {
    let moved = (price(emulator) * factor).round_dp(1);
    let now_ms = Utc::now().timestamp_millis();
    let engine = emulator.state().engine();
    engine
        .set_price("BTCUSDT", moved, Decimal::ONE, now_ms)
        .unwrap();
    moved
}

pub(super) fn price(emulator: &RunningEmulator) -> Decimal {
    emulator.state().engine().price("BTCUSDT").unwrap()
}

/// A market buy of 0.01 with a stop 2% below `price`.
pub(super) fn entry(price: Decimal) -> OrderIntent {
    OrderIntent {
        intent_id: Uuid::now_v7(),
        symbol: "BTCUSDT".to_owned(),
        side: Side::Buy,
        kind: OrderKind::Market,
        quantity: Decimal::new(1, 2),
        price: Some(price),
        stop_loss: Some((price * Decimal::new(98, 2)).round_dp(1)),
        reduce_only: false,
    }
}

pub(super) fn context(price: Decimal) -> RiskContext {
    RiskContext {
        last_price: Some(price),
        ..RiskContext::new(BotMode::Live, Utc::now(), Decimal::from(10_000))
    }
}

pub(super) async fn events(
    log: &Arc<dyn EventLog>,
    bot_id: Uuid,
) -> (Vec<RecordedEvent>, Vec<BotEvent>) {
    let stream = StreamName::new(Category::Bot, bot_id);
    let records = read_whole_stream(log.as_ref(), &stream).await.unwrap();
    let events = records
        .iter()
        .map(|record| BotEvent::from_recorded(record).unwrap())
        .collect();
    (records, events)
}

#[tokio::test]
async fn entry_gets_resting_stop_then_cancelled() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn EventLog> = Arc::new(SegmentLog::open(dir.path()).unwrap());
    let (bot_id, mut trader) = trader(&emulator, &log).await;
    let price = price(&emulator);

    let placement = trader.enter(entry(price), &context(price)).await.unwrap();
    assert!(matches!(placement, Placement::Accepted(_)), "{placement:?}");
    assert_eq!(trader.position(), Decimal::new(1, 2));
    let credentials = Credentials::new("trader", Arc::new(PlainSigner::new(SECRET)));
    let open = client(&emulator)
        .open_orders(&credentials, Some("BTCUSDT"))
        .await
        .unwrap();
    assert_eq!(open.len(), 1);
    assert!(open[0].reduce_only);
    assert_eq!(
        open[0].order_type,
        keyward_adapters::domain::OrderType::StopMarket
    );

    trader.close_position(price, &context(price)).await.unwrap();
    assert_eq!(trader.position(), Decimal::ZERO);
    let open = client(&emulator)
        .open_orders(&credentials, Some("BTCUSDT"))
        .await
        .unwrap();
    assert_eq!(open.len(), 0, "the stop of a closed position is cancelled");

    let (records, events) = events(&log, bot_id).await;
    assert_eq!(check_order_path(&records), Ok(()));
    let cancelled = events
        .iter()
        .filter(|event| matches!(event, BotEvent::OrderCancelled(_)))
        .count();
    assert_eq!(cancelled, 1);
}

#[tokio::test]
async fn failed_stop_closes_and_pauses() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn EventLog> = Arc::new(SegmentLog::open(dir.path()).unwrap());
    let (bot_id, mut trader) = trader(&emulator, &log).await;
    let price = price(&emulator);

    // The entry goes through; the stop placement then meets server errors on every attempt.
    let faults = emulator.state().faults();
    faults.update(|config| config.orders_only = true).unwrap();
    let intent = entry(price);
    let stop = intent.stop_loss.unwrap();
    let evaluation = trader.gate().evaluate(intent, &context(price));
    let placement = trader.pass(evaluation).await.unwrap();
    assert!(matches!(placement, Placement::Accepted(_)));
    faults
        .update(|config| {
            config.next = std::iter::repeat_n(FaultKind::ServerError, 2).collect();
        })
        .unwrap();
    trader
        .protect(Side::Buy, stop, &context(price))
        .await
        .unwrap();

    assert_eq!(trader.position(), Decimal::ZERO);
    let (records, events) = events(&log, bot_id).await;
    assert_eq!(check_order_path(&records), Ok(()));
    let rejected = events
        .iter()
        .filter(|event| matches!(event, BotEvent::OrderRejected(_)))
        .count();
    assert_eq!(rejected, 1);
    let paused = events.iter().any(|event| {
        matches!(event, BotEvent::BotPaused(p) if matches!(p.reason, PauseReason::StopLossNotPlaced { .. }))
    });
    assert!(paused);
}

#[tokio::test]
async fn reconcile_records_missed_stop_fill() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn EventLog> = Arc::new(SegmentLog::open(dir.path()).unwrap());
    let (bot_id, mut trader) = trader(&emulator, &log).await;
    let price = price(&emulator);
    trader.enter(entry(price), &context(price)).await.unwrap();

    // The price falls through the stop while the bot is not watching.
    move_price(&emulator, Decimal::new(95, 2));

    let reconciled = trader.reconcile().await.unwrap();
    assert_eq!(reconciled.recorded_quantity, Decimal::new(1, 2));
    assert_eq!(reconciled.exchange_quantity, Decimal::ZERO);
    assert_eq!(reconciled.changed_orders.len(), 1);
    assert_eq!(reconciled.changed_orders[0].state, "filled");
    assert_eq!(trader.position(), Decimal::ZERO);
    let (_, events) = events(&log, bot_id).await;
    assert!(matches!(
        events.last(),
        Some(BotEvent::PositionReconciled(_))
    ));
}

#[tokio::test]
async fn account_daily_loss_breach_pauses_and_rejects_entry() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn EventLog> = Arc::new(SegmentLog::open(dir.path()).unwrap());
    let service = BotService::new(Arc::clone(&log));
    let account_id = Uuid::now_v7();
    let registered = AccountEvent::AccountRegistered(AccountRegistered {
        account_id,
        username: "trader".to_owned(),
        password_ref: Uuid::now_v7(),
        registered_at: Utc::now(),
    });
    let stream = StreamName::new(Category::Account, account_id);
    let event = registered.to_new_event(Uuid::now_v7(), Metadata::default());
    log.append(&stream, ExpectedVersion::NoStream, vec![event])
        .await
        .unwrap();
    // 0.05% of the 10000 day-start equity the context gives: a loss of 5.
    let limits = AccountLimits {
        max_leverage: Decimal::from(3),
        daily_loss_limit_pct: Decimal::new(5, 2),
    };
    service
        .set_account_limits(account_id, limits, Metadata::default())
        .await
        .unwrap();
    let (bot_id, mut trader) =
        account_trader(Exchange::Binance, &emulator, &log, Some(account_id)).await;
    // Stands in for a live activation, whose conditions other tests cover.
    let bot = service.load(bot_id).await.unwrap().unwrap();
    let activated = BotEvent::BotActivated(keyward_events::bot::BotActivated {
        mode: BotMode::Live,
        config_hash: bot.config_hash.clone(),
        exchange_host: None,
        activated_at: Utc::now(),
    });
    let event = activated.to_new_event(Uuid::now_v7(), Metadata::default());
    let bot_stream = StreamName::new(Category::Bot, bot_id);
    log.append(
        &bot_stream,
        ExpectedVersion::Exact(bot.version),
        vec![event],
    )
    .await
    .unwrap();

    // The entry's stop 2% below fills once the price falls 5%, losing more than 5.
    let price = price(&emulator);
    let placement = trader.enter(entry(price), &context(price)).await.unwrap();
    assert!(matches!(placement, Placement::Accepted(_)), "{placement:?}");
    let fallen = move_price(&emulator, Decimal::new(95, 2));
    trader.reconcile().await.unwrap();
    assert_eq!(trader.position(), Decimal::ZERO);

    let placement = trader.enter(entry(fallen), &context(fallen)).await.unwrap();
    assert_eq!(placement, Placement::Rejected);
    let (records, events) = events(&log, bot_id).await;
    assert_eq!(check_order_path(&records), Ok(()));
    let breached = events.iter().find_map(|event| match event {
        BotEvent::RiskLimitBreached(breached) => Some(breached),
        _ => None,
    });
    let breached = breached.expect("the breach is recorded");
    assert_eq!(breached.rule, "account_daily_loss_limit");
    // The stop filled at the fallen price, 3000 below the entry.
    assert_eq!(
        breached.detail,
        "account loss today 30.00 against day-start equity 10000; limit 0.05%"
    );
    let Some(BotEvent::OrderRiskChecked(checked)) = events.last() else {
        panic!(
            "the rejected entry's verdict comes last: {:?}",
            events.last()
        );
    };
    let rule = account_loss_check(checked);
    assert!(!rule.passed);
    assert!(rule.enforced);
    let bot = service.load(bot_id).await.unwrap().unwrap();
    assert!(
        matches!(
            bot.status,
            crate::bot::BotStatus::Configured | crate::bot::BotStatus::Paused { .. }
        ),
        "{:?}",
        bot.status
    );
}
