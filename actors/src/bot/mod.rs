//! Bots: creation, configuration and server-side backtests over a bot's own configuration.
//!
//! NOTE: bots have no actor yet; each command reads the stream, decides, and appends with the
//! stream's expected version, so concurrent commands on one bot fail with a conflict instead of
//! overwriting each other.

mod state;

use std::path::Path;

use chrono::Utc;
use keyward_eventlog::{
    AppendError, Appended, EventLog, ExpectedVersion, ReadError, read_whole_stream,
};
use keyward_events::bot::{BacktestCompleted, BotConfigured, BotCreated, BotEvent, StrategySpec};
use keyward_events::codec::derive_event_id;
use keyward_events::{Category, DomainEvent, EventCodecError, Exchange, Metadata, StreamName};
use keyward_risk::{RiskConfig, RiskGate};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::backtest::{BacktestConfig, DataError, load_candles, run_backtest};
use crate::strategy::SmaCross;
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
    Data(#[from] DataError),
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
        sma_from_spec(&bot.strategy)?;
        bot.risk
            .validate()
            .map_err(|e| BotCommandError::InvalidRisk(e.to_string()))?;
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

    /// Runs the bot's strategy and risk gate over a kline CSV and records `BacktestCompleted`
    /// with the hashes of the configuration and the data.
    ///
    /// # Errors
    /// Fails for an unknown bot, unreadable data, or when the log cannot append.
    pub async fn backtest(
        &self,
        bot_id: Uuid,
        data: &Path,
        data_name: &str,
        metadata: Metadata,
    ) -> Result<(BacktestCompleted, Appended), BotCommandError> {
        let bot = self
            .load(bot_id)
            .await?
            .ok_or(BotCommandError::NotFound(bot_id))?;
        let path = data.to_path_buf();
        let strategy = bot.strategy.clone();
        let risk = bot.risk.clone();
        let symbol = bot.symbol.clone();
        let run =
            tokio::task::spawn_blocking(move || run_over_file(&path, &strategy, risk, symbol))
                .await
                .map_err(|e| BotCommandError::Backtest(e.to_string()))??;
        let (report, data_hash) = run;
        let completed = BacktestCompleted {
            backtest_id: Uuid::now_v7(),
            config_hash: bot.config_hash.clone(),
            data_hash,
            data_name: data_name.to_owned(),
            bars: report.bars,
            trades: report.trades,
            first_bar_at: report.first_bar_time,
            last_bar_at: report.last_bar_time,
            final_equity: report.final_equity,
            total_return: report.total_return,
            max_drawdown: report.max_drawdown,
            completed_at: Utc::now(),
        };
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
        Ok((completed, appended))
    }
}

fn run_over_file(
    path: &Path,
    strategy: &StrategySpec,
    risk: RiskConfig,
    symbol: String,
) -> Result<(crate::backtest::BacktestReport, String), BotCommandError> {
    let loaded = load_candles(path)?;
    let mut sma = sma_from_spec(strategy)?;
    let gate = RiskGate::new(risk).map_err(|e| BotCommandError::InvalidRisk(e.to_string()))?;
    let config = BacktestConfig {
        run_id: Uuid::new_v5(&Uuid::NAMESPACE_OID, loaded.data_hash.as_bytes()),
        symbol,
        ..BacktestConfig::default()
    };
    let outcome = run_backtest(&loaded.candles, &mut sma, &gate, &config)
        .map_err(|e| BotCommandError::Backtest(e.to_string()))?;
    Ok((outcome.report, loaded.data_hash))
}

/// Builds the SMA crossover from `{"name": "sma", "params": {"fast": N, "slow": M}}`.
fn sma_from_spec(spec: &StrategySpec) -> Result<SmaCross, BotCommandError> {
    if spec.name != "sma" {
        return Err(BotCommandError::InvalidStrategy(format!(
            "unknown strategy {:?}; expected \"sma\"",
            spec.name
        )));
    }
    let window = |name: &str| {
        spec.params
            .get(name)
            .and_then(serde_json::Value::as_u64)
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(|| {
                BotCommandError::InvalidStrategy(format!(
                    "params.{name} is missing or not a whole number of bars"
                ))
            })
    };
    SmaCross::new(window("fast")?, window("slow")?).map_err(|e| {
        BotCommandError::InvalidStrategy(format!(
            "params.{} = {}: expected {}",
            e.name, e.value, e.allowed
        ))
    })
}

/// The configuration event, with the hash of the canonical strategy and risk JSON.
fn configuration(
    strategy: StrategySpec,
    risk: &RiskConfig,
    now: chrono::DateTime<Utc>,
) -> BotConfigured {
    let risk = serde_json::to_value(risk).unwrap_or_default();
    // serde_json maps keep keys sorted, so equal configurations serialize to equal bytes.
    let canonical = serde_json::json!({"strategy": strategy, "risk": risk});
    let config_hash = hex::encode(Sha256::digest(canonical.to_string().as_bytes()));
    BotConfigured {
        strategy,
        risk,
        config_hash,
        configured_at: now,
    }
}
