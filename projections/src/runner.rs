//! Keeps a read model up to date from a subscription, and lets readers wait for a position.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use keyward_eventlog::{EventLog, Subscription, SubscriptionFilter};
use keyward_events::RecordedEvent;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A read model that events can be applied to.
pub trait Projection: Default + Send + Sync + 'static {
    /// Applies one stored event.
    fn apply(&mut self, record: &RecordedEvent);
}

impl Projection for crate::Dashboard {
    fn apply(&mut self, record: &RecordedEvent) {
        crate::Dashboard::apply(self, record);
    }
}

/// A running projection: its current state and the position it has reached.
pub struct ProjectionHandle<P> {
    state: Arc<RwLock<P>>,
    reached: watch::Receiver<u64>,
    task: JoinHandle<()>,
}

impl<P: Projection> ProjectionHandle<P> {
    /// Builds the projection from the first position and keeps it following the log.
    pub fn spawn(log: Arc<dyn EventLog>, name: &'static str) -> Self {
        let state = Arc::new(RwLock::new(P::default()));
        let (reached_tx, reached) = watch::channel(0);
        let task_state = Arc::clone(&state);
        let task = tokio::spawn(async move {
            let mut subscription = Subscription::new(log, 0, SubscriptionFilter::All);
            loop {
                match subscription.next().await {
                    Ok(record) => {
                        let position = record.position;
                        task_state
                            .write()
                            .unwrap_or_else(|p| p.into_inner())
                            .apply(&record);
                        reached_tx.send_replace(position);
                    }
                    Err(err) => {
                        tracing::error!(projection = name, error = %err, "projection stopped");
                        return;
                    }
                }
            }
        });
        ProjectionHandle {
            state,
            reached,
            task,
        }
    }

    /// Runs `read` on the current state.
    pub fn read<T>(&self, read: impl FnOnce(&P) -> T) -> T {
        read(&self.state.read().unwrap_or_else(|p| p.into_inner()))
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
}

impl<P> Drop for ProjectionHandle<P> {
    fn drop(&mut self) {
        self.task.abort();
    }
}
