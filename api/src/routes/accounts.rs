//! `/api/v1/accounts` and `/api/v1/account`: registration, the account itself, its password.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use keyward_actors::account::{PasswordChange, TwoFactor};
use keyward_vault::SecretBytes;
use serde::Deserialize;
use serde_json::json;

use super::input::SecretInput;
use crate::auth::{Authenticated, Client};
use crate::{ApiError, AppState};

/// Body of `POST /api/v1/accounts`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    username: String,
    #[schema(value_type = String, write_only)]
    password: SecretInput,
}

/// Body of `PUT /api/v1/account/password`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    #[schema(value_type = String, write_only)]
    current_password: SecretInput,
    #[schema(value_type = String, write_only)]
    new_password: SecretInput,
}

/// `POST /api/v1/accounts`: registers an account.
#[utoipa::path(
    post,
    path = "/api/v1/accounts",
    tag = "accounts",
    summary = "Register an account",
    security(()),
    request_body = RegisterBody,
    responses((status = 201, description = "`{account_id, position}`", body = Object))
)]
pub async fn register(
    State(state): State<AppState>,
    client: Client,
    body: Result<Json<RegisterBody>, JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let Json(body) = body?;
    let password = SecretBytes::from_str_bytes(&body.password.0);
    let address = client.address.map(|ip| ip.to_string());
    let (account_id, position) = state
        .accounts
        .register(&body.username, &password, address.as_deref())
        .await?;
    tracing::info!(%account_id, position, "account registered");
    let body = json!({"account_id": account_id, "position": position});
    Ok((StatusCode::CREATED, Json(body)))
}

/// `GET /api/v1/account`: the caller's account.
#[utoipa::path(
    get,
    path = "/api/v1/account",
    tag = "accounts",
    summary = "The caller's account",
    responses((status = 200, description = "The account with its two-factor state", body = Object))
)]
pub async fn get_account(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<serde_json::Value>, ApiError> {
    let account = state
        .accounts
        .state(auth.account_id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such account"))?;
    let two_factor = match account.two_factor {
        TwoFactor::Off => "off",
        TwoFactor::Pending { .. } => "pending",
        TwoFactor::On { .. } => "on",
    };
    Ok(Json(json!({
        "account_id": account.account_id,
        "username": account.username,
        "two_factor": two_factor,
    })))
}

/// `PUT /api/v1/account/password`: changes the password and ends the other sessions.
#[utoipa::path(
    put,
    path = "/api/v1/account/password",
    tag = "accounts",
    summary = "Change the password and end the other sessions",
    request_body = PasswordBody,
    responses((status = 200, description = "Done", body = Object))
)]
pub async fn change_password(
    State(state): State<AppState>,
    auth: Authenticated,
    body: Result<Json<PasswordBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    auth.require_recent_login()?;
    let Json(body) = body?;
    let change = PasswordChange {
        session_id: auth.credential_id(),
        current: SecretBytes::from_str_bytes(&body.current_password.0),
        new: SecretBytes::from_str_bytes(&body.new_password.0),
    };
    let (ended, position) = state
        .accounts
        .change_password(auth.account_id, change, auth.metadata())
        .await?;
    state.consistency.wrote(auth.credential_id(), position);
    tracing::info!(account_id = %auth.account_id, sessions_ended = ended, "password changed");
    Ok(Json(json!({"sessions_ended": ended, "position": position})))
}
