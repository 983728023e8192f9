//! `keyward eventlog dump`: the stored events, read without taking the writer's lock.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use base64::Engine;
use keyward_eventlog::{ReadError, SegmentLog};
use keyward_events::RecordedEvent;
use serde_json::{Value, json};

/// Options of `keyward eventlog dump`.
#[derive(Debug, clap::Args)]
pub struct DumpArgs {
    /// Data dir of the log to print.
    #[arg(long, value_name = "DIR", default_value = "./keyward-data")]
    pub data_dir: PathBuf,

    /// Print events after this position (0 prints everything).
    #[arg(long, value_name = "POSITION", default_value_t = 0)]
    pub from: u64,

    /// Print one JSON object per event instead of one text line.
    #[arg(long)]
    pub json: bool,
}

/// Prints the events; exits 1 at the first damaged record.
pub fn run(args: &DumpArgs) -> anyhow::Result<ExitCode> {
    let log = SegmentLog::open_read_only(&args.data_dir)?;
    let mut stdout = std::io::stdout().lock();
    for record in log.records(args.from)? {
        let record = match record {
            Ok(record) => record,
            Err(ReadError::Corrupt { position, reason }) => {
                stdout.flush()?;
                eprintln!("record at position {position} is damaged: {reason}");
                return Ok(ExitCode::from(1));
            }
            Err(err) => return Err(err).context("cannot read the event log"),
        };
        let line = if args.json {
            to_json(&record).to_string()
        } else {
            to_text(&record)
        };
        if writeln!(stdout, "{line}").is_err() {
            // The reader went away (`| head`); that ends the dump normally.
            return Ok(ExitCode::SUCCESS);
        }
    }
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// One event as JSON; payload and metadata are embedded as JSON when they are JSON, and as
/// base64 under `payload_base64` / `metadata_base64` otherwise.
fn to_json(record: &RecordedEvent) -> Value {
    let mut object = json!({
        "position": record.position,
        "stream": record.stream.as_str(),
        "version": record.version,
        "event_id": record.event_id,
        "event_type": record.event_type,
        "schema_version": record.schema_version,
        "recorded_at": record.recorded_at().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "hash": hex::encode(record.hash),
    });
    embed(&mut object, "metadata", &record.metadata);
    embed(&mut object, "payload", &record.payload);
    object
}

fn embed(object: &mut Value, name: &str, bytes: &[u8]) {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(value) => object[name] = value,
        Err(_) => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
            object[format!("{name}_base64")] = Value::String(encoded);
        }
    }
}

fn to_text(record: &RecordedEvent) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}\t{} bytes",
        record.position,
        record
            .recorded_at()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        record.stream,
        record.version,
        record.event_type,
        record.payload.len()
    )
}
