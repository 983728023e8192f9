//! keyward's HTTP API: JSON routes over the actors and the projections.
//!
//! Commands go to the actors and answer with the log position of their last event; reads come
//! from projections and first wait (bounded) until the projection has reached the caller's
//! last write, so a client never reads older state than it wrote. Every route but `/healthz`,
//! registration and login needs a session or API token (see [`auth`]), and sees only its own
//! account's keys, bots and sessions.

pub mod auth;
mod error;
pub mod feed;
pub mod idempotency;
pub mod metrics;
pub mod openapi;
mod routes;
pub mod schemas;
mod state;
pub mod stream;

pub use error::ApiError;
pub use feed::FeedHub;
pub use routes::router;
pub use state::{AppState, ReadConsistency};
pub use stream::StreamSettings;
