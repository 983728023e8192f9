//! `GET /api/v1/dashboard`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde_json::json;

use super::input::ReadQuery;
use super::keys::KeyResponse;
use crate::auth::Authenticated;
use crate::{ApiError, AppState};

/// The dashboard of the caller's account: keys with status and permissions, bots with their
/// backtest results.
#[utoipa::path(
    get,
    path = "/api/v1/dashboard",
    tag = "reads",
    summary = "Keys, bots and sessions of the account",
    params(ReadQuery),
    responses((status = 200, description = "`{keys, bots, position}`", body = Object))
)]
pub async fn get_dashboard(
    State(state): State<AppState>,
    auth: Authenticated,
    query: Result<Query<ReadQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    state
        .dashboard_at(auth.credential_id(), query.min_position)
        .await;
    let account = auth.account_id;
    let body = state.dashboard.read(|d| {
        let keys: Vec<KeyResponse> = d.keys_of(account).map(KeyResponse::from).collect();
        let bots: Vec<_> = d.bots_of(account).collect();
        json!({"keys": keys, "bots": bots, "position": d.position})
    });
    Ok(Json(body))
}
