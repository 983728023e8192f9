use std::time::Duration;

use keyward_adapters::domain::OrderType;
use keyward_adapters::{ClientOptions, Credentials, ExchangeClient, ExchangeHosts, PlainSigner};
use keyward_emulator::engine::AccountId;
use keyward_emulator::{Emulator, EmulatorConfig, RunningEmulator, parse_keys};
use keyward_eventlog::{SegmentLog, read_whole_stream};
use keyward_events::bot::{BotEvent, OrderKind, PauseReason, Side, StrategySpec};
use keyward_events::{Category, DomainEvent, Exchange, Metadata, RecordedEvent, StreamName};
use keyward_risk::RiskConfig;
use keyward_vault::{MasterKey, MasterKeySource, SecretBytes, Vault};

use super::*;
use crate::bot::audit::check_order_path;
use crate::bot::paper::PaperSettings;
use crate::bot::{BotRunners, KeyFacts, LiveFacts, LivePolicy, NewBot};
use crate::key::{ExchangeClients, KeyContext, KeyStatus, NewKey, RetryPolicy};

const API_KEY: &str = "liveRunner";
const SECRET: &str = "live-runner-test-secret-0123456789";

/// A running emulator, the log, and the services a live bot needs.
struct Setup {
    emulator: RunningEmulator,
    log: Arc<dyn EventLog>,
    keys: KeyService,
    live: LiveBots,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let keys = serde_json::json!([{
        "exchange": "binance", "api_key": API_KEY, "api_secret": SECRET,
        "read": true, "spot": false, "futures": true, "withdraw": false, "transfer": false,
        "ip_allowlist": ["127.0.0.1", "::1"],
    }]);
    let keys = parse_keys(&keys.to_string(), "keys.json".as_ref()).unwrap();
    let config = EmulatorConfig {
        keys,
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::start(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn EventLog> = Arc::new(SegmentLog::open(dir.path()).unwrap());
    let master = MasterKey::from_bytes([9; 32], MasterKeySource::Env("test".into()));
    let vault = Arc::new(Vault::open(dir.path(), master).unwrap());
    let mut exchanges = ExchangeClients::default();
    exchanges.insert(client(&emulator));
    let keys = KeyService::start(KeyContext {
        log: Arc::clone(&log),
        vault,
        exchanges,
        retry: RetryPolicy::default(),
    })
    .await
    .unwrap();
    let live = LiveBots::start(Arc::clone(&log), keys.clone())
        .await
        .unwrap();
    Setup {
        emulator,
        log,
        keys,
        live,
        _dir: dir,
    }
}

fn client(emulator: &RunningEmulator) -> Arc<dyn ExchangeClient> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let hosts = ExchangeHosts::all_at(&emulator.base_url()).unwrap();
    let http = keyward_adapters::http_client_builder().build().unwrap();
    let options = ClientOptions {
        request_timeout: Duration::from_secs(2),
        ..ClientOptions::default()
    };
    keyward_adapters::client_with_options(Exchange::Binance, &hosts, http, options).unwrap()
}

/// Adds the emulator's key and waits until its probe verifies it.
async fn verified_key(keys: &KeyService) -> Uuid {
    let key = NewKey {
        account_id: None,
        exchange: Exchange::Binance,
        label: "live".to_owned(),
        api_key: API_KEY.to_owned(),
        api_secret: SecretBytes::new(SECRET.as_bytes().to_vec()),
        passphrase: None,
    };
    let (key_id, _) = keys.add_key(key, Metadata::default()).await.unwrap();
    for _ in 0..100 {
        let state = keys.state(key_id).await.unwrap().unwrap();
        if state.status == KeyStatus::Verified {
            return key_id;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("key {key_id} was not verified");
}

/// Builds a slow sine wave of one-minute candles around 100000 that crosses its moving
/// averages many times.
fn wave(bars: usize) -> Vec<Candle> {
    let start = 1_700_000_000_000_i64;
    let mut previous = 100_000.0_f64;
    (0..bars)
        .map(|i| {
            let close = (100_000.0 + 2_000.0 * (i as f64 / 8.0).sin()).round();
            let open = previous;
            previous = close;
            Candle {
                open_time_ms: start + i as i64 * 60_000,
                open,
                high: open.max(close) + 10.0,
                low: open.min(close) - 10.0,
                close,
                volume: 1.0,
            }
        })
        .collect()
}

/// Creates a bot on the key, gives it a short paper run as its track record, and activates it
/// live through a service that runs live bots; with `fault`, its first actor fails after that
/// many orders reached the exchange.
async fn live_bot(setup: &Setup, key_id: Uuid, fault: Option<u64>) -> (Uuid, BotService) {
    let params = serde_json::json!({"fast": 3, "slow": 8});
    let bot = NewBot {
        account_id: None,
        label: "live".to_owned(),
        key_id: Some(key_id),
        exchange: Exchange::Binance,
        symbol: "BTCUSDT".to_owned(),
        strategy: StrategySpec {
            name: "sma".to_owned(),
            params: params.as_object().cloned().unwrap_or_default(),
        },
        risk: RiskConfig {
            max_drawdown_pct: Decimal::from(50),
            daily_loss_limit_pct: Decimal::from(50),
            ..RiskConfig::default()
        },
    };
    let runners = BotRunners::start(Arc::clone(&setup.log), PaperSettings::default())
        .await
        .unwrap();
    let paper = BotService::new(Arc::clone(&setup.log)).with_runners(runners.clone());
    let (bot_id, _) = paper.create(bot, Metadata::default()).await.unwrap();
    paper
        .activate(bot_id, BotMode::Paper, None, Metadata::default())
        .await
        .unwrap();
    for candle in wave(3) {
        runners.feed(bot_id, candle).await.unwrap();
    }
    paper
        .pause(bot_id, PauseReason::Requested, Metadata::default())
        .await
        .unwrap();
    runners.finish(bot_id).await.unwrap();

    let policy = LivePolicy {
        min_paper_span: chrono::Duration::zero(),
        ..LivePolicy::default()
    };
    let service = BotService::new(Arc::clone(&setup.log))
        .with_live(setup.live.clone())
        .with_live_policy(policy);
    if let Some(placements) = fault {
        setup.live.inject_fault_after_placements(bot_id, placements);
    }
    let key = setup.keys.state(key_id).await.unwrap().unwrap();
    let facts = LiveFacts {
        two_factor_on: true,
        key: Some(KeyFacts {
            verified: true,
            rejected: false,
            probe_failed: false,
            verified_against: key.verified_against,
        }),
        current_host: setup.keys.exchange_host(Exchange::Binance),
    };
    service
        .activate(bot_id, BotMode::Live, Some(&facts), Metadata::default())
        .await
        .unwrap();
    (bot_id, service)
}

/// Moves the emulator's price to each candle's close, then feeds the candle to the bot.
async fn trade(setup: &Setup, bot_id: Uuid, candles: &[Candle]) {
    let engine = setup.emulator.state().engine();
    for candle in candles {
        let close = to_decimal(candle.close);
        let now_ms = chrono::Utc::now().timestamp_millis();
        engine
            .set_price("BTCUSDT", close, Decimal::ONE, now_ms)
            .unwrap();
        setup.live.feed(bot_id, *candle).await.unwrap();
    }
}

async fn stream_of(log: &Arc<dyn EventLog>, bot_id: Uuid) -> Vec<RecordedEvent> {
    let stream = StreamName::new(Category::Bot, bot_id);
    read_whole_stream(log.as_ref(), &stream).await.unwrap()
}

fn decoded(records: &[RecordedEvent]) -> Vec<BotEvent> {
    records
        .iter()
        .map(|record| BotEvent::from_recorded(record).unwrap())
        .collect()
}

fn credentials() -> Credentials {
    Credentials::new(API_KEY, Arc::new(PlainSigner::new(SECRET)))
}

fn account() -> AccountId {
    AccountId {
        exchange: Exchange::Binance,
        api_key: API_KEY.to_owned(),
    }
}

#[tokio::test]
async fn pause_keeps_stop_and_stop_cancels() {
    let setup = setup().await;
    let key_id = verified_key(&setup.keys).await;
    let (bot_id, service) = live_bot(&setup, key_id, None).await;
    trade(&setup, bot_id, &wave(90)).await;

    let records = stream_of(&setup.log, bot_id).await;
    assert_eq!(check_order_path(&records), Ok(()));
    let events = decoded(&records);
    let live_orders: Vec<_> = events
        .iter()
        .filter_map(|event| match event {
            BotEvent::OrderSubmitted(order) if order.mode == BotMode::Live => Some(order),
            _ => None,
        })
        .collect();
    let entries = live_orders
        .iter()
        .filter(|order| !order.reduce_only)
        .count();
    let stops = live_orders
        .iter()
        .filter(|order| order.kind == OrderKind::StopMarket && order.reduce_only)
        .count();
    assert!(entries >= 2, "{live_orders:?}");
    assert!(
        stops >= entries,
        "every filled entry gets a stop: {live_orders:?}"
    );

    let exchange = client(&setup.emulator);
    let open = exchange
        .open_orders(&credentials(), Some("BTCUSDT"))
        .await
        .unwrap();
    let position = setup.emulator.state().engine().positions(&account());
    let holding = position.iter().any(|p| !p.quantity.is_zero());
    assert!(holding, "the wave ends with a position open: {position:?}");
    assert!(
        open.iter().any(|order| order.reduce_only),
        "an open position has a resting stop: {open:?}"
    );

    // A paused bot keeps its stop on the exchange and decides no new entry.
    service
        .pause(bot_id, PauseReason::Requested, Metadata::default())
        .await
        .unwrap();
    let before = stream_of(&setup.log, bot_id).await.len();
    trade(&setup, bot_id, &wave(130)[90..]).await;
    let open = exchange
        .open_orders(&credentials(), Some("BTCUSDT"))
        .await
        .unwrap();
    assert!(open.iter().any(|order| order.reduce_only), "{open:?}");
    let records = stream_of(&setup.log, bot_id).await;
    let entries_after_pause = decoded(&records[before..])
        .into_iter()
        .filter(|event| matches!(event, BotEvent::OrderRiskChecked(c) if !c.intent.reduce_only))
        .count();
    assert_eq!(entries_after_pause, 0);

    service
        .stop(bot_id, "requested", Metadata::default())
        .await
        .unwrap();
    let open = exchange
        .open_orders(&credentials(), Some("BTCUSDT"))
        .await
        .unwrap();
    assert_eq!(
        open,
        Vec::new(),
        "stop leaves no open order on the exchange"
    );
    let events = decoded(&stream_of(&setup.log, bot_id).await);
    let cancelled = events.iter().any(|event| {
        matches!(event, BotEvent::OrderCancelled(cancelled) if cancelled.reason == "bot stopped")
    });
    assert!(cancelled, "the stop's cancellation is recorded");
}

#[tokio::test]
async fn crash_after_placement_repeats_no_order() {
    let setup = setup().await;
    let key_id = verified_key(&setup.keys).await;
    // The first order reaches the exchange, and the actor fails before recording the response.
    let (bot_id, service) = live_bot(&setup, key_id, Some(1)).await;
    trade(&setup, bot_id, &wave(90)).await;
    assert_eq!(setup.live.restarts(), 1);

    let records = stream_of(&setup.log, bot_id).await;
    assert_eq!(check_order_path(&records), Ok(()));
    let events = decoded(&records);
    let recovered = events
        .iter()
        .filter(|event| matches!(event, BotEvent::OrderAcknowledged(ack) if ack.recovered))
        .count();
    assert_eq!(
        recovered, 1,
        "the order placed before the crash is found by a lookup"
    );
    let rejected: Vec<_> = events
        .iter()
        .filter(|event| matches!(event, BotEvent::OrderRejected(_)))
        .collect();
    assert_eq!(rejected, Vec::<&BotEvent>::new());

    let orders = setup.emulator.state().engine().all_orders(&account());
    let mut on_exchange: Vec<String> = orders
        .iter()
        .map(|order| order.client_order_id.clone())
        .collect();
    on_exchange.sort();
    let placed = on_exchange.len();
    on_exchange.dedup();
    assert_eq!(
        on_exchange.len(),
        placed,
        "an order reached the exchange twice"
    );
    let mut submitted: Vec<String> = events
        .iter()
        .filter_map(|event| match event {
            BotEvent::OrderSubmitted(order) if order.mode == BotMode::Live => {
                Some(order.client_order_id.clone())
            }
            _ => None,
        })
        .collect();
    submitted.sort();
    assert_eq!(
        submitted, on_exchange,
        "every submitted order is on the exchange once"
    );
    assert!(placed >= 3, "{placed} orders");

    service
        .stop(bot_id, "requested", Metadata::default())
        .await
        .unwrap();
    let open = client(&setup.emulator)
        .open_orders(&credentials(), Some("BTCUSDT"))
        .await
        .unwrap();
    assert_eq!(open, Vec::new());
}

#[tokio::test]
async fn stop_fill_recorded_without_candle() {
    let setup = setup().await;
    let key_id = verified_key(&setup.keys).await;
    let (bot_id, _service) = live_bot(&setup, key_id, None).await;
    trade(&setup, bot_id, &wave(90)).await;

    let exchange = client(&setup.emulator);
    let open = exchange
        .open_orders(&credentials(), Some("BTCUSDT"))
        .await
        .unwrap();
    let stop = open
        .iter()
        .find(|order| order.reduce_only && order.order_type == OrderType::StopMarket)
        .unwrap_or_else(|| panic!("the wave ends with a resting stop: {open:?}"))
        .clone();
    let trigger = stop
        .trigger_price
        .expect("a stop order has a trigger price");

    // The price runs through the stop and no candle follows: only the account stream tells the
    // bot that its stop filled.
    let through = match stop.side {
        Side::Sell => trigger - Decimal::from(1_000),
        Side::Buy => trigger + Decimal::from(1_000),
    };
    let now_ms = chrono::Utc::now().timestamp_millis();
    setup
        .emulator
        .state()
        .engine()
        .set_price("BTCUSDT", through, Decimal::ONE, now_ms)
        .unwrap();

    let stop_id = stop.client_order_id.as_str().to_owned();
    let mut events = Vec::new();
    for _ in 0..100 {
        events = decoded(&stream_of(&setup.log, bot_id).await);
        let filled = events.iter().any(
            |event| matches!(event, BotEvent::OrderFilled(fill) if fill.client_order_id == stop_id),
        );
        if filled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let fill_at = events
        .iter()
        .position(
            |event| matches!(event, BotEvent::OrderFilled(fill) if fill.client_order_id == stop_id),
        )
        .unwrap_or_else(|| panic!("the stop's fill {stop_id} is not recorded: {events:?}"));
    let flat_after_fill = events[fill_at..].iter().any(
        |event| matches!(event, BotEvent::PositionChanged(changed) if changed.quantity.is_zero()),
    );
    assert!(flat_after_fill, "{:?}", &events[fill_at..]);
    assert_eq!(
        check_order_path(&stream_of(&setup.log, bot_id).await),
        Ok(())
    );
}
