//! The router.

mod bots;
mod dashboard;
mod input;
mod keys;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::state::AppState;

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Builds the HTTP router over the shared state.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/v1/keys", get(keys::list).post(keys::add))
        .route("/api/v1/keys/{key_id}", get(keys::get_one))
        .route("/api/v1/bots", get(bots::list).post(bots::create))
        .route("/api/v1/bots/{bot_id}", get(bots::get_one))
        .route("/api/v1/bots/{bot_id}/backtests", post(bots::backtest))
        .route("/api/v1/dashboard", get(dashboard::get_dashboard))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn not_found() -> crate::ApiError {
    crate::ApiError::not_found("no such route; see the API reference in the README")
}
