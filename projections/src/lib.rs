//! Read models rebuilt from the event log: the dashboard, and later the audit trail and the
//! bot feed. Each is fed by a subscription and can be rebuilt from the first position.

pub mod dashboard;
mod runner;

pub use dashboard::{BacktestSummary, BotView, Dashboard, KeyView};
pub use runner::{Projection, ProjectionHandle};
