//! `keyward eventlog stress`: concurrent appenders that report every acknowledged event, for
//! crash tests that kill the process at random moments.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use keyward_eventlog::{EventLog, ExpectedVersion, SegmentLog, stress};
use keyward_events::{Category, StreamName};
use uuid::Uuid;

/// Options of `keyward eventlog stress`.
#[derive(Debug, clap::Args)]
pub struct StressArgs {
    /// Data dir of the log to append to; created if missing.
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,

    /// Concurrent appenders, each on a stream of its own.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub writers: usize,

    /// Events per append.
    #[arg(long, value_name = "B", default_value_t = 1)]
    pub batch: usize,

    /// Payload size of each event, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 400)]
    pub payload_bytes: usize,

    /// Stop after this many appends in total instead of running until killed.
    #[arg(long, value_name = "N")]
    pub appends: Option<u64>,
}

/// Runs the appenders until killed or until `--appends` appends are acknowledged.
pub fn run(args: &StressArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.writers > 0, "--writers must be at least 1");
    anyhow::ensure!(args.batch > 0, "--batch must be at least 1");
    let log = Arc::new(SegmentLog::open(&args.data_dir).context("cannot open the event log")?);
    if let Some(tail) = log.discarded_tail() {
        eprintln!(
            "recovery discarded {} bytes of an unacknowledged write after position {}",
            tail.bytes, tail.last_position
        );
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let remaining = Arc::new(AtomicU64::new(args.appends.unwrap_or(u64::MAX)));
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..args.writers {
            let log = Arc::clone(&log);
            let remaining = Arc::clone(&remaining);
            let (batch, bytes) = (args.batch, args.payload_bytes);
            tasks.push(tokio::spawn(async move {
                append_until_done(log.as_ref(), &remaining, batch, bytes).await
            }));
        }
        for task in tasks {
            task.await.context("an appender panicked")??;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Appends to a new stream and prints each acknowledged event, only after its append returned.
async fn append_until_done(
    log: &SegmentLog,
    remaining: &AtomicU64,
    batch: usize,
    payload_bytes: usize,
) -> anyhow::Result<()> {
    let stream = StreamName::new(Category::Stress, Uuid::now_v7());
    let mut expected = ExpectedVersion::NoStream;
    let mut version = 0u64;
    while take_one(remaining) {
        let events = (0..batch as u64)
            .map(|i| stress::event(&stream, version + i, payload_bytes))
            .collect();
        let appended = log.append(&stream, expected, events).await?;
        let mut lines = String::new();
        for i in 0..batch as u64 {
            let position = appended.first_position + i;
            lines.push_str(&format!("{stream} {} {position}\n", version + i));
        }
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(lines.as_bytes())?;
        stdout.flush()?;
        drop(stdout);
        version = appended.last_version + 1;
        expected = ExpectedVersion::Exact(appended.last_version);
    }
    Ok(())
}

fn take_one(remaining: &AtomicU64) -> bool {
    remaining
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
        .is_ok()
}
