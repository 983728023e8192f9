use std::sync::Mutex;

use futures::channel::mpsc;
use keyward_eventlog::{ExpectedVersion, MemoryLog};
use keyward_events::{NewEvent, StreamName};
use keyward_projections::CheckpointSchedule;
use keyward_projections::synthetic::{History, Step};

use super::*;

struct Fixture {
    log: Arc<MemoryLog>,
    hub: Arc<FeedHub>,
    history: History,
    _dashboard: Arc<ProjectionHandle<Dashboard>>,
}

impl Fixture {
    /// A log with `bots` bots of one account (and one of another), and a hub started on it.
    async fn new(bots: usize, feed_buffer: usize) -> Fixture {
        let log = Arc::new(MemoryLog::new());
        let mut history = History::new(5, 1);
        for _ in 0..bots {
            history.push(Step::CreateBot);
        }
        let fixture_log: Arc<dyn EventLog> = log.clone();
        let dashboard = Arc::new(
            ProjectionHandle::spawn(fixture_log.clone(), None, CheckpointSchedule::default()).await,
        );
        let settings = settings(feed_buffer);
        let hub = FeedHub::start(fixture_log, Arc::clone(&dashboard), settings);
        let mut fixture = Fixture {
            log,
            hub,
            history,
            _dashboard: dashboard,
        };
        fixture.flush().await;
        fixture
    }

    /// Appends the history's pending events and returns the last position.
    async fn flush(&mut self) -> u64 {
        let events: Vec<(StreamName, NewEvent)> = std::mem::take(&mut self.history.events);
        let mut last = 0;
        for (stream, event) in events {
            last = self
                .log
                .append(&stream, ExpectedVersion::Any, vec![event])
                .await
                .unwrap()
                .last_position;
        }
        last
    }

    async fn risk_checks(&mut self, bot: usize, count: usize) -> u64 {
        for _ in 0..count {
            self.history.push(Step::CheckRisk {
                bot,
                approved: true,
            });
        }
        self.flush().await
    }

    async fn stored_feed_positions(&self) -> Vec<u64> {
        let records = self.log.read_all(0, usize::MAX).await.unwrap();
        records
            .iter()
            .filter(|r| FeedMessage::from_record(r).is_some())
            .map(|r| r.position)
            .collect()
    }

    async fn bot_id(&self, index: usize) -> Uuid {
        let records = self.log.read_all(0, usize::MAX).await.unwrap();
        let created: Vec<Uuid> = records
            .iter()
            .filter(|r| r.event_type == "BotCreated")
            .map(|r| r.stream.id())
            .collect();
        created[index]
    }
}

fn settings(feed_buffer: usize) -> StreamSettings {
    StreamSettings {
        heartbeat: Duration::from_secs(30),
        send_timeout: Duration::from_secs(5),
        feed_buffer,
    }
}

/// A sink whose reader records each message's position, waiting `delay` per message.
fn recording_sink(delay: Duration) -> (mpsc::Sender<Message>, Arc<Mutex<Vec<u64>>>) {
    let (sender, mut receiver) = mpsc::channel::<Message>(0);
    let positions = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&positions);
    tokio::spawn(async move {
        while let Some(message) = receiver.next().await {
            if let Message::Text(text) = message {
                let value: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
                if value.get("type").is_none() {
                    recorded
                        .lock()
                        .unwrap()
                        .push(value["position"].as_u64().unwrap());
                }
            }
            tokio::time::sleep(delay).await;
        }
    });
    (sender, positions)
}

async fn wait_for_count(positions: &Mutex<Vec<u64>>, count: usize) {
    for _ in 0..500 {
        if positions.lock().unwrap().len() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "expected {count} messages, got {:?}",
        positions.lock().unwrap()
    );
}

#[tokio::test]
async fn catches_up_then_follows_live() {
    let mut fixture = Fixture::new(2, 64).await;
    fixture.risk_checks(0, 5).await;
    let account = fixture.history_account().await;

    let (sink, positions) = recording_sink(Duration::ZERO);
    let mut client = FeedClient::new(sink, FeedScope::Account(account), 0, settings(64));
    let hub = Arc::clone(&fixture.hub);
    let running = tokio::spawn(async move { client.run(&hub).await });
    wait_for_count(&positions, 5).await;
    fixture.risk_checks(1, 5).await;
    wait_for_count(&positions, 10).await;
    running.abort();

    let expected = fixture.stored_feed_positions().await;
    assert_eq!(*positions.lock().unwrap(), expected);
}

#[tokio::test]
async fn bot_scope_skips_other_bots() {
    let mut fixture = Fixture::new(2, 64).await;
    fixture.risk_checks(0, 3).await;
    fixture.risk_checks(1, 3).await;
    let bot = fixture.bot_id(1).await;

    let (sink, positions) = recording_sink(Duration::ZERO);
    let mut client = FeedClient::new(sink, FeedScope::Bot(bot), 0, settings(64));
    let hub = Arc::clone(&fixture.hub);
    let running = tokio::spawn(async move { client.run(&hub).await });
    wait_for_count(&positions, 3).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    running.abort();

    let expected: Vec<u64> = fixture
        .log
        .read_all(0, usize::MAX)
        .await
        .unwrap()
        .iter()
        .filter(|r| r.stream.id() == bot && r.event_type == "OrderRiskChecked")
        .map(|r| r.position)
        .collect();
    assert_eq!(*positions.lock().unwrap(), expected);
}

#[tokio::test]
async fn slow_client_closed_with_resume_position() {
    let mut fixture = Fixture::new(1, 4).await;
    let account = fixture.history_account().await;
    let head = fixture.log.head().borrow().to_owned();

    let (sink, positions) = recording_sink(Duration::from_millis(20));
    let mut client = FeedClient::new(sink, FeedScope::Account(account), head, settings(4));
    let hub = Arc::clone(&fixture.hub);
    let running = tokio::spawn(async move { client.run(&hub).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    fixture.risk_checks(0, 1).await;
    wait_for_count(&positions, 1).await;
    let last = fixture.risk_checks(0, 40).await;

    let ended = tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the slow client was not closed")
        .unwrap();
    let Ended::TooSlow { resume_from } = ended else {
        panic!("expected TooSlow, got {ended:?}");
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let delivered = positions.lock().unwrap().clone();
    assert_eq!(delivered.last().copied(), Some(resume_from));
    assert!(resume_from < last, "the client kept up after all");

    let (sink, resumed) = recording_sink(Duration::ZERO);
    let mut client = FeedClient::new(sink, FeedScope::Account(account), resume_from, settings(4));
    let hub = Arc::clone(&fixture.hub);
    let running = tokio::spawn(async move { client.run(&hub).await });
    let expected: Vec<u64> = fixture
        .stored_feed_positions()
        .await
        .into_iter()
        .filter(|p| *p > head)
        .collect();
    wait_for_count(&resumed, expected.len() - delivered.len()).await;
    running.abort();

    let mut all = delivered;
    all.extend(resumed.lock().unwrap().iter());
    assert_eq!(all, expected, "gap or duplicate across the resume");
}

#[test]
fn too_slow_close_carries_resume_position() {
    let close = close_message(&Ended::TooSlow { resume_from: 42 }).unwrap();
    let Message::Close(Some(frame)) = close else {
        panic!("not a close frame");
    };
    assert_eq!(frame.code, CLOSE_TOO_SLOW);
    let reason: serde_json::Value = serde_json::from_str(frame.reason.as_str()).unwrap();
    assert_eq!(reason["resume_from"], 42);
    assert!(
        frame.reason.len() <= 123,
        "close reasons are limited to 123 bytes"
    );
    assert!(close_message(&Ended::ClientGone).is_none());
}

impl Fixture {
    async fn history_account(&self) -> Uuid {
        let records = self.log.read_all(0, usize::MAX).await.unwrap();
        records[0].parsed_metadata().account_id.unwrap()
    }
}
