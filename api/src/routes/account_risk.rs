//! `/api/v1/account/risk` and `/api/v1/account/kill-switch`: limits shared by every bot of the
//! account, and the switch that stops them all.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use keyward_actors::bot::{AccountLimits, BotCommandError};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;

use crate::auth::Authenticated;
use crate::{ApiError, AppState};

/// Body of `PUT /api/v1/account/risk`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountRiskRequest {
    /// A number or a string holding one.
    #[schema(value_type = String)]
    max_leverage: serde_json::Value,
    /// A percent number (`2` means 2%) or a string holding one.
    #[schema(value_type = String)]
    daily_loss_limit_pct: serde_json::Value,
}

/// Reads a decimal from a JSON number or string.
fn decimal_field(name: &str, value: &serde_json::Value) -> Result<Decimal, ApiError> {
    let parsed = match value {
        serde_json::Value::Number(number) => number.to_string().parse::<Decimal>().ok(),
        serde_json::Value::String(text) => text.parse::<Decimal>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| {
        ApiError::invalid(format!("{name} = {value} is not a decimal number"))
            .with_hint(format!("send {name} as a number, e.g. 3"))
    })
}

/// `GET /api/v1/account/risk`: the account's limits and whether the kill switch is engaged.
#[utoipa::path(
    get,
    path = "/api/v1/account/risk",
    tag = "risk",
    summary = "The account's risk limits and kill switch",
    responses((status = 200, description = "The limits and whether the kill switch is engaged", body = Object))
)]
pub async fn get_risk(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<serde_json::Value>, ApiError> {
    let risk = state
        .bots
        .account_risk(auth.account_id)
        .await
        .map_err(risk_error)?;
    Ok(Json(json!(risk)))
}

/// `PUT /api/v1/account/risk`: records `AccountRiskLimitsSet`.
#[utoipa::path(
    put,
    path = "/api/v1/account/risk",
    tag = "risk",
    summary = "Set the account risk limits",
    request_body = AccountRiskRequest,
    responses((status = 200, description = "Done", body = Object))
)]
pub async fn set_risk(
    State(state): State<AppState>,
    auth: Authenticated,
    body: Result<Json<AccountRiskRequest>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(request) = body?;
    let limits = AccountLimits {
        max_leverage: decimal_field("max_leverage", &request.max_leverage)?,
        daily_loss_limit_pct: decimal_field("daily_loss_limit_pct", &request.daily_loss_limit_pct)?,
    };
    let appended = state
        .bots
        .set_account_limits(auth.account_id, limits, auth.metadata())
        .await
        .map_err(risk_error)?;
    let position = appended.last_position;
    state.consistency.wrote(auth.credential_id(), position);
    Ok(Json(json!({
        "max_leverage": limits.max_leverage,
        "daily_loss_limit_pct": limits.daily_loss_limit_pct,
        "position": position,
    })))
}

/// `POST /api/v1/account/kill-switch`: records `KillSwitchEngaged` and stops every bot.
#[utoipa::path(
    post,
    path = "/api/v1/account/kill-switch",
    tag = "risk",
    summary = "Engage the kill switch and stop every bot",
    responses((status = 200, description = "Done", body = Object))
)]
pub async fn engage(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<serde_json::Value>, ApiError> {
    let outcome = state
        .bots
        .engage_kill_switch(auth.account_id, auth.metadata())
        .await
        .map_err(risk_error)?;
    let position = outcome.appended.last_position;
    state.consistency.wrote(auth.credential_id(), position);
    Ok(Json(json!({
        "kill_switch_engaged": true,
        "stopped_bots": outcome.stopped,
        "position": position,
    })))
}

/// `DELETE /api/v1/account/kill-switch`: records `KillSwitchReleased`.
#[utoipa::path(
    delete,
    path = "/api/v1/account/kill-switch",
    tag = "risk",
    summary = "Release the kill switch",
    responses((status = 200, description = "Done", body = Object))
)]
pub async fn release(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<serde_json::Value>, ApiError> {
    let appended = state
        .bots
        .release_kill_switch(auth.account_id, auth.metadata())
        .await
        .map_err(risk_error)?;
    let position = appended.last_position;
    state.consistency.wrote(auth.credential_id(), position);
    Ok(Json(
        json!({"kill_switch_engaged": false, "position": position}),
    ))
}

fn risk_error(err: BotCommandError) -> ApiError {
    match err {
        BotCommandError::InvalidRisk(_) => ApiError::invalid(err.to_string()),
        BotCommandError::NotFound(_) => ApiError::not_found("the account has no stream yet"),
        BotCommandError::Append(keyward_eventlog::AppendError::WrongExpectedVersion { .. }) => {
            ApiError::conflict(err.to_string()).with_hint("retry the request")
        }
        other => ApiError::internal(other),
    }
}
