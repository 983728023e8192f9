//! What every handler shares.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use keyward_actors::bot::BotService;
use keyward_actors::key::KeyService;
use keyward_eventlog::EventLog;
use keyward_projections::{Dashboard, ProjectionHandle};

/// How long a read waits for a projection to reach the position it needs.
pub const READ_WAIT: Duration = Duration::from_secs(2);

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    pub log: Arc<dyn EventLog>,
    pub keys: KeyService,
    pub bots: BotService,
    pub dashboard: Arc<ProjectionHandle<Dashboard>>,
    /// Folder of kline CSVs that server-side backtests may read.
    pub market_data_dir: Option<PathBuf>,
    pub consistency: Arc<ReadConsistency>,
}

/// Tracks the last position a command wrote, so later reads wait for it.
///
/// NOTE: without accounts and sessions there is one writer identity (loopback only), so one
/// watermark serves every caller; with sessions it becomes per session.
#[derive(Debug, Default)]
pub struct ReadConsistency {
    last_write: AtomicU64,
}

impl ReadConsistency {
    /// Records the position of a command's last event.
    pub fn wrote(&self, position: u64) {
        self.last_write.fetch_max(position, Ordering::AcqRel);
    }

    /// The position reads must reach: the caller's `min_position` or the last write.
    pub fn required(&self, min_position: Option<u64>) -> u64 {
        let last = self.last_write.load(Ordering::Acquire);
        min_position.map_or(last, |p| p.max(last))
    }
}

impl AppState {
    /// Waits until the dashboard has reached what this read must see.
    pub async fn dashboard_at(&self, min_position: Option<u64>) {
        let required = self.consistency.required(min_position);
        if !self.dashboard.wait_for(required, READ_WAIT).await {
            tracing::warn!(
                required,
                reached = self.dashboard.position(),
                "dashboard read is behind"
            );
        }
    }
}
