//! Intent to the wire: the risk gate, the durable `OrderRiskChecked` append, and the order
//! placed through the Binance adapter at keyward's emulator on 127.0.0.1, measured against a
//! bare single-event append to the same embedded log in the same run.
//!
//! Run with `cargo bench --bench order_path`; it prints one JSON object. The figures are in
//! docs/benchmarks.md. Samples of the two paths alternate, so noise from other processes falls
//! on both alike.
//!
//! The order path's clock stops when the adapter returns the exchange's acknowledgement, so it
//! also counts the emulator's handling and the response: an upper bound of "bytes on the
//! wire".

use std::sync::Arc;
use std::time::{Duration, Instant};

use keyward_adapters::{
    ClientOptions, Credentials, ExchangeHosts, OrderRequest, PlainSigner, client_with_options,
    http_client_builder,
};
use keyward_emulator::{Emulator, EmulatorConfig, parse_keys};
use keyward_eventlog::{EventLog, ExpectedVersion, SegmentLog};
use keyward_events::bot::{BotEvent, BotMode, OrderIntent, OrderKind, Side};
use keyward_events::codec::derive_event_id;
use keyward_events::{Category, DomainEvent, Exchange, Metadata, StreamName};
use keyward_risk::{InstrumentRules, LeverageTier, RiskConfig, RiskContext, RiskGate};
use rust_decimal::Decimal;
use uuid::Uuid;

const SECRET: &str = "order-path-bench-secret-0123456789";
/// Samples of each path after the warm-up.
const SAMPLES: usize = 2_000;
const WARM_UP: usize = 100;

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let keys = serde_json::json!([{
        "exchange": "binance", "api_key": "bench", "api_secret": SECRET,
        "read": true, "spot": false, "futures": true, "withdraw": false, "transfer": false,
        "ip_allowlist": ["127.0.0.1", "::1"],
    }]);
    let keys = parse_keys(&keys.to_string(), "bench-keys.json".as_ref())?;
    let emulator = Emulator::start(EmulatorConfig {
        keys,
        ..EmulatorConfig::default()
    })
    .await?;
    let hosts = ExchangeHosts::all_at(&emulator.base_url())?;
    let http = http_client_builder().build()?;
    let client = client_with_options(Exchange::Binance, &hosts, http, ClientOptions::default())?;
    let credentials = Credentials::new("bench", Arc::new(PlainSigner::new(SECRET)));
    let instrument = client.instrument("BTCUSDT").await?;
    let last_price = emulator
        .state()
        .engine()
        .price("BTCUSDT")
        .ok_or_else(|| anyhow::anyhow!("the emulator lists no BTCUSDT price"))?;

    let dir = tempfile::tempdir()?;
    let log: Arc<dyn EventLog> = Arc::new(SegmentLog::open(dir.path())?);
    let gate = every_rule_gate(&instrument)?;
    let context = RiskContext {
        last_price: Some(last_price),
        account_max_leverage: Some(Decimal::from(3)),
        ..RiskContext::new(BotMode::Live, chrono::Utc::now(), Decimal::from(10_000))
    };

    let bot_stream = StreamName::new(Category::Bot, Uuid::now_v7());
    let bare_stream = StreamName::new(Category::Bot, Uuid::now_v7());
    let mut bare = Vec::with_capacity(SAMPLES);
    let mut path = Vec::with_capacity(SAMPLES);
    for sample in 0..WARM_UP + SAMPLES {
        let intent = limit_buy(last_price);
        let start = Instant::now();
        let evaluation = gate.evaluate(intent, &context);
        let checked = BotEvent::OrderRiskChecked(evaluation.to_event());
        let event = checked.to_new_event(derive_event_id(Uuid::now_v7(), 0), Metadata::default());
        log.append(&bot_stream, ExpectedVersion::Any, vec![event])
            .await?;
        let approved = evaluation
            .approved_order()
            .ok_or_else(|| anyhow::anyhow!("the gate rejected the bench order"))?;
        let request = OrderRequest::from_approved(approved, &instrument)?;
        client.place_order(&credentials, &request).await?;
        let path_time = start.elapsed();

        let event = checked.to_new_event(derive_event_id(Uuid::now_v7(), 0), Metadata::default());
        let start = Instant::now();
        log.append(&bare_stream, ExpectedVersion::Any, vec![event])
            .await?;
        let bare_time = start.elapsed();

        client
            .cancel_order(&credentials, "BTCUSDT", request.client_order_id())
            .await?;
        if sample >= WARM_UP {
            path.push(path_time);
            bare.push(bare_time);
        }
    }

    let bare = Percentiles::of(&mut bare);
    let path = Percentiles::of(&mut path);
    let report = serde_json::json!({
        "samples": SAMPLES,
        "bare_append_p50_ms": bare.p50,
        "bare_append_p99_ms": bare.p99,
        "order_path_p50_ms": path.p50,
        "order_path_p99_ms": path.p99,
        "order_path_p99_above_bare_p99_ms": path.p99 - bare.p99,
    });
    println!("{report}");
    drop(emulator);
    Ok(())
}

/// Builds a gate with every rule on: the default limits at leverage 3, the instrument's steps,
/// minimums and leverage brackets, and (in the context) an account leverage limit.
fn every_rule_gate(instrument: &keyward_adapters::Instrument) -> anyhow::Result<RiskGate> {
    let config = RiskConfig {
        max_leverage: Decimal::from(3),
        max_orders_per_minute: u32::MAX,
        ..RiskConfig::default()
    };
    let tiers = instrument
        .leverage_brackets
        .iter()
        .map(|bracket| LeverageTier {
            notional_cap: bracket.notional_cap,
            max_leverage: bracket.max_leverage,
        })
        .collect();
    let rules = InstrumentRules {
        tick_size: instrument.tick_size,
        step_size: instrument.step_size,
        min_quantity: instrument.min_quantity,
        min_notional: instrument.min_notional,
        leverage_tiers: tiers,
    };
    Ok(RiskGate::new(config)?.with_instrument(rules))
}

/// Builds a small limit buy 2% below the last price with a 2% stop, which rests on the book.
fn limit_buy(last_price: Decimal) -> OrderIntent {
    let price = (last_price * Decimal::new(98, 2)).round_dp(1);
    OrderIntent {
        intent_id: Uuid::now_v7(),
        symbol: "BTCUSDT".to_owned(),
        side: Side::Buy,
        kind: OrderKind::Limit,
        quantity: Decimal::new(1, 3),
        price: Some(price),
        stop_loss: Some((price * Decimal::new(98, 2)).round_dp(1)),
        reduce_only: false,
    }
}

struct Percentiles {
    p50: f64,
    p99: f64,
}

impl Percentiles {
    /// Sorts the samples and returns their median and 99th percentile, in milliseconds.
    fn of(samples: &mut [Duration]) -> Self {
        samples.sort_unstable();
        let at = |fraction: f64| {
            let index = ((samples.len() as f64 - 1.0) * fraction).round() as usize;
            samples[index].as_secs_f64() * 1000.0
        };
        Self {
            p50: at(0.5),
            p99: at(0.99),
        }
    }
}
