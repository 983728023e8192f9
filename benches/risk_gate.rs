//! The risk gate per order intent: the allocation-free evaluation that backtests and live bots
//! run on every intent, and the same with the `OrderRiskChecked` detail text written out.
//!
//! Run with `cargo bench --bench risk_gate`; the figures are in docs/benchmarks.md.

use std::hint::black_box;
use std::str::FromStr;

use chrono::DateTime;
use criterion::measurement::Measurement;
use criterion::{Criterion, criterion_group, criterion_main};
use keyward_events::bot::{BotMode, OrderIntent, OrderKind, Side};
use keyward_risk::{
    AccountDailyLoss, InstrumentRules, LeverageTier, RiskConfig, RiskContext, RiskGate,
};
use rust_decimal::Decimal;
use uuid::Uuid;

#[path = "support/cpu_time.rs"]
mod cpu_time;

use cpu_time::ThreadCpuTime;

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).expect("decimal literal")
}

/// A long entry of 0.04 BTC at 100000 with a 2% stop, approved by the default limits with every
/// rule evaluated, including the instrument's rules and the account's leverage and daily loss
/// limits.
fn entry() -> OrderIntent {
    OrderIntent {
        intent_id: Uuid::from_u128(1),
        symbol: "BTCUSDT".to_owned(),
        side: Side::Buy,
        kind: OrderKind::Market,
        quantity: dec("0.04"),
        price: Some(dec("100000")),
        stop_loss: Some(dec("98000")),
        reduce_only: false,
    }
}

fn context() -> RiskContext {
    let now = DateTime::from_timestamp_millis(1_758_240_000_000).expect("valid time");
    RiskContext {
        last_price: Some(dec("100012.5")),
        day_start_equity: dec("10150.25"),
        peak_equity: dec("10400.75"),
        account_max_leverage: Some(dec("3")),
        account_daily_loss: Some(AccountDailyLoss {
            limit_pct: dec("3"),
            day_start_equity: dec("20300.5"),
            loss: dec("120.75"),
            breached: false,
        }),
        ..RiskContext::new(BotMode::Live, now, dec("10012.34"))
    }
}

/// Binance-like BTCUSDT rules: tick 0.1, step 0.001, minimum notional 5, and two leverage
/// brackets, so that rounding, minimums and the bracket limit are all evaluated.
fn instrument() -> InstrumentRules {
    InstrumentRules {
        tick_size: dec("0.1"),
        step_size: dec("0.001"),
        min_quantity: dec("0.001"),
        min_notional: Some(dec("5")),
        leverage_tiers: vec![
            LeverageTier {
                notional_cap: dec("50000"),
                max_leverage: dec("125"),
            },
            LeverageTier {
                notional_cap: dec("250000"),
                max_leverage: dec("100"),
            },
        ],
    }
}

/// Runs the gate benches under one measurement: wall time, or the thread's CPU time, which
/// leaves out the time the shared machine gives to other processes.
fn gate_benches<M: Measurement + 'static>(c: &mut Criterion<M>, group: &str) {
    let gate = RiskGate::new(RiskConfig::default())
        .expect("default config is valid")
        .with_instrument(instrument());
    let context = context();
    assert!(gate.evaluate(entry(), &context).is_approved());

    // Each iteration clones the intent (one short string) because the gate takes it by value,
    // as a bot hands over each new intent.
    let intent = entry();
    c.bench_function(&format!("{group}/evaluate"), |b| {
        b.iter(|| {
            let evaluation = gate.evaluate(black_box(intent.clone()), black_box(&context));
            evaluation.is_approved()
        })
    });
    c.bench_function(&format!("{group}/evaluate_and_write_event"), |b| {
        b.iter(|| gate.check(black_box(intent.clone()), black_box(&context)))
    });

    // The same evaluation with no account daily loss limit set, to show in one run what that
    // rule costs.
    let without_account_loss = RiskContext {
        account_daily_loss: None,
        ..context.clone()
    };
    c.bench_function(&format!("{group}/evaluate_without_account_loss"), |b| {
        b.iter(|| {
            let context = black_box(&without_account_loss);
            let evaluation = gate.evaluate(black_box(intent.clone()), context);
            evaluation.is_approved()
        })
    });
}

fn wall_time(c: &mut Criterion) {
    gate_benches(c, "risk_gate");
}

fn cpu_time(c: &mut Criterion<ThreadCpuTime>) {
    gate_benches(c, "risk_gate_cpu");
}

criterion_group!(wall, wall_time);
criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = cpu_time
}
criterion_main!(wall, cpu);
