//! The router, built together with the OpenAPI document's paths.

mod account_risk;
mod accounts;
mod audit;
mod bots;
mod dashboard;
mod input;
mod keys;
mod page;
mod sessions;
mod tokens;
mod two_factor;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::{Json, Router};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::idempotency::IdempotencyStore;
use crate::state::AppState;

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Builds the HTTP router over the shared state.
pub fn router(state: AppState) -> Router {
    served_routes(Arc::clone(&state.idempotency)).with_state(state)
}

/// Every route with its middleware, before the state is attached. Routes are added only in
/// [`api_routes`], so that each one is in the OpenAPI document.
fn served_routes(idempotency: Arc<IdempotencyStore>) -> Router<AppState> {
    let (routes, _) = api_routes().split_for_parts();
    routes
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            idempotency,
            crate::idempotency::middleware,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// Every route of the API, each registered with its `#[utoipa::path]` operation.
pub(crate) fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::base())
        .routes(routes!(healthz))
        .routes(routes!(crate::metrics::render))
        .routes(routes!(crate::openapi::serve))
        .routes(routes!(crate::schemas::serve))
        .routes(routes!(crate::stream::sse))
        .routes(routes!(crate::stream::websocket))
        .routes(routes!(crate::feed::account_feed))
        .routes(routes!(crate::feed::bot_feed))
        .routes(routes!(accounts::register))
        .routes(routes!(accounts::get_account))
        .routes(routes!(accounts::change_password))
        .routes(routes!(sessions::list, sessions::login))
        .routes(routes!(sessions::logout))
        .routes(routes!(sessions::end_others))
        .routes(routes!(sessions::end_one))
        .routes(routes!(sessions::reauthenticate))
        .routes(routes!(two_factor::enroll))
        .routes(routes!(two_factor::confirm))
        .routes(routes!(two_factor::disable))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::revoke))
        .routes(routes!(keys::list, keys::add))
        .routes(routes!(keys::get_one, keys::delete))
        .routes(routes!(bots::list, bots::create))
        .routes(routes!(bots::get_one, bots::configure))
        .routes(routes!(bots::activate))
        .routes(routes!(bots::pause))
        .routes(routes!(bots::stop))
        .routes(routes!(bots::backtest))
        .routes(routes!(account_risk::get_risk, account_risk::set_risk))
        .routes(routes!(account_risk::engage, account_risk::release))
        .routes(routes!(dashboard::get_dashboard))
        .routes(routes!(audit::list))
}

/// `GET /healthz`.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "service",
    security(()),
    responses((status = 200, description = "The service is up: `{\"status\": \"ok\"}`", body = Object))
)]
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn not_found() -> crate::ApiError {
    crate::ApiError::not_found("no such route; see the API reference in the README")
}

#[cfg(test)]
mod tests;
