//! Durability of acknowledgements, checked on the system calls themselves.
//!
//! A process killed with SIGKILL leaves the page cache intact, so the crash test cannot tell
//! an fsync'd append from one that only reached the cache. This test traces a run of
//! `keyward eventlog stress` with strace. Every acknowledged event (a line on standard output)
//! must follow an `fdatasync` or `fsync` of its segment file that started after the `pwrite64`
//! of the event's frame had finished, and ended before the line was written. Without strace the
//! test skips and says why, and CI installs it.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use keyward_eventlog::segment::EVENTS_DIR;
use keyward_eventlog::segment::frame::{self, HEADER_BYTES};

/// One traced system call: its name, first argument, the rest, and when it ran.
#[derive(Debug, Clone)]
struct Call {
    name: String,
    /// The path strace printed for the first (file descriptor) argument.
    fd_path: String,
    args: String,
    start: f64,
    end: f64,
}

fn strace_available() -> bool {
    Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Parses `strace -f -ttt -T -y` output, joining `<unfinished ...>` and `resumed` halves.
fn parse_trace(text: &str) -> Vec<Call> {
    let mut open: HashMap<(String, String), (f64, String)> = HashMap::new();
    let mut calls = Vec::new();
    for line in text.lines() {
        let Some((pid, rest)) = line.split_once(' ') else {
            continue;
        };
        let rest = rest.trim_start();
        let Some((time, call)) = rest.split_once(' ') else {
            continue;
        };
        let Ok(time) = time.parse::<f64>() else {
            continue;
        };
        if let Some(resumed) = call.strip_prefix("<... ") {
            let Some((name, tail)) = resumed.split_once(" resumed>") else {
                continue;
            };
            let key = (pid.to_owned(), name.to_owned());
            if let Some((start, head)) = open.remove(&key)
                && let Some(call) = finish(name, &format!("{head}{tail}"), start, time)
            {
                calls.push(call);
            }
            continue;
        }
        let Some((name, args)) = call.split_once('(') else {
            continue;
        };
        if let Some(head) = args.strip_suffix(" <unfinished ...>") {
            open.insert((pid.to_owned(), name.to_owned()), (time, head.to_owned()));
        } else if let Some(call) = finish(name, args, time, time) {
            calls.push(call);
        }
    }
    calls
}

/// Builds a call from its full argument text `ARGS) = RET <DURATION>`; failed calls are dropped.
fn finish(name: &str, text: &str, start: f64, last_seen: f64) -> Option<Call> {
    let (args, result) = text.rsplit_once(") = ")?;
    let (ret, duration) = result.split_once(' ').unwrap_or((result, ""));
    if ret.starts_with('-') {
        return None;
    }
    let duration: f64 = duration
        .trim_start_matches('<')
        .trim_end_matches('>')
        .parse()
        .unwrap_or(0.0);
    let fd_path = args
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(path, _)| path.to_owned())
        .unwrap_or_default();
    Some(Call {
        name: name.to_owned(),
        fd_path,
        args: args.to_owned(),
        start,
        end: (start + duration).max(last_seen),
    })
}

/// Byte range of every position's frame: (segment path, start, end).
fn frame_ranges(data: &Path) -> HashMap<u64, (PathBuf, u64, u64)> {
    let mut ranges = HashMap::new();
    let mut segments: Vec<PathBuf> = std::fs::read_dir(data.join(EVENTS_DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segments.sort();
    for segment in segments {
        let bytes = std::fs::read(&segment).unwrap();
        let mut at = 0;
        // The writer fills zeros ahead of the records; a zero frame header ends them.
        while at < bytes.len() && bytes[at..].iter().take(HEADER_BYTES).any(|&b| b != 0) {
            let (record, used) = frame::decode(&bytes[at..]).unwrap();
            assert!(used > HEADER_BYTES);
            let path = segment.canonicalize().unwrap();
            ranges.insert(record.position, (path, at as u64, (at + used) as u64));
            at += used;
        }
    }
    ranges
}

/// Reads a pwrite64's target byte range (start, end) from its count and offset arguments.
fn pwrite_range(call: &Call) -> (u64, u64) {
    let mut parts = call.args.rsplitn(3, ", ");
    let offset = parts.next().unwrap().trim().parse().unwrap();
    let count: u64 = parts.next().unwrap().trim().parse().unwrap();
    (offset, offset + count)
}

/// Extracts the positions acknowledged by one write to standard output.
fn acknowledged_positions(call: &Call) -> Vec<u64> {
    let Some(start) = call.args.find('"') else {
        return Vec::new();
    };
    let Some(end) = call.args.rfind('"') else {
        return Vec::new();
    };
    call.args[start + 1..end]
        .split("\\n")
        .filter_map(|line| line.split(' ').nth(2)?.parse().ok())
        .collect()
}

#[test]
fn every_acknowledgement_follows_an_fdatasync() {
    if !strace_available() {
        eprintln!("skipped: strace is not installed (apt-get install -y strace)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let trace = dir.path().join("trace");
    let output = Command::new("strace")
        .args(["-f", "-ttt", "-T", "-y", "-s", "65536", "-o"])
        .arg(&trace)
        .args([
            "-e",
            "trace=pwrite64,pwritev,pwritev2,write,fdatasync,fsync",
        ])
        .arg(common::binary())
        .args([
            "eventlog",
            "stress",
            "--writers",
            "8",
            "--appends",
            "600",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8_lossy(&output.stdout).lines().count();
    assert_eq!(
        printed, 600,
        "stress printed one line per acknowledged append"
    );

    let calls = parse_trace(&std::fs::read_to_string(&trace).unwrap());
    let ranges = frame_ranges(&data);
    let writes: Vec<&Call> = calls
        .iter()
        .filter(|c| c.name.starts_with("pwrite") && c.fd_path.ends_with(".seg"))
        .collect();
    let syncs: Vec<&Call> = calls
        .iter()
        .filter(|c| matches!(c.name.as_str(), "fdatasync" | "fsync") && c.fd_path.ends_with(".seg"))
        .collect();
    let acks: Vec<&Call> = calls
        .iter()
        .filter(|c| c.name == "write" && c.fd_path.starts_with("pipe:"))
        .collect();
    let mut checked = 0;
    for ack in &acks {
        for position in acknowledged_positions(ack) {
            let (segment, start, end) = &ranges[&position];
            let segment = segment.to_string_lossy();
            let written = writes
                .iter()
                .filter(|w| w.fd_path == segment && w.end <= ack.start)
                .filter(|w| {
                    let (from, to) = pwrite_range(w);
                    from <= *start && *end <= to
                })
                .map(|w| w.end)
                .fold(None, |latest: Option<f64>, end| {
                    Some(latest.map_or(end, |l| l.max(end)))
                });
            let Some(written) = written else {
                panic!("position {position} was acknowledged before any pwrite64 of its frame");
            };
            let synced = syncs
                .iter()
                .any(|s| s.fd_path == segment && s.start >= written && s.end <= ack.start);
            assert!(
                synced,
                "position {position} was acknowledged at {} without an fdatasync of {segment} \
                 after its pwrite64 ended at {written}",
                ack.start
            );
            checked += 1;
        }
    }
    assert_eq!(
        checked, 600,
        "every printed acknowledgement was found in the trace"
    );
}
