//! Keeps a read model up to date from a subscription, saves checkpoints of it, and lets
//! readers wait for a position.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use keyward_eventlog::{EventLog, ReadError, Subscription, SubscriptionFilter};
use keyward_events::RecordedEvent;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::checkpoint::{CheckpointDir, CheckpointError, hash_text};

/// A read model that events can be applied to, and that checkpoints serialize.
pub trait Projection: Default + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The projection's name, used for its checkpoint file and by `projections rebuild`.
    const NAME: &'static str;

    /// The part of applying an event that needs no state, such as decoding its payload.
    type Decoded: Send;

    /// Decodes one stored event; a rebuild runs this on several threads.
    fn decode(record: &RecordedEvent) -> Self::Decoded;

    /// Applies one decoded event. Events arrive in position order, each exactly once.
    fn apply_decoded(&mut self, record: &RecordedEvent, decoded: Self::Decoded);

    /// Decodes and applies one stored event.
    fn apply(&mut self, record: &RecordedEvent) {
        let decoded = Self::decode(record);
        self.apply_decoded(record, decoded);
    }
}

/// How often a running projection saves its checkpoint.
#[derive(Clone, Copy, Debug)]
pub struct CheckpointSchedule {
    /// Shortest time between two saves.
    pub interval: Duration,
}

impl Default for CheckpointSchedule {
    fn default() -> Self {
        CheckpointSchedule {
            interval: Duration::from_secs(5),
        }
    }
}

/// A projection with the position and chain hash of the last event applied to it.
#[derive(Default)]
pub struct Tracked<P> {
    pub projection: P,
    pub position: u64,
    pub hash: [u8; 32],
}

impl<P: Projection> Tracked<P> {
    /// Applies one event and remembers its position and hash.
    pub fn apply(&mut self, record: &RecordedEvent) {
        self.projection.apply(record);
        self.position = record.position;
        self.hash = record.hash;
    }
}

/// A running projection: its current state and the position it has reached.
pub struct ProjectionHandle<P> {
    state: Arc<RwLock<Tracked<P>>>,
    checkpoints: Option<CheckpointDir>,
    reached: watch::Receiver<u64>,
    task: JoinHandle<()>,
}

impl<P: Projection> ProjectionHandle<P> {
    /// Starts the projection from its checkpoint in `checkpoints` (or from the first position
    /// without one) and keeps it following the log, saving a checkpoint at most every
    /// `policy.interval`.
    pub async fn spawn(
        log: Arc<dyn EventLog>,
        checkpoints: Option<CheckpointDir>,
        policy: CheckpointSchedule,
    ) -> Self {
        let start = match &checkpoints {
            Some(dir) => resume::<P>(log.as_ref(), dir).await,
            None => Tracked::default(),
        };
        let (reached_tx, reached) = watch::channel(start.position);
        let after = start.position;
        let state = Arc::new(RwLock::new(start));
        let follower = Follower {
            state: Arc::clone(&state),
            checkpoints: checkpoints.clone(),
            policy,
            reached: reached_tx,
        };
        let subscription = Subscription::new(log, after, SubscriptionFilter::All);
        let task = tokio::spawn(follower.run(subscription));
        ProjectionHandle {
            state,
            checkpoints,
            reached,
            task,
        }
    }

    /// Runs `read` on the current state.
    pub fn read<T>(&self, read: impl FnOnce(&P) -> T) -> T {
        read(
            &self
                .state
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .projection,
        )
    }

    /// The position of the last event applied.
    pub fn position(&self) -> u64 {
        *self.reached.borrow()
    }

    /// Waits until the projection has applied `position`, at most `timeout`; returns whether
    /// it got there.
    pub async fn wait_for(&self, position: u64, timeout: Duration) -> bool {
        let mut reached = self.reached.clone();
        let waited = tokio::time::timeout(timeout, reached.wait_for(|p| *p >= position)).await;
        matches!(waited, Ok(Ok(_)))
    }

    /// Saves a checkpoint now, for a clean shutdown; does nothing without a checkpoint folder.
    ///
    /// # Errors
    /// Fails when the checkpoint cannot be written.
    pub fn save_checkpoint(&self) -> Result<(), CheckpointError> {
        match &self.checkpoints {
            Some(dir) => save(dir, &self.state),
            None => Ok(()),
        }
    }
}

impl<P> Drop for ProjectionHandle<P> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The task that applies events to a running projection.
struct Follower<P> {
    state: Arc<RwLock<Tracked<P>>>,
    checkpoints: Option<CheckpointDir>,
    policy: CheckpointSchedule,
    reached: watch::Sender<u64>,
}

impl<P: Projection> Follower<P> {
    async fn run(self, mut subscription: Subscription) {
        let mut saved_at = self.position();
        let mut last_save = Instant::now();
        loop {
            let due = saved_at < self.position() && self.checkpoints.is_some();
            let save_deadline = last_save + self.policy.interval;
            tokio::select! {
                next = subscription.next() => match next {
                    Ok(record) => self.apply(&record),
                    Err(err) => {
                        tracing::error!(projection = P::NAME, error = %err, "projection stopped");
                        return;
                    }
                },
                () = tokio::time::sleep_until(save_deadline), if due => {
                    saved_at = self.save();
                    last_save = Instant::now();
                }
            }
        }
    }

    fn apply(&self, record: &RecordedEvent) {
        self.state
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .apply(record);
        self.reached.send_replace(record.position);
    }

    fn position(&self) -> u64 {
        *self.reached.borrow()
    }

    /// Saves a checkpoint and returns the position it covers; a failure is logged and the
    /// next save tries again.
    fn save(&self) -> u64 {
        let Some(dir) = &self.checkpoints else {
            return self.position();
        };
        match save(dir, &self.state) {
            Ok(()) => self.position(),
            Err(err) => {
                tracing::warn!(projection = P::NAME, error = %err, "cannot save the projection checkpoint");
                0
            }
        }
    }
}

fn save<P: Projection>(
    dir: &CheckpointDir,
    state: &RwLock<Tracked<P>>,
) -> Result<(), CheckpointError> {
    let tracked = state.read().unwrap_or_else(|p| p.into_inner());
    dir.save(
        P::NAME,
        tracked.position,
        &tracked.hash,
        &tracked.projection,
    )
}

/// Loads the checkpoint of `P` and checks it against the log; any problem means starting
/// from the first position, which is always correct, only slower.
async fn resume<P: Projection>(log: &dyn EventLog, dir: &CheckpointDir) -> Tracked<P> {
    let saved = match dir.load::<P>(P::NAME) {
        Ok(Some(saved)) => saved,
        Ok(None) => return Tracked::default(),
        Err(err) => {
            tracing::warn!(projection = P::NAME, error = %err, "ignoring the projection checkpoint; rebuilding from the first position");
            return Tracked::default();
        }
    };
    match stored_hash(log, saved.position).await {
        Ok(Some(hash)) if hash_text(saved.position, &hash) == saved.hash => {
            tracing::info!(
                projection = P::NAME,
                position = saved.position,
                "projection resumed from its checkpoint"
            );
            Tracked {
                projection: saved.state,
                position: saved.position,
                hash,
            }
        }
        Ok(_) => {
            tracing::warn!(
                projection = P::NAME,
                position = saved.position,
                "the projection checkpoint does not match the log; rebuilding from the first position"
            );
            Tracked::default()
        }
        Err(err) => {
            tracing::warn!(projection = P::NAME, error = %err, "cannot check the projection checkpoint; rebuilding from the first position");
            Tracked::default()
        }
    }
}

/// The chain hash of the event at `position` (zero at position 0), or `None` when the log
/// does not reach it.
async fn stored_hash(log: &dyn EventLog, position: u64) -> Result<Option<[u8; 32]>, ReadError> {
    if position == 0 {
        return Ok(Some([0; 32]));
    }
    let record = log.read_all(position - 1, 1).await?.pop();
    Ok(record.filter(|r| r.position == position).map(|r| r.hash))
}

/// Events decoded together by a rebuild before they are applied in order.
const REBUILD_CHUNK: usize = 8192;

/// Builds a projection from stored events, calling `progress` after each chunk with the last
/// position applied. Events are decoded on rayon's threads and applied in position order.
///
/// # Errors
/// Fails at the first event that cannot be read; the events before it are applied.
pub fn rebuild<P: Projection>(
    records: impl IntoIterator<Item = Result<RecordedEvent, ReadError>>,
    mut progress: impl FnMut(u64),
) -> Result<Tracked<P>, ReadError> {
    let mut tracked = Tracked::<P>::default();
    let mut records = records.into_iter();
    let mut chunk = Vec::with_capacity(REBUILD_CHUNK);
    loop {
        chunk.clear();
        let mut failed = None;
        for record in records.by_ref() {
            match record {
                Ok(record) => chunk.push(record),
                Err(err) => {
                    failed = Some(err);
                    break;
                }
            }
            if chunk.len() == REBUILD_CHUNK {
                break;
            }
        }
        apply_chunk(&mut tracked, &chunk);
        if let Some(last) = chunk.last() {
            progress(last.position);
        }
        if let Some(err) = failed {
            return Err(err);
        }
        if chunk.len() < REBUILD_CHUNK {
            return Ok(tracked);
        }
    }
}

fn apply_chunk<P: Projection>(tracked: &mut Tracked<P>, chunk: &[RecordedEvent]) {
    use rayon::prelude::*;

    let decoded: Vec<P::Decoded> = chunk.par_iter().map(P::decode).collect();
    for (record, decoded) in chunk.iter().zip(decoded) {
        tracked.projection.apply_decoded(record, decoded);
        tracked.position = record.position;
        tracked.hash = record.hash;
    }
}
