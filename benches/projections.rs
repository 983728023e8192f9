//! Rebuilding projections from stored events: the dashboard, the audit trail and the bot feed,
//! over a synthetic history of 100,000 events shaped like a busy deployment (mostly risk
//! verdicts, with keys, probes, bots and sessions between them).
//!
//! Run with `cargo bench --bench projections`; the figures are in docs/benchmarks.md.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use keyward_events::{RecordedEvent, StreamName};
use keyward_projections::synthetic::{History, Step};
use keyward_projections::{AuditTrail, BotFeed, Dashboard, Projection, Tracked, rebuild};

#[path = "support/cpu_time.rs"]
mod cpu_time;

use cpu_time::ThreadCpuTime;

const EVENTS: usize = 100_000;

/// A history of about `EVENTS` events as the log would return them.
fn stored_history() -> Vec<RecordedEvent> {
    let mut history = History::new(1, 50);
    let mut i = 0usize;
    while history.events.len() < EVENTS {
        let step = match i % 40 {
            0 => Step::AddKey,
            1 => Step::ProbeKey(i),
            2 => Step::CreateBot,
            3 => Step::ConfigureBot(i),
            4 => Step::StartSession,
            5 => Step::EndSession(i / 3),
            6 => Step::FlagKey(i),
            _ => Step::CheckRisk {
                bot: i,
                approved: !i.is_multiple_of(7),
            },
        };
        history.push(step);
        i += 1;
    }
    let mut versions = std::collections::HashMap::<StreamName, u64>::new();
    history
        .events
        .into_iter()
        .enumerate()
        .map(|(index, (stream, event))| {
            let version = versions.entry(stream.clone()).or_default();
            let record = RecordedEvent {
                position: index as u64 + 1,
                stream,
                version: *version,
                event_id: event.event_id,
                event_type: event.event_type,
                schema_version: event.schema_version,
                recorded_at_us: 1_780_000_000_000_000 + index as i64,
                metadata: serde_json::to_vec(&event.metadata).unwrap_or_default(),
                payload: event.payload,
                hash: [0; 32],
            };
            *version += 1;
            record
        })
        .collect()
}

fn rebuild_bench<P: Projection, M: criterion::measurement::Measurement>(
    c: &mut Criterion<M>,
    group: &str,
    records: &[RecordedEvent],
) {
    let mut bench = c.benchmark_group(group);
    bench.throughput(Throughput::Elements(records.len() as u64));
    bench.sample_size(10);
    bench.bench_function(P::NAME, |b| {
        // The log hands out owned records, so copying them is setup, not rebuilding.
        b.iter_batched(
            || records.to_vec(),
            |records| {
                let rebuilt = rebuild::<P>(records.into_iter().map(Ok), |_| {});
                black_box(rebuilt.map(|tracked| tracked.position))
            },
            BatchSize::LargeInput,
        );
    });
    bench.bench_function(format!("{}_one_thread", P::NAME), |b| {
        b.iter_batched(
            || records.to_vec(),
            |records| {
                let mut tracked = Tracked::<P>::default();
                for record in &records {
                    tracked.apply(record);
                }
                black_box(tracked.position)
            },
            BatchSize::LargeInput,
        );
    });
    bench.finish();
}

fn all<M: criterion::measurement::Measurement>(c: &mut Criterion<M>, group: &str) {
    let records = stored_history();
    rebuild_bench::<Dashboard, M>(c, group, &records);
    rebuild_bench::<AuditTrail, M>(c, group, &records);
    rebuild_bench::<BotFeed, M>(c, group, &records);
}

fn wall_time(c: &mut Criterion) {
    all(c, "rebuild_wall");
}

fn cpu_time(c: &mut Criterion<ThreadCpuTime>) {
    all(c, "rebuild_cpu");
}

criterion_group!(wall, wall_time);
criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = cpu_time
}
criterion_main!(wall, cpu);
