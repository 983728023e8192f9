//! Bots: creation, configuration and server-side backtests over a bot's own configuration.
//!
//! NOTE: bots have no actor yet; each command reads the stream, decides, and appends with the
//! stream's expected version, so concurrent commands on one bot fail with a conflict instead of
//! overwriting each other.

mod state;

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use keyward_eventlog::{
    AppendError, Appended, EventLog, ExpectedVersion, ReadError, read_whole_stream,
};
use keyward_events::bot::{
    BacktestCompleted, BacktestDetails, BotConfigured, BotCreated, BotEvent, StrategySpec,
};
use keyward_events::codec::derive_event_id;
use keyward_events::{Category, DomainEvent, EventCodecError, Exchange, Metadata, StreamName};
use keyward_risk::RiskConfig;
use uuid::Uuid;

use crate::backtest::{
    DataFiles, FileRun, FileRunError, RunOptions, RunSettings, RunSpec, Trade, run_files,
};
use crate::strategy;
use crate::trading::{TradeSettings, config_hash};
pub use state::BotState;

/// A bot as the user describes it.
pub struct NewBot {
    pub account_id: Option<Uuid>,
    pub label: String,
    pub key_id: Option<Uuid>,
    pub exchange: Exchange,
    pub symbol: String,
    pub strategy: StrategySpec,
    pub risk: RiskConfig,
}

/// Why a bot command failed.
#[derive(Debug, thiserror::Error)]
pub enum BotCommandError {
    #[error("bot {0} not found")]
    NotFound(Uuid),
    #[error("invalid strategy: {0}")]
    InvalidStrategy(String),
    #[error("invalid risk configuration: {0}")]
    InvalidRisk(String),
    #[error(transparent)]
    Data(#[from] FileRunError),
    #[error("backtest failed: {0}")]
    Backtest(String),
    #[error(transparent)]
    Append(#[from] AppendError),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Decode(#[from] EventCodecError),
}

/// Commands on bot streams.
#[derive(Clone)]
pub struct BotService {
    log: std::sync::Arc<dyn EventLog>,
}

impl BotService {
    pub fn new(log: std::sync::Arc<dyn EventLog>) -> Self {
        BotService { log }
    }

    /// Validates and records a new bot: `BotCreated` then `BotConfigured`.
    ///
    /// # Errors
    /// Fails on an invalid strategy or risk configuration, or when the log cannot append.
    pub async fn create(
        &self,
        bot: NewBot,
        metadata: Metadata,
    ) -> Result<(Uuid, Appended), BotCommandError> {
        bot.risk
            .validate()
            .map_err(|e| BotCommandError::InvalidRisk(e.to_string()))?;
        check_strategy(&bot.strategy, &bot.risk)?;
        let bot_id = Uuid::now_v7();
        let now = Utc::now();
        let created = BotEvent::BotCreated(BotCreated {
            bot_id,
            account_id: bot.account_id,
            label: bot.label,
            key_id: bot.key_id,
            exchange: bot.exchange,
            symbol: bot.symbol,
            created_at: now,
        });
        let configured = BotEvent::BotConfigured(configuration(bot.strategy, &bot.risk, now));
        let command_id = Uuid::now_v7();
        let events = [created, configured]
            .iter()
            .enumerate()
            .map(|(i, e)| e.to_new_event(derive_event_id(command_id, i as u32), metadata.clone()))
            .collect();
        let stream = StreamName::new(Category::Bot, bot_id);
        let appended = self
            .log
            .append(&stream, ExpectedVersion::NoStream, events)
            .await?;
        Ok((bot_id, appended))
    }

    /// Rebuilds a bot's state from its stream.
    ///
    /// # Errors
    /// Fails when the stream cannot be read or decoded.
    pub async fn load(&self, bot_id: Uuid) -> Result<Option<BotState>, BotCommandError> {
        let stream = StreamName::new(Category::Bot, bot_id);
        let records = read_whole_stream(self.log.as_ref(), &stream).await?;
        let mut state: Option<BotState> = None;
        for record in &records {
            let event = BotEvent::from_recorded(record)?;
            state = BotState::evolve(state, &event, record.version);
        }
        Ok(state)
    }

    /// Runs the bot's strategy, risk gate and order handling over a kline CSV and records
    /// `BacktestCompleted` with the summary and the hashes of the configuration and the data.
    ///
    /// # Errors
    /// Fails for an unknown bot, unreadable data, or when the log cannot append.
    pub async fn backtest(
        &self,
        bot_id: Uuid,
        request: BacktestRequest,
        metadata: Metadata,
    ) -> Result<BotBacktest, BotCommandError> {
        let bot = self
            .load(bot_id)
            .await?
            .ok_or(BotCommandError::NotFound(bot_id))?;
        let spec = RunSpec {
            strategy: bot.strategy.clone(),
            risk: bot.risk.clone(),
            symbol: bot.symbol.clone(),
            settings: request.settings,
        };
        let files = request.clone();
        let run = tokio::task::spawn_blocking(move || {
            let data_files = DataFiles {
                candles: Some(&files.data),
                funding: files.funding.as_deref(),
                from_ms: files.from.map(|time| time.timestamp_millis()),
                to_ms: files.to.map(|time| time.timestamp_millis()),
            };
            run_files(&spec, &data_files, RunOptions::default())
        })
        .await
        .map_err(|e| BotCommandError::Backtest(e.to_string()))??;

        let completed = completed_event(&bot, &request, &run);
        let event = BotEvent::BacktestCompleted(completed.clone());
        let new_event = event.to_new_event(derive_event_id(Uuid::now_v7(), 0), metadata);
        let stream = StreamName::new(Category::Bot, bot_id);
        let appended = self
            .log
            .append(
                &stream,
                ExpectedVersion::Exact(bot.version),
                vec![new_event],
            )
            .await?;
        Ok(BotBacktest {
            completed,
            trade_list: run.report.trade_list,
            appended,
        })
    }
}

/// What a server-side backtest reads.
#[derive(Clone, Debug)]
pub struct BacktestRequest {
    /// The kline CSV file.
    pub data: PathBuf,
    /// The name the data is recorded under.
    pub data_name: String,
    /// A funding-rate CSV file charged during the run.
    pub funding: Option<PathBuf>,
    pub funding_name: Option<String>,
    /// Keep candles opening at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Keep candles opening before this time.
    pub to: Option<DateTime<Utc>>,
    pub settings: RunSettings,
}

/// A recorded server-side backtest.
#[derive(Debug)]
pub struct BotBacktest {
    pub completed: BacktestCompleted,
    pub trade_list: Vec<Trade>,
    pub appended: Appended,
}

fn completed_event(bot: &BotState, request: &BacktestRequest, run: &FileRun) -> BacktestCompleted {
    let report = &run.report;
    BacktestCompleted {
        backtest_id: Uuid::now_v7(),
        config_hash: bot.config_hash.clone(),
        data_hash: run.data_hash.clone(),
        data_name: request.data_name.clone(),
        bars: report.bars,
        trades: report.trades,
        first_bar_at: report.first_bar_time,
        last_bar_at: report.last_bar_time,
        final_equity: report.final_equity,
        total_return: report.total_return,
        max_drawdown: report.max_drawdown,
        completed_at: Utc::now(),
        details: Some(Box::new(BacktestDetails {
            sharpe: report.sharpe,
            sortino: report.sortino,
            win_rate: report.win_rate,
            profit_factor: report.profit_factor,
            exposure: report.exposure,
            fees_paid: report.fees_paid,
            funding_paid: report.funding_paid,
            risk_checks: report.risk_checks,
            funding_name: request.funding_name.clone(),
            funding_hash: run.funding_hash.clone(),
            trade_list_hash: report.trade_list_hash(),
        })),
    }
}

/// Checks that a spec names a known strategy with valid parameters and order settings.
fn check_strategy(spec: &StrategySpec, risk: &RiskConfig) -> Result<(), BotCommandError> {
    let invalid = |message: String| BotCommandError::InvalidStrategy(message);
    strategy::from_spec(spec).map_err(|e| {
        invalid(format!(
            "params.{} = {}: expected {}",
            e.name, e.value, e.allowed
        ))
    })?;
    TradeSettings::from_spec(spec, risk, "", rust_decimal::Decimal::ZERO)
        .map_err(|e| invalid(e.to_string()))?;
    Ok(())
}

/// The configuration event, with the hash of the canonical strategy and risk JSON.
fn configuration(
    strategy: StrategySpec,
    risk: &RiskConfig,
    now: chrono::DateTime<Utc>,
) -> BotConfigured {
    let config_hash = config_hash(&strategy, risk);
    let risk = serde_json::to_value(risk).unwrap_or_default();
    BotConfigured {
        strategy,
        risk,
        config_hash,
        configured_at: now,
    }
}
