//! Criterion benchmarks of the embedded log's engines: concurrent single-event appends, one
//! appender with batches of 100, one appender with one event per append, and read-all.
//!
//! `cargo bench --bench eventlog`; with `--features fjall-probe` the same loads also run on a
//! minimal log over fjall (see `eventlog/fjall_probe.rs`). `keyward eventlog bench` measures
//! the segment and SQLite loads with latency percentiles and live delivery.

#[cfg(feature = "fjall-probe")]
#[path = "eventlog/fjall_probe.rs"]
mod fjall_probe;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use keyward_eventlog::{EventLog, ExpectedVersion, SegmentLog, SqliteLog, stress};
use keyward_events::{Category, StreamName};
use tokio::runtime::Runtime;
use uuid::Uuid;

const PAYLOAD_BYTES: usize = 400;

/// Lists the engines to compare.
fn engines() -> Vec<&'static str> {
    let mut engines = vec!["segment", "sqlite"];
    if cfg!(feature = "fjall-probe") {
        engines.push("fjall");
    }
    engines
}

fn open(engine: &str, dir: &std::path::Path) -> Arc<dyn EventLog> {
    match engine {
        "segment" => Arc::new(SegmentLog::open(dir).unwrap()),
        #[cfg(feature = "fjall-probe")]
        "fjall" => Arc::new(fjall_probe::FjallProbe::open(dir)),
        _ => Arc::new(SqliteLog::open(dir).unwrap()),
    }
}

/// Runs `writers` appenders doing `appends` appends of `batch` events each; returns the time
/// from the first append to the last acknowledgement.
async fn load(log: &Arc<dyn EventLog>, writers: usize, batch: usize, appends: usize) -> Duration {
    let ready = Arc::new(tokio::sync::Barrier::new(writers + 1));
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let log = Arc::clone(log);
        let ready = Arc::clone(&ready);
        tasks.push(tokio::spawn(async move {
            let stream = StreamName::new(Category::Stress, Uuid::now_v7());
            let prepared: Vec<Vec<_>> = (0..appends as u64)
                .map(|a| {
                    (0..batch as u64)
                        .map(|i| stress::event(&stream, a * batch as u64 + i, PAYLOAD_BYTES))
                        .collect()
                })
                .collect();
            ready.wait().await;
            for events in prepared {
                log.append(&stream, ExpectedVersion::Any, events)
                    .await
                    .unwrap();
            }
        }));
    }
    ready.wait().await;
    let start = Instant::now();
    for task in tasks {
        task.await.unwrap();
    }
    start.elapsed()
}

fn appends(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let mut group = c.benchmark_group("eventlog_append");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    for engine in engines() {
        for (writers, batch, appends) in [(64, 1, 40), (1, 100, 20), (1, 1, 100)] {
            let dir = tempfile::tempdir().unwrap();
            let log = open(engine, dir.path());
            group.throughput(Throughput::Elements((writers * batch * appends) as u64));
            let id = BenchmarkId::new(engine, format!("{writers}_writers_x_{batch}"));
            group.bench_function(id, |b| {
                b.iter_custom(|iterations| {
                    (0..iterations)
                        .map(|_| runtime.block_on(load(&log, writers, batch, appends)))
                        .sum()
                });
            });
        }
    }
    group.finish();
}

fn read_all(c: &mut Criterion) {
    const EVENTS: usize = 50_000;
    let runtime = Runtime::new().unwrap();
    let mut group = c.benchmark_group("eventlog_read_all");
    group.sample_size(10);
    group.throughput(Throughput::Elements(EVENTS as u64));
    for engine in engines() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(engine, dir.path());
        runtime.block_on(load(&log, 1, 500, EVENTS / 500));
        group.bench_function(engine, |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let mut after = 0;
                    while let Some(last) = log.read_all(after, 4096).await.unwrap().last() {
                        after = last.position;
                    }
                    assert_eq!(after, EVENTS as u64);
                });
            });
        });
    }
    group.finish();
}

criterion_group!(benches, appends, read_all);
criterion_main!(benches);
