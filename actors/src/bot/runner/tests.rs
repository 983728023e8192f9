use std::sync::Arc;

use keyward_eventlog::{EventLog, SegmentLog, read_whole_stream};
use keyward_events::bot::{BotEvent, BotMode, OrderKind, StrategySpec};
use keyward_events::{Category, DomainEvent, Exchange, Metadata, RecordedEvent, StreamName};
use keyward_risk::RiskConfig;

use super::*;
use crate::bot::audit::check_order_path;
use crate::bot::{BotService, NewBot};

/// Builds a slow sine wave of five-minute candles that crosses its moving averages many times.
fn wave(bars: usize) -> Vec<Candle> {
    let start = 1_700_000_000_000_i64;
    let mut previous = 100.0_f64;
    (0..bars)
        .map(|i| {
            let close = 100.0 + 10.0 * (i as f64 / 15.0).sin();
            let open = previous;
            previous = close;
            Candle {
                open_time_ms: start + i as i64 * 300_000,
                open,
                high: open.max(close) + 0.5,
                low: open.min(close) - 0.5,
                close,
                volume: 1.0,
            }
        })
        .collect()
}

fn new_bot(label: &str) -> NewBot {
    let params = serde_json::json!({"fast": 5, "slow": 20});
    NewBot {
        account_id: None,
        label: label.to_owned(),
        key_id: None,
        exchange: Exchange::Binance,
        symbol: "BTCUSDT".to_owned(),
        strategy: StrategySpec {
            name: "sma".to_owned(),
            params: params.as_object().cloned().unwrap_or_default(),
        },
        risk: RiskConfig {
            max_open_positions: 1,
            max_drawdown_pct: rust_decimal::Decimal::from(50),
            daily_loss_limit_pct: rust_decimal::Decimal::from(50),
            ..RiskConfig::default()
        },
    }
}

async fn paper_bot(service: &BotService, label: &str) -> Uuid {
    let (bot_id, _) = service
        .create(new_bot(label), Metadata::default())
        .await
        .unwrap();
    service
        .activate(bot_id, BotMode::Paper, None, Metadata::default())
        .await
        .unwrap();
    bot_id
}

async fn stream_of(log: &dyn EventLog, bot_id: Uuid) -> Vec<RecordedEvent> {
    let stream = StreamName::new(Category::Bot, bot_id);
    read_whole_stream(log, &stream).await.unwrap()
}

fn decoded(records: &[RecordedEvent]) -> Vec<BotEvent> {
    records
        .iter()
        .map(|record| BotEvent::from_recorded(record).unwrap())
        .collect()
}

fn open_log(dir: &tempfile::TempDir) -> Arc<dyn EventLog> {
    Arc::new(SegmentLog::open(dir.path()).unwrap())
}

#[tokio::test]
async fn paper_run_follows_order_path() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(&dir);
    let service = BotService::new(Arc::clone(&log));
    let bot_id = paper_bot(&service, "paper").await;
    let runners = BotRunners::start(Arc::clone(&log), PaperSettings::default())
        .await
        .unwrap();
    for candle in wave(300) {
        runners.feed(bot_id, candle).await.unwrap();
    }
    runners.finish(bot_id).await.unwrap();

    let records = stream_of(log.as_ref(), bot_id).await;
    assert_eq!(check_order_path(&records), Ok(()));
    let events = decoded(&records);
    let count = |name: &str| records.iter().filter(|r| r.event_type == name).count();
    assert!(count("OrderSubmitted") >= 6, "{}", count("OrderSubmitted"));
    assert!(count("OrderFilled") >= 4);
    assert_eq!(count("PaperRunCompleted"), 1);

    // Each entry fill is followed by a resting reduce-only stop, and stops of closed
    // positions are cancelled.
    let entry_fills = events
        .iter()
        .filter(|event| matches!(event, BotEvent::PositionChanged(c) if !c.quantity.is_zero()))
        .count();
    let stops: Vec<_> = events
        .iter()
        .filter_map(|event| match event {
            BotEvent::OrderSubmitted(order) if order.kind == OrderKind::StopMarket => Some(order),
            _ => None,
        })
        .collect();
    assert_eq!(stops.len(), entry_fills);
    assert!(stops.iter().all(|stop| stop.reduce_only));
    assert!(count("OrderCancelled") >= stops.len() - 1);
}

#[tokio::test]
async fn restart_neither_loses_nor_repeats_orders() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(&dir);
    let service = BotService::new(Arc::clone(&log));
    let steady = paper_bot(&service, "steady").await;
    let crashing = paper_bot(&service, "crashing").await;
    let runners = BotRunners::start(Arc::clone(&log), PaperSettings::default())
        .await
        .unwrap();
    runners.inject_fault_after_checks(crashing, 3);
    for candle in wave(300) {
        runners.feed(steady, candle).await.unwrap();
        runners.feed(crashing, candle).await.unwrap();
    }
    runners.finish(steady).await.unwrap();
    runners.finish(crashing).await.unwrap();
    assert_eq!(runners.restarts(), 1);

    let steady = stream_of(log.as_ref(), steady).await;
    let crashing = stream_of(log.as_ref(), crashing).await;
    assert_eq!(check_order_path(&crashing), Ok(()));
    let types = |records: &[RecordedEvent]| -> Vec<String> {
        records.iter().map(|r| r.event_type.clone()).collect()
    };
    assert_eq!(types(&crashing), types(&steady));
    let submitted = |records: &[RecordedEvent]| {
        decoded(records)
            .into_iter()
            .filter_map(|event| match event {
                BotEvent::OrderSubmitted(order) => Some((order.side, order.kind, order.quantity)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(submitted(&crashing), submitted(&steady));
}

#[tokio::test]
async fn pause_from_api_stops_new_entries() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(&dir);
    let service = BotService::new(Arc::clone(&log));
    let bot_id = paper_bot(&service, "paused").await;
    let runners = BotRunners::start(Arc::clone(&log), PaperSettings::default())
        .await
        .unwrap();
    let candles = wave(300);
    for candle in &candles[..100] {
        runners.feed(bot_id, *candle).await.unwrap();
    }
    let reason = keyward_events::bot::PauseReason::Requested;
    service
        .pause(bot_id, reason, Metadata::default())
        .await
        .unwrap();
    let before = stream_of(log.as_ref(), bot_id).await.len();
    for candle in &candles[100..] {
        runners.feed(bot_id, *candle).await.unwrap();
    }
    let records = stream_of(log.as_ref(), bot_id).await;
    let entries_after_pause = decoded(&records[before..])
        .into_iter()
        .filter(|event| matches!(event, BotEvent::OrderRiskChecked(c) if !c.intent.reduce_only))
        .count();
    assert_eq!(entries_after_pause, 0);
}

#[tokio::test]
async fn drawdown_breach_pauses_bot() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(&dir);
    let service = BotService::new(Arc::clone(&log));
    let mut bot = new_bot("breach");
    bot.risk.max_drawdown_pct = rust_decimal::Decimal::new(1, 1);
    let (bot_id, _) = service.create(bot, Metadata::default()).await.unwrap();
    service
        .activate(bot_id, BotMode::Paper, None, Metadata::default())
        .await
        .unwrap();
    let runners = BotRunners::start(Arc::clone(&log), PaperSettings::default())
        .await
        .unwrap();
    for candle in wave(300) {
        runners.feed(bot_id, candle).await.unwrap();
    }

    let events = decoded(&stream_of(log.as_ref(), bot_id).await);
    let breaches: Vec<_> = events
        .iter()
        .filter_map(|event| match event {
            BotEvent::RiskLimitBreached(breach) => Some(breach),
            _ => None,
        })
        .collect();
    assert_eq!(breaches.len(), 1);
    assert_eq!(breaches[0].rule, "max_drawdown");
    let state = service.load(bot_id).await.unwrap().unwrap();
    let expected = crate::bot::BotStatus::Paused {
        reason: keyward_events::bot::PauseReason::RiskLimitBreached {
            rule: "max_drawdown".to_owned(),
        },
    };
    assert_eq!(state.status, expected);
}

#[tokio::test]
async fn replay_after_pause_appends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(&dir);
    let service = BotService::new(Arc::clone(&log));
    let bot_id = paper_bot(&service, "replayed").await;
    let candles = wave(300);
    let first = BotRunners::start(Arc::clone(&log), PaperSettings::default())
        .await
        .unwrap();
    for candle in &candles[..150] {
        first.feed(bot_id, *candle).await.unwrap();
    }
    let reason = keyward_events::bot::PauseReason::Requested;
    service
        .pause(bot_id, reason, Metadata::default())
        .await
        .unwrap();
    for candle in &candles[150..200] {
        first.feed(bot_id, *candle).await.unwrap();
    }
    let before = stream_of(log.as_ref(), bot_id).await;
    assert!(before.iter().any(|r| r.event_type == "OrderSubmitted"));

    // A second set of runners, as after a process restart, replays the same candles.
    let second = BotRunners::start(Arc::clone(&log), PaperSettings::default())
        .await
        .unwrap();
    for candle in &candles[..200] {
        second.feed(bot_id, *candle).await.unwrap();
    }
    let after = stream_of(log.as_ref(), bot_id).await;
    assert_eq!(after.len(), before.len());
    assert_eq!(check_order_path(&after), Ok(()));
}

#[tokio::test]
async fn reactivation_starts_a_new_run() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(&dir);
    let runners = BotRunners::start(Arc::clone(&log), PaperSettings::default())
        .await
        .unwrap();
    let service = BotService::new(Arc::clone(&log)).with_runners(runners.clone());
    let bot_id = paper_bot(&service, "again").await;
    let candles = wave(300);
    for candle in &candles[..150] {
        runners.feed(bot_id, *candle).await.unwrap();
    }
    let reason = keyward_events::bot::PauseReason::Requested;
    service
        .pause(bot_id, reason, Metadata::default())
        .await
        .unwrap();
    service
        .activate(bot_id, BotMode::Paper, None, Metadata::default())
        .await
        .unwrap();
    for candle in &candles[150..] {
        runners.feed(bot_id, *candle).await.unwrap();
    }
    service
        .stop(bot_id, "requested", Metadata::default())
        .await
        .unwrap();

    let records = stream_of(log.as_ref(), bot_id).await;
    assert_eq!(check_order_path(&records), Ok(()));
    let runs: Vec<_> = decoded(&records)
        .into_iter()
        .filter_map(|event| match event {
            BotEvent::PaperRunCompleted(run) => Some(run.bars),
            _ => None,
        })
        .collect();
    assert_eq!(runs, [150, 150]);
}
