//! Tests of the backtest driver on hand-made candles and on real BTCUSDT data.

use keyward_events::bot::{BotMode, Verdict};
use keyward_events::market::{Candle, parse_klines};
use keyward_risk::{RiskConfig, RiskGate};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use uuid::Uuid;

use super::*;
use crate::strategy::SmaCross;

const START_MS: i64 = 1_758_240_000_000;
const STEP_MS: i64 = 300_000;

fn time(index: usize) -> chrono::DateTime<chrono::Utc> {
    bar_time(START_MS + index as i64 * STEP_MS)
}

fn candles(bars: &[(f64, f64, f64, f64)]) -> Vec<Candle> {
    let rows = bars.iter().enumerate();
    rows.map(|(index, &(open, high, low, close))| Candle {
        open_time_ms: START_MS + index as i64 * STEP_MS,
        open,
        high,
        low,
        close,
        volume: 1.0,
    })
    .collect()
}

/// With `SmaCross(1, 2)` the fast average is above the slow one exactly when the close rose,
/// so every change of direction is a crossing. Signals: long on bar 2, short on bar 5.
fn reversal_bars() -> Vec<Candle> {
    candles(&[
        (100.0, 100.0, 100.0, 100.0),
        (100.0, 100.0, 99.0, 99.0),
        (99.0, 101.0, 99.0, 101.0),
        (102.0, 103.0, 101.5, 102.5),
        (102.5, 104.0, 102.0, 103.5),
        (103.5, 103.5, 101.0, 101.0),
        (100.5, 101.0, 100.0, 100.2),
        (100.2, 100.5, 99.0, 99.5),
    ])
}

fn gate_for(config: &BacktestConfig) -> RiskGate {
    RiskGate::new(config.risk_config_allowing(2.0)).unwrap()
}

fn run(bars: &[Candle], config: &BacktestConfig) -> BacktestOutcome {
    let mut strategy = SmaCross::new(1, 2).unwrap();
    run_backtest(bars, &mut strategy, &gate_for(config), config).unwrap()
}

fn assert_close(actual: f64, expected: f64, label: &str) {
    let tolerance = 1e-9 * expected.abs().max(1.0);
    assert!(
        (actual - expected).abs() <= tolerance,
        "{label}: {actual} != {expected}"
    );
}

#[test]
fn signal_fills_at_next_open() {
    let outcome = run(&reversal_bars(), &BacktestConfig::default());
    let trades = &outcome.report.trade_list;
    assert_eq!(trades.len(), 2);

    let long = &trades[0];
    assert_eq!(long.side, TradeSide::Long);
    assert_eq!(long.entry_time, time(3));
    assert_close(long.entry_price, 102.0, "long entry");
    assert_eq!(long.exit_time, time(6));
    assert_close(long.exit_price, 100.5, "long exit");
    assert_eq!(long.exit_reason, ExitReason::Signal);
    assert_close(long.quantity, 99.009_900_99, "long quantity");

    let short = &trades[1];
    assert_eq!(short.side, TradeSide::Short);
    assert_eq!(short.entry_time, time(6));
    assert_close(short.entry_price, 100.5, "short entry");
    assert_close(short.exit_price, 99.5, "short exit at last close");
    assert_eq!(short.exit_reason, ExitReason::EndOfData);
}

#[test]
fn fees_are_charged_on_each_fill() {
    let config = BacktestConfig {
        fee: 0.001,
        ..BacktestConfig::default()
    };
    let report = run(&reversal_bars(), &config).report;
    let long = &report.trade_list[0];

    let expected_fees = long.quantity * (102.0 + 100.5) * 0.001;
    assert_close(long.fees, expected_fees, "long fees");
    assert_close(
        long.pnl,
        long.quantity * (100.5 - 102.0) - expected_fees,
        "long pnl",
    );

    let total_fees: f64 = report.trade_list.iter().map(|trade| trade.fees).sum();
    assert_close(report.fees_paid, total_fees, "fees paid");
    let total_pnl: f64 = report.trade_list.iter().map(|trade| trade.pnl).sum();
    assert_close(report.final_equity, 10_000.0 + total_pnl, "final equity");
    assert_close(report.total_return, total_pnl / 10_000.0, "total return");

    let free = run(&reversal_bars(), &BacktestConfig { fee: 0.0, ..config });
    assert!(free.report.trade_list.iter().all(|trade| trade.fees == 0.0));
    assert!(free.report.final_equity > report.final_equity);
}

#[test]
fn stop_fills_inside_bar_or_at_gap_open() {
    let bars = candles(&[
        (100.0, 100.0, 100.0, 100.0),
        (100.0, 100.0, 99.0, 99.0),
        (99.0, 101.0, 99.0, 101.0),
        (102.0, 102.5, 101.0, 101.5),
        (101.5, 101.8, 99.5, 101.6),
        (101.6, 101.7, 101.0, 101.2),
        (101.0, 101.0, 100.0, 100.5),
        (104.0, 104.0, 103.0, 103.5),
    ]);
    let report = run(&bars, &BacktestConfig::default()).report;
    assert_eq!(report.trades, 2);

    let long = &report.trade_list[0];
    assert_eq!(long.exit_reason, ExitReason::StopLoss);
    assert_eq!(long.exit_time, time(4));
    assert_close(long.exit_price, 102.0 * 0.98, "long stop price");

    let short = &report.trade_list[1];
    assert_eq!(short.side, TradeSide::Short);
    assert_close(short.entry_price, 101.0, "short entry");
    assert_eq!(short.exit_reason, ExitReason::StopLoss);
    assert_eq!(short.exit_time, time(7));
    assert_close(short.exit_price, 104.0, "short stopped at the gap open");
}

#[test]
fn long_only_never_shorts() {
    let config = BacktestConfig {
        long_only: true,
        ..BacktestConfig::default()
    };
    let outcome = run(&reversal_bars(), &config);
    assert_eq!(outcome.report.trades, 1);
    assert_eq!(outcome.report.trade_list[0].side, TradeSide::Long);
    assert_eq!(outcome.risk_checks.len(), 2);
    assert!(outcome.risk_checks[1].intent.reduce_only);
}

#[test]
fn verdicts_carry_backtest_mode_and_bar_time() {
    let outcome = run(&reversal_bars(), &BacktestConfig::default());
    let checks = &outcome.risk_checks;
    // Entry on bar 2; close and entry on bar 5; final close on bar 7.
    let times: Vec<_> = checks.iter().map(|check| check.checked_at).collect();
    assert_eq!(times, [time(2), time(5), time(5), time(7)]);
    let reduce_only: Vec<bool> = checks
        .iter()
        .map(|check| check.intent.reduce_only)
        .collect();
    assert_eq!(reduce_only, [false, true, false, true]);
    assert!(checks.iter().all(|check| check.mode == BotMode::Backtest));
    assert!(
        checks
            .iter()
            .all(|check| check.verdict == Verdict::Approved)
    );
    assert_eq!(checks[0].intent.price, Some(Decimal::from(101)));
}

/// Builds a deterministic random walk of `count` bars starting at 50000.
fn random_walk(count: usize) -> Vec<Candle> {
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut close = 50_000.0_f64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 2001) as f64 / 1000.0 - 1.0
    };
    let mut bars = Vec::with_capacity(count);
    for _ in 0..count {
        let open = close;
        close = (open * (1.0 + next() * 0.01) * 10.0).round() / 10.0;
        let high = open.max(close) * (1.0 + next().abs() * 0.003);
        let low = open.min(close) * (1.0 - next().abs() * 0.003);
        bars.push((open, high, low, close));
    }
    candles(&bars)
}

#[test]
fn gate_sees_every_entry() {
    let config = BacktestConfig {
        leverage: 3.0,
        position_size: 0.5,
        ..BacktestConfig::default()
    };
    let mut strategy = SmaCross::new(5, 20).unwrap();
    let outcome = run_backtest(
        &random_walk(5_000),
        &mut strategy,
        &gate_for(&config),
        &config,
    );
    let outcome = outcome.unwrap();

    let entries: Vec<_> = outcome
        .risk_checks
        .iter()
        .filter(|check| !check.intent.reduce_only && check.verdict == Verdict::Approved)
        .collect();
    let trades = &outcome.report.trade_list;
    assert!(trades.len() > 20, "only {} trades", trades.len());
    assert!(
        trades
            .iter()
            .any(|trade| trade.exit_reason == ExitReason::StopLoss)
    );
    assert_eq!(entries.len(), trades.len());
    for (entry, trade) in entries.iter().zip(trades) {
        assert_eq!(
            trade.entry_time,
            entry.checked_at + chrono::Duration::milliseconds(STEP_MS)
        );
        assert_close(
            trade.quantity,
            entry.intent.quantity.to_f64().unwrap(),
            "quantity",
        );
        assert!(entry.intent.stop_loss.is_some());
    }
}

#[test]
fn gate_rejection_blocks_entries() {
    let config = BacktestConfig::default();
    let strict = RiskGate::new(RiskConfig::default()).unwrap();
    let mut strategy = SmaCross::new(1, 2).unwrap();
    let outcome = run_backtest(&reversal_bars(), &mut strategy, &strict, &config).unwrap();

    assert_eq!(outcome.report.trades, 0);
    assert_close(outcome.report.final_equity, 10_000.0, "final equity");
    assert_eq!(outcome.report.rejected_intents, 2);
    assert_eq!(outcome.risk_checks.len(), 2);
    let rejected_by_size = outcome.risk_checks.iter().all(|check| {
        check
            .rules
            .iter()
            .any(|rule| rule.rule == "max_position_size" && !rule.passed)
    });
    assert!(rejected_by_size);
}

#[test]
fn equal_inputs_give_equal_outputs() {
    let bars = random_walk(3_000);
    let config = BacktestConfig {
        run_id: Uuid::from_u128(42),
        ..BacktestConfig::default()
    };
    let first = run(&bars, &config);
    let second = run(&bars, &config);
    assert_eq!(first, second);

    let other_id = BacktestConfig {
        run_id: Uuid::from_u128(43),
        ..config
    };
    let third = run(&bars, &other_id);
    assert_eq!(third.report, first.report);
    assert_ne!(
        third.risk_checks[0].intent.intent_id,
        first.risk_checks[0].intent.intent_id
    );
}

#[test]
fn drawdown_is_positive_fraction_of_peak() {
    let report = run(&random_walk(3_000), &BacktestConfig::default()).report;
    assert!(
        report.max_drawdown > 0.0 && report.max_drawdown < 1.0,
        "{}",
        report.max_drawdown
    );
    assert_eq!(report.bars, 3_000);
    assert_eq!(report.first_bar_time, time(0));
    assert_eq!(report.last_bar_time, time(2_999));
}

#[test]
fn invalid_settings_name_the_field() {
    let cases = [
        (
            "cash",
            BacktestConfig {
                cash: 0.0,
                ..BacktestConfig::default()
            },
        ),
        (
            "cash",
            BacktestConfig {
                cash: f64::INFINITY,
                ..BacktestConfig::default()
            },
        ),
        (
            "fee",
            BacktestConfig {
                fee: 4.0,
                ..BacktestConfig::default()
            },
        ),
        (
            "fee",
            BacktestConfig {
                fee: -0.1,
                ..BacktestConfig::default()
            },
        ),
        (
            "position_size",
            BacktestConfig {
                position_size: 1.5,
                ..BacktestConfig::default()
            },
        ),
        (
            "position_size",
            BacktestConfig {
                position_size: f64::NAN,
                ..BacktestConfig::default()
            },
        ),
        (
            "leverage",
            BacktestConfig {
                leverage: 0.5,
                ..BacktestConfig::default()
            },
        ),
    ];
    for (name, config) in cases {
        match config.validate() {
            Err(BacktestError::InvalidSetting { name: found, .. }) => assert_eq!(found, name),
            other => panic!("{name}: expected an invalid setting, got {other:?}"),
        }
    }
}

#[test]
fn empty_data_is_an_error() {
    let config = BacktestConfig::default();
    let mut strategy = SmaCross::new(1, 2).unwrap();
    let result = run_backtest(&[], &mut strategy, &gate_for(&config), &config);
    assert_eq!(result.unwrap_err(), BacktestError::NoCandles);
}

#[test]
fn real_btcusdt_file_runs_all_bars() {
    let path = "data/market/binance_um_BTCUSDT_5m_2025-09-19_2025-10-27.csv";
    let Some(path) = keyward_testkit::shared_file(path) else {
        return;
    };
    let bytes = std::fs::read(&path).unwrap();
    let bars = parse_klines(&bytes).unwrap();
    let config = BacktestConfig::default();
    let mut strategy = SmaCross::new(10, 30).unwrap();
    let outcome = run_backtest(&bars, &mut strategy, &gate_for(&config), &config).unwrap();

    let report = &outcome.report;
    assert_eq!(report.bars, 11_123);
    assert!(report.trades > 0);
    assert_eq!(
        report.first_bar_time.to_rfc3339(),
        "2025-09-19T00:00:00+00:00"
    );
    assert_eq!(
        report.last_bar_time.to_rfc3339(),
        "2025-10-27T14:50:00+00:00"
    );
    assert!(outcome.risk_checks.len() as u64 >= report.trades);
    assert_eq!(report.rejected_intents, 0);
}

#[test]
fn derived_risk_config_fits_the_run() {
    let config = BacktestConfig {
        position_size: 0.3,
        leverage: 5.0,
        ..BacktestConfig::default()
    };
    let risk = config.risk_config_allowing(7.5);
    assert_eq!(risk.validate(), Ok(()));
    assert_eq!(risk.stop_loss_pct, Decimal::new(75, 1));
    assert_eq!(risk.max_stop_distance_pct, Decimal::new(75, 1));
    assert_eq!(risk.max_position_pct, Decimal::from(30));
    assert_eq!(risk.max_leverage, Decimal::from(5));
    assert_eq!(risk.risk_per_trade_pct, Decimal::new(1125, 2));

    let all_in = BacktestConfig {
        leverage: 125.0,
        ..BacktestConfig::default()
    };
    let risk = all_in.risk_config_allowing(2.0);
    assert_eq!(risk.risk_per_trade_pct, Decimal::ONE_HUNDRED);
    assert_eq!(risk.validate(), Ok(()));
}
