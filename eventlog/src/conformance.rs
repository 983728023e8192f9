//! The behaviour every backend must share, as functions that take a fresh log.
//!
//! A backend's tests run the whole suite with [`conformance_suite!`](crate::conformance_suite),
//! given an expression that returns `(Arc<dyn EventLog>, guard)` for an empty log; the guard
//! (a temporary directory, a database schema) lives as long as the test. Compiled only with the
//! `conformance` feature.

use std::collections::HashMap;
use std::sync::Arc;

use keyward_events::{Category, Metadata, NewEvent, StreamName};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use uuid::Uuid;

use crate::chain::ChainVerifier;
use crate::{
    AppendError, Appended, Direction, EventLog, ExpectedVersion, MAX_PAYLOAD_BYTES, Subscription,
    SubscriptionFilter,
};

/// Runs every conformance test against a backend, one `#[tokio::test]` each.
///
/// ```ignore
/// keyward_eventlog::conformance_suite!(memory_backend, (Arc::new(MemoryLog::new()) as Arc<dyn EventLog>, ()));
/// ```
#[macro_export]
macro_rules! conformance_suite {
    ($module:ident, $make:expr) => {
        mod $module {
            #[allow(unused_imports, reason = "the expression may name items of the caller")]
            use super::*;

            $crate::conformance_suite!(@async $make;
                appends_assign_positions_and_versions,
                wrong_expected_version_names_stream_and_versions,
                repeated_event_ids_return_original_positions,
                rejects_oversized_empty_and_invalid_appends,
                reads_stream_forward_and_backward_with_limit,
                reads_all_from_a_position,
                chain_verifies_over_read_all,
                subscription_catches_up_then_follows,
                subscription_has_no_gap_under_concurrent_appends,
                slow_subscriber_buffers_at_most_a_page,
                concurrent_appends_keep_every_acknowledged_event,
            );

            #[test]
            fn model_agrees_on_random_appends_and_reads() {
                $crate::conformance::run_model_property(|| $make, 24);
            }
        }
    };
    (@async $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (log, _guard) = $make;
                $crate::conformance::$name(log).await;
            }
        )*
    };
}

/// An event with a fresh id and the given payload.
pub fn event(payload: &str) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "Tested".into(),
        schema_version: 1,
        metadata: Metadata::default(),
        payload: payload.as_bytes().to_vec(),
    }
}

fn stream(category: Category) -> StreamName {
    StreamName::new(category, Uuid::now_v7())
}

fn versions(events: &[keyward_events::RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.version).collect()
}

/// Positions count from 1 across streams; versions count from 0 within a stream.
pub async fn appends_assign_positions_and_versions(log: Arc<dyn EventLog>) {
    let a = stream(Category::Key);
    let b = stream(Category::Bot);
    let first = log
        .append(&a, ExpectedVersion::NoStream, vec![event("1"), event("2")])
        .await
        .unwrap();
    assert_eq!((first.first_position, first.last_position), (1, 2));
    assert_eq!(first.last_version, 1);
    let second = log
        .append(&b, ExpectedVersion::Any, vec![event("3")])
        .await
        .unwrap();
    assert_eq!(second.first_position, 3);
    assert_eq!(second.last_version, 0);
    let third = log
        .append(&a, ExpectedVersion::Exact(1), vec![event("4")])
        .await
        .unwrap();
    assert_eq!(third.last_version, 2);
    let any = log
        .append(&a, ExpectedVersion::Any, vec![event("5")])
        .await
        .unwrap();
    assert_eq!(any.last_version, 3);
    let stored = log
        .read_stream(&a, 0, Direction::Forward, 10)
        .await
        .unwrap();
    assert_eq!(versions(&stored), vec![0, 1, 2, 3]);
    let positions: Vec<u64> = stored.iter().map(|e| e.position).collect();
    assert_eq!(positions, vec![1, 2, 4, 5]);
    assert_eq!(*log.head().borrow(), 5);
}

/// A version conflict is typed and names the stream, the expected and the actual version.
pub async fn wrong_expected_version_names_stream_and_versions(log: Arc<dyn EventLog>) {
    let a = stream(Category::Key);
    log.append(&a, ExpectedVersion::NoStream, vec![event("1")])
        .await
        .unwrap();
    let err = log
        .append(&a, ExpectedVersion::Exact(5), vec![event("2")])
        .await
        .unwrap_err();
    let AppendError::WrongExpectedVersion {
        stream: named,
        expected,
        actual,
    } = &err
    else {
        panic!("expected a version conflict, got {err}");
    };
    assert_eq!(named, a.as_str());
    assert_eq!(*expected, ExpectedVersion::Exact(5));
    assert_eq!(*actual, Some(0));
    let message = err.to_string();
    assert!(message.contains(a.as_str()), "{message}");
    assert!(message.contains("expected 5"), "{message}");
    assert!(message.contains("actual 0"), "{message}");

    let err = log
        .append(&a, ExpectedVersion::NoStream, vec![event("3")])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AppendError::WrongExpectedVersion {
                actual: Some(0),
                ..
            }
        ),
        "{err}"
    );
    let missing = stream(Category::Key);
    let err = log
        .append(&missing, ExpectedVersion::Exact(0), vec![event("4")])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("actual no stream"), "{err}");
    assert_eq!(*log.head().borrow(), 1, "rejected appends store nothing");
}

/// The same event ids again return the original positions; other content under them fails.
pub async fn repeated_event_ids_return_original_positions(log: Arc<dyn EventLog>) {
    let a = stream(Category::Key);
    let events = vec![event("1"), event("2")];
    let first = log
        .append(&a, ExpectedVersion::NoStream, events.clone())
        .await
        .unwrap();
    log.append(&a, ExpectedVersion::Exact(1), vec![event("3")])
        .await
        .unwrap();
    let again = log
        .append(&a, ExpectedVersion::NoStream, events.clone())
        .await
        .unwrap();
    assert_eq!(first, again, "the id check runs before the version check");

    let mut altered = events.clone();
    altered[1].payload = b"other".to_vec();
    let err = log
        .append(&a, ExpectedVersion::Any, altered)
        .await
        .unwrap_err();
    assert!(matches!(err, AppendError::EventIdReused { .. }), "{err}");

    let elsewhere = stream(Category::Bot);
    let err = log
        .append(&elsewhere, ExpectedVersion::Any, events[..1].to_vec())
        .await
        .unwrap_err();
    assert!(matches!(err, AppendError::EventIdReused { .. }), "{err}");

    let partial = vec![events[0].clone(), event("new")];
    let err = log
        .append(&a, ExpectedVersion::Any, partial)
        .await
        .unwrap_err();
    assert!(matches!(err, AppendError::EventIdReused { .. }), "{err}");
    assert_eq!(*log.head().borrow(), 3);
}

/// Payloads over 1 MiB, empty appends and nameless event types are rejected before storage.
pub async fn rejects_oversized_empty_and_invalid_appends(log: Arc<dyn EventLog>) {
    let a = stream(Category::Key);
    let mut big = event("");
    big.payload = vec![b'x'; MAX_PAYLOAD_BYTES + 1];
    let err = log
        .append(&a, ExpectedVersion::Any, vec![big])
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppendError::PayloadTooLarge { size, max, .. }
            if size == MAX_PAYLOAD_BYTES + 1 && max == MAX_PAYLOAD_BYTES),
        "{err}"
    );
    assert!(err.to_string().contains("1048577 bytes"), "{err}");
    let mut largest = event("");
    largest.payload = vec![b'y'; MAX_PAYLOAD_BYTES];
    log.append(&a, ExpectedVersion::Any, vec![largest])
        .await
        .unwrap();
    let err = log
        .append(&a, ExpectedVersion::Any, vec![])
        .await
        .unwrap_err();
    assert!(matches!(err, AppendError::Empty), "{err}");
    let mut nameless = event("x");
    nameless.event_type.clear();
    let err = log
        .append(&a, ExpectedVersion::Any, vec![nameless])
        .await
        .unwrap_err();
    assert!(matches!(err, AppendError::InvalidEvent { .. }), "{err}");
    let stored = log.read_all(0, 10).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].payload.len(), MAX_PAYLOAD_BYTES);
}

/// Stream reads go forward from a version or backward from one, up to a limit.
pub async fn reads_stream_forward_and_backward_with_limit(log: Arc<dyn EventLog>) {
    let a = stream(Category::Key);
    let other = stream(Category::Key);
    for i in 0..5 {
        log.append(&a, ExpectedVersion::Any, vec![event(&i.to_string())])
            .await
            .unwrap();
        log.append(&other, ExpectedVersion::Any, vec![event("o")])
            .await
            .unwrap();
    }
    let read = |from, direction, limit| {
        let log = Arc::clone(&log);
        let a = a.clone();
        async move { log.read_stream(&a, from, direction, limit).await.unwrap() }
    };
    assert_eq!(
        versions(&read(u64::MAX, Direction::Backward, 2).await),
        [4, 3]
    );
    assert_eq!(versions(&read(2, Direction::Backward, 10).await), [2, 1, 0]);
    assert_eq!(versions(&read(2, Direction::Forward, 2).await), [2, 3]);
    assert_eq!(
        versions(&read(0, Direction::Forward, 100).await),
        [0, 1, 2, 3, 4]
    );
    assert!(read(5, Direction::Forward, 10).await.is_empty());
    assert!(read(0, Direction::Forward, 0).await.is_empty());
    let payloads: Vec<Vec<u8>> = read(1, Direction::Forward, 2)
        .await
        .into_iter()
        .map(|e| e.payload)
        .collect();
    assert_eq!(payloads, [b"1".to_vec(), b"2".to_vec()]);
    let missing = stream(Category::Bot);
    let none = log
        .read_stream(&missing, 0, Direction::Forward, 10)
        .await
        .unwrap();
    assert!(none.is_empty());
}

/// `read_all` returns events after a position, in order, never past the head.
pub async fn reads_all_from_a_position(log: Arc<dyn EventLog>) {
    for i in 0..30 {
        let s = stream(Category::Bot);
        log.append(&s, ExpectedVersion::NoStream, vec![event(&i.to_string())])
            .await
            .unwrap();
    }
    let page = log.read_all(10, 5).await.unwrap();
    let positions: Vec<u64> = page.iter().map(|e| e.position).collect();
    assert_eq!(positions, [11, 12, 13, 14, 15]);
    assert_eq!(page[0].payload, b"10");
    let tail = log.read_all(28, 100).await.unwrap();
    assert_eq!(tail.len(), 2);
    assert!(log.read_all(30, 100).await.unwrap().is_empty());
    assert!(log.read_all(u64::MAX - 1, 100).await.unwrap().is_empty());
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page = log.read_all(after, 7).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.position;
        all.extend(page);
    }
    assert_eq!(all.len(), 30);
}

/// The stored chain verifies, and an altered byte breaks it at that position.
pub async fn chain_verifies_over_read_all(log: Arc<dyn EventLog>) {
    for i in 0..20 {
        let s = stream(Category::Bot);
        log.append(&s, ExpectedVersion::Any, vec![event(&i.to_string())])
            .await
            .unwrap();
    }
    let all = log.read_all(0, 100).await.unwrap();
    assert_eq!(all.len(), 20);
    let mut verifier = ChainVerifier::default();
    for record in &all {
        verifier.check(record).unwrap();
    }
    assert_eq!(verifier.verified(), 20);
    let mut tampered = all[7].clone();
    tampered.payload[0] ^= 1;
    let mut verifier = ChainVerifier::default();
    for record in &all[..7] {
        verifier.check(record).unwrap();
    }
    assert_eq!(verifier.check(&tampered).unwrap_err().position(), 8);
}

/// Subscriptions deliver stored events, then live ones, filtered by category.
pub async fn subscription_catches_up_then_follows(log: Arc<dyn EventLog>) {
    let keys = stream(Category::Key);
    let bots = stream(Category::Bot);
    log.append(&keys, ExpectedVersion::Any, vec![event("k1")])
        .await
        .unwrap();
    log.append(&bots, ExpectedVersion::Any, vec![event("b1")])
        .await
        .unwrap();
    let mut all = Subscription::new(Arc::clone(&log), 0, SubscriptionFilter::All);
    let mut only_keys = Subscription::new(
        Arc::clone(&log),
        0,
        SubscriptionFilter::Category(Category::Key),
    );
    assert_eq!(all.next().await.unwrap().position, 1);
    assert_eq!(all.next().await.unwrap().position, 2);
    let writer = Arc::clone(&log);
    let keys_again = keys.clone();
    let task = tokio::spawn(async move {
        writer
            .append(&keys_again, ExpectedVersion::Any, vec![event("k2")])
            .await
            .unwrap();
    });
    let live = all.next().await.unwrap();
    assert_eq!(live.position, 3);
    task.await.unwrap();
    let first_key = only_keys.next().await.unwrap();
    let second_key = only_keys.next().await.unwrap();
    assert_eq!((first_key.position, second_key.position), (1, 3));
    let mut from_middle = Subscription::new(Arc::clone(&log), 2, SubscriptionFilter::All);
    assert_eq!(from_middle.next().await.unwrap().position, 3);
    assert!(from_middle.try_next().await.unwrap().is_none());
}

/// A subscriber started before concurrent writers receives every event once, in position order.
pub async fn subscription_has_no_gap_under_concurrent_appends(log: Arc<dyn EventLog>) {
    const WRITERS: usize = 4;
    const EACH: usize = 150;
    log.append(
        &stream(Category::Key),
        ExpectedVersion::Any,
        vec![event("before")],
    )
    .await
    .unwrap();
    let mut all = Subscription::new(Arc::clone(&log), 0, SubscriptionFilter::All);
    let mut bots = Subscription::new(
        Arc::clone(&log),
        0,
        SubscriptionFilter::Category(Category::Bot),
    );
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let log = Arc::clone(&log);
        writers.push(tokio::spawn(async move {
            let category = if w % 2 == 0 {
                Category::Bot
            } else {
                Category::Key
            };
            let s = stream(category);
            for i in 0..EACH {
                log.append(&s, ExpectedVersion::Any, vec![event(&i.to_string())])
                    .await
                    .unwrap();
            }
        }));
    }
    let total = 1 + WRITERS * EACH;
    for expected in 1..=total as u64 {
        let record = all.next().await.unwrap();
        assert_eq!(record.position, expected, "no gap, no duplicate");
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let mut last = 0;
    for _ in 0..(WRITERS / 2) * EACH {
        let record = bots.next().await.unwrap();
        assert_eq!(record.stream.category(), Category::Bot);
        assert!(record.position > last, "category order follows positions");
        last = record.position;
    }
    assert!(bots.try_next().await.unwrap().is_none());
}

/// A subscriber far behind the writers keeps at most one page in memory.
pub async fn slow_subscriber_buffers_at_most_a_page(log: Arc<dyn EventLog>) {
    let s = stream(Category::Stress);
    for chunk in 0..20 {
        let events = (0..100).map(|i| event(&format!("{chunk}-{i}"))).collect();
        log.append(&s, ExpectedVersion::Any, events).await.unwrap();
    }
    let mut slow = Subscription::new(Arc::clone(&log), 0, SubscriptionFilter::All);
    let mut max_buffered = 0;
    for expected in 1..=2000 {
        let record = slow.next().await.unwrap();
        assert_eq!(record.position, expected);
        max_buffered = max_buffered.max(slow.buffered());
        if expected % 500 == 0 {
            log.append(&s, ExpectedVersion::Any, vec![event("more")])
                .await
                .unwrap();
        }
    }
    assert!(
        max_buffered <= Subscription::PAGE,
        "buffered {max_buffered} events"
    );
    for expected in 2001..=2004 {
        assert_eq!(slow.next().await.unwrap().position, expected);
    }
}

/// Many writers appending at once: every acknowledged event is stored at the position the log
/// returned, positions have no gap, and the chain verifies.
pub async fn concurrent_appends_keep_every_acknowledged_event(log: Arc<dyn EventLog>) {
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let log = Arc::clone(&log);
        tasks.push(tokio::spawn(async move {
            let s = stream(Category::Stress);
            let mut expected = ExpectedVersion::NoStream;
            let mut acknowledged = Vec::new();
            for i in 0..20 {
                let new = event(&format!("{s}-{i}"));
                let appended = log.append(&s, expected, vec![new.clone()]).await.unwrap();
                expected = ExpectedVersion::Exact(appended.last_version);
                acknowledged.push((appended.first_position, new));
            }
            acknowledged
        }));
    }
    let mut acknowledged = Vec::new();
    for task in tasks {
        acknowledged.extend(task.await.unwrap());
    }
    let all = log.read_all(0, 1000).await.unwrap();
    assert_eq!(all.len(), 320);
    let mut verifier = ChainVerifier::default();
    for record in &all {
        verifier.check(record).unwrap();
    }
    for (position, new) in acknowledged {
        let stored = &all[usize::try_from(position - 1).unwrap()];
        assert_eq!(stored.event_id, new.event_id);
        assert_eq!(stored.payload, new.payload);
    }
}

/// One step of a random workload.
#[derive(Clone, Debug)]
enum Op {
    Append {
        stream: usize,
        expected: ModelExpected,
        events: usize,
    },
    /// Append an earlier append's events again, optionally with one payload altered.
    Repeat {
        of: usize,
        altered: bool,
    },
    ReadStream {
        stream: usize,
        from: u64,
        backward: bool,
        limit: usize,
    },
    ReadAll {
        after: u64,
        limit: usize,
    },
}

#[derive(Clone, Copy, Debug)]
enum ModelExpected {
    Any,
    NoStream,
    Exact(u64),
    /// The stream's current version according to the model, so that most appends succeed.
    Current,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let expected = prop_oneof![
        Just(ModelExpected::Any),
        Just(ModelExpected::NoStream),
        (0u64..6).prop_map(ModelExpected::Exact),
        Just(ModelExpected::Current),
        Just(ModelExpected::Current),
    ];
    prop_oneof![
        4 => (0usize..4, expected, 1usize..4)
            .prop_map(|(stream, expected, events)| Op::Append { stream, expected, events }),
        1 => (0usize..40, any::<bool>()).prop_map(|(of, altered)| Op::Repeat { of, altered }),
        1 => (0usize..4, 0u64..8, any::<bool>(), 0usize..5)
            .prop_map(|(stream, from, backward, limit)| Op::ReadStream { stream, from, backward, limit }),
        1 => (0u64..30, 1usize..10).prop_map(|(after, limit)| Op::ReadAll { after, limit }),
    ]
}

/// Result the model expects of an append.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Appended(Appended),
    Conflict(Option<u64>),
    Reused,
}

impl Outcome {
    fn of(result: Result<Appended, AppendError>) -> Result<Self, String> {
        match result {
            Ok(appended) => Ok(Outcome::Appended(appended)),
            Err(AppendError::WrongExpectedVersion { actual, .. }) => Ok(Outcome::Conflict(actual)),
            Err(AppendError::EventIdReused { .. }) => Ok(Outcome::Reused),
            Err(other) => Err(format!("unexpected error: {other}")),
        }
    }
}

/// The simplest log that could work: a vector of (stream, event) pairs.
#[derive(Default)]
struct Model {
    events: Vec<(usize, NewEvent)>,
}

impl Model {
    fn version(&self, stream: usize) -> Option<u64> {
        let count = self.events.iter().filter(|(s, _)| *s == stream).count() as u64;
        count.checked_sub(1)
    }

    fn stored(&self, id: Uuid) -> Option<(u64, usize, &NewEvent)> {
        self.events
            .iter()
            .enumerate()
            .find(|(_, (_, e))| e.event_id == id)
            .map(|(i, (s, e))| (i as u64 + 1, *s, e))
    }

    fn append(&mut self, stream: usize, expected: ExpectedVersion, events: &[NewEvent]) -> Outcome {
        let found: Vec<_> = events.iter().map(|e| self.stored(e.event_id)).collect();
        if found.iter().any(Option::is_some) {
            let first = found[0].map(|(position, _, _)| position);
            let same = found
                .iter()
                .zip(events)
                .enumerate()
                .all(|(i, (stored, new))| {
                    stored.is_some_and(|(position, s, e)| {
                        s == stream
                            && Some(position) == first.map(|f| f + i as u64)
                            && e.payload == new.payload
                            && e.event_type == new.event_type
                    })
                });
            if !same {
                return Outcome::Reused;
            }
            let first = first.unwrap_or_default();
            let last_position = first + events.len() as u64 - 1;
            let last_version = self.events[..usize::try_from(last_position).unwrap_or(0)]
                .iter()
                .filter(|(s, _)| *s == stream)
                .count() as u64
                - 1;
            return Outcome::Appended(Appended {
                first_position: first,
                last_position,
                last_version,
            });
        }
        let actual = self.version(stream);
        let ok = match expected {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => actual.is_none(),
            ExpectedVersion::Exact(v) => actual == Some(v),
        };
        if !ok {
            return Outcome::Conflict(actual);
        }
        let first_position = self.events.len() as u64 + 1;
        self.events
            .extend(events.iter().map(|e| (stream, e.clone())));
        Outcome::Appended(Appended {
            first_position,
            last_position: self.events.len() as u64,
            last_version: actual.map_or(0, |v| v + 1) + events.len() as u64 - 1,
        })
    }

    /// (position, version, payload) of a stream read.
    fn read_stream(
        &self,
        stream: usize,
        from: u64,
        backward: bool,
        limit: usize,
    ) -> Vec<(u64, u64, Vec<u8>)> {
        let mut picked: Vec<_> = self
            .events
            .iter()
            .enumerate()
            .filter(|(_, (s, _))| *s == stream)
            .enumerate()
            .map(|(version, (i, (_, e)))| (i as u64 + 1, version as u64, e.payload.clone()))
            .collect();
        if backward {
            picked.retain(|(_, v, _)| *v <= from);
            picked.reverse();
        } else {
            picked.retain(|(_, v, _)| *v >= from);
        }
        picked.truncate(limit);
        picked
    }
}

/// Runs `cases` random workloads against fresh logs from `make` and checks each against a
/// simple model: first sequentially (every answer must match), then concurrently (every
/// acknowledged event must be stored where the log said, with no gap).
///
/// # Panics
/// Panics with the failing workload when the backend disagrees with the model.
pub fn run_model_property<G>(make: impl Fn() -> (Arc<dyn EventLog>, G), cases: u32) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let ops = proptest::collection::vec(op_strategy(), 1..40);
    runner
        .run(&ops, |ops| {
            let (log, guard) = make();
            let checked = runtime.block_on(check_sequential(Arc::clone(&log), &ops));
            drop(log);
            drop(guard);
            checked.map_err(TestCaseError::fail)
        })
        .unwrap();
    let writers = (1usize..6, proptest::collection::vec(1usize..4, 1..12));
    runner
        .run(&writers, |(writers, sizes)| {
            let (log, guard) = make();
            let checked = runtime.block_on(check_concurrent(Arc::clone(&log), writers, &sizes));
            drop(log);
            drop(guard);
            checked.map_err(TestCaseError::fail)
        })
        .unwrap();
}

async fn check_sequential(log: Arc<dyn EventLog>, ops: &[Op]) -> Result<(), String> {
    let streams: Vec<StreamName> = (0..4).map(|_| stream(Category::Stress)).collect();
    let mut model = Model::default();
    let mut appends: Vec<(usize, Vec<NewEvent>)> = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        let context = |what: &str| format!("step {step} ({op:?}): {what}");
        match op {
            Op::Append {
                stream,
                expected,
                events,
            } => {
                let expected = match expected {
                    ModelExpected::Any => ExpectedVersion::Any,
                    ModelExpected::NoStream => ExpectedVersion::NoStream,
                    ModelExpected::Exact(v) => ExpectedVersion::Exact(*v),
                    ModelExpected::Current => model
                        .version(*stream)
                        .map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact),
                };
                let new: Vec<_> = (0..*events)
                    .map(|i| event(&format!("{step}.{i}")))
                    .collect();
                let want = model.append(*stream, expected, &new);
                let got = Outcome::of(log.append(&streams[*stream], expected, new.clone()).await)
                    .map_err(|e| context(&e))?;
                if got != want {
                    return Err(context(&format!("log returned {got:?}, model {want:?}")));
                }
                appends.push((*stream, new));
            }
            Op::Repeat { of, altered } => {
                let Some((stream, events)) = appends.get(*of).cloned() else {
                    continue;
                };
                let mut events = events;
                if *altered {
                    events[0].payload.push(b'!');
                }
                let want = model.append(stream, ExpectedVersion::Any, &events);
                let got = Outcome::of(
                    log.append(&streams[stream], ExpectedVersion::Any, events)
                        .await,
                )
                .map_err(|e| context(&e))?;
                if got != want {
                    return Err(context(&format!("log returned {got:?}, model {want:?}")));
                }
            }
            Op::ReadStream {
                stream,
                from,
                backward,
                limit,
            } => {
                let direction = if *backward {
                    Direction::Backward
                } else {
                    Direction::Forward
                };
                let read = log
                    .read_stream(&streams[*stream], *from, direction, *limit)
                    .await
                    .map_err(|e| context(&e.to_string()))?;
                let got: Vec<_> = read
                    .into_iter()
                    .map(|e| (e.position, e.version, e.payload))
                    .collect();
                let want = model.read_stream(*stream, *from, *backward, *limit);
                if got != want {
                    return Err(context(&format!("read {got:?}, model {want:?}")));
                }
            }
            Op::ReadAll { after, limit } => {
                let read = log
                    .read_all(*after, *limit)
                    .await
                    .map_err(|e| context(&e.to_string()))?;
                let got: Vec<_> = read.iter().map(|e| (e.position, e.event_id)).collect();
                let want: Vec<_> = model
                    .events
                    .iter()
                    .enumerate()
                    .skip(usize::try_from(*after).unwrap_or(usize::MAX))
                    .take(*limit)
                    .map(|(i, (_, e))| (i as u64 + 1, e.event_id))
                    .collect();
                if got != want {
                    return Err(context(&format!("read_all {got:?}, model {want:?}")));
                }
            }
        }
    }
    check_chain(&log, model.events.len()).await
}

async fn check_chain(log: &Arc<dyn EventLog>, expected: usize) -> Result<(), String> {
    let all = log
        .read_all(0, expected + 10)
        .await
        .map_err(|e| e.to_string())?;
    if all.len() != expected {
        return Err(format!(
            "read_all returned {} events, expected {expected}",
            all.len()
        ));
    }
    let mut verifier = ChainVerifier::default();
    for record in &all {
        verifier.check(record).map_err(|e| e.to_string())?;
    }
    Ok(())
}

async fn check_concurrent(
    log: Arc<dyn EventLog>,
    writers: usize,
    sizes: &[usize],
) -> Result<(), String> {
    let shared = stream(Category::Stress);
    let mut tasks = Vec::new();
    for w in 0..writers {
        let log = Arc::clone(&log);
        let sizes = sizes.to_vec();
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let own = stream(Category::Stress);
            let mut acknowledged = Vec::new();
            for (i, size) in sizes.iter().enumerate() {
                let target = if i % 3 == 2 { &shared } else { &own };
                let expected = if i % 3 == 2 {
                    ExpectedVersion::Any
                } else {
                    let read = log
                        .read_stream(&own, u64::MAX, Direction::Backward, 1)
                        .await?;
                    read.first().map_or(ExpectedVersion::NoStream, |e| {
                        ExpectedVersion::Exact(e.version)
                    })
                };
                let new: Vec<_> = (0..*size).map(|j| event(&format!("{w}.{i}.{j}"))).collect();
                let appended = log
                    .append(target, expected, new.clone())
                    .await
                    .map_err(|e| crate::ReadError::Storage(e.to_string()))?;
                acknowledged.push((appended, target.clone(), new));
            }
            Ok::<_, crate::ReadError>(acknowledged)
        }));
    }
    let mut acknowledged = Vec::new();
    for task in tasks {
        acknowledged.extend(
            task.await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?,
        );
    }
    let total: usize = acknowledged.iter().map(|(_, _, new)| new.len()).sum();
    check_chain(&log, total).await?;
    let all = log
        .read_all(0, total + 10)
        .await
        .map_err(|e| e.to_string())?;
    let mut versions: HashMap<StreamName, u64> = HashMap::new();
    for record in &all {
        let next = versions.entry(record.stream.clone()).or_insert(0);
        if record.version != *next {
            return Err(format!(
                "position {} has version {}, expected {next}",
                record.position, record.version
            ));
        }
        *next += 1;
    }
    for (appended, target, new) in acknowledged {
        for (i, event) in new.iter().enumerate() {
            let stored = &all[usize::try_from(appended.first_position - 1).unwrap_or(0) + i];
            if stored.event_id != event.event_id
                || stored.payload != event.payload
                || stored.stream != target
            {
                return Err(format!(
                    "position {} does not hold the acknowledged event",
                    stored.position
                ));
            }
        }
    }
    Ok(())
}
