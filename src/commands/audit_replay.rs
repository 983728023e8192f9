//! `keyward audit replay`: a stream's state after each of its events, for auditors who want to
//! see how an entity got where it is.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};
use keyward_actors::key::KeyState;
use keyward_eventlog::SegmentLog;
use keyward_events::key::KeyEvent;
use keyward_events::{Category, DomainEvent, RecordedEvent, StreamName};
use serde_json::{Map, Value, json};

/// Options of `keyward audit replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Data dir of the log.
    #[arg(long, value_name = "DIR", default_value = "./keyward-data")]
    pub data_dir: PathBuf,

    /// The stream to replay, such as `key-0192…`.
    #[arg(long, value_name = "STREAM")]
    pub stream: StreamName,

    /// Stop after this global position, or after this time (RFC 3339, such as
    /// `2026-12-01T00:00:00Z`).
    #[arg(long, value_name = "POSITION|TIME", value_parser = parse_bound)]
    pub until: Option<Bound>,

    /// Print one JSON object per event instead of text.
    #[arg(long)]
    pub json: bool,
}

/// A limit on the events read: a global position or a commit time, both inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    Position(u64),
    Time(DateTime<Utc>),
}

impl Bound {
    /// Whether `record` comes after this bound, so an upper bound excludes it.
    pub fn ends_before(self, record: &RecordedEvent) -> bool {
        match self {
            Bound::Position(position) => record.position > position,
            Bound::Time(time) => record.recorded_at() > time,
        }
    }
}

/// Parses a global position or an RFC 3339 time.
///
/// # Errors
/// Fails on anything else, naming the value.
pub fn parse_bound(text: &str) -> Result<Bound, String> {
    if let Ok(position) = text.parse::<u64>() {
        return Ok(Bound::Position(position));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|time| Bound::Time(time.with_timezone(&Utc)))
        .map_err(|_| {
            format!(
                "{text:?} is neither a position nor an RFC 3339 time; \
                 use a number such as 120 or a time such as 2026-12-01T00:00:00Z"
            )
        })
}

/// The state of one stream as events are applied to it.
enum StreamState {
    /// A key's state as its actor rebuilds it.
    Key(Option<Box<KeyState>>),
    /// Every other stream: the payload fields seen so far, the latest value of each.
    Fields(Map<String, Value>),
}

impl StreamState {
    fn new(stream: &StreamName) -> Self {
        match stream.category() {
            Category::Key => StreamState::Key(None),
            _ => StreamState::Fields(Map::new()),
        }
    }

    fn apply(&mut self, record: &RecordedEvent) -> anyhow::Result<()> {
        match self {
            StreamState::Key(state) => {
                let event = KeyEvent::from_recorded(record).with_context(|| {
                    format!("cannot decode the event at position {}", record.position)
                })?;
                match (state.as_mut(), &event) {
                    (_, KeyEvent::KeyAdded(added)) => {
                        *state = Some(Box::new(KeyState::from_added(added)));
                    }
                    (Some(state), event) => state.apply(event, record.version),
                    (None, _) => {}
                }
            }
            StreamState::Fields(fields) => {
                if let Ok(Value::Object(payload)) = serde_json::from_slice(&record.payload) {
                    fields.extend(payload);
                }
            }
        }
        Ok(())
    }

    fn to_json(&self) -> Value {
        match self {
            StreamState::Key(state) => serde_json::to_value(state).unwrap_or(Value::Null),
            StreamState::Fields(fields) => Value::Object(fields.clone()),
        }
    }
}

/// Prints the stream's state after each of its events; exits 1 when the stream has none.
pub fn run(args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let log = SegmentLog::open_read_only(&args.data_dir)?;
    let mut state = StreamState::new(&args.stream);
    let mut stdout = std::io::stdout().lock();
    let mut replayed = 0u64;
    for record in log.records(0)? {
        let record = record.context("cannot read the event log")?;
        if args.until.is_some_and(|until| until.ends_before(&record)) {
            break;
        }
        if record.stream != args.stream {
            continue;
        }
        state.apply(&record)?;
        replayed += 1;
        let line = if args.json {
            json!({
                "position": record.position,
                "version": record.version,
                "event_type": record.event_type,
                "recorded_at": record.recorded_at(),
                "state": state.to_json(),
            })
            .to_string()
        } else {
            format!(
                "#{} v{} {} {}\n  {}",
                record.position,
                record.version,
                record.recorded_at().to_rfc3339(),
                record.event_type,
                state.to_json()
            )
        };
        if writeln!(stdout, "{line}").is_err() {
            return Ok(ExitCode::SUCCESS);
        }
    }
    if replayed == 0 {
        eprintln!(
            "stream {} has no events in the log{}",
            args.stream,
            if args.until.is_some() {
                " before --until"
            } else {
                ""
            }
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
