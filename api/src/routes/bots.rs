//! `/api/v1/bots`: create bots, read them, and run server-side backtests.

use std::path::Path as FsPath;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use keyward_actors::bot::{BotCommandError, NewBot};
use keyward_events::Exchange;
use keyward_events::bot::StrategySpec;
use keyward_risk::RiskConfig;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::input::ReadQuery;
use crate::auth::Authenticated;
use crate::{ApiError, AppState};

/// Body of `POST /api/v1/bots`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBotRequest {
    label: String,
    #[serde(default)]
    key_id: Option<Uuid>,
    exchange: String,
    symbol: String,
    strategy: StrategySpec,
    #[serde(default)]
    risk: RiskConfig,
}

/// Body of `POST /api/v1/bots/{bot_id}/backtests`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BacktestRequest {
    /// A file name inside the server's market data folder.
    data: String,
}

/// `POST /api/v1/bots`: creates a bot in the caller's account, on one of its keys.
pub async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    body: Result<Json<CreateBotRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let Json(request) = body?;
    if let Some(key_id) = request.key_id {
        require_own_key(&state, &auth, key_id).await?;
    }
    let exchange: Exchange = request
        .exchange
        .parse()
        .map_err(|e: keyward_events::exchange::UnknownExchange| ApiError::invalid(e.to_string()))?;
    let symbol = request.symbol.trim().to_ascii_uppercase();
    if symbol.is_empty() || !symbol.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ApiError::invalid(format!(
            "invalid symbol {:?}; write it as on Binance, e.g. BTCUSDT",
            request.symbol
        )));
    }
    let bot = NewBot {
        account_id: Some(auth.account_id),
        label: request.label.trim().to_owned(),
        key_id: request.key_id,
        exchange,
        symbol,
        strategy: request.strategy,
        risk: request.risk,
    };
    let (bot_id, appended) = state
        .bots
        .create(bot, auth.metadata())
        .await
        .map_err(bot_error)?;
    state
        .consistency
        .wrote(auth.credential_id(), appended.last_position);
    let body = json!({"bot_id": bot_id, "position": appended.last_position});
    Ok((StatusCode::CREATED, Json(body)))
}

/// Refuses a key that is not the caller's, as not found. Asks the key's actor, not a
/// projection, because this decides what a bot may trade with.
async fn require_own_key(
    state: &AppState,
    auth: &Authenticated,
    key_id: Uuid,
) -> Result<(), ApiError> {
    let key = state.keys.state(key_id).await.map_err(ApiError::internal)?;
    match key {
        Some(key) if key.account_id == Some(auth.account_id) => Ok(()),
        _ => Err(ApiError::not_found(format!("no key {key_id}"))),
    }
}

/// `GET /api/v1/bots`: the caller's bots.
pub async fn list(
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
        let bots: Vec<_> = d.bots_of(account).collect();
        json!({"bots": bots, "position": d.position})
    });
    Ok(Json(body))
}

/// `GET /api/v1/bots/{bot_id}`; another account's bot is not found.
pub async fn get_one(
    State(state): State<AppState>,
    auth: Authenticated,
    bot_id: Result<Path<Uuid>, PathRejection>,
    query: Result<Query<ReadQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Path(bot_id) = bot_id.map_err(|_| ApiError::not_found("no bot with that id"))?;
    let Query(query) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    state
        .dashboard_at(auth.credential_id(), query.min_position)
        .await;
    state
        .dashboard
        .read(|d| d.bot_of(auth.account_id, bot_id).map(|bot| json!(bot)))
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no bot {bot_id}")))
}

/// `POST /api/v1/bots/{bot_id}/backtests`: runs the bot's configuration over a file of the
/// server's market data folder and records `BacktestCompleted`.
pub async fn backtest(
    State(state): State<AppState>,
    auth: Authenticated,
    bot_id: Result<Path<Uuid>, PathRejection>,
    body: Result<Json<BacktestRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let Path(bot_id) = bot_id.map_err(|_| ApiError::not_found("no bot with that id"))?;
    require_own_bot(&state, &auth, bot_id).await?;
    let Json(request) = body?;
    let Some(folder) = state.market_data_dir.as_deref() else {
        return Err(ApiError::invalid("this server has no market data folder")
            .with_hint("start keyward serve with --market-data-dir DIR"));
    };
    let path = market_file(folder, &request.data)?;
    let (completed, appended) = state
        .bots
        .backtest(bot_id, &path, &request.data, auth.metadata())
        .await
        .map_err(bot_error)?;
    state
        .consistency
        .wrote(auth.credential_id(), appended.last_position);
    let body = json!({"backtest": completed, "position": appended.last_position});
    Ok((StatusCode::CREATED, Json(body)))
}

/// Refuses a bot that is not the caller's, as not found; reads the bot's stream.
async fn require_own_bot(
    state: &AppState,
    auth: &Authenticated,
    bot_id: Uuid,
) -> Result<(), ApiError> {
    let bot = state.bots.load(bot_id).await.map_err(bot_error)?;
    match bot {
        Some(bot) if bot.account_id == Some(auth.account_id) => Ok(()),
        _ => Err(ApiError::not_found(format!("no bot {bot_id}"))),
    }
}

/// Resolves a plain file name inside the market data folder; anything that could leave the
/// folder is refused.
fn market_file(folder: &FsPath, name: &str) -> Result<std::path::PathBuf, ApiError> {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\'])
        && name.chars().all(|c| !c.is_control());
    if !plain {
        return Err(ApiError::invalid(format!(
            "data {name:?} is not a plain file name; give the name of a file in the market data folder"
        )));
    }
    let path = folder.join(name);
    if !path.is_file() {
        return Err(ApiError::not_found(format!("no market data file {name:?}")));
    }
    Ok(path)
}

fn bot_error(err: BotCommandError) -> ApiError {
    match err {
        BotCommandError::NotFound(id) => ApiError::not_found(format!("no bot {id}")),
        BotCommandError::InvalidStrategy(_) | BotCommandError::InvalidRisk(_) => {
            ApiError::invalid(err.to_string())
        }
        BotCommandError::Data(_) | BotCommandError::Backtest(_) => {
            ApiError::invalid(err.to_string())
        }
        BotCommandError::Append(keyward_eventlog::AppendError::WrongExpectedVersion { .. }) => {
            ApiError::conflict(err.to_string()).with_hint("retry the request")
        }
        other => ApiError::internal(other),
    }
}
