//! The behaviour every backend must share, run against each backend.

use std::sync::Arc;

use keyward_eventlog::chain::ChainVerifier;
use keyward_eventlog::{
    AppendError, Direction, EventLog, ExpectedVersion, MemoryLog, SqliteLog, Subscription,
    SubscriptionFilter,
};
use keyward_events::{Category, Metadata, NewEvent, StreamName};
use uuid::Uuid;

fn event(payload: &str) -> NewEvent {
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

async fn appends_assign_positions_and_versions(log: Arc<dyn EventLog>) {
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
    let stored = log
        .read_stream(&a, 0, Direction::Forward, 10)
        .await
        .unwrap();
    let versions: Vec<u64> = stored.iter().map(|e| e.version).collect();
    assert_eq!(versions, vec![0, 1, 2]);
    let positions: Vec<u64> = stored.iter().map(|e| e.position).collect();
    assert_eq!(positions, vec![1, 2, 4]);
}

async fn wrong_expected_version_names_both(log: Arc<dyn EventLog>) {
    let a = stream(Category::Key);
    log.append(&a, ExpectedVersion::NoStream, vec![event("1")])
        .await
        .unwrap();
    let err = log
        .append(&a, ExpectedVersion::Exact(5), vec![event("2")])
        .await
        .unwrap_err();
    match err {
        AppendError::WrongExpectedVersion {
            expected, actual, ..
        } => {
            assert_eq!(expected, ExpectedVersion::Exact(5));
            assert_eq!(actual, Some(0));
        }
        other => panic!("expected a version conflict, got {other}"),
    }
    let err = log
        .append(&a, ExpectedVersion::NoStream, vec![event("3")])
        .await
        .unwrap_err();
    assert!(err.to_string().contains(a.as_str()), "{err}");
    let missing = stream(Category::Key);
    let err = log
        .append(&missing, ExpectedVersion::Exact(0), vec![event("4")])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("actual no stream"), "{err}");
}

async fn repeated_event_ids_return_original_positions(log: Arc<dyn EventLog>) {
    let a = stream(Category::Key);
    let events = vec![event("1"), event("2")];
    let first = log
        .append(&a, ExpectedVersion::NoStream, events.clone())
        .await
        .unwrap();
    let again = log
        .append(&a, ExpectedVersion::NoStream, events.clone())
        .await
        .unwrap();
    assert_eq!(first, again);
    let mut altered = events.clone();
    altered[1].payload = b"other".to_vec();
    let err = log
        .append(&a, ExpectedVersion::Any, altered)
        .await
        .unwrap_err();
    assert!(matches!(err, AppendError::EventIdReused { .. }), "{err}");
    assert_eq!(*log.head().borrow(), 2);
}

async fn rejects_oversized_and_empty_appends(log: Arc<dyn EventLog>) {
    let a = stream(Category::Key);
    let mut big = event("");
    big.payload = vec![b'x'; keyward_eventlog::MAX_PAYLOAD_BYTES + 1];
    let err = log
        .append(&a, ExpectedVersion::Any, vec![big])
        .await
        .unwrap_err();
    assert!(matches!(err, AppendError::PayloadTooLarge { .. }), "{err}");
    let err = log
        .append(&a, ExpectedVersion::Any, vec![])
        .await
        .unwrap_err();
    assert!(matches!(err, AppendError::Empty));
}

async fn reads_backward_with_limit(log: Arc<dyn EventLog>) {
    let a = stream(Category::Key);
    let events: Vec<NewEvent> = (0..5).map(|i| event(&i.to_string())).collect();
    log.append(&a, ExpectedVersion::NoStream, events)
        .await
        .unwrap();
    let last_two = log
        .read_stream(&a, u64::MAX, Direction::Backward, 2)
        .await
        .unwrap();
    let versions: Vec<u64> = last_two.iter().map(|e| e.version).collect();
    assert_eq!(versions, vec![4, 3]);
    let from_two = log.read_stream(&a, 2, Direction::Forward, 2).await.unwrap();
    let versions: Vec<u64> = from_two.iter().map(|e| e.version).collect();
    assert_eq!(versions, vec![2, 3]);
}

async fn chain_verifies_over_read_all(log: Arc<dyn EventLog>) {
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

async fn subscription_catches_up_then_follows(log: Arc<dyn EventLog>) {
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
}

macro_rules! conformance {
    ($module:ident, $make:expr) => {
        mod $module {
            use super::*;

            #[tokio::test]
            async fn appends_assign_positions_and_versions() {
                let (log, _dir) = $make;
                super::appends_assign_positions_and_versions(log).await;
            }

            #[tokio::test]
            async fn wrong_expected_version_names_both() {
                let (log, _dir) = $make;
                super::wrong_expected_version_names_both(log).await;
            }

            #[tokio::test]
            async fn repeated_event_ids_return_original_positions() {
                let (log, _dir) = $make;
                super::repeated_event_ids_return_original_positions(log).await;
            }

            #[tokio::test]
            async fn rejects_oversized_and_empty_appends() {
                let (log, _dir) = $make;
                super::rejects_oversized_and_empty_appends(log).await;
            }

            #[tokio::test]
            async fn reads_backward_with_limit() {
                let (log, _dir) = $make;
                super::reads_backward_with_limit(log).await;
            }

            #[tokio::test]
            async fn chain_verifies_over_read_all() {
                let (log, _dir) = $make;
                super::chain_verifies_over_read_all(log).await;
            }

            #[tokio::test]
            async fn subscription_catches_up_then_follows() {
                let (log, _dir) = $make;
                super::subscription_catches_up_then_follows(log).await;
            }
        }
    };
}

fn memory() -> (Arc<dyn EventLog>, ()) {
    (Arc::new(MemoryLog::new()), ())
}

fn sqlite() -> (Arc<dyn EventLog>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let log = SqliteLog::open(dir.path()).unwrap();
    (Arc::new(log), dir)
}

conformance!(memory_backend, memory());
conformance!(sqlite_backend, sqlite());

#[tokio::test]
async fn sqlite_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let a = stream(Category::Key);
    {
        let log = SqliteLog::open(dir.path()).unwrap();
        log.append(&a, ExpectedVersion::NoStream, vec![event("1")])
            .await
            .unwrap();
    }
    let log = SqliteLog::open(dir.path()).unwrap();
    assert_eq!(*log.head().borrow(), 1);
    let next = log
        .append(&a, ExpectedVersion::Exact(0), vec![event("2")])
        .await
        .unwrap();
    assert_eq!(next.first_position, 2);
    let all = log.read_all(0, 10).await.unwrap();
    let mut verifier = ChainVerifier::default();
    for record in &all {
        verifier.check(record).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_concurrent_appends_have_no_gaps() {
    let (log, _dir) = sqlite();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let log = Arc::clone(&log);
        tasks.push(tokio::spawn(async move {
            let s = stream(Category::Stress);
            let mut expected = ExpectedVersion::NoStream;
            for i in 0..20 {
                let appended = log
                    .append(&s, expected, vec![event(&i.to_string())])
                    .await
                    .unwrap();
                expected = ExpectedVersion::Exact(appended.last_version);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let all = log.read_all(0, 1000).await.unwrap();
    assert_eq!(all.len(), 320);
    let mut verifier = ChainVerifier::default();
    for record in &all {
        verifier.check(record).unwrap();
    }
}
