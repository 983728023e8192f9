//! The actors that trade live bots, one per bot, under a supervisor that restarts a failed one.
//!
//! A live bot follows the closed candles of its symbol on its exchange's public market data.
//! Each candle goes into the bot's feed before its actor takes it, and the actor remembers in
//! the shared context which candle it last acted on. A restarted actor starts its
//! [`LiveTrader`] again (adopting the orders its stream records and reconciling the position),
//! feeds the candles it had acted on to its strategy without acting, and then acts on the rest.
//! Intent ids derive from the activation and the candle's open time, and an intent recorded as
//! submitted is looked up on the exchange instead of being sent again, so a crash neither loses
//! nor repeats an order.
//!
//! A live bot also follows its exchange account's private stream. Each order update, and the
//! snapshot the stream reads after every reconnect, goes to its actor. The actor records the
//! fills and cancellations missed meanwhile and places a stop again where the position has none.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::DateTime;
use keyward_adapters::domain::{AccountEvent, AccountStream};
use keyward_adapters::{Credentials, ExchangeClient};
use keyward_eventlog::EventLog;
use keyward_events::bot::{BotMode, OrderKind};
use keyward_events::market::Candle;
use keyward_risk::{Evaluation, RiskContext};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::live::{CancelScope, LiveError, LiveTrader, Placement};
use super::runner::{CandleFeeds, ClosedCandles};
use super::{BotCommandError, BotService, BotStatus};
use crate::key::KeyService;
use crate::strategy::{ConfiguredStrategy, PositionSide, Strategy};
use crate::supervisor::Supervised;
use crate::trading::{AccountView, EntryFill, IntentIds, OrderHandler, stop_price, to_decimal};

/// How long a caller waits for a live bot's reply; cancelling several orders takes a few
/// exchange round trips.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the task that forwards a bot's account stream checks that the bot still runs.
const ACCOUNT_STREAM_CHECK: Duration = Duration::from_secs(1);
/// Times [`LiveBots::feed`] sends a candle again after the actor failed and was restarted.
const FEED_ATTEMPTS: u32 = 5;
const DAY_MS: i64 = 86_400_000;
/// Taker fee the order sizing assumes: an estimate of a regular futures account's rate.
const TAKER_FEE: Decimal = Decimal::from_parts(5, 0, 0, false, 4);

/// The reason a live bot halts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Halt {
    /// The bot paused: orders that add risk are cancelled, its protective orders stay.
    Pause,
    /// The bot stopped: every order is cancelled and the actor ends.
    Stop,
}

/// Messages of a live bot's actor.
pub enum LiveMsg {
    /// Act on every candle of the feed not taken yet.
    CatchUp(RpcReplyPort<Result<(), String>>),
    /// Cancel the bot's orders on the exchange; returns how many were cancelled.
    Halt(Halt, RpcReplyPort<Result<usize, String>>),
    /// Record an event of the account's private stream: an order update, or the snapshot read
    /// after a (re)connect.
    Account(AccountEvent),
}

/// State shared by every live bot's actor, which outlives a crashed actor.
pub struct LiveContext {
    log: Arc<dyn EventLog>,
    keys: KeyService,
    feeds: CandleFeeds,
    /// Open time of the last candle each bot acted on.
    acted: Mutex<HashMap<Uuid, i64>>,
    /// Fault injection for tests: fail once after this many orders reached the exchange.
    faults: Mutex<HashMap<Uuid, u64>>,
}

impl LiveContext {
    fn acted(&self, bot_id: Uuid) -> Option<i64> {
        let acted = self.acted.lock().unwrap_or_else(|p| p.into_inner());
        acted.get(&bot_id).copied()
    }

    fn set_acted(&self, bot_id: Uuid, open_time_ms: i64) {
        let mut acted = self.acted.lock().unwrap_or_else(|p| p.into_inner());
        acted.insert(bot_id, open_time_ms);
    }

    fn take_fault(&self, bot_id: Uuid) -> Option<u64> {
        let mut faults = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        faults.remove(&bot_id)
    }
}

#[derive(Default)]
pub struct LiveBotActor;

/// A running live bot: its trader, strategy and order handling.
pub struct LiveBotState {
    bot_id: Uuid,
    context: Arc<LiveContext>,
    trader: LiveTrader,
    handler: OrderHandler,
    strategy: ConfiguredStrategy,
    ids: IntentIds,
    /// Candles of the feed taken, acted on or only fed to the strategy.
    candles_taken: usize,
    day: i64,
    /// Equity read at the last candle acted on.
    equity: Decimal,
    day_start_equity: Decimal,
    peak_equity: Decimal,
}

impl LiveBotState {
    async fn start(bot_id: Uuid, context: Arc<LiveContext>) -> Result<Self, LiveError> {
        let service = BotService::new(Arc::clone(&context.log));
        let bot = service
            .load(bot_id)
            .await?
            .ok_or(BotCommandError::NotFound(bot_id))?;
        let (Some(BotMode::Live), Some(activated)) = (bot.activated_mode, bot.activated_version)
        else {
            return Err(LiveError::NotLive(bot_id));
        };
        let Some(key_id) = bot.key_id else {
            return Err(LiveError::NotLive(bot_id));
        };

        let (client, credentials) = context
            .keys
            .trading_access(key_id)
            .await
            .map_err(|err| LiveError::Key(err.to_string()))?;
        let mut trader =
            LiveTrader::start(Arc::clone(&context.log), bot_id, client, credentials).await?;
        if let Some(placements) = context.take_fault(bot_id) {
            trader.fail_after_placements(placements);
        }

        let gate = trader.gate().clone();
        let (strategy, handler) = service
            .decision_code(&bot, gate, TAKER_FEE, BotMode::Live)
            .await?;

        let run_id = Uuid::new_v5(&bot_id, &activated.to_be_bytes());
        let equity = trader.equity().await?;
        Ok(Self {
            bot_id,
            context,
            trader,
            handler,
            strategy,
            ids: IntentIds::new(&run_id),
            candles_taken: 0,
            day: i64::MIN,
            equity,
            day_start_equity: equity,
            peak_equity: equity,
        })
    }

    /// Feeds the candles acted on before a restart to the strategy without acting on them.
    fn warm_up(&mut self) {
        let Some(acted) = self.context.acted(self.bot_id) else {
            return;
        };
        let feed = self.context.feeds.get(self.bot_id);
        for candle in feed
            .iter()
            .take_while(|candle| candle.open_time_ms <= acted)
        {
            let side = side_of(self.trader.position());
            self.strategy.on_bar(candle, side);
            self.candles_taken += 1;
        }
    }

    /// Acts on the feed's candles not taken yet.
    async fn catch_up(&mut self) -> Result<(), LiveError> {
        let feed = self.context.feeds.get(self.bot_id);
        for candle in feed.iter().skip(self.candles_taken) {
            self.act(candle).await?;
            self.context.set_acted(self.bot_id, candle.open_time_ms);
            self.candles_taken += 1;
        }
        Ok(())
    }

    /// Takes one closed candle: learns the position, runs the strategy, and passes its orders
    /// down the order path, protecting each entry that fills.
    async fn act(&mut self, candle: &Candle) -> Result<(), LiveError> {
        let entry_price = self.trader.sync_position().await?;
        let active = self.trader.refresh().await?;
        let position = self.trader.position();
        let signal = self.strategy.on_bar(candle, side_of(position));
        if !active {
            return Ok(());
        }

        if !position.is_zero() && !self.trader.has_resting_stop() {
            self.protect_position(candle, entry_price).await?;
        }

        let equity = self.trader.equity().await?;
        self.track_equity(candle.open_time_ms, equity);
        let now = DateTime::from_timestamp_millis(candle.open_time_ms).unwrap_or_default();
        let limits = self
            .trader
            .account_limits(now, self.day_start_equity)
            .await?;
        if let Some(limits) = limits {
            self.handler.set_account_limits(limits);
        }
        let view = self.view(equity);
        let price = to_decimal(candle.close);
        let ids = self.ids.at(sequence_of(candle));
        let mut evaluations = Vec::new();
        let now_ms = candle.open_time_ms;
        self.handler
            .on_signal(signal, &view, price, now_ms, ids, &mut evaluations);

        for evaluation in evaluations {
            let intent = evaluation.intent().clone();
            let placement = self.trader.submit(evaluation).await?;
            let Placement::Accepted(ack) = placement else {
                continue;
            };
            // Bybit and OKX acknowledge a market order before it fills. Their entries get a
            // stop when the account stream reports the fill, or at the next candle, when the
            // position read then shows it unprotected.
            if intent.reduce_only || ack.filled_quantity.is_zero() {
                continue;
            }
            let fill = EntryFill {
                side: intent.side,
                position_quantity: self.trader.position().abs(),
                price: ack.average_price.unwrap_or(price),
                stop_loss: intent.stop_loss,
            };
            let mut protective = Vec::new();
            let view = self.view(equity);
            self.handler
                .on_entry_filled(&fill, &view, now_ms, ids, &mut protective);
            self.protect(protective, price, now_ms).await?;
        }
        if self.trader.position().is_zero() {
            self.trader
                .cancel_orders(CancelScope::All, "position closed")
                .await?;
        }
        Ok(())
    }

    /// Protects an open position that has no resting stop, as after a crash between an entry's
    /// fill and its stop: a stop at the configured distance from the entry price.
    async fn protect_position(&mut self, candle: &Candle, entry: Decimal) -> Result<(), LiveError> {
        let position = self.trader.position();
        let entry_side = match self.trader.exit_side() {
            keyward_events::bot::Side::Sell => keyward_events::bot::Side::Buy,
            keyward_events::bot::Side::Buy => keyward_events::bot::Side::Sell,
        };
        let price = to_decimal(candle.close);
        let entry = if entry.is_zero() { price } else { entry };
        let stop_loss_pct = self.trader.gate().config().stop_loss_pct;
        let fill = EntryFill {
            side: entry_side,
            position_quantity: position.abs(),
            price: entry,
            stop_loss: stop_price(entry_side, entry, stop_loss_pct),
        };
        let equity = self.trader.equity().await?;
        let view = self.view(equity);
        let mut protective = Vec::new();
        // The stop's id derives from the candle it is placed at, so after a crash the same
        // candle finds the stop's recorded verdict and order instead of adding another.
        let ids = self.ids.at(sequence_of(candle) | 1);
        self.handler
            .on_entry_filled(&fill, &view, candle.open_time_ms, ids, &mut protective);
        protective.retain(|evaluation| evaluation.intent().kind == OrderKind::StopMarket);
        self.protect(protective, price, candle.open_time_ms).await
    }

    async fn protect(
        &mut self,
        evaluations: Vec<Evaluation>,
        price: Decimal,
        now_ms: i64,
    ) -> Result<(), LiveError> {
        let now = DateTime::from_timestamp_millis(now_ms).unwrap_or_default();
        let context = RiskContext {
            position: self.trader.position(),
            last_price: Some(price),
            ..RiskContext::new(BotMode::Live, now, self.equity)
        };
        for evaluation in evaluations {
            self.trader.protect_with(evaluation, &context).await?;
        }
        Ok(())
    }

    fn track_equity(&mut self, time_ms: i64, equity: Decimal) {
        self.equity = equity;
        let day = time_ms.div_euclid(DAY_MS);
        if day != self.day {
            self.day = day;
            self.day_start_equity = equity;
        }
        self.peak_equity = self.peak_equity.max(equity);
    }

    fn view(&self, equity: Decimal) -> AccountView {
        let position = self.trader.position();
        AccountView {
            equity,
            position,
            day_start_equity: self.day_start_equity,
            peak_equity: self.peak_equity,
            open_positions: u32::from(!position.is_zero()),
        }
    }
}

impl Actor for LiveBotActor {
    type Msg = LiveMsg;
    type State = LiveBotState;
    type Arguments = (Uuid, Arc<LiveContext>);

    async fn pre_start(
        &self,
        _myself: ActorRef<LiveMsg>,
        (bot_id, context): (Uuid, Arc<LiveContext>),
    ) -> Result<LiveBotState, ActorProcessingErr> {
        let mut state = LiveBotState::start(bot_id, context).await?;
        state.warm_up();
        state.catch_up().await?;
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<LiveMsg>,
        message: LiveMsg,
        state: &mut LiveBotState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            LiveMsg::CatchUp(reply) => match state.catch_up().await {
                Ok(()) => {
                    let _ = reply.send(Ok(()));
                }
                Err(err) => {
                    let _ = reply.send(Err(err.to_string()));
                    return Err(err.into());
                }
            },
            LiveMsg::Halt(halt, reply) => {
                let (scope, reason) = match halt {
                    Halt::Pause => (CancelScope::NewRisk, "bot paused"),
                    Halt::Stop => (CancelScope::All, "bot stopped"),
                };
                let cancelled = state.trader.cancel_orders(scope, reason).await;
                let _ = reply.send(cancelled.map_err(|e| e.to_string()));
                if halt == Halt::Stop {
                    myself.stop(None);
                }
            }
            LiveMsg::Account(event) => {
                if let Err(err) = state.trader.on_account_event(event).await {
                    // The restarted actor reconciles with the exchange when it starts.
                    tracing::warn!(bot_id = %state.bot_id, error = %err,
                        "live bot failed to record an account stream event; restarting it");
                    return Err(err.into());
                }
            }
        }
        Ok(())
    }
}

/// Failure of a live bot command.
#[derive(Debug, thiserror::Error)]
pub enum LiveBotsError {
    #[error("live bot {bot_id} failed: {message}")]
    Failed { bot_id: Uuid, message: String },
    #[error("the live bot supervisor is unavailable: {0}")]
    Unavailable(String),
}

/// Starts live bots' actors, feeds them candles, and halts them.
#[derive(Clone)]
pub struct LiveBots {
    supervisor: Supervised<LiveBotActor>,
    context: Arc<LiveContext>,
}

impl LiveBots {
    /// Starts the live bot supervisor; bots trade with keys opened through `keys`.
    ///
    /// # Errors
    /// Fails when the supervisor actor cannot start.
    pub async fn start(log: Arc<dyn EventLog>, keys: KeyService) -> Result<Self, LiveBotsError> {
        let context = Arc::new(LiveContext {
            log,
            keys,
            feeds: CandleFeeds::default(),
            acted: Mutex::new(HashMap::new()),
            faults: Mutex::new(HashMap::new()),
        });
        let args_context = Arc::clone(&context);
        let args = Arc::new(move |bot_id| (bot_id, Arc::clone(&args_context)));
        let supervisor = Supervised::start("live bot", args)
            .await
            .map_err(LiveBotsError::Unavailable)?;
        Ok(Self {
            supervisor,
            context,
        })
    }

    /// Starts the actor of a live bot and follows the closed candles of its symbol.
    ///
    /// # Errors
    /// Fails when the actor cannot start (an unusable key, an exchange that cannot be
    /// reached) or the market data stream cannot be opened.
    pub async fn run(
        &self,
        bot_id: Uuid,
        symbol: &str,
        interval: &str,
    ) -> Result<(), LiveBotsError> {
        self.actor(bot_id).await?;
        if !self.context.feeds.start_following(bot_id) {
            return Ok(());
        }
        let failed = |message: String| LiveBotsError::Failed { bot_id, message };
        let bot = BotService::new(Arc::clone(&self.context.log))
            .load(bot_id)
            .await
            .map_err(|e| failed(e.to_string()))?
            .ok_or_else(|| failed("not found".to_owned()))?;
        let key_id = bot.key_id.ok_or_else(|| failed("no key".to_owned()))?;
        let (client, credentials) = self
            .context
            .keys
            .trading_access(key_id)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let candles = ClosedCandles::open(client.as_ref(), symbol, interval).await;
        let mut candles = match candles {
            Ok(candles) => candles,
            Err(err) => {
                self.context.feeds.stop_following(bot_id);
                return Err(failed(err.to_string()));
            }
        };
        let bots = self.clone();
        tokio::spawn(async move {
            while let Some(candle) = candles.next().await {
                if let Err(err) = bots.feed(bot_id, candle).await {
                    tracing::warn!(%bot_id, error = %err, "live bot stopped taking candles");
                    break;
                }
            }
            bots.context.feeds.stop_following(bot_id);
        });
        self.follow_account(bot_id, client.as_ref(), &credentials)
            .await;
        Ok(())
    }

    /// Opens the account stream of a bot's key and forwards its events to the bot's actor.
    /// A stream that cannot be opened is logged: the bot trades on, because each candle still
    /// reads the position from the exchange and reconciles when it differs.
    async fn follow_account(
        &self,
        bot_id: Uuid,
        client: &dyn ExchangeClient,
        credentials: &Credentials,
    ) {
        match client.account_stream(credentials).await {
            Ok(stream) => {
                let bots = self.clone();
                tokio::spawn(async move { bots.forward_account_events(bot_id, stream).await });
            }
            Err(err) => tracing::error!(%bot_id, error = %err,
                "failed to open the account stream; fills are reconciled at each candle only"),
        }
    }

    /// Sends each event of a bot's account stream to its actor until the bot stops following
    /// market data (it stopped) or the stream ends. An event sent while the actor restarts is
    /// lost, but the restarted actor reconciles with the exchange first.
    async fn forward_account_events(&self, bot_id: Uuid, mut stream: AccountStream) {
        while self.context.feeds.is_following(bot_id) {
            let event = match tokio::time::timeout(ACCOUNT_STREAM_CHECK, stream.next()).await {
                Ok(Some(event)) => event,
                Ok(None) => {
                    tracing::warn!(%bot_id, "account stream ended");
                    return;
                }
                Err(_elapsed) => continue,
            };
            if !self.context.feeds.is_following(bot_id) {
                return;
            }
            let sent = match self.actor(bot_id).await {
                Ok(actor) => actor
                    .cast(LiveMsg::Account(event))
                    .map_err(|err| err.to_string()),
                Err(err) => Err(err.to_string()),
            };
            if let Err(err) = sent {
                tracing::warn!(%bot_id, error = %err, "account stream event not delivered");
            }
        }
    }

    /// Adds a closed candle to a bot's feed and waits until its actor has acted on it. An actor
    /// that fails is restarted by its supervisor and receives the request again.
    ///
    /// # Errors
    /// Fails when the actor keeps failing, or the bot has stopped.
    pub async fn feed(&self, bot_id: Uuid, candle: Candle) -> Result<(), LiveBotsError> {
        self.check_following(bot_id)?;
        self.context.feeds.push(bot_id, candle);
        let mut last_error = String::new();
        for _ in 0..FEED_ATTEMPTS {
            self.check_following(bot_id)?;
            let reply = match self.actor(bot_id).await {
                Ok(actor) => actor.call(LiveMsg::CatchUp, Some(CALL_TIMEOUT)).await,
                Err(err) => {
                    last_error = err.to_string();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            match reply {
                Ok(ractor::rpc::CallResult::Success(Ok(()))) => return Ok(()),
                Ok(ractor::rpc::CallResult::Success(Err(message))) => last_error = message,
                Ok(other) => last_error = format!("{other:?}"),
                Err(err) => last_error = err.to_string(),
            }
            tracing::warn!(%bot_id, error = %last_error, "live bot did not take a candle; retrying");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(LiveBotsError::Failed {
            bot_id,
            message: last_error,
        })
    }

    /// Cancels a live bot's orders on the exchange and records each cancellation: on
    /// [`Halt::Pause`] the orders that add risk, on [`Halt::Stop`] every order, after which the
    /// actor ends and its feed is dropped. Starts the actor when it is not running, as after a
    /// restart. Returns how many orders were cancelled.
    ///
    /// # Errors
    /// Fails when the actor cannot start or a cancellation fails.
    pub async fn halt(&self, bot_id: Uuid, halt: Halt) -> Result<usize, LiveBotsError> {
        if halt == Halt::Stop {
            self.context.feeds.stop_following(bot_id);
        }
        let actor = self.actor(bot_id).await?;
        let reply = actor
            .call(|port| LiveMsg::Halt(halt, port), Some(CALL_TIMEOUT))
            .await;
        let failed = |message: String| LiveBotsError::Failed { bot_id, message };
        let cancelled = match reply {
            Ok(ractor::rpc::CallResult::Success(result)) => result.map_err(failed)?,
            Ok(other) => return Err(failed(format!("{other:?}"))),
            Err(err) => return Err(failed(err.to_string())),
        };
        if halt == Halt::Stop {
            self.context.feeds.remove(bot_id);
        }
        Ok(cancelled)
    }

    /// Makes the next actor started for `bot_id` fail once after `placements` orders reached
    /// the exchange, before their acknowledgement is recorded: the crash between an order and
    /// its record, for restart tests.
    pub fn inject_fault_after_placements(&self, bot_id: Uuid, placements: u64) {
        let mut faults = self
            .context
            .faults
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        faults.insert(bot_id, placements);
    }

    /// Returns how many live bot actors were restarted after a failure since the start.
    pub fn restarts(&self) -> u64 {
        self.supervisor.restarts()
    }

    /// Starts the actor of every live bot that is active or paused, as after a restart of the
    /// server. Returns the ids of the bots resumed; a bot that cannot start is logged and
    /// skipped.
    ///
    /// # Errors
    /// Fails when the log cannot be read.
    pub async fn resume(&self) -> Result<Vec<Uuid>, LiveBotsError> {
        let service = BotService::new(Arc::clone(&self.context.log));
        let bots = service
            .bot_ids()
            .await
            .map_err(|e| LiveBotsError::Unavailable(e.to_string()))?;
        let mut resumed = Vec::new();
        for bot_id in bots {
            let Ok(Some(bot)) = service.load(bot_id).await else {
                continue;
            };
            let live = bot.activated_mode == Some(BotMode::Live)
                && matches!(
                    bot.status,
                    BotStatus::Active { .. } | BotStatus::Paused { .. }
                );
            if !live {
                continue;
            }
            let interval = super::candle_interval(&bot.strategy);
            match self.run(bot_id, &bot.symbol, interval).await {
                Ok(()) => resumed.push(bot_id),
                Err(err) => tracing::error!(%bot_id, error = %err, "live bot could not resume"),
            }
        }
        Ok(resumed)
    }

    /// Fails for a bot whose candles are not followed: a stopped bot is followed no more, so a
    /// candle still on its way starts no actor.
    fn check_following(&self, bot_id: Uuid) -> Result<(), LiveBotsError> {
        if self.context.feeds.is_following(bot_id) {
            return Ok(());
        }
        Err(LiveBotsError::Failed {
            bot_id,
            message: "the bot does not follow market data; activate it first".to_owned(),
        })
    }

    async fn actor(&self, bot_id: Uuid) -> Result<ActorRef<LiveMsg>, LiveBotsError> {
        self.supervisor
            .child(bot_id)
            .await
            .map_err(|message| LiveBotsError::Failed { bot_id, message })
    }
}

/// Returns the intent sequence of a candle: its open time, shifted to leave the low bit for
/// the stop of a position found unprotected.
fn sequence_of(candle: &Candle) -> u64 {
    u64::try_from(candle.open_time_ms).unwrap_or_default() << 1
}

fn side_of(position: Decimal) -> PositionSide {
    if position > Decimal::ZERO {
        PositionSide::Long
    } else if position < Decimal::ZERO {
        PositionSide::Short
    } else {
        PositionSide::Flat
    }
}

#[cfg(test)]
mod tests;
