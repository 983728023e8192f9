//! The actors that run active paper bots, one per bot, under a supervisor that restarts a
//! failed one.
//!
//! Candles reach a bot through [`BotRunners::feed`], which keeps every candle of the run in
//! the bot's feed before telling its actor to catch up. A restarted actor rebuilds its run by
//! replaying the whole feed, so a crash loses no candle and, because every recorded event has
//! a derived id, repeats no order.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyward_adapters::domain::{
    CandleUpdate, MarketChannel, MarketEvent, MarketStream, MarketSubscription,
};
use keyward_adapters::{AdapterError, ExchangeClient};
use keyward_eventlog::EventLog;
use keyward_events::Exchange;
use keyward_events::market::Candle;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use rust_decimal::prelude::ToPrimitive;
use uuid::Uuid;

use super::paper::{PaperError, PaperRun, PaperSettings};
use crate::supervisor::Supervised;

/// How long a caller waits for a runner's reply.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Times [`BotRunners::feed`] sends the request again after the runner failed and was restarted.
const FEED_ATTEMPTS: u32 = 5;

/// The closed candles of each bot's run, kept so that a restarted actor can take them again,
/// and the bots whose candles a market data task feeds.
#[derive(Default)]
pub(super) struct CandleFeeds {
    feeds: Mutex<HashMap<Uuid, Arc<Vec<Candle>>>>,
    following: Mutex<HashSet<Uuid>>,
}

impl CandleFeeds {
    pub(super) fn get(&self, bot_id: Uuid) -> Arc<Vec<Candle>> {
        let feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
        feeds.get(&bot_id).cloned().unwrap_or_default()
    }

    pub(super) fn push(&self, bot_id: Uuid, candle: Candle) {
        let mut feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
        let feed = feeds.entry(bot_id).or_default();
        // NOTE: the feed keeps every candle of the run in memory so that a restart can replay
        // it. A run of months of one-minute candles keeps a few hundred thousand.
        Arc::make_mut(feed).push(candle);
    }

    pub(super) fn remove(&self, bot_id: Uuid) {
        let mut feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
        feeds.remove(&bot_id);
    }

    /// Marks a bot as followed; returns false when it already was.
    pub(super) fn start_following(&self, bot_id: Uuid) -> bool {
        let mut following = self.following.lock().unwrap_or_else(|p| p.into_inner());
        following.insert(bot_id)
    }

    pub(super) fn stop_following(&self, bot_id: Uuid) {
        let mut following = self.following.lock().unwrap_or_else(|p| p.into_inner());
        following.remove(&bot_id);
    }

    pub(super) fn is_following(&self, bot_id: Uuid) -> bool {
        let following = self.following.lock().unwrap_or_else(|p| p.into_inner());
        following.contains(&bot_id)
    }
}

/// The closed candles of one symbol and interval on an exchange's public market data.
pub(super) struct ClosedCandles(MarketStream);

impl ClosedCandles {
    /// Subscribes to the candles of `symbol` at `interval` through `client`.
    pub(super) async fn open(
        client: &dyn ExchangeClient,
        symbol: &str,
        interval: &str,
    ) -> Result<Self, AdapterError> {
        let subscription = MarketSubscription {
            symbol: symbol.to_owned(),
            channel: MarketChannel::Candles {
                interval: interval.to_owned(),
            },
        };
        Ok(Self(client.market_stream(&[subscription]).await?))
    }

    /// Waits for the next closed candle; `None` once the stream has ended.
    pub(super) async fn next(&mut self) -> Option<Candle> {
        while let Some(event) = self.0.next().await {
            if let MarketEvent::Candle(update) = event
                && update.closed
            {
                return Some(candle_of(&update));
            }
        }
        None
    }
}

/// State shared by every runner: the log, the simulated account, and the candles of each run.
pub struct RunnerContext {
    pub log: Arc<dyn EventLog>,
    pub settings: PaperSettings,
    /// Clients whose public market data feeds paper bots, by exchange.
    market: HashMap<Exchange, Arc<dyn ExchangeClient>>,
    feeds: CandleFeeds,
    faults: Mutex<HashMap<Uuid, u64>>,
}

impl RunnerContext {
    fn take_fault(&self, bot_id: Uuid) -> Option<u64> {
        let mut faults = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        faults.remove(&bot_id)
    }
}

/// Messages of a bot's runner.
pub enum RunnerMsg {
    /// Take every candle of the feed not taken yet.
    CatchUp(RpcReplyPort<Result<u64, String>>),
    /// Cancel open orders, record the run's summary, and stop.
    Finish(RpcReplyPort<Result<(), String>>),
}

#[derive(Default)]
struct BotRunner;

struct RunnerState {
    bot_id: Uuid,
    context: Arc<RunnerContext>,
    run: PaperRun,
}

impl RunnerState {
    /// Takes the feed's candles after the ones the run has taken.
    async fn catch_up(&mut self) -> Result<u64, PaperError> {
        let feed = self.context.feeds.get(self.bot_id);
        let taken = usize::try_from(self.run.bars()).unwrap_or(usize::MAX);
        for candle in feed.iter().skip(taken) {
            self.run.on_candle(candle).await?;
        }
        Ok(self.run.bars())
    }
}

impl Actor for BotRunner {
    type Msg = RunnerMsg;
    type State = RunnerState;
    type Arguments = (Uuid, Arc<RunnerContext>);

    async fn pre_start(
        &self,
        _myself: ActorRef<RunnerMsg>,
        (bot_id, context): (Uuid, Arc<RunnerContext>),
    ) -> Result<RunnerState, ActorProcessingErr> {
        let mut run = PaperRun::start(Arc::clone(&context.log), bot_id, context.settings).await?;
        if let Some(checks) = context.take_fault(bot_id) {
            run.fail_after_checks(checks);
        }
        let mut state = RunnerState {
            bot_id,
            context,
            run,
        };
        state.catch_up().await?;
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<RunnerMsg>,
        message: RunnerMsg,
        state: &mut RunnerState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            RunnerMsg::CatchUp(reply) => match state.catch_up().await {
                Ok(bars) => {
                    let _ = reply.send(Ok(bars));
                }
                Err(err) => {
                    let _ = reply.send(Err(err.to_string()));
                    return Err(err.into());
                }
            },
            RunnerMsg::Finish(reply) => {
                let finished = state.run.finish().await.map_err(|e| e.to_string());
                let _ = reply.send(finished);
                myself.stop(None);
            }
        }
        Ok(())
    }
}

/// Failure of a runner command.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("the runner of bot {bot_id} failed: {message}")]
    Failed { bot_id: Uuid, message: String },
    #[error("the runner supervisor is unavailable: {0}")]
    Unavailable(String),
}

/// Starts paper runners and feeds them candles.
#[derive(Clone)]
pub struct BotRunners {
    supervisor: Supervised<BotRunner>,
    context: Arc<RunnerContext>,
}

impl BotRunners {
    /// Starts the runner supervisor.
    ///
    /// # Errors
    /// Fails when the supervisor actor cannot start.
    pub async fn start(
        log: Arc<dyn EventLog>,
        settings: PaperSettings,
    ) -> Result<Self, RunnerError> {
        Self::start_with_market(log, settings, Vec::new()).await
    }

    /// Starts the runner supervisor with clients whose closed candles
    /// [`BotRunners::follow_market`] feeds to paper bots.
    ///
    /// # Errors
    /// Fails when the supervisor actor cannot start.
    pub async fn start_with_market(
        log: Arc<dyn EventLog>,
        settings: PaperSettings,
        market: Vec<Arc<dyn ExchangeClient>>,
    ) -> Result<Self, RunnerError> {
        let market = market
            .into_iter()
            .map(|client| (client.exchange(), client))
            .collect();
        let context = Arc::new(RunnerContext {
            log,
            settings,
            market,
            feeds: CandleFeeds::default(),
            faults: Mutex::new(HashMap::new()),
        });
        let args_context = Arc::clone(&context);
        let args = Arc::new(move |bot_id| (bot_id, Arc::clone(&args_context)));
        let supervisor = Supervised::start("bot runner", args)
            .await
            .map_err(RunnerError::Unavailable)?;
        Ok(Self {
            supervisor,
            context,
        })
    }

    /// Starts the runner of an active paper bot; a running one is left as it is.
    ///
    /// # Errors
    /// Fails when the bot is not active in paper mode or its runner cannot start.
    pub async fn run(&self, bot_id: Uuid) -> Result<(), RunnerError> {
        self.runner(bot_id).await.map(drop)
    }

    /// Adds a closed candle to a bot's feed and waits until its runner has taken it. Returns
    /// the number of candles the run has taken. A runner that fails is restarted by its
    /// supervisor, replays the feed, and receives the request again.
    ///
    /// # Errors
    /// Fails when the runner keeps failing.
    pub async fn feed(&self, bot_id: Uuid, candle: Candle) -> Result<u64, RunnerError> {
        self.context.feeds.push(bot_id, candle);
        let mut last_error = String::new();
        for _ in 0..FEED_ATTEMPTS {
            let runner = match self.runner(bot_id).await {
                Ok(runner) => runner,
                Err(err) => {
                    last_error = err.to_string();
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            };
            match runner.call(RunnerMsg::CatchUp, Some(CALL_TIMEOUT)).await {
                Ok(ractor::rpc::CallResult::Success(Ok(bars))) => return Ok(bars),
                Ok(ractor::rpc::CallResult::Success(Err(message))) => last_error = message,
                Ok(other) => last_error = format!("{other:?}"),
                Err(err) => last_error = err.to_string(),
            }
            tracing::warn!(%bot_id, error = %last_error, "bot runner did not take a candle; retrying");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(RunnerError::Failed {
            bot_id,
            message: last_error,
        })
    }

    /// Ends a bot's run, if one is running: cancels its open orders, records
    /// `PaperRunCompleted`, and drops its feed.
    ///
    /// # Errors
    /// Fails when the runner cannot record the end of the run.
    pub async fn finish(&self, bot_id: Uuid) -> Result<(), RunnerError> {
        let running = self.supervisor.running(bot_id).await;
        let failed = |message: String| RunnerError::Failed { bot_id, message };
        if let Ok(Some(runner)) = running {
            let reply = runner.call(RunnerMsg::Finish, Some(CALL_TIMEOUT)).await;
            match reply {
                Ok(ractor::rpc::CallResult::Success(result)) => result.map_err(failed)?,
                Ok(other) => return Err(failed(format!("{other:?}"))),
                Err(err) => return Err(failed(err.to_string())),
            }
        }
        self.context.feeds.remove(bot_id);
        Ok(())
    }

    /// Makes the next runner started for `bot_id` fail once after `checks` recorded risk
    /// checks, before it submits the order: the crash between a durable verdict and its
    /// order, for restart tests.
    pub fn inject_fault_after_checks(&self, bot_id: Uuid, checks: u64) {
        let mut faults = self
            .context
            .faults
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        faults.insert(bot_id, checks);
    }

    /// Subscribes to the closed candles of a paper bot's symbol on its exchange's public
    /// market data and feeds each to the bot until its run ends. Does nothing when no client
    /// is configured for the exchange.
    ///
    /// # Errors
    /// Fails when the market data stream cannot be opened.
    pub async fn follow_market(
        &self,
        bot_id: Uuid,
        exchange: Exchange,
        symbol: &str,
        interval: &str,
    ) -> Result<(), RunnerError> {
        let Some(client) = self.context.market.get(&exchange) else {
            tracing::warn!(%bot_id, %exchange, "no market data client; the paper bot gets no candles");
            return Ok(());
        };
        if !self.context.feeds.start_following(bot_id) {
            return Ok(());
        }
        let candles = ClosedCandles::open(client.as_ref(), symbol, interval).await;
        let mut candles = match candles {
            Ok(candles) => candles,
            Err(err) => {
                self.context.feeds.stop_following(bot_id);
                let message = err.to_string();
                return Err(RunnerError::Failed { bot_id, message });
            }
        };
        let runners = self.clone();
        tokio::spawn(async move {
            while let Some(candle) = candles.next().await {
                if let Err(err) = runners.feed(bot_id, candle).await {
                    tracing::info!(%bot_id, error = %err, "paper bot stopped taking candles");
                    break;
                }
            }
            runners.context.feeds.stop_following(bot_id);
        });
        Ok(())
    }

    /// Returns how many runners were restarted after a failure since the start.
    pub fn restarts(&self) -> u64 {
        self.supervisor.restarts()
    }

    async fn runner(&self, bot_id: Uuid) -> Result<ActorRef<RunnerMsg>, RunnerError> {
        self.supervisor
            .child(bot_id)
            .await
            .map_err(|message| RunnerError::Failed { bot_id, message })
    }
}

fn candle_of(update: &CandleUpdate) -> Candle {
    let number = |value: rust_decimal::Decimal| value.to_f64().unwrap_or(0.0);
    Candle {
        open_time_ms: update.open_time_ms,
        open: number(update.open),
        high: number(update.high),
        low: number(update.low),
        close: number(update.close),
        volume: number(update.volume),
    }
}

#[cfg(test)]
mod tests;
