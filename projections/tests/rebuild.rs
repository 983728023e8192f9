//! A projection rebuilt from the log equals the one maintained live, and a projection resumed
//! from its checkpoint equals both.

use std::sync::Arc;
use std::time::Duration;

use keyward_eventlog::{EventLog, ExpectedVersion, MemoryLog};
use keyward_events::{NewEvent, StreamName};
use keyward_projections::synthetic::{History, Step};
use keyward_projections::{
    AuditTrail, BotFeed, CheckpointDir, CheckpointSchedule, Dashboard, Projection,
    ProjectionHandle, rebuild,
};
use proptest::prelude::*;

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        Just(Step::AddKey),
        any::<usize>().prop_map(Step::ProbeKey),
        any::<usize>().prop_map(Step::FlagKey),
        Just(Step::CreateBot),
        any::<usize>().prop_map(Step::ConfigureBot),
        (any::<usize>(), any::<bool>())
            .prop_map(|(bot, approved)| Step::CheckRisk { bot, approved }),
        any::<usize>().prop_map(Step::ActivateBot),
        any::<usize>().prop_map(Step::PauseBot),
        (any::<usize>(), any::<bool>()).prop_map(|(bot, buy)| Step::Fill { bot, buy }),
        Just(Step::StartSession),
        any::<usize>().prop_map(Step::EndSession),
    ]
}

async fn append_all(log: &MemoryLog, events: Vec<(StreamName, NewEvent)>) -> u64 {
    let mut last = 0;
    for (stream, event) in events {
        last = log
            .append(&stream, ExpectedVersion::Any, vec![event])
            .await
            .unwrap()
            .last_position;
    }
    last
}

async fn rebuilt<P: Projection>(log: &MemoryLog) -> P {
    let records = log.read_all(0, usize::MAX).await.unwrap();
    rebuild::<P>(records.into_iter().map(Ok), |_| {})
        .unwrap()
        .projection
}

async fn live<P: Projection + Clone>(handle: &ProjectionHandle<P>, position: u64) -> P {
    assert!(handle.wait_for(position, Duration::from_secs(5)).await);
    handle.read(P::clone)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn rebuilt_equals_live(steps in proptest::collection::vec(step(), 1..120), accounts in 1usize..4) {
        let events = History::of(7, accounts, &steps);
        prop_assume!(!events.is_empty());
        runtime().block_on(async {
            let log = Arc::new(MemoryLog::new());
            let shared: Arc<dyn EventLog> = log.clone();
            let policy = CheckpointSchedule::default();
            let dashboard = ProjectionHandle::<Dashboard>::spawn(shared.clone(), None, policy).await;
            let audit = ProjectionHandle::<AuditTrail>::spawn(shared.clone(), None, policy).await;
            let feed = ProjectionHandle::<BotFeed>::spawn(shared, None, policy).await;
            let head = append_all(&log, events).await;

            let live_dashboard = live(&dashboard, head).await;
            assert_eq!(live_dashboard.undecodable, 0);
            assert_eq!(live_dashboard, rebuilt::<Dashboard>(&log).await);
            assert_eq!(live(&audit, head).await, rebuilt::<AuditTrail>(&log).await);
            assert_eq!(live(&feed, head).await, rebuilt::<BotFeed>(&log).await);
        });
    }
}

fn history(seed: u64, rounds: usize) -> Vec<(StreamName, NewEvent)> {
    let mut history = History::new(seed, 2);
    for i in 0..rounds {
        for step in [
            Step::AddKey,
            Step::ProbeKey(i),
            Step::CreateBot,
            Step::ActivateBot(i),
            Step::CheckRisk {
                bot: i,
                approved: !i.is_multiple_of(3),
            },
            Step::Fill {
                bot: i,
                buy: i.is_multiple_of(2),
            },
            Step::StartSession,
            Step::EndSession(i / 2),
        ] {
            history.push(step);
        }
    }
    history.events
}

#[tokio::test]
async fn resumes_from_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoints = CheckpointDir::in_data_dir(dir.path());
    let log = Arc::new(MemoryLog::new());
    let shared: Arc<dyn EventLog> = log.clone();
    let policy = CheckpointSchedule::default();

    let first_head = append_all(&log, history(1, 20)).await;
    let first =
        ProjectionHandle::<Dashboard>::spawn(shared.clone(), Some(checkpoints.clone()), policy)
            .await;
    assert!(first.wait_for(first_head, Duration::from_secs(5)).await);
    first.save_checkpoint().unwrap();
    drop(first);
    let saved = checkpoints.load::<Dashboard>("dashboard").unwrap().unwrap();
    assert_eq!(saved.position, first_head);

    let head = append_all(&log, history(2, 20)).await;
    let resumed = ProjectionHandle::<Dashboard>::spawn(shared, Some(checkpoints), policy).await;
    assert!(
        resumed.position() >= first_head,
        "the projection did not start at its checkpoint"
    );
    assert_eq!(live(&resumed, head).await, rebuilt::<Dashboard>(&log).await);
}

#[tokio::test]
async fn checkpoint_of_another_log_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoints = CheckpointDir::in_data_dir(dir.path());
    let policy = CheckpointSchedule::default();

    let other = Arc::new(MemoryLog::new());
    let other_head = append_all(&other, history(3, 10)).await;
    let stale =
        ProjectionHandle::<AuditTrail>::spawn(other, Some(checkpoints.clone()), policy).await;
    assert!(stale.wait_for(other_head, Duration::from_secs(5)).await);
    stale.save_checkpoint().unwrap();
    drop(stale);

    let log = Arc::new(MemoryLog::new());
    let head = append_all(&log, history(4, 10)).await;
    let shared: Arc<dyn EventLog> = log.clone();
    let fresh = ProjectionHandle::<AuditTrail>::spawn(shared, Some(checkpoints), policy).await;
    assert_eq!(live(&fresh, head).await, rebuilt::<AuditTrail>(&log).await);
}

#[tokio::test]
async fn saves_checkpoint_while_running() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoints = CheckpointDir::in_data_dir(dir.path());
    let log = Arc::new(MemoryLog::new());
    let shared: Arc<dyn EventLog> = log.clone();
    let policy = CheckpointSchedule {
        interval: Duration::from_millis(20),
    };
    let feed = ProjectionHandle::<BotFeed>::spawn(shared, Some(checkpoints.clone()), policy).await;
    let head = append_all(&log, history(5, 5)).await;
    assert!(feed.wait_for(head, Duration::from_secs(5)).await);
    let mut saved_position = 0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if let Some(saved) = checkpoints.load::<BotFeed>("feed").unwrap() {
            saved_position = saved.position;
            if saved_position == head {
                break;
            }
        }
    }
    assert_eq!(saved_position, head);
}
