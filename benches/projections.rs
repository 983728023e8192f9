//! Rebuilding projections from stored events: the dashboard, the audit trail and the bot feed,
//! over a synthetic history of 100,000 events shaped like a busy deployment (mostly risk
//! verdicts, with keys, probes, bots, fills and sessions between them).
//!
//! Run with `cargo bench --bench projections`; the figures are in docs/benchmarks.md.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use keyward_eventlog::{EventLog, ExpectedVersion, SegmentLog};
use keyward_events::{NewEvent, RecordedEvent, StreamName};
use keyward_projections::synthetic::{History, Step};
use keyward_projections::{AuditTrail, BotFeed, Dashboard, Projection, Tracked, rebuild};

#[path = "support/cpu_time.rs"]
mod cpu_time;

use cpu_time::ThreadCpuTime;

/// The allocator of the `keyward` binary, so the figures are those of `projections rebuild`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
            7 => Step::ActivateBot(i),
            8 | 9 => Step::Fill {
                bot: i,
                buy: i.is_multiple_of(3),
            },
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

/// Writes `records` into a segment log in a temporary folder. Appends go in 512 at a time, so
/// the writer commits them in groups as a busy server's would be, in the records' order.
fn segment_log(records: &[RecordedEvent]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary folder");
    let log = SegmentLog::open(dir.path()).expect("open the segment log");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for group in records.chunks(512) {
            let appends = group.iter().map(|record| {
                let event = NewEvent {
                    event_id: record.event_id,
                    event_type: record.event_type.clone(),
                    schema_version: record.schema_version,
                    metadata: serde_json::from_slice(&record.metadata).unwrap_or_default(),
                    payload: record.payload.clone(),
                };
                log.append(&record.stream, ExpectedVersion::Any, vec![event])
            });
            for appended in futures::future::join_all(appends).await {
                appended.expect("append");
            }
        }
    });
    drop(log);
    dir
}

/// Rebuilds from the segment files as `keyward projections rebuild` does: reading and
/// checking every record is part of the measured time.
fn rebuild_from_log_bench<P: Projection + PartialEq, M: criterion::measurement::Measurement>(
    c: &mut Criterion<M>,
    group: &str,
    records: &[RecordedEvent],
) {
    let dir = segment_log(records);
    let reader = SegmentLog::open_read_only(dir.path()).expect("open for reading");
    let from_log = rebuild::<P>(reader.records(0).expect("segment files"), |_| {});
    let from_memory = rebuild::<P>(records.iter().cloned().map(Ok), |_| {});
    assert!(
        from_log.expect("rebuild from the log").projection
            == from_memory.expect("rebuild from memory").projection,
        "the log does not hold the history in its order"
    );
    let mut bench = c.benchmark_group(group);
    bench.throughput(Throughput::Elements(records.len() as u64));
    bench.sample_size(10);
    bench.bench_function(format!("{}_from_log", P::NAME), |b| {
        b.iter(|| {
            let records = reader.records(0).expect("segment files");
            let rebuilt = rebuild::<P>(records, |_| {}).expect("rebuild");
            black_box(rebuilt.position)
        });
    });
    bench.finish();
}

fn all<M: criterion::measurement::Measurement>(c: &mut Criterion<M>, group: &str) {
    let records = stored_history();
    rebuild_bench::<Dashboard, M>(c, group, &records);
    rebuild_from_log_bench::<Dashboard, M>(c, group, &records);
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
