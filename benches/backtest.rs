//! Backtest throughput on a million bars: the driver alone (strategy, risk gate, order handling
//! and simulated exchange on one core, parsing excluded), and CSV parsing apart.
//!
//! The bars are the real Binance BTCUSDT 5-minute file from the shared market data, repeated
//! with shifted times until there are a million. Without that file the bench prints a note and
//! uses a random walk of the same length. Run with `cargo bench --bench backtest`; the figures are in
//! docs/benchmarks.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keyward_actors::backtest::{
    BacktestConfig, DiscardVerdicts, MarketData, RunOptions, load_candles, run,
};
use keyward_actors::strategy::SmaCross;
use keyward_events::market::{Candle, parse_klines};
use keyward_risk::RiskGate;

#[path = "support/cpu_time.rs"]
mod cpu_time;

use cpu_time::ThreadCpuTime;

const BARS: usize = 1_000_000;
const REAL_FILE: &str = "data/market/binance_um_BTCUSDT_5m_2025-09-19_2025-10-27.csv";
const HEADER: &str = "open_time,open,high,low,close,volume,close_time,quote_volume,count,\
                      taker_buy_volume,taker_buy_quote_volume,ignore";

/// Returns the kline CSV text of a million bars.
fn million_bar_csv() -> String {
    let source = keyward_testkit::read_shared(REAL_FILE).unwrap_or_else(|| {
        eprintln!("using a synthetic random walk instead of {REAL_FILE}");
        random_walk_csv(20_000)
    });
    let rows: Vec<Vec<&str>> = source
        .lines()
        .skip(1)
        .filter(|line| !line.is_empty())
        .map(|line| line.split(',').collect())
        .collect();
    let time = |row: &Vec<&str>, column: usize| row[column].parse::<i64>().expect("time");
    let step = time(&rows[1], 0) - time(&rows[0], 0);
    let span = time(&rows[rows.len() - 1], 0) - time(&rows[0], 0) + step;

    let mut text = String::with_capacity(BARS * 80);
    text.push_str(HEADER);
    text.push('\n');
    for index in 0..BARS {
        let row = &rows[index % rows.len()];
        let shift = (index / rows.len()) as i64 * span;
        let open_time = time(row, 0) + shift;
        let close_time = time(row, 6) + shift;
        let prices = row[1..6].join(",");
        let rest = row[7..].join(",");
        text.push_str(&format!("{open_time},{prices},{close_time},{rest}\n"));
    }
    text
}

fn random_walk_csv(count: usize) -> String {
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut close = 50_000.0_f64;
    let mut text = format!("{HEADER}\n");
    for index in 0..count {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let open = close;
        close =
            ((open * (1.0 + ((state % 2001) as f64 / 1000.0 - 1.0) * 0.003)) * 10.0).round() / 10.0;
        let time = 1_758_240_000_000_i64 + index as i64 * 300_000;
        let (high, low) = (open.max(close) + 5.0, open.min(close) - 5.0);
        text.push_str(&format!(
            "{time},{open:.1},{high:.1},{low:.1},{close:.1},1.0,{},,,,,0\n",
            time + 299_999
        ));
    }
    text
}

fn run_sma(candles: &[Candle], fast: usize, slow: usize, long_only: bool) -> f64 {
    let config = BacktestConfig {
        long_only,
        ..BacktestConfig::default()
    };
    let gate = RiskGate::new(config.risk_config_allowing(2.0)).expect("valid limits");
    let mut strategy = SmaCross::new(fast, slow).expect("valid windows");
    let data = MarketData {
        candles,
        funding: &[],
    };
    let report = run(
        data,
        &mut strategy,
        &gate,
        &config,
        &mut DiscardVerdicts,
        RunOptions::default(),
    );
    report.expect("backtest runs").final_equity
}

/// The driver on one core, and parsing on one thread, in thread CPU time.
fn one_core_benches(c: &mut Criterion<ThreadCpuTime>) {
    let csv = million_bar_csv();
    let candles = parse_klines(csv.as_bytes()).expect("valid klines");
    assert_eq!(candles.len(), BARS);

    let mut group = c.benchmark_group("backtest_cpu");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(BARS as u64));
    for (name, fast, slow, long_only) in RUNS {
        group.bench_function(name, |b| {
            b.iter(|| run_sma(black_box(&candles), fast, slow, long_only))
        });
    }
    group.bench_function("parse_kline_csv_one_thread", |b| {
        b.iter(|| {
            parse_klines(black_box(csv.as_bytes()))
                .expect("valid klines")
                .len()
        })
    });
    group.finish();
}

/// The same in wall time, and loading a file (read, hash and parse on all cores).
fn wall_time_benches(c: &mut Criterion) {
    let csv = million_bar_csv();
    let candles = parse_klines(csv.as_bytes()).expect("valid klines");

    let mut group = c.benchmark_group("backtest_wall");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(BARS as u64));
    for (name, fast, slow, long_only) in RUNS {
        group.bench_function(name, |b| {
            b.iter(|| run_sma(black_box(&candles), fast, slow, long_only))
        });
    }
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("klines.csv");
    std::fs::write(&path, &csv).expect("file written");
    group.bench_function("load_kline_file_all_cores", |b| {
        b.iter(|| {
            load_candles(black_box(&path))
                .expect("valid file")
                .candles
                .len()
        })
    });
    group.finish();
}

const RUNS: [(&str, usize, usize, bool); 3] = [
    ("sma_10_30_long_short", 10, 30, false),
    ("sma_10_30_long_only", 10, 30, true),
    ("sma_50_200_long_short", 50, 200, false),
];

criterion_group! {
    name = one_core;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = one_core_benches
}
criterion_group!(wall_time, wall_time_benches);
criterion_main!(one_core, wall_time);
