//! `/api/v1/tokens`: personal API tokens for integrations.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, TimeDelta, Utc};
use keyward_actors::account::{CredentialKind, NewApiToken};
use keyward_events::account::TokenScope;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::page::PageQuery;
use crate::auth::Authenticated;
use crate::openapi::TokenScopeSchema;
use crate::{ApiError, AppState};

const DEFAULT_LIFETIME_DAYS: u32 = 90;
const MAX_LIFETIME_DAYS: u32 = 365;
const MAX_NAME_CHARS: usize = 100;

/// Body of `POST /api/v1/tokens`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenBody {
    name: String,
    #[schema(value_type = TokenScopeSchema)]
    scope: TokenScope,
    /// Days until the token expires: 1 to 365, 90 by default.
    #[serde(default)]
    expires_in_days: Option<u32>,
}

/// A token as `GET /api/v1/tokens` lists it; never its value.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenView {
    token_id: Uuid,
    name: String,
    #[schema(value_type = Option<TokenScopeSchema>)]
    scope: Option<TokenScope>,
    created_at: DateTime<Utc>,
    last_used_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// A page of `GET /api/v1/tokens`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenList {
    tokens: Vec<TokenView>,
    /// The `after` of the following page; `null` on the last page.
    next: Option<Uuid>,
}

/// `GET /api/v1/tokens`: the account's active API tokens, oldest first, in pages.
#[utoipa::path(
    get,
    path = "/api/v1/tokens",
    tag = "tokens",
    summary = "The account's API tokens, in pages",
    params(PageQuery),
    responses((status = 200, description = "A page of tokens, never their values", body = TokenList))
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<TokenList>, ApiError> {
    auth.require_session()?;
    let Query(query) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    let page = query.page()?;
    let mut tokens = state
        .accounts
        .credentials(auth.account_id, CredentialKind::ApiToken)
        .await?;
    tokens.sort_by_key(|token| token.credential_id);
    let (tokens, next) = page.take(tokens, |token| token.credential_id);
    let tokens = tokens
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
    Ok(Json(TokenList { tokens, next }))
}

/// `POST /api/v1/tokens`: creates a token, whose value appears in this response only.
#[utoipa::path(
    post,
    path = "/api/v1/tokens",
    tag = "tokens",
    summary = "Create an API token; its value appears in this response only",
    request_body = CreateTokenBody,
    responses((status = 201, description = "`{token_id, token, name, scope, expires_at, position}`", body = Object))
)]
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
#[utoipa::path(
    delete,
    path = "/api/v1/tokens/{token_id}",
    tag = "tokens",
    summary = "Revoke an API token",
    params(("token_id" = Uuid, Path, description = "The token")),
    responses((status = 204, description = "Revoked"))
)]
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
