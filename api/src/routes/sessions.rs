//! `/api/v1/sessions` and `/api/v1/reauth`: log in and out, list and end sessions, and
//! re-authenticate.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use keyward_actors::account::{
    Credential, CredentialKind, IssuedSession, LoginRequest, SecondFactorInput,
};
use keyward_events::Metadata;
use keyward_events::account::SessionTransport;
use keyward_vault::SecretBytes;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::input::SecretInput;
use super::page::PageQuery;
use crate::auth::{Authenticated, Client, client_info, cookie, same_origin};
use crate::openapi::SessionTransportSchema;
use crate::{ApiError, AppState};

/// Body of `POST /api/v1/sessions`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    username: String,
    #[schema(value_type = String, write_only)]
    password: SecretInput,
    #[serde(default)]
    #[schema(value_type = Option<String>, write_only)]
    totp_code: Option<SecretInput>,
    #[serde(default)]
    #[schema(value_type = Option<String>, write_only)]
    recovery_code: Option<SecretInput>,
    /// `cookie` or `bearer`; by default browsers (requests with `Sec-Fetch-Mode`) get a cookie.
    #[serde(default)]
    #[schema(value_type = Option<SessionTransportSchema>)]
    transport: Option<SessionTransport>,
}

/// Body of `POST /api/v1/reauth`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReAuthBody {
    #[schema(value_type = String, write_only)]
    password: SecretInput,
    #[serde(default)]
    #[schema(value_type = Option<String>, write_only)]
    totp_code: Option<SecretInput>,
    #[serde(default)]
    #[schema(value_type = Option<String>, write_only)]
    recovery_code: Option<SecretInput>,
}

/// A session as `GET /api/v1/sessions` lists it; never its token.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    session_id: Uuid,
    device: String,
    address: Option<String>,
    #[schema(value_type = SessionTransportSchema)]
    transport: SessionTransport,
    created_at: DateTime<Utc>,
    last_used_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    /// Whether this is the session that made the request.
    current: bool,
}

/// A page of `GET /api/v1/sessions`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionList {
    sessions: Vec<SessionView>,
    /// The `after` of the following page; `null` on the last page.
    next: Option<Uuid>,
}

/// The second factor of a request body: a TOTP code or a recovery code, not both.
pub(super) fn second_factor(
    totp_code: Option<SecretInput>,
    recovery_code: Option<SecretInput>,
) -> Result<SecondFactorInput, ApiError> {
    match (totp_code, recovery_code) {
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "send totp_code or recovery_code, not both",
        )),
        (Some(code), None) => Ok(SecondFactorInput::Totp(code.0)),
        (None, Some(code)) => Ok(SecondFactorInput::RecoveryCode(code.0)),
        (None, None) => Ok(SecondFactorInput::Missing),
    }
}

/// `POST /api/v1/sessions`: logs in and starts a session.
#[utoipa::path(
    post,
    path = "/api/v1/sessions",
    tag = "sessions",
    summary = "Log in and start a session",
    security(()),
    request_body = LoginBody,
    responses((status = 201, description = "`{token, session_id, …}`; browsers get a cookie instead of the token", body = Object))
)]
pub async fn login(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    body: Result<Json<LoginBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let transport = body
        .transport
        .unwrap_or(if headers.contains_key("sec-fetch-mode") {
            SessionTransport::Cookie
        } else {
            SessionTransport::Bearer
        });
    if transport == SessionTransport::Cookie && !same_origin(&headers) {
        return Err(ApiError::csrf_failed("the login comes from another origin"));
    }
    let request = LoginRequest {
        username: body.username,
        password: SecretBytes::from_str_bytes(&body.password.0),
        second_factor: second_factor(body.totp_code, body.recovery_code)?,
        transport,
        client: client_info(&client),
    };
    let metadata = Metadata {
        correlation_id: Some(Uuid::now_v7()),
        source_address: request.client.address.clone(),
        ..Metadata::default()
    };
    let issued = state.accounts.login(request, metadata).await?;
    state.consistency.wrote(issued.session_id, issued.position);
    tracing::info!(account_id = %issued.account_id, session_id = %issued.session_id, "logged in");
    Ok(session_answer(
        &state,
        &issued,
        transport,
        client.tls,
        StatusCode::CREATED,
    ))
}

/// `POST /api/v1/reauth`: checks the password (and second factor) again and renews the
/// session's token, which also renews its right to sensitive actions.
#[utoipa::path(
    post,
    path = "/api/v1/reauth",
    tag = "sessions",
    summary = "Re-authenticate before a sensitive action",
    request_body = ReAuthBody,
    responses((status = 200, description = "Done", body = Object))
)]
pub async fn reauthenticate(
    State(state): State<AppState>,
    auth: Authenticated,
    body: Result<Json<ReAuthBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    auth.require_session()?;
    let Json(body) = body?;
    let second_factor = second_factor(body.totp_code, body.recovery_code)?;
    let password = SecretBytes::from_str_bytes(&body.password.0);
    let issued = state
        .accounts
        .reauthenticate(&auth.credential, password, second_factor, auth.metadata())
        .await?;
    state.consistency.wrote(issued.session_id, issued.position);
    let transport = auth.credential.transport;
    Ok(session_answer(
        &state,
        &issued,
        transport,
        auth.client.tls,
        StatusCode::OK,
    ))
}

/// Builds the response to a login or re-authentication: the token in the body for API clients,
/// in the HttpOnly cookie for browsers.
fn session_answer(
    state: &AppState,
    issued: &IssuedSession,
    transport: SessionTransport,
    tls: bool,
    status: StatusCode,
) -> Response {
    let common = json!({
        "session_id": issued.session_id,
        "expires_at": issued.expires_at,
        "position": issued.position,
    });
    if transport == SessionTransport::Bearer {
        let mut body = common;
        body["token"] = json!(issued.token.as_str());
        return (status, Json(body)).into_response();
    }
    let lifetime = state.accounts.config().session_lifetime.as_secs();
    let max_age = i64::try_from(lifetime).unwrap_or(i64::MAX);
    let cookies = cookie::session_cookies(&issued.token, max_age, tls);
    let mut body = common;
    body["csrf_token"] = json!(cookie::csrf_token(&issued.token));
    with_cookies((status, Json(body)).into_response(), &cookies)
}

fn with_cookies(mut response: Response, cookies: &[String]) -> Response {
    for value in cookies {
        if let Ok(value) = HeaderValue::from_str(value) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// `GET /api/v1/sessions`: the account's active login sessions, oldest first, in pages.
#[utoipa::path(
    get,
    path = "/api/v1/sessions",
    tag = "sessions",
    summary = "The account's login sessions with device, address and last use, in pages",
    params(PageQuery),
    responses((status = 200, description = "A page of sessions", body = SessionList))
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<SessionList>, ApiError> {
    auth.require_session()?;
    let Query(query) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    let page = query.page()?;
    let mut sessions = state
        .accounts
        .credentials(auth.account_id, CredentialKind::Session)
        .await?;
    sessions.sort_by_key(|session| session.credential_id);
    let (sessions, next) = page.take(sessions, |session| session.credential_id);
    let current = auth.credential_id();
    let sessions = sessions.iter().map(|s| view(s, current)).collect();
    Ok(Json(SessionList { sessions, next }))
}

fn view(session: &Credential, current: Uuid) -> SessionView {
    SessionView {
        session_id: session.credential_id,
        device: session.device.clone(),
        address: session.address.clone(),
        transport: session.transport,
        created_at: session.created_at,
        last_used_at: session.last_used_at,
        expires_at: session.expires_at,
        current: session.credential_id == current,
    }
}

/// `DELETE /api/v1/sessions/current`: logs out.
#[utoipa::path(
    delete,
    path = "/api/v1/sessions/current",
    tag = "sessions",
    summary = "Log out",
    responses((status = 204, description = "Logged out"))
)]
pub async fn logout(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    auth.require_session()?;
    let current = auth.credential_id();
    state
        .accounts
        .end_credential(
            auth.account_id,
            current,
            CredentialKind::Session,
            Some(current),
            auth.metadata(),
        )
        .await?;
    state.consistency.forget(current);
    tracing::info!(account_id = %auth.account_id, session_id = %current, "logged out");
    let response = StatusCode::NO_CONTENT.into_response();
    if auth.via_cookie {
        return Ok(with_cookies(
            response,
            &cookie::cleared_cookies(auth.client.tls),
        ));
    }
    Ok(response)
}

/// `DELETE /api/v1/sessions/{session_id}`: ends another session of the account.
#[utoipa::path(
    delete,
    path = "/api/v1/sessions/{session_id}",
    tag = "sessions",
    summary = "End one session",
    params(("session_id" = Uuid, Path, description = "The session")),
    responses((status = 204, description = "Ended"))
)]
pub async fn end_one(
    State(state): State<AppState>,
    auth: Authenticated,
    session_id: Result<Path<Uuid>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    auth.require_session()?;
    let Path(session_id) =
        session_id.map_err(|_| ApiError::not_found("no session with that id"))?;
    let position = state
        .accounts
        .end_credential(
            auth.account_id,
            session_id,
            CredentialKind::Session,
            Some(auth.credential_id()),
            auth.metadata(),
        )
        .await?;
    state.consistency.wrote(auth.credential_id(), position);
    state.consistency.forget(session_id);
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/sessions/others`: ends every session of the account but this one.
#[utoipa::path(
    delete,
    path = "/api/v1/sessions/others",
    tag = "sessions",
    summary = "End every other session",
    responses((status = 200, description = "`{ended, position}`", body = Object))
)]
pub async fn end_others(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<serde_json::Value>, ApiError> {
    auth.require_session()?;
    let (ended, position) = state
        .accounts
        .end_other_sessions(auth.account_id, auth.credential_id(), auth.metadata())
        .await?;
    state.consistency.wrote(auth.credential_id(), position);
    Ok(Json(json!({"ended": ended, "position": position})))
}
