//! The router.

mod account_risk;
mod accounts;
mod audit;
mod bots;
mod dashboard;
mod input;
mod keys;
mod sessions;
mod tokens;
mod two_factor;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde_json::json;

use crate::state::AppState;

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Builds the HTTP router over the shared state.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(crate::metrics::render))
        .route("/openapi.json", get(crate::openapi::serve))
        .route("/api/v1/schemas/events", get(crate::schemas::serve))
        .route("/api/v1/events", get(crate::stream::sse))
        .route("/api/v1/events/ws", get(crate::stream::websocket))
        .route("/api/v1/feed", get(crate::feed::account_feed))
        .route("/api/v1/bots/{bot_id}/feed", get(crate::feed::bot_feed))
        .route("/api/v1/accounts", post(accounts::register))
        .route("/api/v1/account", get(accounts::get_account))
        .route("/api/v1/account/password", put(accounts::change_password))
        .route(
            "/api/v1/sessions",
            get(sessions::list).post(sessions::login),
        )
        .route("/api/v1/sessions/current", delete(sessions::logout))
        .route("/api/v1/sessions/others", delete(sessions::end_others))
        .route("/api/v1/sessions/{session_id}", delete(sessions::end_one))
        .route("/api/v1/reauth", post(sessions::reauthenticate))
        .route("/api/v1/2fa/enroll", post(two_factor::enroll))
        .route("/api/v1/2fa/confirm", post(two_factor::confirm))
        .route("/api/v1/2fa/disable", post(two_factor::disable))
        .route("/api/v1/tokens", get(tokens::list).post(tokens::create))
        .route("/api/v1/tokens/{token_id}", delete(tokens::revoke))
        .route("/api/v1/keys", get(keys::list).post(keys::add))
        .route(
            "/api/v1/keys/{key_id}",
            get(keys::get_one).delete(keys::delete),
        )
        .route("/api/v1/bots", get(bots::list).post(bots::create))
        .route(
            "/api/v1/bots/{bot_id}",
            get(bots::get_one).put(bots::configure),
        )
        .route("/api/v1/bots/{bot_id}/activate", post(bots::activate))
        .route("/api/v1/bots/{bot_id}/pause", post(bots::pause))
        .route("/api/v1/bots/{bot_id}/stop", post(bots::stop))
        .route(
            "/api/v1/account/risk",
            get(account_risk::get_risk).put(account_risk::set_risk),
        )
        .route(
            "/api/v1/account/kill-switch",
            post(account_risk::engage).delete(account_risk::release),
        )
        .route("/api/v1/bots/{bot_id}/backtests", post(bots::backtest))
        .route("/api/v1/dashboard", get(dashboard::get_dashboard))
        .route("/api/v1/audit", get(audit::list))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            std::sync::Arc::clone(&state.idempotency),
            crate::idempotency::middleware,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn not_found() -> crate::ApiError {
    crate::ApiError::not_found("no such route; see the API reference in the README")
}
