//! Read models rebuilt from the event log: the dashboard, the audit trail and the bot feed.
//! Each follows a subscription, saves checkpoints to resume from at start, and can be rebuilt
//! from the first position.

pub mod audit;
pub mod checkpoint;
pub mod dashboard;
pub mod feed;
mod runner;
#[cfg(feature = "synthetic")]
pub mod synthetic;

pub use audit::{AuditLine, AuditTrail};
pub use checkpoint::{CheckpointDir, CheckpointError};
pub use dashboard::{BacktestSummary, BotView, Dashboard, KeyView, SessionView, VerdictSummary};
pub use feed::{BotFeed, FeedMessage};
pub use runner::{CheckpointSchedule, Projection, ProjectionHandle, Tracked, rebuild};

/// Names of every projection, as `projections rebuild --name` accepts them.
pub const NAMES: &[&str] = &[Dashboard::NAME, AuditTrail::NAME, BotFeed::NAME];

impl Projection for Dashboard {
    const NAME: &'static str = "dashboard";

    type Decoded = dashboard::Decoded;

    fn decode(record: &keyward_events::RecordedEvent) -> Self::Decoded {
        dashboard::Decoded::of(record)
    }

    fn apply_decoded(&mut self, record: &keyward_events::RecordedEvent, decoded: Self::Decoded) {
        Dashboard::apply_decoded(self, record, decoded);
    }
}
