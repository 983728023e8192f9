//! `/api/v1/bots`: create, configure, activate, pause and stop bots, read them, and run
//! server-side backtests.

use std::path::Path as FsPath;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use keyward_actors::backtest::RunSettings;
use keyward_actors::bot::{
    BacktestRequest as BotBacktestRequest, BotCommandError, KeyFacts, LiveFacts, NewBot, Unmet,
};
use keyward_actors::key::KeyStatus;
use keyward_eventlog::Appended;
use keyward_events::Exchange;
use keyward_events::bot::{BotMode, PauseReason, StrategySpec};
use keyward_risk::RiskConfig;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::input::ReadQuery;
use super::page::PageQuery;
use crate::auth::Authenticated;
use crate::openapi::{BotModeSchema, StrategySpecSchema};
use crate::{ApiError, AppState};

/// Body of `POST /api/v1/bots`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBotRequest {
    label: String,
    #[serde(default)]
    key_id: Option<Uuid>,
    /// `binance`, `bybit` or `okx`.
    exchange: String,
    /// Written as on Binance, e.g. `BTCUSDT`.
    symbol: String,
    #[schema(value_type = StrategySpecSchema)]
    strategy: StrategySpec,
    /// Risk rules, each optional with a safe default: `stop_loss_pct`,
    /// `max_stop_distance_pct`, `risk_per_trade_pct`, `max_position_pct`, `max_leverage`,
    /// `max_open_positions`, `max_orders_per_minute`, `daily_loss_limit_pct`,
    /// `max_drawdown_pct`, `price_band_pct`.
    #[serde(default)]
    #[schema(value_type = Object)]
    risk: RiskConfig,
}

/// Body of `PUT /api/v1/bots/{bot_id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigureBotRequest {
    #[schema(value_type = StrategySpecSchema)]
    strategy: StrategySpec,
    /// Risk rules, as in `POST /api/v1/bots`.
    #[serde(default)]
    #[schema(value_type = Object)]
    risk: RiskConfig,
}

/// Body of `POST /api/v1/bots/{bot_id}/activate`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivateRequest {
    /// `paper` or `live`.
    #[schema(value_type = BotModeSchema)]
    mode: BotMode,
}

/// Body of `POST /api/v1/bots/{bot_id}/backtests`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestRequest {
    /// A kline CSV file name inside the server's market data folder.
    data: String,
    /// A funding-rate CSV file name inside the market data folder, charged during the run.
    #[serde(default)]
    funding: Option<String>,
    /// Keep candles opening at or after this time (RFC 3339).
    #[serde(default)]
    from: Option<DateTime<Utc>>,
    /// Keep candles opening before this time (RFC 3339).
    #[serde(default)]
    to: Option<DateTime<Utc>>,
    /// Settings of the simulated account: `cash`, `fee`, `maker_fee`, `slippage_bps`,
    /// `final_fill`.
    #[serde(default)]
    #[schema(value_type = Object)]
    settings: RunSettings,
}

/// `POST /api/v1/bots`: creates a bot in the caller's account, on one of its keys.
#[utoipa::path(
    post,
    path = "/api/v1/bots",
    tag = "bots",
    summary = "Create a bot",
    request_body = CreateBotRequest,
    responses((status = 201, description = "`{bot_id, position}`", body = Object))
)]
pub async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    body: Result<Json<CreateBotRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let Json(request) = body?;
    let exchange: Exchange = request
        .exchange
        .parse()
        .map_err(|e: keyward_events::exchange::UnknownExchange| ApiError::invalid(e.to_string()))?;
    if let Some(key_id) = request.key_id {
        let key_exchange = require_own_key(&state, &auth, key_id).await?;
        if key_exchange != exchange {
            return Err(ApiError::invalid(format!(
                "key {key_id} is a {key_exchange} key, but the bot trades on {exchange}; \
                 give a {exchange} key or set exchange to {key_exchange}"
            )));
        }
    }
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

/// `PUT /api/v1/bots/{bot_id}`: replaces the strategy and risk configuration of a bot that is
/// not active.
#[utoipa::path(
    put,
    path = "/api/v1/bots/{bot_id}",
    tag = "bots",
    summary = "Replace the strategy and risk configuration of a bot that is not active",
    params(("bot_id" = Uuid, Path, description = "The bot")),
    request_body = ConfigureBotRequest,
    responses((status = 200, description = "`{bot_id, config_hash, position}`", body = Object))
)]
pub async fn configure(
    State(state): State<AppState>,
    auth: Authenticated,
    bot_id: Result<Path<Uuid>, PathRejection>,
    body: Result<Json<ConfigureBotRequest>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let bot_id = own_bot_id(&state, &auth, bot_id).await?;
    let Json(request) = body?;
    let appended = state
        .bots
        .configure(bot_id, request.strategy, request.risk, auth.metadata())
        .await
        .map_err(bot_error)?;
    let position = appended.map(|appended| wrote(&state, &auth, &appended));
    let bot = state.bots.load(bot_id).await.map_err(bot_error)?;
    let config_hash = bot.map(|bot| bot.config_hash);
    Ok(Json(
        json!({"bot_id": bot_id, "config_hash": config_hash, "position": position}),
    ))
}

/// `POST /api/v1/bots/{bot_id}/activate`: starts paper or live trading. Going live needs a
/// recent login and answers 409 `activation_refused` with every unmet condition in `unmet`.
#[utoipa::path(
    post,
    path = "/api/v1/bots/{bot_id}/activate",
    tag = "bots",
    summary = "Start paper or live trading; live needs a recent login",
    params(("bot_id" = Uuid, Path, description = "The bot")),
    request_body = ActivateRequest,
    responses(
        (status = 200, description = "`{bot_id, status, mode, position}`", body = Object),
        (status = 409, description = "`activation_refused`, with every unmet condition in `unmet`", body = Object),
    )
)]
pub async fn activate(
    State(state): State<AppState>,
    auth: Authenticated,
    bot_id: Result<Path<Uuid>, PathRejection>,
    body: Result<Json<ActivateRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let bot_id = own_bot_id(&state, &auth, bot_id).await?;
    let Json(request) = body?;
    let facts = match request.mode {
        BotMode::Live => {
            auth.require_recent_login()?;
            Some(live_facts(&state, &auth, bot_id).await?)
        }
        BotMode::Paper => None,
        BotMode::Backtest => {
            return Err(ApiError::invalid("mode must be \"paper\" or \"live\"")
                .with_hint("run backtests with POST /api/v1/bots/{bot_id}/backtests"));
        }
    };
    let result = state
        .bots
        .activate(bot_id, request.mode, facts.as_ref(), auth.metadata())
        .await;
    match result {
        Ok(appended) => {
            let position = wrote(&state, &auth, &appended);
            let body = json!({"bot_id": bot_id, "status": "active", "mode": request.mode,
                "position": position});
            Ok(Json(body).into_response())
        }
        Err(BotCommandError::ActivationRefused(unmet)) => Ok(activation_refused(&unmet)),
        Err(err) => Err(bot_error(err)),
    }
}

/// `POST /api/v1/bots/{bot_id}/pause`: stops taking new risk. A live bot's orders that could
/// add to its position are cancelled on the exchange; its reduce-only stops stay.
#[utoipa::path(
    post,
    path = "/api/v1/bots/{bot_id}/pause",
    tag = "bots",
    summary = "Pause a bot: no new risk; orders that could add to the position are cancelled, stops stay",
    params(("bot_id" = Uuid, Path, description = "The bot")),
    responses((status = 200, description = "`{bot_id, status, position}`", body = Object))
)]
pub async fn pause(
    State(state): State<AppState>,
    auth: Authenticated,
    bot_id: Result<Path<Uuid>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let bot_id = own_bot_id(&state, &auth, bot_id).await?;
    let appended = state
        .bots
        .pause(bot_id, PauseReason::Requested, auth.metadata())
        .await
        .map_err(bot_error)?;
    let position = wrote(&state, &auth, &appended);
    Ok(Json(
        json!({"bot_id": bot_id, "status": "paused", "position": position}),
    ))
}

/// `POST /api/v1/bots/{bot_id}/stop`: stops the bot for good and cancels a live bot's open
/// orders on the exchange.
#[utoipa::path(
    post,
    path = "/api/v1/bots/{bot_id}/stop",
    tag = "bots",
    summary = "Stop a bot for good and cancel its open orders",
    params(("bot_id" = Uuid, Path, description = "The bot")),
    responses((status = 200, description = "`{bot_id, status, position}`", body = Object))
)]
pub async fn stop(
    State(state): State<AppState>,
    auth: Authenticated,
    bot_id: Result<Path<Uuid>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let bot_id = own_bot_id(&state, &auth, bot_id).await?;
    let appended = state
        .bots
        .stop(bot_id, "requested", auth.metadata())
        .await
        .map_err(bot_error)?;
    let position = wrote(&state, &auth, &appended);
    Ok(Json(
        json!({"bot_id": bot_id, "status": "stopped", "position": position}),
    ))
}

/// 409 `activation_refused` listing every unmet condition for going live.
fn activation_refused(unmet: &[Unmet]) -> Response {
    let messages: Vec<&str> = unmet.iter().map(|condition| condition.message()).collect();
    let body = json!({
        "error": "activation_refused",
        "message": format!("the bot cannot go live yet: {}", messages.join("; ")),
        "unmet": unmet,
    });
    (StatusCode::CONFLICT, Json(body)).into_response()
}

/// Gathers what going live is checked on from the account's and the key's actors, never from
/// a projection. The bot's key is probed again first, so its verification is current.
async fn live_facts(
    state: &AppState,
    auth: &Authenticated,
    bot_id: Uuid,
) -> Result<LiveFacts, ApiError> {
    let account = state
        .accounts
        .state(auth.account_id)
        .await
        .map_err(ApiError::internal)?;
    let two_factor_on = account.is_some_and(|account| account.two_factor_on());
    let bot = state.bots.load(bot_id).await.map_err(bot_error)?;
    let Some(bot) = bot else {
        return Err(ApiError::not_found(format!("no bot {bot_id}")));
    };
    let mut key = None;
    if let Some(key_id) = bot.key_id {
        let key_state = state.keys.state(key_id).await.map_err(ApiError::internal)?;
        let own = key_state.is_some_and(|key| {
            key.account_id == Some(auth.account_id) && key.status != KeyStatus::Deleted
        });
        if own {
            let check = state
                .keys
                .probe_now(key_id)
                .await
                .map_err(ApiError::internal)?;
            key = Some(KeyFacts {
                verified: check.key.status == KeyStatus::Verified,
                rejected: check.key.status == KeyStatus::Rejected,
                probe_failed: check.failure.is_some(),
                verified_against: check.key.verified_against,
            });
        }
    }
    Ok(LiveFacts {
        two_factor_on,
        key,
        current_host: state.keys.exchange_host(bot.exchange),
    })
}

/// Records a command's last position for the session's later reads and returns it.
fn wrote(state: &AppState, auth: &Authenticated, appended: &Appended) -> u64 {
    state
        .consistency
        .wrote(auth.credential_id(), appended.last_position);
    appended.last_position
}

/// Resolves the path's bot id and refuses a bot that is not the caller's, as not found.
async fn own_bot_id(
    state: &AppState,
    auth: &Authenticated,
    bot_id: Result<Path<Uuid>, PathRejection>,
) -> Result<Uuid, ApiError> {
    let Path(bot_id) = bot_id.map_err(|_| ApiError::not_found("no bot with that id"))?;
    require_own_bot(state, auth, bot_id).await?;
    Ok(bot_id)
}

/// Refuses a key that is not the caller's, as not found, and returns the exchange of one that
/// is. Asks the key's actor, not a projection, because this decides what a bot may trade with.
async fn require_own_key(
    state: &AppState,
    auth: &Authenticated,
    key_id: Uuid,
) -> Result<Exchange, ApiError> {
    let key = state.keys.state(key_id).await.map_err(ApiError::internal)?;
    match key {
        Some(key) if key.account_id == Some(auth.account_id) => Ok(key.exchange),
        _ => Err(ApiError::not_found(format!("no key {key_id}"))),
    }
}

/// `GET /api/v1/bots`: the caller's bots, oldest first, in pages.
#[utoipa::path(
    get,
    path = "/api/v1/bots",
    tag = "bots",
    summary = "The account's bots, in pages",
    params(PageQuery),
    responses((status = 200, description = "`{bots, next, position}`: a page of bots, the `after` of the following page (`null` on the last) and the read model's position", body = Object))
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(query) = query.map_err(|e| {
        ApiError::invalid(e.body_text()).with_hint("min_position is a whole number")
    })?;
    let page = query.page()?;
    state
        .dashboard_at(auth.credential_id(), query.min_position)
        .await;
    let account = auth.account_id;
    let body = state.dashboard.read(|d| {
        let (bots, next) = page.take(d.bots_of(account), |bot| bot.bot_id);
        json!({"bots": bots, "next": next, "position": d.position})
    });
    Ok(Json(body))
}

/// `GET /api/v1/bots/{bot_id}`; another account's bot is not found.
#[utoipa::path(
    get,
    path = "/api/v1/bots/{bot_id}",
    tag = "bots",
    summary = "One bot with its lifecycle status",
    params(("bot_id" = Uuid, Path, description = "The bot"), ReadQuery),
    responses((status = 200, description = "The bot", body = Object))
)]
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
    let view = state
        .dashboard
        .read(|d| d.bot_of(auth.account_id, bot_id).map(|bot| json!(bot)));
    let Some(mut view) = view else {
        return Err(ApiError::not_found(format!("no bot {bot_id}")));
    };
    // The lifecycle status comes from the bot's stream, which decides what it may do next.
    let bot = state.bots.load(bot_id).await.map_err(bot_error)?;
    if let (Some(bot), Some(fields)) = (bot, view.as_object_mut()) {
        if let Ok(serde_json::Value::Object(status)) = serde_json::to_value(&bot.status) {
            fields.extend(status);
        }
        fields.insert("position_quantity".to_owned(), json!(bot.position));
    }
    Ok(Json(view))
}

/// `POST /api/v1/bots/{bot_id}/backtests`: runs the bot's configuration over a file of the
/// server's market data folder and records `BacktestCompleted`.
#[utoipa::path(
    post,
    path = "/api/v1/bots/{bot_id}/backtests",
    tag = "bots",
    summary = "Backtest the bot's configuration over a file of the market data folder",
    params(("bot_id" = Uuid, Path, description = "The bot")),
    request_body = BacktestRequest,
    responses((status = 201, description = "`{backtest, trade_list, position}`", body = Object))
)]
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
    let funding = match request.funding.as_deref() {
        Some(name) => Some(market_file(folder, name)?),
        None => None,
    };
    let command = BotBacktestRequest {
        data: path,
        data_name: request.data,
        funding,
        funding_name: request.funding,
        from: request.from,
        to: request.to,
        settings: request.settings,
    };
    let done = state
        .bots
        .backtest(bot_id, command, auth.metadata())
        .await
        .map_err(bot_error)?;
    let position = done.appended.last_position;
    state.consistency.wrote(auth.credential_id(), position);
    let body = json!({
        "backtest": done.completed,
        "trade_list": done.trade_list,
        "position": position,
    });
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
        BotCommandError::Conflict(_)
        | BotCommandError::KillSwitchEngaged
        | BotCommandError::Reconfigured(_) => ApiError::conflict(err.to_string()),
        BotCommandError::ActivationRefused(ref unmet) => {
            let unmet: Vec<&str> = unmet.iter().map(|condition| condition.message()).collect();
            ApiError::with_code(StatusCode::CONFLICT, "activation_refused", unmet.join("; "))
        }
        BotCommandError::Live(_) => {
            ApiError::with_code(StatusCode::BAD_GATEWAY, "exchange_error", err.to_string())
        }
        BotCommandError::Append(keyward_eventlog::AppendError::WrongExpectedVersion { .. }) => {
            ApiError::conflict("the bot changed while this request ran")
                .with_hint("retry the request")
        }
        other => ApiError::internal(other),
    }
}
