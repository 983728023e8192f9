//! `keyward eventlog bench`: append throughput and latency under concurrent appenders, with the
//! same log under one appender and one fsync per append as the baseline. It also measures
//! read-all throughput and live delivery to a subscriber. Everything runs in one process, so
//! the ratios share the load of a busy machine.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use keyward_eventlog::{
    EventLog, ExpectedVersion, SegmentLog, SqliteLog, Subscription, SubscriptionFilter, stress,
};
use keyward_events::{Category, StreamName};
use serde_json::json;
use uuid::Uuid;

/// Storage engines the benchmark can run against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// The segment log with CRC framing (the embedded default).
    Segment,
    /// SQLite in WAL mode with `synchronous=FULL`.
    Sqlite,
}

/// Options of `keyward eventlog bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Concurrent appenders, each on a stream of its own.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub writers: usize,

    /// Events per append.
    #[arg(long, value_name = "B", default_value_t = 1)]
    pub batch: usize,

    /// Events to append in total.
    #[arg(long, value_name = "E", default_value_t = 100_000)]
    pub events: usize,

    /// Payload size of each event, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 400)]
    pub payload_bytes: usize,

    /// Storage engine under the log.
    #[arg(long, value_enum, default_value_t = Engine::Segment)]
    pub engine: Engine,

    /// Events of the baseline run (one appender, one event and one fsync per append); 0 skips
    /// it.
    #[arg(long, value_name = "N", default_value_t = 3000)]
    pub baseline_events: usize,

    /// Directory for the temporary logs; they are removed afterwards.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The figures of one load.
struct Load {
    wall: Duration,
    events: usize,
    appends: Vec<Duration>,
    delivery: Vec<Duration>,
    commits: Option<u64>,
    read_all_per_sec: f64,
}

impl Load {
    fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.wall.as_secs_f64()
    }
}

/// Runs the benchmark and prints its figures.
pub fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.writers > 0, "--writers must be at least 1");
    anyhow::ensure!(args.batch > 0, "--batch must be at least 1");
    anyhow::ensure!(
        args.events >= args.writers * args.batch,
        "--events must be at least writers × batch"
    );
    let root = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let shape = Shape::of(args);
    let load = with_temp_dir(&root, |dir| {
        runtime.block_on(measure(args.engine, dir, shape))
    })?;
    let baseline = if args.baseline_events > 0 {
        let shape = Shape {
            writers: 1,
            batch: 1,
            events: args.baseline_events,
            payload_bytes: args.payload_bytes,
        };
        Some(with_temp_dir(&root, |dir| {
            runtime.block_on(measure(args.engine, dir, shape))
        })?)
    } else {
        None
    };
    print_report(args, &load, baseline.as_ref());
    Ok(ExitCode::SUCCESS)
}

#[derive(Clone, Copy)]
struct Shape {
    writers: usize,
    batch: usize,
    events: usize,
    payload_bytes: usize,
}

impl Shape {
    fn of(args: &BenchArgs) -> Self {
        Shape {
            writers: args.writers,
            batch: args.batch,
            events: args.events,
            payload_bytes: args.payload_bytes,
        }
    }
}

fn with_temp_dir<T>(
    root: &Path,
    work: impl FnOnce(&Path) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let dir = root.join(format!("keyward-bench-{}", Uuid::now_v7()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let result = work(&dir);
    if let Err(err) = std::fs::remove_dir_all(&dir) {
        eprintln!("could not remove {}: {err}", dir.display());
    }
    result
}

async fn measure(engine: Engine, dir: &Path, shape: Shape) -> anyhow::Result<Load> {
    let (log, segment): (Arc<dyn EventLog>, Option<Arc<SegmentLog>>) = match engine {
        Engine::Segment => {
            let log = Arc::new(SegmentLog::open(dir)?);
            (Arc::clone(&log) as Arc<dyn EventLog>, Some(log))
        }
        Engine::Sqlite => (Arc::new(SqliteLog::open(dir)?), None),
    };
    let appends_total = shape.events / shape.batch;

    let subscriber = tokio::spawn(watch_deliveries(
        Arc::clone(&log),
        appends_total * shape.batch,
    ));
    let ready = Arc::new(tokio::sync::Barrier::new(shape.writers + 1));
    let mut writers = Vec::new();
    for w in 0..shape.writers {
        let appends =
            appends_total / shape.writers + usize::from(w < appends_total % shape.writers);
        let load = append_load(Arc::clone(&log), appends, shape, Arc::clone(&ready));
        writers.push(tokio::spawn(load));
    }
    ready.wait().await;
    let start = Instant::now();

    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await??);
    }
    let wall = start.elapsed();

    let arrivals = tokio::time::timeout(Duration::from_secs(30), subscriber)
        .await
        .context("the subscriber fell behind by more than 30 s")???;
    let delivery = acknowledged
        .iter()
        .map(|a| {
            arrivals[usize::try_from(a.last_position - 1).unwrap_or(0)]
                .saturating_duration_since(a.at)
        })
        .collect();
    let read_all_per_sec = read_all_rate(log.as_ref()).await?;
    Ok(Load {
        wall,
        events: appends_total * shape.batch,
        appends: acknowledged.iter().map(|a| a.latency).collect(),
        delivery,
        commits: segment.map(|s| s.commits()),
        read_all_per_sec,
    })
}

/// One acknowledged append: how long it took and when it returned.
struct Acknowledged {
    latency: Duration,
    last_position: u64,
    at: Instant,
}

/// Appends `appends` batches to a stream of its own. The events are built before `ready`
/// releases every appender at once, so the clock measures the log and not the payloads.
async fn append_load(
    log: Arc<dyn EventLog>,
    appends: usize,
    shape: Shape,
    ready: Arc<tokio::sync::Barrier>,
) -> anyhow::Result<Vec<Acknowledged>> {
    let stream = StreamName::new(Category::Stress, Uuid::now_v7());
    let batch = shape.batch as u64;
    let prepared: Vec<Vec<_>> = (0..appends as u64)
        .map(|a| {
            (0..batch)
                .map(|i| stress::event(&stream, a * batch + i, shape.payload_bytes))
                .collect()
        })
        .collect();
    let mut expected = ExpectedVersion::NoStream;
    let mut acknowledged = Vec::with_capacity(appends);
    ready.wait().await;
    for events in prepared {
        let sent = Instant::now();
        let appended = log.append(&stream, expected, events).await?;
        let at = Instant::now();
        acknowledged.push(Acknowledged {
            latency: at - sent,
            last_position: appended.last_position,
            at,
        });
        expected = ExpectedVersion::Exact(appended.last_version);
    }
    Ok(acknowledged)
}

/// Subscribes from the start and notes when each position arrived.
async fn watch_deliveries(log: Arc<dyn EventLog>, events: usize) -> anyhow::Result<Vec<Instant>> {
    let mut subscription = Subscription::new(log, 0, SubscriptionFilter::All);
    let mut arrivals = Vec::with_capacity(events);
    while arrivals.len() < events {
        subscription.next().await?;
        arrivals.push(Instant::now());
    }
    Ok(arrivals)
}

async fn read_all_rate(log: &dyn EventLog) -> anyhow::Result<f64> {
    const PAGE: usize = 4096;
    let start = Instant::now();
    let mut after = 0;
    let mut count = 0usize;
    loop {
        let page = log.read_all(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.position;
        count += page.len();
    }
    Ok(count as f64 / start.elapsed().as_secs_f64())
}

fn percentile_ms(samples: &[Duration], percent: usize) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let Some(last) = sorted.len().checked_sub(1) else {
        return 0.0;
    };
    sorted[(sorted.len() * percent / 100).min(last)].as_secs_f64() * 1000.0
}

fn print_report(args: &BenchArgs, load: &Load, baseline: Option<&Load>) {
    let baseline_rate = baseline.map(Load::events_per_sec);
    let report = json!({
        "engine": format!("{:?}", args.engine).to_lowercase(),
        "writers": args.writers,
        "batch": args.batch,
        "events": load.events,
        "payload_bytes": args.payload_bytes,
        "events_per_sec": load.events_per_sec().round(),
        "append_p50_ms": round3(percentile_ms(&load.appends, 50)),
        "append_p99_ms": round3(percentile_ms(&load.appends, 99)),
        "append_max_ms": round3(percentile_ms(&load.appends, 100)),
        "commits": load.commits,
        "events_per_commit": load.commits.map(|c| round3(load.events as f64 / c.max(1) as f64)),
        "read_all_events_per_sec": load.read_all_per_sec.round(),
        "live_delivery_p50_ms": round3(percentile_ms(&load.delivery, 50)),
        "live_delivery_p99_ms": round3(percentile_ms(&load.delivery, 99)),
        "baseline_events_per_sec": baseline_rate.map(f64::round),
        "baseline_append_p50_ms": baseline.map(|b| round3(percentile_ms(&b.appends, 50))),
        "speedup_vs_baseline": baseline_rate.map(|b| round3(load.events_per_sec() / b)),
    });
    if args.json {
        println!("{report}");
        return;
    }
    let Some(fields) = report.as_object() else {
        return;
    };
    for (name, value) in fields {
        println!("{name:>26}  {value}");
    }
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}
