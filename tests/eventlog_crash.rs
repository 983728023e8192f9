//! Crash safety of the embedded log: `keyward eventlog stress` killed with SIGKILL at random
//! moments and restarted, twenty times over one data dir.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use keyward_eventlog::chain::ChainVerifier;
use keyward_eventlog::segment::{DiscardedTail, EVENTS_DIR, RECOVERY_FILE};
use keyward_eventlog::{SegmentLog, stress};
use keyward_events::StreamName;

const ROUNDS: usize = 20;
const PAYLOAD_BYTES: usize = 400;

/// An acknowledged event as `stress` printed it.
#[derive(Clone, Debug)]
struct Ack {
    stream: String,
    version: u64,
    position: u64,
}

fn parse_ack(line: &str) -> Ack {
    let mut parts = line.split(' ');
    let (Some(stream), Some(version), Some(position), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        panic!("stress printed {line:?}, expected `stream version position`");
    };
    Ack {
        stream: stream.to_owned(),
        version: version.parse().unwrap(),
        position: position.parse().unwrap(),
    }
}

/// A small xorshift generator, seeded from the clock and printed, so a failing run can be
/// repeated with `KEYWARD_CRASH_SEED`.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let seed = std::env::var("KEYWARD_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
                now.unwrap().as_nanos() as u64 | 1
            });
        eprintln!("crash test seed: KEYWARD_CRASH_SEED={seed}");
        Rng(seed)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

/// Runs `stress` until a random moment after its first acknowledgement, kills it with SIGKILL,
/// and returns every complete line it printed.
fn run_and_kill(data: &Path, rng: &mut Rng) -> Vec<Ack> {
    let mut child = Command::new(common::binary())
        .args(["eventlog", "stress", "--writers", "8", "--data-dir"])
        .arg(data)
        .args(["--batch", &(1 + rng.below(3)).to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("keyward eventlog stress starts");
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            // A line cut by the kill has no newline and was never fully acknowledged on screen.
            if line.ends_with('\n') {
                let _ = lines_tx.send(parse_ack(line.trim_end()));
            }
            line.clear();
        }
    });
    let mut acks = Vec::new();
    let started = Instant::now();
    match lines.recv_timeout(Duration::from_secs(20)) {
        Ok(first) => acks.push(first),
        Err(_) => panic!("stress acknowledged nothing within 20 s"),
    }
    std::thread::sleep(Duration::from_millis(rng.below(400)));
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap();
    acks.extend(lines.try_iter());
    assert!(started.elapsed() < Duration::from_secs(30));
    acks
}

fn discarded_tails(data: &Path) -> Vec<DiscardedTail> {
    let path = data.join(EVENTS_DIR).join(RECOVERY_FILE);
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            DiscardedTail {
                at_us: value["at_us"].as_i64().unwrap(),
                segment: value["segment"].as_str().unwrap().into(),
                offset: value["offset"].as_u64().unwrap(),
                bytes: value["bytes"].as_u64().unwrap(),
                last_position: value["last_position"].as_u64().unwrap(),
                reason: value["reason"].as_str().unwrap().to_owned(),
            }
        })
        .collect()
}

/// Checks the log against everything acknowledged so far: each event present and unchanged,
/// positions without gaps, and the chain intact.
fn check_log(data: &Path, acknowledged: &BTreeMap<u64, Ack>) {
    let log = SegmentLog::open_read_only(data).unwrap();
    let mut verifier = ChainVerifier::default();
    let mut stored = BTreeMap::new();
    for record in log.records(0).unwrap() {
        let record = record.unwrap();
        verifier.check(&record).unwrap();
        stored.insert(record.position, record);
    }
    let head = verifier.verified();
    assert_eq!(
        stored.len() as u64,
        head,
        "positions 1..={head} without gaps"
    );
    for (position, ack) in acknowledged {
        let record = stored
            .get(position)
            .unwrap_or_else(|| panic!("acknowledged position {position} is missing"));
        assert_eq!(record.stream.as_str(), ack.stream, "position {position}");
        assert_eq!(record.version, ack.version, "position {position}");
        let stream: StreamName = ack.stream.parse().unwrap();
        let payload = stress::payload(&stream, ack.version, PAYLOAD_BYTES);
        assert_eq!(
            record.payload, payload,
            "payload at position {position} changed"
        );
    }
}

#[test]
fn stress_survives_repeated_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut rng = Rng::seeded();
    let mut acknowledged = BTreeMap::new();
    let mut recoveries_seen = 0;
    for round in 0..ROUNDS {
        let acked_before = acknowledged.keys().next_back().copied().unwrap_or(0);
        let acks = run_and_kill(&data, &mut rng);
        assert!(!acks.is_empty(), "round {round} acknowledged nothing");
        let tails = discarded_tails(&data);
        for tail in &tails[recoveries_seen..] {
            assert!(
                tail.last_position >= acked_before,
                "round {round}: recovery cut at {} but {acked_before} was acknowledged",
                tail.last_position
            );
        }
        recoveries_seen = tails.len();
        for ack in acks {
            let previous = acknowledged.insert(ack.position, ack.clone());
            assert!(
                previous.is_none(),
                "position {} acknowledged twice",
                ack.position
            );
        }
        check_log(&data, &acknowledged);
    }
    // One more open recovers the last kill's tail, if it left one, and keeps every event.
    drop(SegmentLog::open(&data).unwrap());
    check_log(&data, &acknowledged);
    eprintln!(
        "{} acknowledged events over {ROUNDS} kills; {} torn tails discarded",
        acknowledged.len(),
        discarded_tails(&data).len()
    );
}
