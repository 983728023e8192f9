//! Paper trading: a bot's own strategy, order handling and risk gate, filled by the simulated
//! exchange on a feed of closed candles, with every decision recorded on the bot's stream.
//!
//! The order path is the same as for live trading: each intent's `OrderRiskChecked` is
//! appended before its order is submitted, and `OrderSubmitted` is appended before the order
//! reaches the simulated exchange. Every recorded event has an id derived from the intent (or
//! the run and bar) and a payload stamped with candle times, so a run replayed over the same
//! candles appends nothing new. A runner restarted after a crash replays its candles through a
//! fresh session: each order it had recorded is found again, and an approved order whose
//! submission was not recorded yet is submitted once.

use chrono::{DateTime, Utc};
use keyward_eventlog::{AppendError, EventLog};
use keyward_events::bot::{
    BotEvent, BotMode, OrderCancelled, OrderFilled, OrderSubmitted, PaperRunCompleted, PauseReason,
    PositionChanged, RiskLimitBreached,
};
use keyward_events::codec::derive_event_id;
use keyward_events::market::Candle;
use keyward_events::{Category, Metadata, StreamName};
use keyward_risk::{Evaluation, RiskGate, Rule};
use std::sync::Arc;
use uuid::Uuid;

use super::account_loss::{AccountLedger, newly_breached};
use super::recorder::Recorder;
use super::{BotCommandError, BotService};
use crate::simulated::{FeeSchedule, SimFill, SimulatedExchange};
use crate::strategy::{ConfiguredStrategy, PositionSide, Strategy};
use crate::trading::{AccountView, EntryFill, IntentIds, OrderHandler, to_decimal};

const DAY_MS: i64 = 86_400_000;

/// Index of each event an intent causes, for its derived event id.
mod slot {
    pub const CHECKED: u32 = 0;
    pub const SUBMITTED: u32 = 1;
    pub const FILLED: u32 = 2;
    pub const POSITION: u32 = 3;
    pub const CANCELLED: u32 = 4;
    pub const BREACHED: u32 = 5;
    pub const PAUSED: u32 = 6;
}

/// The simulated account a paper run starts with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PaperSettings {
    /// Starting cash in the quote currency.
    pub cash: f64,
    pub fees: FeeSchedule,
    /// Slippage against market and stop fills, in basis points.
    pub slippage_bps: f64,
}

impl Default for PaperSettings {
    /// 10000 USDT, with fees of 0.05% taker and 0.02% maker: an estimate of a regular
    /// futures account's rates.
    fn default() -> Self {
        Self {
            cash: 10_000.0,
            fees: FeeSchedule {
                taker: 0.0005,
                maker: 0.0002,
            },
            slippage_bps: 0.0,
        }
    }
}

/// Failure of a paper run to take a candle.
#[derive(Debug, thiserror::Error)]
pub enum PaperError {
    #[error("bot {0} is not active")]
    NotActive(Uuid),
    #[error(transparent)]
    Command(#[from] BotCommandError),
    #[error(transparent)]
    Append(#[from] AppendError),
    #[error("paper run of bot {bot_id} stopped on purpose after {checks} risk checks")]
    InjectedFault { bot_id: Uuid, checks: u64 },
}

/// One paper run of one bot: its strategy and order handling, the simulated exchange, and the
/// recorder of its stream.
pub struct PaperRun {
    recorder: Recorder,
    strategy: ConfiguredStrategy,
    handler: OrderHandler,
    exchange: SimulatedExchange,
    ids: IntentIds,
    run_id: Uuid,
    config_hash: String,
    symbol: String,
    /// Candles taken so far.
    bars: u64,
    first_bar_ms: Option<i64>,
    last_bar_ms: i64,
    day: i64,
    day_start_equity: f64,
    peak_equity: f64,
    /// Submitted intents that have not filled or been cancelled, oldest first.
    open_intents: Vec<Uuid>,
    orders: u64,
    /// Set once a risk limit is breached: the run takes no new risk, but its resting orders
    /// still fill.
    breached: bool,
    /// Fault injection for tests: fail once after this many recorded risk checks.
    fail_after_checks: Option<u64>,
    fills: Vec<SimFill>,
    /// The bot's account: its limits and the daily loss of its paper bots; `None` for a bot
    /// without an account.
    account: Option<AccountLedger>,
    /// Starting cash of each paper bot's simulated account.
    cash: rust_decimal::Decimal,
}

impl PaperRun {
    /// Starts the paper run of the bot's current activation.
    ///
    /// # Errors
    /// Fails for an unknown bot, one not active or paused in paper mode, or a recorded configuration
    /// that no longer builds.
    pub async fn start(
        log: Arc<dyn EventLog>,
        bot_id: Uuid,
        settings: PaperSettings,
    ) -> Result<Self, PaperError> {
        let service = BotService::new(Arc::clone(&log));
        let bot = service
            .load(bot_id)
            .await?
            .ok_or(BotCommandError::NotFound(bot_id))?;
        // A paused run still fills its resting stops, so it runs until the bot stops.
        let paper = bot.activated_mode == Some(BotMode::Paper)
            && matches!(
                bot.status,
                super::BotStatus::Active { .. } | super::BotStatus::Paused { .. }
            );
        let Some(activated) = bot.activated_version.filter(|_| paper) else {
            return Err(PaperError::NotActive(bot_id));
        };
        let gate = RiskGate::new(bot.risk.clone())
            .map_err(|e| BotCommandError::InvalidRisk(e.to_string()))?;
        let fee = to_decimal(settings.fees.taker);
        let (strategy, mut handler) = service
            .decision_code(&bot, gate, fee, BotMode::Paper)
            .await?;
        let mut account = bot.account_id.map(AccountLedger::new);
        if let Some(ledger) = &mut account {
            ledger.catch_up(log.as_ref()).await?;
            handler.set_account_limits(ledger.limits());
        }
        let run_id = Uuid::new_v5(&bot_id, &activated.to_be_bytes());
        let metadata = Metadata {
            correlation_id: Some(run_id),
            account_id: bot.account_id,
            ..Metadata::default()
        };
        Ok(Self {
            strategy,
            handler,
            exchange: SimulatedExchange::new(settings.cash, settings.fees, settings.slippage_bps),
            ids: IntentIds::new(&run_id),
            run_id,
            config_hash: bot.config_hash.clone(),
            symbol: bot.symbol.clone(),
            recorder: Recorder::new(log, StreamName::new(Category::Bot, bot_id), metadata, bot),
            bars: 0,
            first_bar_ms: None,
            last_bar_ms: 0,
            day: i64::MIN,
            day_start_equity: settings.cash,
            peak_equity: settings.cash,
            open_intents: Vec::new(),
            orders: 0,
            breached: false,
            fail_after_checks: None,
            fills: Vec::new(),
            account,
            cash: to_decimal(settings.cash),
        })
    }

    /// Makes the run fail once, before submitting, after `checks` recorded risk checks: a
    /// crash between the durable verdict and the order, for restart tests.
    pub fn fail_after_checks(&mut self, checks: u64) {
        self.fail_after_checks = Some(checks);
    }

    /// Returns the number of candles taken.
    pub fn bars(&self) -> u64 {
        self.bars
    }

    /// Returns whether the bot takes new risk: it is active and no limit was breached.
    pub fn takes_new_risk(&self) -> bool {
        self.recorder.bot.is_active() && !self.breached
    }

    /// Takes one closed candle: fills what the simulated exchange fills, protects new
    /// positions with resting stops, then runs the strategy and passes its orders through the
    /// gate.
    ///
    /// # Errors
    /// Fails when the log cannot append, or on an injected fault.
    pub async fn on_candle(&mut self, candle: &Candle) -> Result<(), PaperError> {
        self.recorder.refresh().await?;
        self.start_bar(candle);
        let index = self.bars;
        self.exchange.open_bar(candle, &mut self.fills);
        self.take_fills(index, candle.open_time_ms).await?;
        self.exchange.trade_bar(candle, &mut self.fills);
        self.take_fills(index, candle.open_time_ms).await?;
        self.record_cancellations(candle.open_time_ms, "position closed")
            .await?;
        self.check_account(candle.open_time_ms).await?;

        let position = self.exchange.position();
        let equity = self.exchange.equity(candle.close);
        self.peak_equity = self.peak_equity.max(equity);
        let signal = self.strategy.on_bar(candle, side_of(position));
        let account = self.account_view(equity, position);
        let price = to_decimal(candle.close);
        let ids = self.ids.at(index);
        let mut evaluations = Vec::new();
        let time = candle.open_time_ms;
        self.handler
            .on_signal(signal, &account, price, time, ids, &mut evaluations);
        if !self.takes_new_risk() {
            // A paused run takes only the decisions it had already recorded before the pause,
            // which a restarted run meets again while it replays its candles.
            let recorded = &self.recorder.bot.checked_intents;
            evaluations.retain(|evaluation| recorded.contains(&evaluation.intent().intent_id));
        }
        self.pass(evaluations, time).await?;
        self.bars += 1;
        Ok(())
    }

    /// Ends the run: cancels every open order and records `PaperRunCompleted` over the candles
    /// taken.
    ///
    /// # Errors
    /// Fails when the log cannot append.
    pub async fn finish(&mut self) -> Result<(), PaperError> {
        self.exchange.cancel_all();
        self.record_cancellations(self.last_bar_ms, "bot stopped")
            .await?;
        let Some(first_ms) = self.first_bar_ms else {
            return Ok(());
        };
        let completed = PaperRunCompleted {
            config_hash: self.config_hash.clone(),
            started_at: time_of(first_ms),
            ended_at: time_of(self.last_bar_ms),
            bars: self.bars,
            orders: self.orders,
            final_equity: to_decimal(self.exchange.wallet()),
        };
        let event_id = derive_event_id(self.run_id, 0);
        let event = BotEvent::PaperRunCompleted(completed);
        self.recorder.record(event_id, event).await
    }

    fn start_bar(&mut self, candle: &Candle) {
        self.first_bar_ms.get_or_insert(candle.open_time_ms);
        self.last_bar_ms = candle.open_time_ms;
        let day = candle.open_time_ms.div_euclid(DAY_MS);
        if day != self.day {
            self.day = day;
            self.day_start_equity = self.exchange.equity(candle.open);
        }
    }

    /// Records the fills of this bar and protects each entry with its stop.
    async fn take_fills(&mut self, index: u64, time_ms: i64) -> Result<(), PaperError> {
        let fills = std::mem::take(&mut self.fills);
        for fill in &fills {
            self.record_fill(fill).await?;
            if fill.opened <= 0.0 {
                continue;
            }
            let position = self.exchange.position();
            let entry = EntryFill {
                side: fill.side,
                position_quantity: to_decimal(position.abs()),
                price: to_decimal(fill.price),
                stop_loss: fill.stop_loss,
            };
            let account = self.account_view(self.exchange.equity(fill.price), position);
            let mut evaluations = Vec::new();
            let ids = self.ids.at(index);
            self.handler
                .on_entry_filled(&entry, &account, time_ms, ids, &mut evaluations);
            self.pass(evaluations, time_ms).await?;
        }
        Ok(())
    }

    async fn record_fill(&mut self, fill: &SimFill) -> Result<(), PaperError> {
        self.open_intents.retain(|id| *id != fill.intent_id);
        let client_order_id = client_order_id(fill.intent_id);
        let filled = OrderFilled {
            intent_id: fill.intent_id,
            client_order_id,
            side: fill.side,
            quantity: to_decimal(fill.quantity),
            price: to_decimal(fill.price),
            fee: to_decimal(fill.fee),
            complete: true,
            filled_at: time_of(fill.time_ms),
        };
        let event_id = derive_event_id(fill.intent_id, slot::FILLED);
        self.recorder
            .record(event_id, BotEvent::OrderFilled(filled))
            .await?;
        let position = self.exchange.position();
        let changed = PositionChanged {
            symbol: self.symbol.clone(),
            quantity: to_decimal(position),
            entry_price: (position != 0.0).then(|| to_decimal(fill.price)),
            changed_at: time_of(fill.time_ms),
        };
        let event_id = derive_event_id(fill.intent_id, slot::POSITION);
        let event = BotEvent::PositionChanged(changed);
        self.recorder.record(event_id, event).await
    }

    /// Records `OrderCancelled` for every open intent the simulated exchange no longer holds:
    /// a reduce-only stop or target whose position closed, or every order when the run ends.
    async fn record_cancellations(&mut self, time_ms: i64, reason: &str) -> Result<(), PaperError> {
        let (open, gone): (Vec<Uuid>, Vec<Uuid>) = self
            .open_intents
            .iter()
            .partition(|id| self.exchange.is_open(**id));
        self.open_intents = open;
        for intent_id in gone {
            let cancelled = OrderCancelled {
                intent_id,
                client_order_id: client_order_id(intent_id),
                reason: reason.to_owned(),
                cancelled_at: time_of(time_ms),
            };
            let event_id = derive_event_id(intent_id, slot::CANCELLED);
            self.recorder
                .record(event_id, BotEvent::OrderCancelled(cancelled))
                .await?;
        }
        Ok(())
    }

    /// Passes evaluations down the order path: records each verdict, then records and submits
    /// each approved order.
    /// A new-risk order rejected for a daily loss or drawdown limit records the breach and
    /// pauses the bot.
    async fn pass(&mut self, evaluations: Vec<Evaluation>, time_ms: i64) -> Result<(), PaperError> {
        for evaluation in evaluations {
            let intent_id = evaluation.intent().intent_id;
            let checked = BotEvent::OrderRiskChecked(evaluation.to_event());
            let event_id = derive_event_id(intent_id, slot::CHECKED);
            self.recorder.record(event_id, checked).await?;
            self.inject_fault()?;

            let Some(order) = evaluation.approved_order() else {
                self.record_breach(&evaluation, time_ms).await?;
                continue;
            };
            let intent = order.intent();
            let submitted = OrderSubmitted {
                intent_id,
                client_order_id: client_order_id(intent_id),
                symbol: intent.symbol.clone(),
                side: intent.side,
                kind: intent.kind,
                quantity: intent.quantity,
                price: intent.price,
                reduce_only: intent.reduce_only,
                mode: BotMode::Paper,
                submitted_at: time_of(time_ms),
            };
            let event_id = derive_event_id(intent_id, slot::SUBMITTED);
            self.recorder
                .record(event_id, BotEvent::OrderSubmitted(submitted))
                .await?;
            self.exchange.submit(order);
            self.open_intents.push(intent_id);
            self.orders += 1;
        }
        Ok(())
    }

    async fn record_breach(
        &mut self,
        evaluation: &Evaluation,
        time_ms: i64,
    ) -> Result<(), PaperError> {
        if evaluation.intent().reduce_only || self.breached {
            return Ok(());
        }
        let breach = evaluation.results().iter().find(|result| {
            let limit = matches!(result.rule, Rule::DailyLossLimit | Rule::MaxDrawdown);
            limit && result.enforced && !result.passed
        });
        let Some(breach) = breach else {
            return Ok(());
        };
        self.breached = true;
        let intent_id = evaluation.intent().intent_id;
        let rule = breach.rule.name().to_owned();
        let breached = RiskLimitBreached {
            rule: rule.clone(),
            detail: breach.detail(),
            breached_at: time_of(time_ms),
        };
        let event_id = derive_event_id(intent_id, slot::BREACHED);
        self.recorder
            .record(event_id, BotEvent::RiskLimitBreached(breached))
            .await?;
        if !self.recorder.bot.is_active() {
            return Ok(());
        }
        let paused = keyward_events::bot::BotPaused {
            reason: PauseReason::RiskLimitBreached { rule },
            paused_at: time_of(time_ms),
        };
        let event_id = derive_event_id(intent_id, slot::PAUSED);
        self.recorder
            .record(event_id, BotEvent::BotPaused(paused))
            .await
    }

    /// Catches up with the account's limits and the daily loss of its paper bots, and records
    /// a breach of its daily loss limit once the loss reaches it, which pauses every bot of the
    /// account.
    async fn check_account(&mut self, time_ms: i64) -> Result<(), PaperError> {
        let Some(ledger) = &mut self.account else {
            return Ok(());
        };
        ledger.catch_up(self.recorder.log().as_ref()).await?;
        let day = time_ms.div_euclid(DAY_MS);
        let day_start_equity = ledger.paper_day_start_equity(day, self.cash);
        let mut limits = ledger.limits();
        let now = time_of(time_ms);
        limits.daily_loss = ledger.daily_loss(BotMode::Paper, now, day_start_equity);
        if let Some(loss) = limits
            .daily_loss
            .as_mut()
            .filter(|loss| newly_breached(loss))
        {
            let detail = daily_loss_detail(loss);
            let account_id = ledger.account_id();
            let service = BotService::new(Arc::clone(self.recorder.log()));
            let metadata = self.recorder.metadata().clone();
            service
                .record_account_breach(account_id, day, &detail, now, metadata)
                .await?;
            loss.breached = true;
            self.recorder.refresh().await?;
        }
        self.handler.set_account_limits(limits);
        Ok(())
    }

    fn inject_fault(&mut self) -> Result<(), PaperError> {
        if self.fail_after_checks == Some(self.recorder.checks) {
            self.fail_after_checks = None;
            return Err(PaperError::InjectedFault {
                bot_id: self.recorder.bot.bot_id,
                checks: self.recorder.checks,
            });
        }
        Ok(())
    }

    fn account_view(&self, equity: f64, position: f64) -> AccountView {
        AccountView {
            equity: to_decimal(equity),
            position: to_decimal(position),
            day_start_equity: to_decimal(self.day_start_equity),
            peak_equity: to_decimal(self.peak_equity),
            open_positions: u32::from(position != 0.0),
        }
    }
}

/// Describes an account's daily loss for `RiskLimitBreached`.
pub(super) fn daily_loss_detail(loss: &keyward_risk::AccountDailyLoss) -> String {
    format!(
        "account loss today {} against day-start equity {}; limit {}%",
        loss.loss, loss.day_start_equity, loss.limit_pct
    )
}

fn client_order_id(intent_id: Uuid) -> String {
    keyward_adapters::ClientOrderId::for_intent(intent_id)
        .as_str()
        .to_owned()
}

fn time_of(time_ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(time_ms).unwrap_or_default()
}

fn side_of(position: f64) -> PositionSide {
    if position > 0.0 {
        PositionSide::Long
    } else if position < 0.0 {
        PositionSide::Short
    } else {
        PositionSide::Flat
    }
}
