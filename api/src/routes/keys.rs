//! `/api/v1/keys`: add a key, read one, list them, delete one.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use keyward_actors::key::{KeyCommandError, KeyStatus, NewKey};
use keyward_adapters::clean_pasted;
use keyward_events::key::RejectionReason;
use keyward_events::{Exchange, KeyPermissions};
use keyward_projections::KeyView;
use keyward_vault::SecretBytes;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::input::{ReadQuery, SecretInput};
use super::page::PageQuery;
use crate::auth::Authenticated;
use crate::openapi::{ExchangeSchema, KeyPermissionsSchema, RejectionReasonSchema};
use crate::{ApiError, AppState};

const MAX_LABEL_CHARS: usize = 100;
const MAX_CREDENTIAL_CHARS: usize = 512;

/// Body of `POST /api/v1/keys`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddKeyRequest {
    /// `binance`, `bybit` or `okx`.
    exchange: String,
    #[serde(default)]
    label: String,
    api_key: String,
    #[schema(value_type = String, write_only)]
    api_secret: SecretInput,
    /// The key's passphrase; OKX keys need one, the others have none.
    #[serde(default)]
    #[schema(value_type = Option<String>, write_only)]
    passphrase: Option<SecretInput>,
}

/// Answer of `POST /api/v1/keys`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyAdded {
    key_id: Uuid,
    /// Global position of `KeyAdded`.
    position: u64,
    /// One line per pasted credential that was cleaned of spaces or quotes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

/// Answer of `DELETE /api/v1/keys/{key_id}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyDeletedAnswer {
    key_id: Uuid,
    /// Always `deleted`.
    #[schema(value_type = String)]
    status: KeyStatus,
    /// Global position of `KeyDeleted`.
    position: u64,
}

/// A page of `GET /api/v1/keys`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyList {
    keys: Vec<KeyResponse>,
    /// The `after` of the following page; `null` on the last page.
    next: Option<Uuid>,
    /// Global position the read model had reached.
    position: u64,
}

/// A key as the API shows it; never a secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyResponse {
    key_id: Uuid,
    #[schema(value_type = ExchangeSchema)]
    exchange: Exchange,
    label: String,
    masked_api_key: String,
    /// `pending`, `verified`, `rejected`, `unreachable` or `deleted`.
    #[schema(value_type = String)]
    status: KeyStatus,
    #[schema(value_type = Option<KeyPermissionsSchema>)]
    permissions: Option<KeyPermissions>,
    #[schema(value_type = Vec<RejectionReasonSchema>)]
    reasons: Vec<RejectionReason>,
    created_at: DateTime<Utc>,
    last_probed_at: Option<DateTime<Utc>>,
    flags: Vec<String>,
    verified_host: Option<String>,
}

impl From<&KeyView> for KeyResponse {
    fn from(view: &KeyView) -> Self {
        let state = &view.state;
        KeyResponse {
            key_id: state.key_id,
            exchange: state.exchange,
            label: state.label.clone(),
            masked_api_key: state.masked_api_key.clone(),
            status: state.status,
            permissions: state.permissions.clone(),
            reasons: state.reasons.clone(),
            created_at: view.created_at,
            last_probed_at: state.last_probed_at,
            flags: view.flags.clone(),
            verified_host: state
                .verified_against
                .as_ref()
                .map(|(host, _)| host.clone()),
        }
    }
}

/// `POST /api/v1/keys`: seals the secret, records `KeyAdded`, and starts the probe. A
/// sensitive action: it needs a recent login.
#[utoipa::path(
    post,
    path = "/api/v1/keys",
    tag = "keys",
    summary = "Add an exchange key and start its probe; needs a recent login",
    request_body = AddKeyRequest,
    responses((status = 202, description = "Recorded; the probe runs in the background", body = KeyAdded))
)]
pub async fn add(
    State(state): State<AppState>,
    auth: Authenticated,
    body: Result<Json<AddKeyRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<KeyAdded>), ApiError> {
    auth.require_recent_login()?;
    let Json(request) = body?;
    let (mut key, warnings) = validate(request)?;
    key.account_id = Some(auth.account_id);
    let (key_id, appended) = state
        .keys
        .add_key(key, auth.metadata())
        .await
        .map_err(ApiError::internal)?;
    state
        .consistency
        .wrote(auth.credential_id(), appended.last_position);
    tracing::info!(%key_id, position = appended.last_position, "key added");
    for warning in &warnings {
        tracing::warn!(%key_id, warning = %warning, "cleaned a pasted credential");
    }
    let body = KeyAdded {
        key_id,
        position: appended.last_position,
        warnings,
    };
    Ok((StatusCode::ACCEPTED, Json(body)))
}

/// Checks a new key and cleans its pasted credentials of surrounding spaces and quotes. Returns
/// the key and a warning per cleaned field, which never contains the field's value.
fn validate(request: AddKeyRequest) -> Result<(NewKey, Vec<String>), ApiError> {
    let exchange: Exchange = request
        .exchange
        .parse()
        .map_err(|e: keyward_events::exchange::UnknownExchange| ApiError::invalid(e.to_string()))?;
    let mut warnings = Vec::new();
    let mut clean = |field: &str, text: &str| {
        let cleaned = clean_pasted(field, text);
        warnings.extend(cleaned.warning);
        cleaned.value
    };
    let api_key = clean("api_key", &request.api_key).to_string();
    if api_key.is_empty() {
        return Err(ApiError::invalid(
            "api_key is empty; paste the key's public API key",
        ));
    }
    let secret = clean("api_secret", &request.api_secret.0);
    let passphrase = request
        .passphrase
        .map(|passphrase| SecretInput(clean("passphrase", &passphrase.0)));
    let secret = secret.as_str();
    if secret.is_empty() {
        return Err(ApiError::invalid(
            "api_secret is empty; paste the key's secret",
        ));
    }
    if api_key.chars().count() > MAX_CREDENTIAL_CHARS
        || secret.chars().count() > MAX_CREDENTIAL_CHARS
    {
        return Err(ApiError::invalid(format!(
            "api_key and api_secret may have at most {MAX_CREDENTIAL_CHARS} characters"
        )));
    }
    let label = request.label.trim().to_owned();
    if label.chars().count() > MAX_LABEL_CHARS {
        return Err(ApiError::invalid(format!(
            "label has {} characters; at most {MAX_LABEL_CHARS} are allowed",
            label.chars().count()
        )));
    }
    let passphrase = validate_passphrase(exchange, passphrase)?;
    let key = NewKey {
        account_id: None,
        exchange,
        label,
        api_key,
        api_secret: SecretBytes::from_str_bytes(secret),
        passphrase,
    };
    Ok((key, warnings))
}

fn validate_passphrase(
    exchange: Exchange,
    passphrase: Option<SecretInput>,
) -> Result<Option<SecretBytes>, ApiError> {
    let passphrase = passphrase.filter(|p| !p.0.trim().is_empty());
    match (exchange.requires_passphrase(), passphrase) {
        (true, Some(p)) => Ok(Some(SecretBytes::from_str_bytes(p.0.trim()))),
        (true, None) => Err(ApiError::invalid(format!(
            "{exchange} keys need a passphrase; add the passphrase you chose when creating the key"
        ))),
        (false, Some(_)) => Err(ApiError::invalid(format!(
            "{exchange} keys have no passphrase; remove the passphrase field"
        ))),
        (false, None) => Ok(None),
    }
}

/// `GET /api/v1/keys/{key_id}`; another account's key is not found.
#[utoipa::path(
    get,
    path = "/api/v1/keys/{key_id}",
    tag = "keys",
    summary = "One exchange key with status and permissions",
    params(("key_id" = Uuid, Path, description = "The key"), ReadQuery),
    responses((status = 200, description = "The key", body = KeyResponse))
)]
pub async fn get_one(
    State(state): State<AppState>,
    auth: Authenticated,
    key_id: Result<Path<Uuid>, PathRejection>,
    query: Result<Query<ReadQuery>, QueryRejection>,
) -> Result<Json<KeyResponse>, ApiError> {
    let Path(key_id) = key_id.map_err(|_| ApiError::not_found("no key with that id"))?;
    let Query(query) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    state
        .dashboard_at(auth.credential_id(), query.min_position)
        .await;
    state
        .dashboard
        .read(|d| d.key_of(auth.account_id, key_id).map(KeyResponse::from))
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no key {key_id}")))
}

/// `GET /api/v1/keys`: the caller's keys, oldest first, in pages.
#[utoipa::path(
    get,
    path = "/api/v1/keys",
    tag = "keys",
    summary = "The account's exchange keys, in pages",
    params(PageQuery),
    responses((status = 200, description = "A page of keys", body = KeyList))
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<KeyList>, ApiError> {
    let Query(query) = query.map_err(|e| {
        ApiError::invalid(e.body_text()).with_hint("min_position is a whole number")
    })?;
    let page = query.page()?;
    state
        .dashboard_at(auth.credential_id(), query.min_position)
        .await;
    let account = auth.account_id;
    let (keys, next, position) = state.dashboard.read(|d| {
        let (keys, next) = page.take(d.keys_of(account), |key| key.state.key_id);
        let keys = keys.into_iter().map(KeyResponse::from).collect();
        (keys, next, d.position)
    });
    Ok(Json(KeyList {
        keys,
        next,
        position,
    }))
}

/// `DELETE /api/v1/keys/{key_id}`: records `KeyDeleted`, then shreds the key's secrets. A
/// sensitive action: it needs a recent login. Another account's key is not found.
// TODO: reject deleting a key that a running bot uses unless `force=true`, once bots record
// their key in a place this route can ask.
#[utoipa::path(
    delete,
    path = "/api/v1/keys/{key_id}",
    tag = "keys",
    summary = "Delete a key and shred its secrets; needs a recent login",
    params(("key_id" = Uuid, Path, description = "The key")),
    responses((status = 200, description = "Deleted", body = KeyDeletedAnswer))
)]
pub async fn delete(
    State(state): State<AppState>,
    auth: Authenticated,
    key_id: Result<Path<Uuid>, PathRejection>,
) -> Result<Json<KeyDeletedAnswer>, ApiError> {
    auth.require_recent_login()?;
    let Path(key_id) = key_id.map_err(|_| ApiError::not_found("no key with that id"))?;
    let not_found = || ApiError::not_found(format!("no key {key_id}"));
    let key = state
        .keys
        .state(key_id)
        .await
        .map_err(ApiError::internal)?
        .filter(|key| key.account_id == Some(auth.account_id))
        .filter(|key| key.status != KeyStatus::Deleted)
        .ok_or_else(not_found)?;
    let appended = match state.keys.delete_key(key.key_id, auth.metadata()).await {
        Ok(appended) => appended,
        Err(KeyCommandError::NotFound(_)) => return Err(not_found()),
        Err(err) => return Err(ApiError::internal(err)),
    };
    state
        .consistency
        .wrote(auth.credential_id(), appended.last_position);
    Ok(Json(KeyDeletedAnswer {
        key_id,
        status: KeyStatus::Deleted,
        position: appended.last_position,
    }))
}
