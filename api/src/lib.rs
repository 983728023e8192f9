//! keyward's HTTP API: JSON routes over the actors and the projections.
//!
//! Commands go to the actors and answer with the log position of their last event; reads come
//! from projections and first wait (bounded) until the projection has reached the caller's
//! last write, so a client never reads older state than it wrote.

mod error;
mod routes;
mod state;

pub use error::ApiError;
pub use routes::router;
pub use state::{AppState, ReadConsistency};
