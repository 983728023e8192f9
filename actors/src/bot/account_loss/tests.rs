use std::str::FromStr;
use std::sync::Arc;

use keyward_eventlog::{ExpectedVersion, SegmentLog, read_whole_stream};
use keyward_events::account::AccountRegistered;
use keyward_events::bot::{BotEvent, PauseReason, Verdict};
use keyward_events::codec::derive_event_id;
use keyward_events::market::Candle;
use keyward_events::{Exchange, Metadata, StreamName};

use super::*;
use crate::bot::paper::{PaperRun, PaperSettings};
use crate::bot::test_support::{account_loss_check, sma_bot};
use crate::bot::{AccountLimits, BotService, BotStatus};

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

/// 2023-11-15 00:00 UTC.
const DAY_START_MS: i64 = 1_700_006_400_000;
const MINUTE_MS: i64 = 60_000;

fn fill(side: Side, quantity: &str, price: &str, fee: &str, time_ms: i64) -> OrderFilled {
    OrderFilled {
        intent_id: Uuid::now_v7(),
        client_order_id: "test".to_owned(),
        side,
        quantity: dec(quantity),
        price: dec(price),
        fee: dec(fee),
        complete: true,
        filled_at: DateTime::from_timestamp_millis(time_ms).unwrap(),
    }
}

#[test]
fn ledger_realises_closed_quantity_and_fees_by_day() {
    let day = utc_day(DateTime::from_timestamp_millis(DAY_START_MS).unwrap());
    let next_day_ms = DAY_START_MS + DAY_MS;
    let mut bot = BotLedger::default();
    let fills = [
        fill(Side::Buy, "2", "100", "0.1", DAY_START_MS),
        fill(Side::Buy, "2", "110", "0.1", DAY_START_MS),
        // Closes 3 of 4 at an average entry of 105: +45.
        fill(Side::Sell, "3", "120", "0.2", DAY_START_MS),
        // Closes the last 1 at -5 and opens a short of 1 at 100.
        fill(Side::Sell, "2", "100", "0.1", DAY_START_MS),
        // The next day the short closes at +10.
        fill(Side::Buy, "1", "90", "0.05", next_day_ms),
    ];
    let mut positions = Vec::new();
    for filled in &fills {
        bot.fill(filled).unwrap();
        positions.push((bot.position, bot.entry_price));
    }

    assert_eq!(positions[1], (dec("4"), dec("105")));
    assert_eq!(positions[2], (dec("1"), dec("105")));
    assert_eq!(positions[3], (dec("-1"), dec("100")));
    assert_eq!(positions[4], (Decimal::ZERO, Decimal::ZERO));
    let day_total = |day: i64| -> Decimal {
        let day_start_ms = day * DAY_MS;
        let day_fills = bot.realised.range(day_start_ms..day_start_ms + DAY_MS);
        day_fills.map(|(_, pnl)| *pnl).sum()
    };
    assert_eq!(day_total(day), dec("39.5"));
    assert_eq!(day_total(day + 1), dec("9.95"));
}

#[test]
fn ledger_leaves_out_an_overflowing_fill() {
    let mut bot = BotLedger::default();
    bot.fill(&fill(Side::Buy, "1", "100", "0", DAY_START_MS))
        .unwrap();
    let huge = fill(
        Side::Sell,
        "1",
        "79228162514264337593543950335",
        "0",
        DAY_START_MS,
    );
    let overflow = fill(
        Side::Buy,
        "79228162514264337593543950335",
        "2",
        "0",
        DAY_START_MS,
    );

    assert!(bot.fill(&huge).is_some(), "closing at a huge price fits");
    assert!(bot.fill(&overflow).is_none());
    assert_eq!(bot.position, Decimal::ZERO);
}

#[test]
fn daily_loss_stands_as_of_its_time() {
    let mut ledger = AccountLedger::new(Uuid::now_v7());
    ledger.risk.daily_loss_limit_pct = Some(dec("1"));
    let noon_ms = DAY_START_MS + DAY_MS / 2;
    let mut bot = BotLedger {
        mode: Some(BotMode::Paper),
        ..BotLedger::default()
    };
    bot.fill(&fill(Side::Buy, "1", "100", "0", DAY_START_MS - MINUTE_MS))
        .unwrap();
    bot.fill(&fill(Side::Sell, "1", "90", "0", noon_ms))
        .unwrap();
    ledger.bots.insert(Uuid::now_v7(), bot);
    ledger.breaches.insert(noon_ms);
    let at = |time_ms: i64| DateTime::from_timestamp_millis(time_ms).unwrap();
    let equity = dec("1000");

    let morning = ledger.daily_loss(BotMode::Paper, at(noon_ms - 1), equity);
    let morning = morning.unwrap();
    assert_eq!(morning.loss, Decimal::ZERO);
    assert!(!morning.breached);
    let noon = ledger
        .daily_loss(BotMode::Paper, at(noon_ms), equity)
        .unwrap();
    assert_eq!(noon.loss, dec("10"));
    assert!(noon.breached);
    let next_day_ms = DAY_START_MS + DAY_MS;
    let next_day = ledger.daily_loss(BotMode::Paper, at(next_day_ms), equity);
    let next_day = next_day.unwrap();
    assert_eq!(next_day.loss, Decimal::ZERO);
    assert!(!next_day.breached);
    assert!(
        ledger
            .daily_loss(BotMode::Live, at(noon_ms), equity)
            .is_some()
    );
    assert_eq!(
        ledger
            .daily_loss(BotMode::Live, at(noon_ms), equity)
            .unwrap()
            .loss,
        Decimal::ZERO,
        "paper losses do not count against live bots"
    );

    let day = next_day_ms / DAY_MS;
    let cash = dec("10000");
    assert_eq!(ledger.paper_day_start_equity(day, cash), dec("9990"));
}

#[test]
fn breach_is_new_only_at_the_limit_and_once() {
    let loss = |loss: &str, breached| AccountDailyLoss {
        limit_pct: dec("0.5"),
        day_start_equity: dec("20000"),
        loss: dec(loss),
        breached,
    };
    assert!(!newly_breached(&loss("99.99", false)));
    assert!(newly_breached(&loss("100", false)));
    assert!(newly_breached(&loss("150", false)));
    assert!(!newly_breached(&loss("150", true)));
    assert!(!newly_breached(&loss("-150", false)));
}

/// A bot whose SMA 5/20 crossover goes long once, after a slow decline and a jump, starting
/// at `start_ms` with one-minute candles. The entry fills at 120 at the open of candle 31,
/// which falls through the entry's 2% stop.
fn losing_trade(start_ms: i64) -> Vec<Candle> {
    let mut candles = Vec::new();
    let mut previous = 110.0_f64;
    let mut push = |open: f64, high: f64, low: f64, close: f64| {
        let open_time_ms = start_ms + i64::try_from(candles.len()).unwrap() * MINUTE_MS;
        candles.push(Candle {
            open_time_ms,
            open,
            high,
            low,
            close,
            volume: 1.0,
        });
    };
    for i in 0..30 {
        let close = 110.0 - f64::from(i) * 0.3;
        push(
            previous,
            previous.max(close) + 0.1,
            previous.min(close) - 0.1,
            close,
        );
        previous = close;
    }
    push(previous, 120.1, previous - 0.1, 120.0);
    push(120.0, 120.1, 110.0, 111.0);
    push(111.0, 111.5, 110.5, 111.0);
    candles
}

async fn register_account(log: &Arc<dyn EventLog>, account_id: Uuid) {
    let registered = AccountEvent::AccountRegistered(AccountRegistered {
        account_id,
        username: "trader".to_owned(),
        password_ref: Uuid::now_v7(),
        registered_at: Utc::now(),
    });
    let event = registered.to_new_event(derive_event_id(account_id, 0), Metadata::default());
    let stream = StreamName::new(Category::Account, account_id);
    log.append(&stream, ExpectedVersion::NoStream, vec![event])
        .await
        .unwrap();
}

async fn paper_bot(service: &BotService, account_id: Uuid, label: &str) -> Uuid {
    let bot = sma_bot(label, Exchange::Binance, Some(account_id));
    let (bot_id, _) = service.create(bot, Metadata::default()).await.unwrap();
    service
        .activate(bot_id, BotMode::Paper, None, Metadata::default())
        .await
        .unwrap();
    bot_id
}

async fn events_of(log: &Arc<dyn EventLog>, bot_id: Uuid) -> Vec<BotEvent> {
    let stream = StreamName::new(Category::Bot, bot_id);
    let records = read_whole_stream(log.as_ref(), &stream).await.unwrap();
    records
        .iter()
        .map(|record| BotEvent::from_recorded(record).unwrap())
        .collect()
}

fn account_breaches(events: &[BotEvent]) -> Vec<&keyward_events::bot::RiskLimitBreached> {
    events
        .iter()
        .filter_map(|event| match event {
            BotEvent::RiskLimitBreached(breached) => Some(breached),
            _ => None,
        })
        .filter(|breached| breached.rule == "account_daily_loss_limit")
        .collect()
}

fn paused_for_account_loss(events: &[BotEvent]) -> usize {
    events
        .iter()
        .filter(|event| {
            matches!(event, BotEvent::BotPaused(paused)
            if paused.reason == PauseReason::RiskLimitBreached {
                rule: "account_daily_loss_limit".to_owned(),
            })
        })
        .count()
}

/// Verdicts of entries (orders that are not reduce-only) recorded after `skip` events.
fn entry_verdicts(events: &[BotEvent], skip: usize) -> Vec<&keyward_events::bot::OrderRiskChecked> {
    events
        .iter()
        .skip(skip)
        .filter_map(|event| match event {
            BotEvent::OrderRiskChecked(checked) if !checked.intent.reduce_only => Some(checked),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn account_loss_pauses_every_paper_bot_and_blocks_new_risk_that_day() {
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn EventLog> = Arc::new(SegmentLog::open(dir.path()).unwrap());
    let service = BotService::new(Arc::clone(&log));
    let account_id = Uuid::now_v7();
    register_account(&log, account_id).await;
    let limits = AccountLimits {
        max_leverage: dec("3"),
        daily_loss_limit_pct: dec("0.4"),
    };
    service
        .set_account_limits(account_id, limits, Metadata::default())
        .await
        .unwrap();
    let loser = paper_bot(&service, account_id, "loser").await;
    let other = paper_bot(&service, account_id, "other").await;
    let unrelated = paper_bot(&service, Uuid::now_v7(), "unrelated").await;

    // The loser's stop fills about 105 below its entry (fees included): more than 0.4% of the
    // 20000 the account's two paper bots started the day with.
    let mut run = PaperRun::start(Arc::clone(&log), loser, PaperSettings::default())
        .await
        .unwrap();
    for candle in losing_trade(DAY_START_MS + 60 * MINUTE_MS) {
        run.on_candle(&candle).await.unwrap();
    }

    let loser_events = events_of(&log, loser).await;
    let breaches = account_breaches(&loser_events);
    assert_eq!(breaches.len(), 1, "{loser_events:#?}");
    eprintln!("DETAIL {}", breaches[0].detail);
    assert!(
        breaches[0]
            .detail
            .contains("day-start equity 20000; limit 0.4%"),
        "{}",
        breaches[0].detail
    );
    assert_eq!(paused_for_account_loss(&loser_events), 1);
    let other_events = events_of(&log, other).await;
    assert_eq!(account_breaches(&other_events).len(), 1);
    assert_eq!(paused_for_account_loss(&other_events), 1);
    let unrelated_state = service.load(unrelated).await.unwrap().unwrap();
    assert!(
        unrelated_state.is_active(),
        "another account's bot trades on"
    );
    let loser_state = service.load(loser).await.unwrap().unwrap();
    assert!(matches!(loser_state.status, BotStatus::Paused { .. }));

    // Activated again the same day, the other bot keeps its status but the gate rejects its
    // entry for the account's limit.
    service
        .activate(other, BotMode::Paper, None, Metadata::default())
        .await
        .unwrap();
    let before = events_of(&log, other).await.len();
    let mut run = PaperRun::start(Arc::clone(&log), other, PaperSettings::default())
        .await
        .unwrap();
    for candle in losing_trade(DAY_START_MS + 120 * MINUTE_MS) {
        run.on_candle(&candle).await.unwrap();
    }
    let other_events = events_of(&log, other).await;
    let verdicts = entry_verdicts(&other_events, before);
    assert_eq!(verdicts.len(), 1, "{verdicts:#?}");
    assert_eq!(verdicts[0].verdict, Verdict::Rejected);
    let rule = account_loss_check(verdicts[0]);
    assert!(!rule.passed);
    assert!(rule.enforced);
    assert!(
        rule.detail.ends_with("breached earlier today"),
        "{}",
        rule.detail
    );
    assert_eq!(
        account_breaches(&other_events).len(),
        1,
        "recorded once a day"
    );

    // The next UTC day starts without a breach: the same entry passes the account's limit.
    let before = other_events.len();
    for candle in losing_trade(DAY_START_MS + DAY_MS) {
        run.on_candle(&candle).await.unwrap();
    }
    let other_events = events_of(&log, other).await;
    let verdicts = entry_verdicts(&other_events, before);
    assert!(!verdicts.is_empty());
    let rule = account_loss_check(verdicts[0]);
    assert!(rule.passed, "{}", rule.detail);
    assert_eq!(verdicts[0].verdict, Verdict::Approved);
}
