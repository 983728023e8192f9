//! Tests of the backtest driver on hand-made candles and on real BTCUSDT data.
#![allow(
    clippy::float_cmp,
    reason = "the prices and amounts compared are exact in binary floating point"
)]

use keyward_events::bot::{BotMode, OrderKind, StrategySpec, Verdict};
use keyward_events::market::{Candle, FundingRate, parse_klines};
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

fn run_with(bars: &[Candle], config: &BacktestConfig) -> BacktestOutcome {
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
    let outcome = run_with(&reversal_bars(), &BacktestConfig::default());
    let trades = &outcome.report.trade_list;
    assert_eq!(trades.len(), 2);

    let long = &trades[0];
    assert_eq!(long.side, TradeSide::Long);
    assert_eq!(long.entry_time, time(3));
    assert_close(long.entry_price, 102.0, "long entry");
    assert_eq!(long.exit_time, time(6));
    assert_close(long.exit_price, 100.5, "long exit");
    assert_eq!(long.exit_reason, ExitReason::Signal);
    // All of 10000 at the decision close of 101, leaving room for the 0.04% fee.
    assert_close(long.quantity, 98.970_312_86, "long quantity");

    let short = &trades[1];
    assert_eq!(short.side, TradeSide::Short);
    assert_eq!(short.entry_time, time(6));
    assert_close(short.entry_price, 100.5, "short entry");
    assert_close(short.exit_price, 99.5, "short exit at last close");
    assert_eq!(short.exit_reason, ExitReason::EndOfData);
}

#[test]
fn final_fill_can_use_last_open() {
    let config = BacktestConfig {
        final_fill: FinalFill::LastOpen,
        ..BacktestConfig::default()
    };
    let report = run_with(&reversal_bars(), &config).report;
    let short = &report.trade_list[1];
    assert_close(short.exit_price, 100.2, "short exit at last open");
    assert_close(
        report.final_equity,
        10_000.0 + report.trade_list.iter().map(|t| t.pnl).sum::<f64>(),
        "equity",
    );
}

#[test]
fn fees_are_charged_on_each_fill() {
    let config = BacktestConfig {
        fee: 0.001,
        ..BacktestConfig::default()
    };
    let report = run_with(&reversal_bars(), &config).report;
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

    let free = run_with(&reversal_bars(), &BacktestConfig { fee: 0.0, ..config });
    assert!(free.report.trade_list.iter().all(|trade| trade.fees == 0.0));
    assert!(free.report.final_equity > report.final_equity);
}

#[test]
fn slippage_moves_market_fills_against_the_order() {
    let config = BacktestConfig {
        slippage_bps: 10.0,
        ..BacktestConfig::default()
    };
    let report = run_with(&reversal_bars(), &config).report;
    let long = &report.trade_list[0];
    assert_close(long.entry_price, 102.0 * 1.001, "buy pays more");
    assert_close(long.exit_price, 100.5 * 0.999, "sell gets less");
    let short = &report.trade_list[1];
    assert_close(short.entry_price, 100.5 * 0.999, "short entry gets less");
}

/// Entry decided at the close of bar 2 (101), so the stop lies 2% below: 98.98.
#[test]
fn stop_fills_inside_bar_or_at_gap_open() {
    let bars = candles(&[
        (100.0, 100.0, 100.0, 100.0),
        (100.0, 100.0, 99.0, 99.0),
        (99.0, 101.0, 99.0, 101.0),
        (102.0, 102.5, 101.0, 101.5),
        (101.5, 101.8, 98.5, 101.6),
        (101.6, 101.7, 101.0, 101.2),
        (101.0, 101.0, 100.0, 100.5),
        (104.0, 104.0, 103.0, 103.5),
    ]);
    let report = run_with(&bars, &BacktestConfig::default()).report;
    assert_eq!(report.trades, 2);

    let long = &report.trade_list[0];
    assert_eq!(long.exit_reason, ExitReason::StopLoss);
    assert_eq!(long.exit_time, time(4));
    assert_close(long.exit_price, 98.98, "long stop price");

    // Short decided at the close of bar 5 (101.2): its stop lies at 103.224, and bar 7 opens
    // above it.
    let short = &report.trade_list[1];
    assert_eq!(short.side, TradeSide::Short);
    assert_eq!(short.entry_time, time(6));
    assert_close(short.entry_price, 101.0, "short entry");
    assert_eq!(short.exit_reason, ExitReason::StopLoss);
    assert_eq!(short.exit_time, time(7));
    assert_close(short.exit_price, 104.0, "short stopped at the gap open");
}

#[test]
fn take_profit_fills_at_target_with_maker_fee() {
    let bars = candles(&[
        (100.0, 100.0, 100.0, 100.0),
        (100.0, 100.0, 99.0, 99.0),
        (99.0, 101.0, 99.0, 101.0),
        (100.0, 100.5, 99.5, 101.2),
        (101.2, 103.5, 101.0, 103.2),
        (103.2, 103.4, 102.5, 103.3),
    ]);
    let config = BacktestConfig {
        take_profit_pct: Some(3.0),
        long_only: true,
        maker_fee: 0.0001,
        ..BacktestConfig::default()
    };
    let report = run_with(&bars, &config).report;
    let long = &report.trade_list[0];
    assert_eq!(long.exit_reason, ExitReason::TakeProfit);
    assert_close(long.exit_price, 103.0, "target 3% above the entry fill");
    let expected_fees = long.quantity * (100.0 * DEFAULT_FEE + 103.0 * 0.0001);
    assert_close(long.fees, expected_fees, "taker entry, maker exit");
}

#[test]
fn bar_crossing_stop_and_target_fills_stop() {
    let bars = candles(&[
        (100.0, 100.0, 100.0, 100.0),
        (100.0, 100.0, 99.0, 99.0),
        (99.0, 101.0, 99.0, 101.0),
        (100.0, 101.6, 99.5, 101.5),
        (101.5, 104.0, 98.0, 102.0),
        (102.0, 102.2, 101.5, 101.8),
    ]);
    let config = BacktestConfig {
        take_profit_pct: Some(3.0),
        long_only: true,
        ..BacktestConfig::default()
    };
    let outcome = run_with(&bars, &config);
    let trades = &outcome.report.trade_list;
    assert_eq!(trades.len(), 1);
    assert_eq!(trades[0].exit_reason, ExitReason::StopLoss);
    assert_close(trades[0].exit_price, 98.98, "the stop, not the target");
    // The entry, then its stop and its target, each through the gate.
    let kinds: Vec<OrderKind> = outcome.risk_checks.iter().map(|c| c.intent.kind).collect();
    assert_eq!(
        kinds,
        [OrderKind::Market, OrderKind::StopMarket, OrderKind::Limit]
    );
}

#[test]
fn funding_is_charged_at_funding_times() {
    let bars = reversal_bars();
    let funding = [
        FundingRate {
            time_ms: START_MS - 1,
            interval_hours: Some(8),
            rate: 0.5,
        },
        FundingRate {
            time_ms: START_MS + 4 * STEP_MS + 5,
            interval_hours: Some(8),
            rate: 0.001,
        },
        FundingRate {
            time_ms: START_MS + 6 * STEP_MS + 10,
            interval_hours: Some(8),
            rate: -0.002,
        },
    ];
    let config = BacktestConfig::default();
    let mut strategy = SmaCross::new(1, 2).unwrap();
    let data = MarketData {
        candles: &bars,
        funding: &funding,
    };
    let mut sink = DiscardVerdicts;
    let report = run(
        data,
        &mut strategy,
        &gate_for(&config),
        &config,
        &mut sink,
        RunOptions::default(),
    );
    let report = report.unwrap();

    let long = &report.trade_list[0];
    let short = &report.trade_list[1];
    // The long pays 0.1% at bar 4's open; the short receives... a negative rate, so it pays.
    assert_close(
        long.funding,
        long.quantity * 102.5 * 0.001,
        "long pays a positive rate",
    );
    assert_close(
        short.funding,
        short.quantity * 100.5 * 0.002,
        "short pays a negative rate",
    );
    assert_close(
        report.funding_paid,
        long.funding + short.funding,
        "funding paid",
    );
    let gross: f64 = report.trade_list.iter().map(|t| t.pnl).sum();
    assert_close(
        report.final_equity,
        10_000.0 + gross,
        "pnl includes funding",
    );
}

#[test]
fn long_only_never_shorts() {
    let config = BacktestConfig {
        long_only: true,
        ..BacktestConfig::default()
    };
    let outcome = run_with(&reversal_bars(), &config);
    assert_eq!(outcome.report.trades, 1);
    assert_eq!(outcome.report.trade_list[0].side, TradeSide::Long);
    // Entry, its protective stop, and the close.
    assert_eq!(outcome.risk_checks.len(), 3);
    assert!(outcome.risk_checks[2].intent.reduce_only);
}

#[test]
fn verdicts_carry_backtest_mode_and_bar_time() {
    let outcome = run_with(&reversal_bars(), &BacktestConfig::default());
    let checks = &outcome.risk_checks;
    // The entry on bar 2, its stop at bar 3's open, the close and the new entry on bar 5, the
    // new stop at bar 6's open, and the final close on bar 7.
    let times: Vec<_> = checks.iter().map(|check| check.checked_at).collect();
    assert_eq!(
        times,
        [time(2), time(3), time(5), time(5), time(6), time(7)]
    );
    let reduce_only: Vec<bool> = checks
        .iter()
        .map(|check| check.intent.reduce_only)
        .collect();
    assert_eq!(reduce_only, [false, true, true, false, true, true]);
    assert!(checks.iter().all(|check| check.mode == BotMode::Backtest));
    assert!(
        checks
            .iter()
            .all(|check| check.verdict == Verdict::Approved)
    );
    assert_eq!(checks[0].intent.price, Some(Decimal::from(101)));
    assert_eq!(checks[1].intent.kind, OrderKind::StopMarket);
    assert_eq!(checks[1].intent.price, checks[0].intent.stop_loss);
    assert_eq!(outcome.report.risk_checks, 6);
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

/// Positions too large for 8 decimal places in an f64, from the largest cash on BTC prices
/// and from ordinary cash on a coin priced near 0.001, close whole and leave no dust trades.
#[test]
fn large_positions_close_without_dust() {
    let btc_bars = random_walk(3_000);
    let cheap_bars: Vec<Candle> = btc_bars
        .iter()
        .map(|bar| Candle {
            open: bar.open / 50_000_000.0,
            high: bar.high / 50_000_000.0,
            low: bar.low / 50_000_000.0,
            close: bar.close / 50_000_000.0,
            ..*bar
        })
        .collect();
    let small = run_with(&btc_bars, &BacktestConfig::default()).report;
    assert!(small.trades > 20, "only {} trades", small.trades);
    let cases = [(&btc_bars, MAX_CASH), (&cheap_bars, 100_000.0)];
    for (bars, cash) in cases {
        let config = BacktestConfig {
            cash,
            ..BacktestConfig::default()
        };
        let report = run_with(bars, &config).report;
        assert_eq!(report.trades, small.trades, "cash {cash}");
        assert_eq!(report.rejected_intents, 0, "cash {cash}");
        let smallest = report
            .trade_list
            .iter()
            .map(|trade| trade.quantity)
            .fold(f64::INFINITY, f64::min);
        assert!(smallest > 1_000.0, "cash {cash}: a trade of {smallest}");
    }
}

#[test]
fn gate_rejection_blocks_entries() {
    let config = BacktestConfig::default();
    // All equity per entry, with a risk budget that does not cap it: the default 50% limit on
    // the position's margin rejects each entry.
    let strict = RiskGate::new(RiskConfig {
        risk_per_trade_pct: Decimal::from(5),
        ..RiskConfig::default()
    })
    .unwrap();
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
    let first = run_with(&bars, &config);
    let second = run_with(&bars, &config);
    assert_eq!(first, second);

    let other_id = BacktestConfig {
        run_id: Uuid::from_u128(43),
        ..config
    };
    let third = run_with(&bars, &other_id);
    assert_eq!(third.report, first.report);
    assert_ne!(
        third.risk_checks[0].intent.intent_id,
        first.risk_checks[0].intent.intent_id
    );
}

#[test]
fn report_metrics_are_consistent() {
    let options = RunOptions {
        record_equity: true,
        progress: None,
    };
    let bars = random_walk(3_000);
    let config = BacktestConfig::default();
    let mut strategy = SmaCross::new(5, 20).unwrap();
    let data = MarketData {
        candles: &bars,
        funding: &[],
    };
    let report = run(
        data,
        &mut strategy,
        &gate_for(&config),
        &config,
        &mut DiscardVerdicts,
        options,
    );
    let report = report.unwrap();

    assert!(
        report.max_drawdown > 0.0 && report.max_drawdown < 1.0,
        "{}",
        report.max_drawdown
    );
    assert_eq!(report.bars, 3_000);
    assert_eq!(report.first_bar_time, time(0));
    assert_eq!(report.last_bar_time, time(2_999));
    assert_eq!(report.equity_curve.len(), 3_000);
    assert_close(
        *report.equity_curve.last().unwrap(),
        report.final_equity,
        "curve end",
    );

    let wins = report.trade_list.iter().filter(|t| t.pnl > 0.0).count();
    assert_close(
        report.win_rate.unwrap(),
        wins as f64 / report.trades as f64,
        "win rate",
    );
    let profit: f64 = report.trade_list.iter().map(|t| t.pnl.max(0.0)).sum();
    let loss: f64 = report.trade_list.iter().map(|t| (-t.pnl).max(0.0)).sum();
    assert_close(
        report.profit_factor.unwrap(),
        profit / loss,
        "profit factor",
    );
    assert!(
        report.exposure > 0.5 && report.exposure <= 1.0,
        "{}",
        report.exposure
    );
    assert!(report.sharpe.is_some(), "sharpe");
    assert!(report.sortino.is_some(), "sortino");
    assert_eq!(report.trade_list_hash().len(), 64);
}

#[test]
fn progress_is_reported() {
    let bars = random_walk(PROGRESS_EVERY * 2 + 10);
    let config = BacktestConfig::default();
    let mut calls = Vec::new();
    let mut record = |done: usize| calls.push(done);
    let options = RunOptions {
        record_equity: false,
        progress: Some(&mut record),
    };
    let mut strategy = SmaCross::new(5, 20).unwrap();
    let data = MarketData {
        candles: &bars,
        funding: &[],
    };
    run(
        data,
        &mut strategy,
        &gate_for(&config),
        &config,
        &mut DiscardVerdicts,
        options,
    )
    .unwrap();
    assert_eq!(calls, [PROGRESS_EVERY, PROGRESS_EVERY * 2]);
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
            "cash",
            BacktestConfig {
                cash: MAX_CASH * 10.0,
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
            "maker_fee",
            BacktestConfig {
                maker_fee: 2.0,
                ..BacktestConfig::default()
            },
        ),
        (
            "slippage_bps",
            BacktestConfig {
                slippage_bps: -1.0,
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
        (
            "take_profit_pct",
            BacktestConfig {
                take_profit_pct: Some(0.0),
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
fn window_keeps_open_times_in_range() {
    let bars = reversal_bars();
    let from = Some(START_MS + 2 * STEP_MS);
    let to = Some(START_MS + 5 * STEP_MS);
    let kept = window(&bars, from, to);
    assert_eq!(kept.len(), 3);
    assert_eq!(kept[0].open_time_ms, START_MS + 2 * STEP_MS);
    assert_eq!(window(&bars, None, None).len(), bars.len());
    assert!(window(&bars, to, from).is_empty());
}

pub(super) fn sma_spec(fast: u64, slow: u64) -> RunSpec {
    let mut params = serde_json::Map::new();
    params.insert("fast".to_owned(), fast.into());
    params.insert("slow".to_owned(), slow.into());
    RunSpec {
        strategy: StrategySpec {
            name: "sma".to_owned(),
            params,
        },
        risk: BacktestConfig::default().risk_config_allowing(2.0),
        symbol: "BTCUSDT".to_owned(),
        settings: RunSettings::default(),
    }
}

#[test]
fn sweep_matches_single_runs() {
    let bars = random_walk(4_000);
    let data = MarketData {
        candles: &bars,
        funding: &[],
    };
    let base = sma_spec(5, 20);
    let windows: (&[usize], &[usize]) = (&[3, 5, 8], &[5, 20, 30]);
    let results = run_sweep(data, &base, windows, RankBy::Return, true, &|_| {}).unwrap();
    // Pairs with fast below slow: (3,5), (3,20), (3,30), (5,20), (5,30), (8,20), (8,30).
    assert_eq!(results.len(), 7);
    let returns: Vec<f64> = results.iter().map(|r| r.report.total_return).collect();
    assert!(
        returns.windows(2).all(|pair| pair[0] >= pair[1]),
        "{returns:?}"
    );

    for result in &results {
        let spec = sma_spec(result.fast as u64, result.slow as u64);
        let PreparedRun {
            mut strategy,
            gate,
            config,
        } = spec.prepare().unwrap();
        let single = run(
            data,
            &mut strategy,
            &gate,
            &config,
            &mut DiscardVerdicts,
            RunOptions::default(),
        );
        let single = single.unwrap();
        assert_eq!(
            result.trade_list_hash.as_deref(),
            Some(single.trade_list_hash().as_str())
        );
        assert_eq!(result.report.final_equity, single.final_equity);
        assert!(result.report.trade_list.is_empty());
    }
}

#[test]
fn sweep_rejects_invalid_pairs_before_running() {
    let bars = random_walk(100);
    let data = MarketData {
        candles: &bars,
        funding: &[],
    };
    let windows: (&[usize], &[usize]) = (&[0], &[5]);
    let err = run_sweep(
        data,
        &sma_spec(5, 20),
        windows,
        RankBy::Sharpe,
        false,
        &|_| {},
    );
    assert!(matches!(err, Err(SetupError::Strategy(_))), "{err:?}");
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
fn real_funding_file_charges_held_positions() {
    let candles = "data/market/binance_um_BTCUSDT_5m_2025-09-19_2025-10-27.csv";
    let funding = "data/market/binance_um_BTCUSDT_funding_2025-09-19_2025-10-27.csv";
    let (Some(candles), Some(funding)) = (
        keyward_testkit::shared_file(candles),
        keyward_testkit::shared_file(funding),
    ) else {
        return;
    };
    let mut spec = sma_spec(10, 30);
    // A stop that never triggers, so every exit happens at a bar's open.
    spec.risk = BacktestConfig::default().risk_config_allowing(99.0);
    let files = DataFiles {
        candles: Some(&candles),
        funding: Some(&funding),
        ..DataFiles::default()
    };
    let run = run_files(&spec, &files, RunOptions::default()).unwrap();
    assert!(run.funding_hash.is_some());

    // Recompute each trade's funding: a rate is charged on the position held just after the
    // open of the bar its time falls in, at that open.
    let bars = load_candles(&candles).unwrap().candles;
    let rates = load_funding(&funding).unwrap().rates;
    let bar_of = |time_ms: i64| bars.partition_point(|bar| bar.open_time_ms <= time_ms) - 1;
    let mut charged_rates = 0;
    for trade in &run.report.trade_list {
        let (entry, exit) = (
            trade.entry_time.timestamp_millis(),
            trade.exit_time.timestamp_millis(),
        );
        let direction = if trade.side == TradeSide::Long {
            1.0
        } else {
            -1.0
        };
        let expected: f64 = rates
            .iter()
            .filter(|rate| rate.time_ms >= bars[0].open_time_ms)
            .map(|rate| (rate, &bars[bar_of(rate.time_ms)]))
            .filter(|(_, bar)| bar.open_time_ms >= entry && bar.open_time_ms < exit)
            .map(|(rate, bar)| {
                charged_rates += 1;
                direction * trade.quantity * bar.open * rate.rate
            })
            .sum();
        assert_close(trade.funding, expected, "trade funding");
    }
    assert!(
        charged_rates > 40,
        "only {charged_rates} funding times hit a position"
    );
    let charged: f64 = run.report.trade_list.iter().map(|t| t.funding).sum();
    assert_close(charged, run.report.funding_paid, "trades carry the funding");
    assert_ne!(run.report.funding_paid, 0.0);
}
