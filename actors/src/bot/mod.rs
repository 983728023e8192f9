//! Bots: creation, configuration, the lifecycle (activate, pause, stop) and server-side
//! backtests over a bot's own configuration.
//!
//! Each lifecycle command reads the stream, decides with the plain functions of [`lifecycle`],
//! and appends with the stream's expected version, so concurrent commands on one bot fail with
//! a conflict instead of overwriting each other.

pub mod account_loss;
mod account_risk;
pub mod audit;
pub mod lifecycle;
pub mod live;
mod live_runner;
pub mod paper;
mod recorder;
mod runner;
mod state;
#[cfg(test)]
mod test_support;

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use keyward_eventlog::{
    AppendError, Appended, EventLog, ExpectedVersion, ReadError, read_whole_stream,
};
use keyward_events::bot::{
    BacktestCompleted, BacktestDetails, BotConfigured, BotCreated, BotEvent, BotMode, PauseReason,
    StrategySpec,
};
use keyward_events::codec::derive_event_id;
use keyward_events::{Category, DomainEvent, EventCodecError, Exchange, Metadata, StreamName};
use keyward_risk::RiskConfig;
use uuid::Uuid;

use crate::backtest::{
    DataFiles, FileRun, FileRunError, RunOptions, RunSettings, RunSpec, Trade, run_files,
};
use crate::strategy;
use crate::trading::{AccountRiskState, OrderHandler, TradeSettings, config_hash};
pub use account_risk::{AccountLimits, AccountRisk, KillSwitchOutcome};
pub use lifecycle::{KeyFacts, LiveFacts, LivePolicy, Unmet};
pub use live_runner::{Halt, LiveBots, LiveBotsError};
pub use runner::{BotRunners, RunnerError};
pub use state::{BotState, BotStatus, TrackRecord};

/// Times a pause or stop is decided and appended before a version conflict is returned.
const LIFECYCLE_ATTEMPTS: u32 = 5;

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
    Conflict(#[from] lifecycle::LifecycleConflict),
    #[error("the account's kill switch is engaged; release it before activating a bot")]
    KillSwitchEngaged,
    #[error("going live needs: {}", describe_unmet(.0))]
    ActivationRefused(Vec<Unmet>),
    #[error(transparent)]
    Runner(#[from] RunnerError),
    #[error(transparent)]
    Live(#[from] LiveBotsError),
    #[error(transparent)]
    Data(#[from] FileRunError),
    #[error("backtest failed: {0}")]
    Backtest(String),
    #[error("bot {0} was reconfigured while the backtest ran; run the backtest again")]
    Reconfigured(Uuid),
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
    live_policy: LivePolicy,
    runners: Option<BotRunners>,
    live: Option<LiveBots>,
}

impl BotService {
    pub fn new(log: std::sync::Arc<dyn EventLog>) -> Self {
        BotService {
            log,
            live_policy: LivePolicy::default(),
            runners: None,
            live: None,
        }
    }

    /// Starts a paper runner for each bot activated in paper mode and ends it when the bot
    /// stops.
    pub fn with_runners(mut self, runners: BotRunners) -> Self {
        self.runners = Some(runners);
        self
    }

    /// Starts the actor of each bot activated in live mode, and cancels its orders on the
    /// exchange when it pauses or stops.
    pub fn with_live(mut self, live: LiveBots) -> Self {
        self.live = Some(live);
        self
    }

    /// Returns the live bots' actors, when this service starts them.
    pub fn live(&self) -> Option<&LiveBots> {
        self.live.as_ref()
    }

    /// Returns the paper runners, when this service starts them.
    pub fn runners(&self) -> Option<&BotRunners> {
        self.runners.as_ref()
    }

    /// Replaces the evidence going live requires.
    pub fn with_live_policy(mut self, policy: LivePolicy) -> Self {
        self.live_policy = policy;
        self
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

    /// Replaces a bot's strategy and risk configuration with `BotConfigured`; a configuration
    /// equal to the recorded one appends nothing.
    ///
    /// # Errors
    /// Fails for an unknown bot, an invalid configuration, a bot that is active or stopped,
    /// or when the log cannot append.
    pub async fn configure(
        &self,
        bot_id: Uuid,
        strategy: StrategySpec,
        risk: RiskConfig,
        metadata: Metadata,
    ) -> Result<Option<Appended>, BotCommandError> {
        risk.validate()
            .map_err(|e| BotCommandError::InvalidRisk(e.to_string()))?;
        check_strategy(&strategy, &risk)?;
        let bot = self.require(bot_id).await?;
        lifecycle::check_configurable(&bot)?;
        let configured = configuration(strategy, &risk, Utc::now());
        if !lifecycle::changes_configuration(&bot, &configured) {
            return Ok(None);
        }
        let event = BotEvent::BotConfigured(configured);
        self.append(&bot, vec![event], metadata).await.map(Some)
    }

    /// Activates a bot in paper or live mode with `BotActivated`. Going live needs every
    /// condition of [`lifecycle::unmet_for_live`]; `live` carries the facts they are checked on.
    ///
    /// # Errors
    /// Fails for an unknown bot, a status that cannot be activated, unmet conditions for
    /// going live ([`BotCommandError::ActivationRefused`] lists them all), or when the log cannot
    /// append.
    pub async fn activate(
        &self,
        bot_id: Uuid,
        mode: BotMode,
        live: Option<&LiveFacts>,
        metadata: Metadata,
    ) -> Result<Appended, BotCommandError> {
        let bot = self.require(bot_id).await?;
        if let Some(account_id) = bot.account_id
            && self.account_risk(account_id).await?.kill_switch_engaged
        {
            return Err(BotCommandError::KillSwitchEngaged);
        }
        let now = Utc::now();
        let mut host = None;
        if mode == BotMode::Live {
            let unmet = match live {
                Some(facts) => {
                    host.clone_from(&facts.current_host);
                    lifecycle::unmet_for_live(&bot, facts, &self.live_policy, now)
                }
                None => vec![Unmet::KeyMissing],
            };
            if !unmet.is_empty() {
                return Err(BotCommandError::ActivationRefused(unmet));
            }
        }
        let activated = lifecycle::activate(&bot, mode, host, now)?;
        let event = BotEvent::BotActivated(activated);
        let appended = self.append(&bot, vec![event], metadata).await?;
        let interval = candle_interval(&bot.strategy);
        // Each activation starts a new run, so the paper run of an earlier activation (paused
        // since) ends first, and a paper run never trades on after the bot went live.
        if let Some(runners) = &self.runners {
            runners.finish(bot_id).await?;
        }
        if let (Some(live), BotMode::Live) = (&self.live, mode) {
            live.run(bot_id, &bot.symbol, interval).await?;
        }
        if let (Some(runners), BotMode::Paper) = (&self.runners, mode) {
            runners.run(bot_id).await?;
            runners
                .follow_market(bot_id, bot.exchange, &bot.symbol, interval)
                .await?;
        }
        Ok(appended)
    }

    /// Pauses an active bot with `BotPaused`. A live bot's orders that could add to its
    /// position are then cancelled on the exchange; its reduce-only stops stay to protect the
    /// position.
    ///
    /// # Errors
    /// Fails for an unknown bot, a bot that is not active, when the log cannot append, or when
    /// a live bot's orders cannot be cancelled (the pause is recorded all the same).
    pub async fn pause(
        &self,
        bot_id: Uuid,
        reason: PauseReason,
        metadata: Metadata,
    ) -> Result<Appended, BotCommandError> {
        let decide = |bot: &BotState| {
            let paused = lifecycle::pause(bot, reason.clone(), Utc::now())?;
            Ok(BotEvent::BotPaused(paused))
        };
        let (bot, appended) = self.decide_and_append(bot_id, decide, metadata).await?;
        if let (Some(live), Some(BotMode::Live)) = (&self.live, bot.activated_mode) {
            live.halt(bot_id, Halt::Pause).await?;
        }
        Ok(appended)
    }

    /// Stops a bot for good with `BotStopped`. A live bot's open orders are then cancelled on
    /// the exchange, each recorded as `OrderCancelled`; its position stays open.
    ///
    /// # Errors
    /// Fails for an unknown bot, a bot already stopped, when the log cannot append, or when a
    /// live bot's orders cannot be cancelled (the stop is recorded all the same).
    pub async fn stop(
        &self,
        bot_id: Uuid,
        reason: &str,
        metadata: Metadata,
    ) -> Result<Appended, BotCommandError> {
        let decide = |bot: &BotState| {
            let stopped = lifecycle::stop(bot, reason, Utc::now())?;
            Ok(BotEvent::BotStopped(stopped))
        };
        let (bot, appended) = self.decide_and_append(bot_id, decide, metadata).await?;
        if let (Some(live), Some(BotMode::Live)) = (&self.live, bot.activated_mode) {
            live.halt(bot_id, Halt::Stop).await?;
        }
        if let Some(runners) = &self.runners {
            runners.finish(bot_id).await?;
        }
        Ok(appended)
    }

    /// Returns the ids of every bot of an account that is not stopped, read from the log.
    ///
    /// # Errors
    /// Fails when the log cannot be read or decoded.
    pub async fn running_bots_of(&self, account_id: Uuid) -> Result<Vec<Uuid>, BotCommandError> {
        let mut running = Vec::new();
        for bot_id in self.bot_ids().await? {
            let bot = self.load(bot_id).await?;
            if bot.is_some_and(|bot| {
                bot.account_id == Some(account_id) && bot.status != BotStatus::Stopped
            }) {
                running.push(bot_id);
            }
        }
        Ok(running)
    }

    /// Builds a bot's strategy and its order handling around `gate`, with the account's
    /// limits, for a run in `mode` that assumes `taker_fee` when sizing orders.
    ///
    /// # Errors
    /// Fails when the recorded configuration no longer builds or the account's stream cannot
    /// be read.
    async fn decision_code(
        &self,
        bot: &BotState,
        gate: keyward_risk::RiskGate,
        taker_fee: rust_decimal::Decimal,
        mode: BotMode,
    ) -> Result<(strategy::ConfiguredStrategy, OrderHandler), BotCommandError> {
        let invalid = |message: String| BotCommandError::InvalidStrategy(message);
        let strategy = strategy::from_spec(&bot.strategy).map_err(|e| invalid(e.to_string()))?;
        let trade = TradeSettings::from_spec(&bot.strategy, &bot.risk, &bot.symbol, taker_fee)
            .map_err(|e| invalid(e.to_string()))?;
        let mut handler = OrderHandler::new(gate, trade, mode);
        if let Some(account_id) = bot.account_id {
            let account = self.account_risk(account_id).await?;
            handler.set_account_limits(AccountRiskState {
                max_leverage: account.max_leverage,
                kill_switch_engaged: account.kill_switch_engaged,
                daily_loss: None,
            });
        }
        Ok((strategy, handler))
    }

    /// Returns the id of every bot in the log, oldest first.
    ///
    /// # Errors
    /// Fails when the log cannot be read.
    pub async fn bot_ids(&self) -> Result<Vec<Uuid>, BotCommandError> {
        let mut after = 0;
        let mut bots = Vec::new();
        loop {
            let page = self.log.read_all(after, 1000).await?;
            let Some(last) = page.last() else {
                break;
            };
            after = last.position;
            for record in &page {
                if record.stream.category() == Category::Bot && record.version == 0 {
                    bots.push(record.stream.id());
                }
            }
        }
        Ok(bots)
    }

    async fn require(&self, bot_id: Uuid) -> Result<BotState, BotCommandError> {
        self.load(bot_id)
            .await?
            .ok_or(BotCommandError::NotFound(bot_id))
    }

    /// Reads the bot, decides its event, and appends it. A running bot appends its own events
    /// meanwhile, so after a version conflict it reads and decides again, a few times.
    async fn decide_and_append(
        &self,
        bot_id: Uuid,
        decide: impl Fn(&BotState) -> Result<BotEvent, BotCommandError>,
        metadata: Metadata,
    ) -> Result<(BotState, Appended), BotCommandError> {
        let mut attempt = 1;
        loop {
            let bot = self.require(bot_id).await?;
            let event = decide(&bot)?;
            match self.append(&bot, vec![event], metadata.clone()).await {
                Err(BotCommandError::Append(AppendError::WrongExpectedVersion { .. }))
                    if attempt < LIFECYCLE_ATTEMPTS =>
                {
                    attempt += 1;
                }
                result => return result.map(|appended| (bot, appended)),
            }
        }
    }

    /// Appends `events` after the bot's last known version.
    async fn append(
        &self,
        bot: &BotState,
        events: Vec<BotEvent>,
        metadata: Metadata,
    ) -> Result<Appended, BotCommandError> {
        let command_id = Uuid::now_v7();
        let events = events
            .iter()
            .zip(0u32..)
            .map(|(event, index)| {
                event.to_new_event(derive_event_id(command_id, index), metadata.clone())
            })
            .collect();
        let stream = StreamName::new(Category::Bot, bot.bot_id);
        let expected = ExpectedVersion::Exact(bot.version);
        Ok(self.log.append(&stream, expected, events).await?)
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
                hash_candles: true,
            };
            run_files(&spec, &data_files, RunOptions::default())
        })
        .await
        .map_err(|e| BotCommandError::Backtest(e.to_string()))??;

        let data_hash = run.data_hash.clone().ok_or_else(|| {
            BotCommandError::Backtest("the backtest ran without hashing its data".to_owned())
        })?;
        let completed = completed_event(&bot, &request, &run, data_hash);
        let event = BotEvent::BacktestCompleted(completed.clone());
        let new_event = event.to_new_event(derive_event_id(Uuid::now_v7(), 0), metadata);
        let stream = StreamName::new(Category::Bot, bot_id);
        // Other events may land on the bot's stream while the backtest runs, among them other
        // backtests. The result still counts while the configuration it ran is the current one.
        let mut version = bot.version;
        let appended = loop {
            let expected = ExpectedVersion::Exact(version);
            match self
                .log
                .append(&stream, expected, vec![new_event.clone()])
                .await
            {
                Err(AppendError::WrongExpectedVersion { .. }) => {
                    let current = self
                        .load(bot_id)
                        .await?
                        .ok_or(BotCommandError::NotFound(bot_id))?;
                    if current.config_hash != bot.config_hash {
                        return Err(BotCommandError::Reconfigured(bot_id));
                    }
                    version = current.version;
                }
                result => break result?,
            }
        };
        Ok(BotBacktest {
            completed,
            trade_list: run.report.trade_list,
            appended,
        })
    }
}

/// Returns the candle interval a paper or live bot follows: the strategy's `interval`
/// parameter, `1m` when it has none.
fn candle_interval(strategy: &StrategySpec) -> &str {
    let interval = strategy.params.get("interval");
    interval.and_then(|value| value.as_str()).unwrap_or("1m")
}

fn describe_unmet(unmet: &[Unmet]) -> String {
    let messages: Vec<&str> = unmet.iter().map(|condition| condition.message()).collect();
    messages.join("; ")
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

fn completed_event(
    bot: &BotState,
    request: &BacktestRequest,
    run: &FileRun,
    data_hash: String,
) -> BacktestCompleted {
    let report = &run.report;
    BacktestCompleted {
        backtest_id: Uuid::now_v7(),
        config_hash: bot.config_hash.clone(),
        data_hash,
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
