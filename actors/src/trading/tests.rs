//! Tests of the order handling: which intents a signal and a fill produce, their sizes and
//! stops, and the gate's verdicts on them.

use std::str::FromStr;

use keyward_events::bot::{BotMode, OrderKind, Side};
use keyward_risk::{RiskConfig, RiskGate};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::*;

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

fn settings(long_only: bool, take_profit_pct: Option<Decimal>) -> TradeSettings {
    TradeSettings {
        symbol: "BTCUSDT".to_owned(),
        position_size: dec("0.5"),
        leverage: Decimal::ONE,
        long_only,
        take_profit_pct,
        taker_fee: Decimal::ZERO,
    }
}

fn handler(long_only: bool, take_profit_pct: Option<Decimal>) -> OrderHandler {
    let gate = RiskGate::new(RiskConfig::default()).unwrap();
    OrderHandler::new(gate, settings(long_only, take_profit_pct), BotMode::Paper)
}

fn account(position: &str) -> AccountView {
    AccountView {
        equity: dec("10000"),
        position: dec(position),
        day_start_equity: dec("10000"),
        peak_equity: dec("10000"),
        open_positions: u32::from(!dec(position).is_zero()),
    }
}

fn ids() -> IntentIds {
    IntentIds::new(&Uuid::from_u128(9)).at(3)
}

#[test]
fn long_signal_when_flat_enters_with_stop() {
    let mut out = Vec::new();
    let mut handler = handler(false, None);
    handler.on_signal(
        Signal::GoLong,
        &account("0"),
        dec("100000"),
        0,
        ids(),
        &mut out,
    );

    assert_eq!(out.len(), 1);
    let entry = out[0].intent();
    assert!(out[0].is_approved());
    assert_eq!(entry.side, Side::Buy);
    assert_eq!(entry.kind, OrderKind::Market);
    assert_eq!(entry.quantity, dec("0.05"));
    assert_eq!(entry.stop_loss, Some(dec("98000")));
    assert_eq!(entry.intent_id, ids().id(IntentRole::Entry));
}

#[test]
fn reversal_closes_then_enters() {
    let mut out = Vec::new();
    let mut handler = handler(false, None);
    handler.on_signal(
        Signal::GoShort,
        &account("0.05"),
        dec("100000"),
        0,
        ids(),
        &mut out,
    );

    assert_eq!(out.len(), 2);
    let close = out[0].intent();
    assert!(close.reduce_only);
    assert_eq!(close.side, Side::Sell);
    assert_eq!(close.quantity, dec("0.05"));
    let entry = out[1].intent();
    assert_eq!(entry.side, Side::Sell);
    assert_eq!(entry.stop_loss, Some(dec("102000")));
    assert!(out.iter().all(Evaluation::is_approved));
}

#[test]
fn long_only_cross_down_only_closes() {
    let mut out = Vec::new();
    let mut handler = handler(true, None);
    handler.on_signal(
        Signal::GoShort,
        &account("0.05"),
        dec("100000"),
        0,
        ids(),
        &mut out,
    );
    assert_eq!(out.len(), 1);
    assert!(out[0].intent().reduce_only);

    out.clear();
    handler.on_signal(
        Signal::GoShort,
        &account("0"),
        dec("100000"),
        0,
        ids(),
        &mut out,
    );
    assert!(out.is_empty());
}

#[test]
fn signal_matching_position_does_nothing() {
    let mut out = Vec::new();
    let mut handler = handler(false, None);
    handler.on_signal(
        Signal::GoLong,
        &account("0.05"),
        dec("100000"),
        0,
        ids(),
        &mut out,
    );
    handler.on_signal(
        Signal::Hold,
        &account("0"),
        dec("100000"),
        0,
        ids(),
        &mut out,
    );
    assert!(out.is_empty());
}

#[test]
fn filled_entry_gets_stop_and_target() {
    let mut out = Vec::new();
    let mut handler = handler(false, Some(dec("3")));
    let fill = EntryFill {
        side: Side::Buy,
        position_quantity: dec("0.05"),
        price: dec("100100"),
        stop_loss: Some(dec("98000")),
    };
    handler.on_entry_filled(&fill, &account("0.05"), 0, ids(), &mut out);

    assert_eq!(out.len(), 2);
    let stop = out[0].intent();
    assert_eq!(stop.kind, OrderKind::StopMarket);
    assert_eq!(stop.side, Side::Sell);
    assert_eq!(stop.price, Some(dec("98000")));
    assert!(stop.reduce_only);
    let target = out[1].intent();
    assert_eq!(target.kind, OrderKind::Limit);
    assert_eq!(target.price, Some(dec("103103")));
    assert!(out.iter().all(Evaluation::is_approved));
}

#[test]
fn order_rate_limit_counts_approved_orders() {
    let gate = RiskGate::new(RiskConfig {
        max_orders_per_minute: 2,
        ..RiskConfig::default()
    })
    .unwrap();
    let mut handler = OrderHandler::new(gate, settings(false, None), BotMode::Live);
    let mut out = Vec::new();
    for second in 0..3 {
        handler.on_signal(
            Signal::GoLong,
            &account("0"),
            dec("100000"),
            second * 1000,
            ids(),
            &mut out,
        );
    }
    let approved: Vec<bool> = out.iter().map(Evaluation::is_approved).collect();
    assert_eq!(approved, [true, true, false]);

    out.clear();
    handler.on_signal(
        Signal::GoLong,
        &account("0"),
        dec("100000"),
        61_000,
        ids(),
        &mut out,
    );
    assert!(
        out[0].is_approved(),
        "the window moved past the first order"
    );
}

#[test]
fn close_position_is_reduce_only_market() {
    let mut out = Vec::new();
    let mut handler = handler(false, None);
    handler.close_position(&account("-0.02"), dec("100000"), 0, ids(), &mut out);
    let close = out[0].intent();
    assert_eq!(close.side, Side::Buy);
    assert_eq!(close.quantity, dec("0.02"));
    assert!(close.reduce_only);
    assert_eq!(close.intent_id, ids().id(IntentRole::FinalClose));

    out.clear();
    handler.close_position(&account("0"), dec("100000"), 0, ids(), &mut out);
    assert!(out.is_empty());
}

#[test]
fn account_limits_reach_the_gate() {
    let config = RiskConfig {
        max_leverage: dec("5"),
        ..RiskConfig::default()
    };
    let gate = RiskGate::new(config).unwrap();
    let settings = TradeSettings {
        leverage: dec("2"),
        ..settings(false, None)
    };
    let mut handler = OrderHandler::new(gate, settings, BotMode::Paper);
    handler.set_account_limits(AccountRiskState {
        max_leverage: Some(Decimal::ONE),
        kill_switch_engaged: false,
        daily_loss: None,
    });
    let mut out = Vec::new();
    handler.on_signal(
        Signal::GoLong,
        &account("0"),
        dec("100000"),
        0,
        ids(),
        &mut out,
    );
    let checked = out[0].to_event();
    let leverage = checked
        .rules
        .iter()
        .find(|r| r.rule == "max_leverage")
        .unwrap();
    assert!(!leverage.passed);
    assert!(
        leverage.detail.ends_with("account limit 1"),
        "{}",
        leverage.detail
    );

    handler.set_account_limits(AccountRiskState {
        max_leverage: None,
        kill_switch_engaged: true,
        daily_loss: None,
    });
    let mut out = Vec::new();
    handler.on_signal(
        Signal::GoLong,
        &account("0"),
        dec("100000"),
        0,
        ids(),
        &mut out,
    );
    let checked = out[0].to_event();
    let kill = checked
        .rules
        .iter()
        .find(|r| r.rule == "kill_switch_released")
        .unwrap();
    assert!(!kill.passed);
    assert!(!out[0].is_approved());
}

/// SplitMix64, a small deterministic generator for the randomized comparison below.
fn split_mix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[test]
fn day_cache_matches_chrono_conversion() {
    let mut state = 11;
    let mut cache = UtcDayCache::default();
    let mut ms = 1_758_240_000_000_i64;
    // A fresh cache contains the epoch's day, so its first time of that day is served from it.
    assert_eq!(
        UtcDayCache::default().datetime(3_723_004),
        DateTime::from_timestamp_millis(3_723_004).unwrap()
    );
    for _ in 0..200_000 {
        // Mostly steps of up to a few hours, as bars advance, with jumps to any time (the
        // epoch's day, negative times and times outside chrono's range included).
        let draw = split_mix(&mut state);
        ms = match draw % 64 {
            0 => draw as i64,
            1 => (draw % (2 * DAY_MS as u64)) as i64 - DAY_MS,
            2 => -ms,
            _ => ms.saturating_add((draw >> 8) as i64 % (4 * 3_600_000)),
        };
        let expected = DateTime::from_timestamp_millis(ms).unwrap_or_default();
        assert_eq!(cache.datetime(ms), expected, "{ms}");
    }
}
