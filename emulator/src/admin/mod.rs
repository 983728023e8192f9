//! Admin routes under `/_emulator/`: change a key's flags or expiry, inject faults, move
//! prices, set up accounts, read what the engine did, and drop websockets, while it runs.
//!
//! They have no authentication: the emulator is a test and sandbox tool, meant to listen on a
//! loopback address only.
//!
//! | route | does |
//! | --- | --- |
//! | `POST /keys/{api_key}` | changes a key's flags, allowlist or expiry |
//! | `GET`, `POST`, `DELETE /faults` | reads, changes (fields given) or resets the faults |
//! | `GET /stats` | engine counters and injected faults |
//! | `GET /instruments` | the instruments listed |
//! | `GET /prices` | the last price of every instrument |
//! | `POST /prices` `{symbol, price}` | moves a price, filling the orders it reaches |
//! | `GET`, `POST /accounts/{exchange}/{api_key}` | reads or sets up an account |
//! | `POST /websockets/disconnect` | drops every open websocket |
//! | `POST /websockets/outage` | drops every open websocket and rejects new ones (503) |
//! | `DELETE /websockets/outage` | accepts websocket connections again |

mod accounts;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};

use crate::faults::FaultConfig;
use crate::keys::{EmulatorKey, IpRule};
use crate::state::EmulatorState;

/// Builds the admin routes, to be nested under `/_emulator`.
pub(crate) fn routes() -> Router<EmulatorState> {
    Router::new()
        .route("/keys/{api_key}", post(update_key))
        .route(
            "/faults",
            post(set_faults).get(get_faults).delete(reset_faults),
        )
        .route("/stats", get(accounts::stats))
        .route("/instruments", get(accounts::instruments))
        .route("/prices", post(accounts::set_price).get(accounts::prices))
        .route(
            "/accounts/{exchange}/{api_key}",
            get(accounts::account).post(accounts::set_up_account),
        )
        .route("/websockets/disconnect", post(disconnect_websockets))
        .route("/websockets/outage", post(start_outage).delete(end_outage))
}

/// Changes to a key's flags; absent fields stay as they are, `"expires_at": null` clears it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyUpdate {
    read: Option<bool>,
    spot: Option<bool>,
    futures: Option<bool>,
    withdraw: Option<bool>,
    transfer: Option<bool>,
    ip_allowlist: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    expires_at: Option<Option<DateTime<Utc>>>,
}

/// Tells a field set to `null` (`Some(None)`) from an absent one (`None`).
fn present<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A key as the admin routes show it, without its secret.
#[derive(Debug, Serialize)]
struct KeyView {
    exchange: String,
    api_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    read: bool,
    spot: bool,
    futures: bool,
    withdraw: bool,
    transfer: bool,
    ip_allowlist: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<DateTime<Utc>>,
    testnet: bool,
}

impl From<&EmulatorKey> for KeyView {
    fn from(key: &EmulatorKey) -> Self {
        KeyView {
            exchange: key.exchange.to_string(),
            api_key: key.api_key.clone(),
            label: key.label.clone(),
            read: key.read,
            spot: key.spot,
            futures: key.futures,
            withdraw: key.withdraw,
            transfer: key.transfer,
            ip_allowlist: key.ip_allowlist.iter().map(ToString::to_string).collect(),
            expires_at: key.expires_at,
            testnet: key.testnet,
        }
    }
}

/// Applies a [`KeyUpdate`] to every key with this API key and returns the keys as changed.
async fn update_key(
    State(state): State<EmulatorState>,
    Path(api_key): Path<String>,
    body: Bytes,
) -> Result<Json<Vec<KeyView>>, AdminError> {
    let update: KeyUpdate = parse_body(&body)?;
    let ip_allowlist = update
        .ip_allowlist
        .as_deref()
        .map(parse_allowlist)
        .transpose()
        .map_err(AdminError::invalid_request)?;
    let changed = state.update_keys(&api_key, |key| apply(key, &update, ip_allowlist.as_ref()));
    if changed.is_empty() {
        return Err(AdminError::not_found(format!(
            "no key with API key {api_key:?}"
        )));
    }
    tracing::info!(api_key = %api_key, "changed emulator key flags");
    Ok(Json(
        changed
            .iter()
            .map(|stored| KeyView::from(&stored.key))
            .collect(),
    ))
}

fn apply(key: &mut EmulatorKey, update: &KeyUpdate, ip_allowlist: Option<&Vec<IpRule>>) {
    let flags = [
        (&mut key.read, update.read),
        (&mut key.spot, update.spot),
        (&mut key.futures, update.futures),
        (&mut key.withdraw, update.withdraw),
        (&mut key.transfer, update.transfer),
    ];
    for (flag, value) in flags {
        if let Some(value) = value {
            *flag = value;
        }
    }
    if let Some(rules) = ip_allowlist {
        key.ip_allowlist.clone_from(rules);
    }
    if let Some(expires_at) = update.expires_at {
        key.expires_at = expires_at;
    }
}

fn parse_allowlist(entries: &[String]) -> Result<Vec<IpRule>, String> {
    entries.iter().map(|entry| entry.parse()).collect()
}

/// Changes the fields the body gives and keeps the others, so `{"clock_skew_ms": 5000}` only
/// moves the clock. Unknown fields and rates out of range are rejected.
async fn set_faults(
    State(state): State<EmulatorState>,
    body: Bytes,
) -> Result<Json<FaultConfig>, AdminError> {
    let changes: serde_json::Map<String, Value> = parse_body(&body)?;
    let mut merged = serde_json::to_value(state.faults().config())
        .map_err(|err| AdminError::invalid_request(err.to_string()))?;
    if let Value::Object(fields) = &mut merged {
        fields.extend(changes);
    }
    let config: FaultConfig = serde_json::from_value(merged)
        .map_err(|err| AdminError::invalid_request(format!("invalid faults: {err}")))?;
    state
        .faults()
        .set(config.clone())
        .map_err(AdminError::invalid_request)?;
    tracing::info!(faults = ?config, "changed emulator faults");
    Ok(Json(state.faults().config()))
}

async fn get_faults(State(state): State<EmulatorState>) -> Json<FaultConfig> {
    Json(state.faults().config())
}

async fn reset_faults(State(state): State<EmulatorState>) -> Result<Json<FaultConfig>, AdminError> {
    state
        .faults()
        .set(FaultConfig::default())
        .map_err(AdminError::invalid_request)?;
    tracing::info!("reset emulator faults");
    Ok(Json(state.faults().config()))
}

async fn disconnect_websockets(State(state): State<EmulatorState>) -> Json<Value> {
    let closed = state.disconnect_websockets();
    tracing::info!(closed, "dropped emulator websockets");
    Json(json!({"closed": closed}))
}

/// Rejects new websockets before dropping the open ones, so that no client reconnects in
/// between.
async fn start_outage(State(state): State<EmulatorState>) -> Json<Value> {
    state.reject_websockets(true);
    let closed = state.disconnect_websockets();
    tracing::info!(closed, "started an emulator websocket outage");
    Json(json!({"closed": closed, "rejected": true}))
}

async fn end_outage(State(state): State<EmulatorState>) -> Json<Value> {
    state.reject_websockets(false);
    tracing::info!("ended the emulator websocket outage");
    Json(json!({"rejected": false}))
}

pub(crate) fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, AdminError> {
    serde_json::from_slice(body)
        .map_err(|err| AdminError::invalid_request(format!("invalid JSON body: {err}")))
}

/// An admin route's error response, `{"error": code, "message"}`.
#[derive(Debug)]
pub(crate) struct AdminError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl AdminError {
    pub(crate) fn invalid_request(message: String) -> Self {
        AdminError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_request",
            message,
        }
    }

    pub(crate) fn not_found(message: String) -> Self {
        AdminError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message,
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.code, "message": self.message});
        (self.status, Json(body)).into_response()
    }
}
