//! `/api/v1/tokens`: personal API tokens for integrations.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, TimeDelta, Utc};
use keyward_actors::account::{CredentialKind, NewApiToken};
use keyward_events::account::TokenScope;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Authenticated;
use crate::{ApiError, AppState};

const DEFAULT_LIFETIME_DAYS: u32 = 90;
const MAX_LIFETIME_DAYS: u32 = 365;
const MAX_NAME_CHARS: usize = 100;

/// Body of `POST /api/v1/tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenBody {
    name: String,
    scope: TokenScope,
    /// Days until the token expires: 1 to 365, 90 by default.
    #[serde(default)]
    expires_in_days: Option<u32>,
}

/// A token as `GET /api/v1/tokens` lists it; never its value.
#[derive(Debug, Serialize)]
pub struct TokenView {
    token_id: Uuid,
    name: String,
    scope: Option<TokenScope>,
    created_at: DateTime<Utc>,
    last_used_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// `GET /api/v1/tokens`: the account's active API tokens.
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<serde_json::Value>, ApiError> {
    auth.require_session()?;
    let tokens = state
        .accounts
        .credentials(auth.account_id, CredentialKind::ApiToken)
        .await?;
    let views: Vec<TokenView> = tokens
        .into_iter()
        .map(|token| TokenView {
            token_id: token.credential_id,
            name: token.name,
            scope: token.scope,
            created_at: token.created_at,
            last_used_at: token.last_used_at,
            expires_at: token.expires_at,
        })
        .collect();
    Ok(Json(json!({"tokens": views})))
}

/// `POST /api/v1/tokens`: creates a token, whose value appears in this response only.
pub async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    body: Result<Json<CreateTokenBody>, JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    auth.require_recent_login()?;
    let Json(body) = body?;
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::invalid(format!(
            "name must have 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    let days = body.expires_in_days.unwrap_or(DEFAULT_LIFETIME_DAYS);
    if !(1..=MAX_LIFETIME_DAYS).contains(&days) {
        return Err(ApiError::invalid(format!(
            "expires_in_days is {days}; use 1 to {MAX_LIFETIME_DAYS}"
        )));
    }
    let request = NewApiToken {
        name,
        scope: body.scope,
        expires_at: Utc::now() + TimeDelta::days(i64::from(days)),
    };
    let issued = state
        .accounts
        .create_api_token(auth.account_id, request, auth.metadata())
        .await?;
    state
        .consistency
        .wrote(auth.credential_id(), issued.position);
    let body = json!({
        "token_id": issued.token_id,
        "token": issued.token.as_str(),
        "name": issued.name,
        "scope": issued.scope,
        "expires_at": issued.expires_at,
        "position": issued.position,
    });
    Ok((StatusCode::CREATED, Json(body)))
}

/// `DELETE /api/v1/tokens/{token_id}`: revokes a token.
pub async fn revoke(
    State(state): State<AppState>,
    auth: Authenticated,
    token_id: Result<Path<Uuid>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    auth.require_session()?;
    let Path(token_id) = token_id.map_err(|_| ApiError::not_found("no API token with that id"))?;
    let position = state
        .accounts
        .end_credential(
            auth.account_id,
            token_id,
            CredentialKind::ApiToken,
            Some(auth.credential_id()),
            auth.metadata(),
        )
        .await?;
    state.consistency.wrote(auth.credential_id(), position);
    Ok(StatusCode::NO_CONTENT)
}
