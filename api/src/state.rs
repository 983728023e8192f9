//! What every handler shares.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyward_actors::account::AccountService;
use keyward_actors::bot::BotService;
use keyward_actors::key::KeyService;
use keyward_eventlog::EventLog;
use keyward_projections::{AuditTrail, Dashboard, ProjectionHandle};
use uuid::Uuid;

use crate::auth::AuthSettings;
use crate::feed::FeedHub;
use crate::idempotency::IdempotencyStore;
use crate::stream::StreamSettings;

/// How long a read waits for a projection to reach the position it needs.
pub const READ_WAIT: Duration = Duration::from_secs(2);

/// Sessions whose last write is remembered; past this, the oldest half is forgotten and those
/// sessions' reads wait only for an explicit `min_position`.
const MAX_TRACKED_SESSIONS: usize = 100_000;

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    pub log: Arc<dyn EventLog>,
    pub keys: KeyService,
    pub bots: BotService,
    pub accounts: AccountService,
    pub auth: Arc<AuthSettings>,
    pub dashboard: Arc<ProjectionHandle<Dashboard>>,
    pub audit: Arc<ProjectionHandle<AuditTrail>>,
    /// Folder of kline CSVs that server-side backtests may read.
    pub market_data_dir: Option<PathBuf>,
    pub consistency: Arc<ReadConsistency>,
    /// The live bot feed's broadcaster.
    pub feed: Arc<FeedHub>,
    pub streams: StreamSettings,
    /// Responses kept for `Idempotency-Key` retries.
    pub idempotency: Arc<IdempotencyStore>,
}

/// Tracks the last position each session (or API token) wrote, so its later reads wait for
/// it.
#[derive(Debug, Default)]
pub struct ReadConsistency {
    last_write: Mutex<HashMap<Uuid, u64>>,
}

impl ReadConsistency {
    /// Records the position of a command's last event for the session that sent it.
    pub fn wrote(&self, session_id: Uuid, position: u64) {
        let mut last = self.last_write.lock().unwrap_or_else(|p| p.into_inner());
        if last.len() >= MAX_TRACKED_SESSIONS && !last.contains_key(&session_id) {
            let mut positions: Vec<u64> = last.values().copied().collect();
            positions.sort_unstable();
            let median = positions[positions.len() / 2];
            last.retain(|_, p| *p > median);
        }
        let entry = last.entry(session_id).or_default();
        *entry = (*entry).max(position);
    }

    /// Forgets an ended session.
    pub fn forget(&self, session_id: Uuid) {
        let mut last = self.last_write.lock().unwrap_or_else(|p| p.into_inner());
        last.remove(&session_id);
    }

    /// The position a session's read must reach: its `min_position` or its last write.
    pub fn required(&self, session_id: Uuid, min_position: Option<u64>) -> u64 {
        let last = self.last_write.lock().unwrap_or_else(|p| p.into_inner());
        let written = last.get(&session_id).copied().unwrap_or(0);
        min_position.map_or(written, |p| p.max(written))
    }
}

impl AppState {
    /// Waits until the dashboard has reached what this session's read must see.
    pub async fn dashboard_at(&self, session_id: Uuid, min_position: Option<u64>) {
        let required = self.consistency.required(session_id, min_position);
        if !self.dashboard.wait_for(required, READ_WAIT).await {
            tracing::warn!(
                required,
                reached = self.dashboard.position(),
                "dashboard read is behind"
            );
        }
    }

    /// Waits until the audit trail has reached what this session's read must see.
    pub async fn audit_at(&self, session_id: Uuid, min_position: Option<u64>) {
        let required = self.consistency.required(session_id, min_position);
        if !self.audit.wait_for(required, READ_WAIT).await {
            tracing::warn!(
                required,
                reached = self.audit.position(),
                "audit read is behind"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wait_only_for_their_own_session() {
        let consistency = ReadConsistency::default();
        let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
        consistency.wrote(first, 7);
        consistency.wrote(first, 5);
        assert_eq!(consistency.required(first, None), 7);
        assert_eq!(consistency.required(first, Some(9)), 9);
        assert_eq!(consistency.required(second, None), 0);
        consistency.forget(first);
        assert_eq!(consistency.required(first, None), 0);
    }
}
