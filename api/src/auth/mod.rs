//! Authentication of requests: the [`Authenticated`] extractor every account-owned route takes.
//!
//! A request carries a session or API token as `Authorization: Bearer TOKEN` or, from a
//! browser, in the session cookie. Each request checks the token against the account store,
//! never a projection, so an ended session is refused on its next request. With the cookie,
//! state changes also need the CSRF token and, when the browser sends `Origin`, a same-origin
//! request.
//!
//! A route gets account scoping by taking `auth: Authenticated` as an argument, passing
//! `auth.account_id` into every command and filtering every read by it (404 for
//! another account's resources), and recording `auth.metadata()` with its events. Sensitive
//! actions call `auth.require_recent_login()?` first.

mod client;
pub mod cookie;
mod error;

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use chrono::Utc;
use keyward_actors::account::{ClientInfo, Credential, CredentialKind};
use keyward_events::Metadata;
use keyward_events::account::TokenScope;
use uuid::Uuid;

pub use client::{AuthSettings, Client, device_name};

use crate::{ApiError, AppState};

/// Maximum age of the login or re-authentication behind a sensitive action.
pub const RECENT_LOGIN: Duration = Duration::from_secs(5 * 60);

/// The caller of a request, authenticated by a session or an API token.
#[derive(Clone, Debug)]
pub struct Authenticated {
    pub account_id: Uuid,
    /// The session or API token, as the account store has it.
    pub credential: Credential,
    /// Whether the token came in the session cookie.
    pub via_cookie: bool,
    pub client: Client,
}

impl Authenticated {
    /// The id of the session or API token that made the request.
    pub fn credential_id(&self) -> Uuid {
        self.credential.credential_id
    }

    /// Metadata for the events this request causes: account, session, source address, and a
    /// new correlation id.
    pub fn metadata(&self) -> Metadata {
        Metadata {
            correlation_id: Some(Uuid::now_v7()),
            account_id: Some(self.account_id),
            session_id: Some(self.credential_id()),
            source_address: self.client.address.map(|ip| ip.to_string()),
            ..Metadata::default()
        }
    }

    /// The client as the account actors record it.
    pub fn client_info(&self) -> ClientInfo {
        client_info(&self.client)
    }

    /// Refuses API tokens: account management needs a login session.
    ///
    /// # Errors
    /// 403 `forbidden` for an API token.
    pub fn require_session(&self) -> Result<(), ApiError> {
        match self.credential.kind {
            CredentialKind::Session => Ok(()),
            CredentialKind::ApiToken => {
                Err(ApiError::forbidden("API tokens cannot manage the account")
                    .with_hint("log in with POST /api/v1/sessions and use that session"))
            }
        }
    }

    /// Refuses a sensitive action (adding or deleting a key, going live, changing the
    /// password, disabling 2FA) unless this session logged in or re-authenticated within the
    /// last five minutes. API tokens never qualify.
    ///
    /// # Errors
    /// 403 `reauth_required` when the login is older, 403 `forbidden` for an API token.
    pub fn require_recent_login(&self) -> Result<(), ApiError> {
        self.require_session()?;
        let age = Utc::now() - self.credential.authenticated_at;
        if age.to_std().unwrap_or_default() <= RECENT_LOGIN {
            return Ok(());
        }
        Err(ApiError::reauth_required(
            "this action needs a login or re-authentication within the last 5 minutes",
        )
        .with_hint("POST /api/v1/reauth with your password (and TOTP code), then retry"))
    }
}

/// Whether a stored event belongs to `account_id`, for routes that stream or list events: its
/// metadata names the account. Routes record `Authenticated::metadata`, key actors their key's
/// account and account actors their own, so every event written on behalf of an account
/// carries it. Events without an account belong to no one.
pub fn event_belongs_to(record: &keyward_events::RecordedEvent, account_id: Uuid) -> bool {
    record.parsed_metadata().account_id == Some(account_id)
}

/// The client as the account actors record it.
pub fn client_info(client: &Client) -> ClientInfo {
    ClientInfo {
        address: client.address.map(|ip| ip.to_string()),
        device: client.device.clone(),
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let client = Client::from_parts(parts, &state.auth);
        let (token, via_cookie) = presented_token(&parts.headers).ok_or_else(|| {
            ApiError::unauthorized("this route needs a login").with_hint(
                "send Authorization: Bearer TOKEN with a token from POST /api/v1/sessions",
            )
        })?;
        let credential = state
            .accounts
            .authenticate(&token)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| {
                ApiError::unauthorized("the session or token is invalid, ended or expired")
                    .with_hint("log in again with POST /api/v1/sessions")
            })?;
        check_scope(&credential, &parts.method)?;
        if via_cookie && !is_safe(&parts.method) {
            check_csrf(&parts.headers, &token)?;
        }
        Ok(Authenticated {
            account_id: credential.account_id,
            credential,
            via_cookie,
            client,
        })
    }
}

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, std::convert::Infallible> {
        Ok(Client::from_parts(parts, &state.auth))
    }
}

/// The token of a request and whether it came in the cookie; the header wins over the cookie.
fn presented_token(headers: &HeaderMap) -> Option<(String, bool)> {
    let bearer = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(token)
        })
        .map(|token| token.trim().to_owned())
        .filter(|token| !token.is_empty());
    if let Some(token) = bearer {
        return Some((token, false));
    }
    let cookie = cookie::cookie_value(headers, cookie::SESSION_COOKIE).filter(|t| !t.is_empty());
    cookie.map(|token| (token, true))
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn check_scope(credential: &Credential, method: &Method) -> Result<(), ApiError> {
    if credential.scope == Some(TokenScope::Read) && !is_safe(method) {
        return Err(ApiError::forbidden("this API token may only read")
            .with_hint("create a token with scope read_write to make changes"));
    }
    Ok(())
}

/// Checks a cookie-authenticated state change: the CSRF header, and a same-origin `Origin`.
fn check_csrf(headers: &HeaderMap, token: &str) -> Result<(), ApiError> {
    let presented = headers
        .get(cookie::CSRF_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if !cookie::csrf_matches(token, presented) {
        return Err(ApiError::csrf_failed(
            "the X-CSRF-Token header is missing or does not match the session",
        )
        .with_hint("send the csrf_token from the login answer (or the keyward_csrf cookie)"));
    }
    if !same_origin(headers) {
        return Err(ApiError::csrf_failed(
            "the request comes from another origin",
        ));
    }
    Ok(())
}

/// Whether the `Origin` header, when present, names the host the request was sent to.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get("origin").and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin
        .split_once("://")
        .map_or(origin, |(_, rest)| rest)
        .trim_end_matches('/');
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn caller(kind: CredentialKind, login_minutes_ago: i64) -> Authenticated {
        let now = Utc::now();
        let credential = Credential {
            credential_id: Uuid::now_v7(),
            account_id: Uuid::now_v7(),
            kind,
            transport: keyward_events::account::SessionTransport::Bearer,
            scope: None,
            name: String::new(),
            device: "curl".into(),
            address: None,
            created_at: now,
            last_used_at: now,
            authenticated_at: now - chrono::TimeDelta::minutes(login_minutes_ago),
            idle_timeout: None,
            expires_at: now + chrono::TimeDelta::hours(1),
        };
        Authenticated {
            account_id: credential.account_id,
            credential,
            via_cookie: false,
            client: Client::default(),
        }
    }

    #[test]
    fn sensitive_actions_need_a_login_within_five_minutes() {
        assert!(
            caller(CredentialKind::Session, 4)
                .require_recent_login()
                .is_ok()
        );
        let stale = caller(CredentialKind::Session, 6).require_recent_login();
        assert_eq!(stale.unwrap_err().code, "reauth_required");
        let token = caller(CredentialKind::ApiToken, 0).require_recent_login();
        assert_eq!(
            token.unwrap_err().code,
            "forbidden",
            "API tokens never qualify"
        );
    }

    #[test]
    fn events_belong_to_the_account_in_their_metadata() {
        let account = Uuid::now_v7();
        let record = |metadata: Metadata| keyward_events::RecordedEvent {
            position: 1,
            stream: keyward_events::StreamName::new(keyward_events::Category::Key, Uuid::now_v7()),
            version: 0,
            event_id: Uuid::now_v7(),
            event_type: "KeyAdded".into(),
            schema_version: 1,
            recorded_at_us: 0,
            metadata: serde_json::to_vec(&metadata).unwrap(),
            payload: b"{}".to_vec(),
            hash: [0; 32],
        };
        let own = Metadata {
            account_id: Some(account),
            ..Metadata::default()
        };
        let other = Metadata {
            account_id: Some(Uuid::now_v7()),
            ..Metadata::default()
        };
        assert!(event_belongs_to(&record(own), account));
        assert!(!event_belongs_to(&record(other), account));
        assert!(!event_belongs_to(&record(Metadata::default()), account));
    }

    #[test]
    fn bearer_header_wins_over_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "cookie",
            HeaderValue::from_static("keyward_session=kws_cookie"),
        );
        assert_eq!(presented_token(&headers), Some(("kws_cookie".into(), true)));
        headers.insert(
            "authorization",
            HeaderValue::from_static("Bearer kws_header"),
        );
        assert_eq!(
            presented_token(&headers),
            Some(("kws_header".into(), false))
        );
        headers.insert("authorization", HeaderValue::from_static("Basic abc"));
        assert_eq!(presented_token(&headers), Some(("kws_cookie".into(), true)));
    }

    #[test]
    fn origin_must_match_host() {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("keyward.example:8080"));
        assert!(same_origin(&headers), "no Origin header");
        headers.insert(
            "origin",
            HeaderValue::from_static("https://keyward.example:8080"),
        );
        assert!(same_origin(&headers));
        headers.insert("origin", HeaderValue::from_static("https://evil.example"));
        assert!(!same_origin(&headers));
    }

    #[test]
    fn csrf_check_needs_the_matching_header() {
        let mut headers = HeaderMap::new();
        assert!(check_csrf(&headers, "kws_a").is_err());
        let token = cookie::csrf_token("kws_a");
        headers.insert(cookie::CSRF_HEADER, HeaderValue::from_str(&token).unwrap());
        assert!(check_csrf(&headers, "kws_a").is_ok());
        assert!(check_csrf(&headers, "kws_b").is_err());
    }
}
