//! `keyward audit export`: an account's audit trail as JSON lines or CSV, for auditors.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use keyward_eventlog::SegmentLog;
use keyward_projections::{AuditLine, AuditTrail};
use uuid::Uuid;

use super::audit_replay::{Bound, parse_bound};

/// Output formats of `keyward audit export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header row.
    Csv,
}

/// Options of `keyward audit export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Data dir of the log.
    #[arg(long, value_name = "DIR", default_value = "./keyward-data")]
    pub data_dir: PathBuf,

    /// The account whose trail to export.
    #[arg(long, value_name = "ACCOUNT_ID")]
    pub account: Uuid,

    #[arg(long, value_enum)]
    pub format: ExportFormat,

    /// First event to include: a global position or an RFC 3339 time (inclusive).
    #[arg(long, value_name = "POSITION|TIME", value_parser = parse_bound)]
    pub from: Option<Bound>,

    /// Last event to include: a global position or an RFC 3339 time (inclusive).
    #[arg(long, value_name = "POSITION|TIME", value_parser = parse_bound)]
    pub to: Option<Bound>,

    /// Write to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Column names of the CSV export, in order.
const CSV_HEADER: [&str; 8] = [
    "position",
    "recorded_at",
    "account_id",
    "session_id",
    "source_address",
    "stream",
    "event_type",
    "summary",
];

/// Writes the account's trail. It exits 0 even when the trail is empty, because an empty range
/// is a valid result.
pub fn run(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let log = SegmentLog::open_read_only(&args.data_dir)?;
    let mut trail = AuditTrail::default();
    for record in log.records(0)? {
        let record = record.context("cannot read the event log")?;
        if args.to.is_some_and(|to| to.ends_before(&record)) {
            break;
        }
        trail.apply(&record);
    }
    let lines: Vec<&AuditLine> = trail
        .lines_of(args.account)
        .iter()
        .filter(|line| args.from.is_none_or(|from| !starts_after(from, line)))
        .collect();
    let sink: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    match args.format {
        ExportFormat::Jsonl => write_jsonl(sink, &lines)?,
        ExportFormat::Csv => write_csv(sink, &lines)?,
    }
    eprintln!(
        "exported {} events of account {}",
        lines.len(),
        args.account
    );
    Ok(ExitCode::SUCCESS)
}

/// Whether `from` excludes the line because the line comes before it.
fn starts_after(from: Bound, line: &AuditLine) -> bool {
    match from {
        Bound::Position(position) => line.position < position,
        Bound::Time(time) => line.recorded_at < time,
    }
}

fn write_jsonl(mut sink: Box<dyn Write>, lines: &[&AuditLine]) -> anyhow::Result<()> {
    for line in lines {
        serde_json::to_writer(&mut sink, line)?;
        sink.write_all(b"\n")?;
    }
    sink.flush()?;
    Ok(())
}

fn write_csv(sink: Box<dyn Write>, lines: &[&AuditLine]) -> anyhow::Result<()> {
    let mut writer = csv::Writer::from_writer(sink);
    writer.write_record(CSV_HEADER)?;
    for line in lines {
        writer.write_record([
            line.position.to_string(),
            line.recorded_at.to_rfc3339(),
            line.account_id.to_string(),
            line.session_id.map(|id| id.to_string()).unwrap_or_default(),
            line.source_address.clone().unwrap_or_default(),
            line.stream.clone(),
            line.event_type.clone(),
            line.summary.clone(),
        ])?;
    }
    writer.flush()?;
    Ok(())
}
