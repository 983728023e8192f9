//! Live trading through an exchange adapter: the same order handling and risk gate as paper
//! trading, with orders placed through [`ExchangeClient`].
//!
//! Every intent's `OrderRiskChecked` is appended before anything is sent, then
//! `OrderSubmitted`, then the order goes out as an [`OrderRequest`], which only an approved
//! order can build. The exchange's response is recorded as `OrderAcknowledged` (and
//! `OrderFilled`) or `OrderRejected`. An entry that fills gets a resting reduce-only stop at
//! once; when the stop cannot be placed, the position is closed at market and the bot pauses.
//! [`LiveTrader::reconcile`] reads the position and open orders from the exchange and records
//! what changed while the bot was not watching. [`LiveTrader::on_account_event`] follows the
//! account's private stream and does the same with the snapshot the stream reads after every
//! reconnect (see the `stream` module).
//!
//! Before each entry the trader catches up with its account (see [`AccountLedger`]): the
//! account's leverage limit and kill switch, and the loss of its live bots today against the
//! account's daily loss limit. The first entry that finds the loss at the limit records the
//! breach, which pauses every bot of the account, and the gate rejects it.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use keyward_adapters::domain::{AccountSnapshot, OrderState};
use keyward_adapters::{
    AdapterError, ClientOrderId, Credentials, ExchangeClient, Instrument, OrderAck, OrderRequest,
};
use keyward_eventlog::EventLog;
use keyward_events::bot::{
    BotEvent, BotMode, OrderCancelled, OrderFilled, OrderIntent, OrderKind, OrderRejected,
    OrderSubmitted, PositionChanged, PositionReconciled, ReconciledOrder, Side,
};
use keyward_events::codec::derive_event_id;
use keyward_events::{Category, Metadata, StreamName};
use keyward_risk::{Evaluation, InstrumentRules, LeverageTier, RiskContext, RiskGate};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::account_loss::{AccountLedger, newly_breached, utc_day};
use super::paper::{PaperError, daily_loss_detail};
use super::recorder::Recorder;
use super::{BotCommandError, BotService};
use crate::trading::AccountRiskState;

mod stream;

/// Index of each event an intent causes, for its derived event id.
mod slot {
    pub const CHECKED: u32 = 0;
    pub const SUBMITTED: u32 = 1;
    pub const FILLED: u32 = 2;
    pub const POSITION: u32 = 3;
    pub const CANCELLED: u32 = 4;
    pub const ACKNOWLEDGED: u32 = 7;
    pub const REJECTED: u32 = 8;
    pub const PAUSED: u32 = 9;
    /// The first of the fills found after the acknowledgement (on the account stream or by
    /// reconciliation): the `n`-th such fill takes `LATER_FILL + 2n` and its position change
    /// the slot after.
    pub const LATER_FILL: u32 = 16;
}

/// Failure of a live trading step.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Record(#[from] PaperError),
    #[error(transparent)]
    Adapter(#[from] AdapterError),
    #[error("bot {0} is not activated in live mode with a key")]
    NotLive(Uuid),
    #[error("the bot's key cannot be used: {0}")]
    Key(String),
    #[error("live trader stopped on purpose after {placements} orders reached the exchange")]
    InjectedFault { placements: u64 },
}

impl From<BotCommandError> for LiveError {
    fn from(err: BotCommandError) -> Self {
        LiveError::Record(PaperError::Command(err))
    }
}

/// Outcome of one intent on the order path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// The gate rejected it; nothing was sent.
    Rejected,
    /// The exchange accepted it.
    Accepted(OrderAck),
    /// The exchange, or the adapter before sending, turned it down with this error code.
    Refused(String),
    /// The order was sent before, as the stream records; nothing was sent again.
    AlreadySent,
}

/// An order this trader placed that rests on the exchange.
#[derive(Clone, Debug)]
struct Resting {
    client_order_id: ClientOrderId,
    side: Side,
    quantity: Decimal,
    reduce_only: bool,
    /// Whether it is a reduce-only stop protecting the position.
    is_stop: bool,
    /// Stop loss of an entry, to protect what it fills.
    stop_loss: Option<Decimal>,
    /// Quantity recorded as filled so far.
    filled: Decimal,
    /// Fills recorded after the acknowledgement.
    later_fills: u32,
}

/// One bot trading live on one exchange account.
pub struct LiveTrader {
    recorder: Recorder,
    gate: RiskGate,
    client: Arc<dyn ExchangeClient>,
    credentials: Credentials,
    instrument: Instrument,
    /// Orders this trader placed that rest on the exchange, by intent.
    resting: BTreeMap<Uuid, Resting>,
    /// Signed position as recorded.
    position: Decimal,
    /// Stop price protecting the position, once a stop was placed or an entry carried one.
    stop_price: Option<Decimal>,
    /// The bot's account, when it has one.
    account: Option<AccountLedger>,
    /// Account equity (wallet balance plus unrealised PnL) the exchange last reported.
    equity: Decimal,
    /// Mark price of the symbol the exchange last reported.
    last_price: Option<Decimal>,
    /// Average entry price of the position the exchange last reported.
    entry_price: Option<Decimal>,
    /// Orders that reached the exchange since the start.
    placements: u64,
    /// Fault injection for tests: fail once after this many placements.
    fail_after_placements: Option<u64>,
}

impl LiveTrader {
    /// Starts trading the bot's symbol: reads the instrument's rules and leverage brackets,
    /// makes sure the account is in one-way mode, and reconciles the position.
    ///
    /// # Errors
    /// Fails for an unknown bot, an invalid risk configuration, or an exchange call that fails
    /// (including an account that stays in hedge mode).
    pub async fn start(
        log: Arc<dyn EventLog>,
        bot_id: Uuid,
        client: Arc<dyn ExchangeClient>,
        credentials: Credentials,
    ) -> Result<Self, LiveError> {
        let service = BotService::new(Arc::clone(&log));
        let bot = service
            .load(bot_id)
            .await?
            .ok_or(BotCommandError::NotFound(bot_id))?;
        let instrument = client.instrument(&bot.symbol).await?;
        let brackets = client.leverage_brackets(&credentials, &bot.symbol).await?;
        client.ensure_one_way(&credentials).await?;
        let rules = InstrumentRules {
            tick_size: instrument.tick_size,
            step_size: instrument.step_size,
            min_quantity: instrument.min_quantity,
            min_notional: instrument.min_notional,
            leverage_tiers: brackets
                .iter()
                .map(|bracket| LeverageTier {
                    notional_cap: bracket.notional_cap,
                    max_leverage: bracket.max_leverage,
                })
                .collect(),
        };
        let gate = RiskGate::new(bot.risk.clone())
            .map_err(|e| BotCommandError::InvalidRisk(e.to_string()))?
            .with_instrument(rules);
        let metadata = Metadata {
            account_id: bot.account_id,
            exchange_host: Some(client.host().to_owned()),
            ..Metadata::default()
        };
        let stream = StreamName::new(Category::Bot, bot_id);
        let position = bot.position;
        let account = bot.account_id.map(AccountLedger::new);
        let mut trader = Self {
            recorder: Recorder::new(log, stream, metadata, bot),
            gate,
            client,
            credentials,
            instrument,
            resting: BTreeMap::new(),
            position,
            stop_price: None,
            account,
            equity: Decimal::ZERO,
            last_price: None,
            entry_price: None,
            placements: 0,
            fail_after_placements: None,
        };
        trader.adopt_recorded_orders().await?;
        trader.reconcile().await?;
        Ok(trader)
    }

    /// Returns the gate every intent of this trader passes.
    pub fn gate(&self) -> &RiskGate {
        &self.gate
    }

    /// Returns the signed position as recorded.
    pub fn position(&self) -> Decimal {
        self.position
    }

    /// Passes a new entry through the gate and, once it fills, protects it with a resting
    /// reduce-only stop at the intent's stop loss. When the stop cannot be placed, the
    /// position is closed at market and the bot pauses. The account's limits, read from the
    /// log, replace those in `context`; its `day_start_equity` is taken as the account's.
    ///
    /// # Errors
    /// Fails when the log cannot be read or appended to, or the closing order fails too.
    pub async fn enter(
        &mut self,
        intent: OrderIntent,
        context: &RiskContext,
    ) -> Result<Placement, LiveError> {
        let stop_loss = intent.stop_loss;
        let context = self.with_account(context).await?;
        let evaluation = self.gate.evaluate(intent, &context);
        let side = evaluation.intent().side;
        let kind = evaluation.intent().kind;
        let intent_id = evaluation.intent().intent_id;
        let placement = self.pass(evaluation).await?;
        let Placement::Accepted(ack) = &placement else {
            return Ok(placement);
        };
        let mut filled = ack.filled_quantity;
        if filled.is_zero() && kind == OrderKind::Market {
            filled = self.read_market_fill(intent_id, ack).await?;
        }
        if filled.is_zero() {
            return Ok(placement);
        }
        let Some(stop) = stop_loss else {
            return Ok(placement);
        };
        self.protect(side, stop, &context).await?;
        Ok(placement)
    }

    /// Reads the fill of a market order that the exchange acknowledged before it filled
    /// (Bybit and OKX do), records it, and returns the quantity filled. A failed read leaves
    /// the fill to the account stream, which records it and protects the position then.
    async fn read_market_fill(
        &mut self,
        intent_id: Uuid,
        ack: &OrderAck,
    ) -> Result<Decimal, LiveError> {
        let symbol = &self.instrument.symbol;
        let id = &ack.client_order_id;
        let status = match self.client.query_order(&self.credentials, symbol, id).await {
            Ok(status) => status,
            Err(err) => {
                tracing::warn!(%intent_id, error = %err,
                    "cannot read the market order's fill; waiting for the account stream");
                return Ok(Decimal::ZERO);
            }
        };
        let before = self.position;
        self.settle(intent_id, &status).await?;
        Ok((self.position - before).abs())
    }

    /// Returns `context` with the account's limits from the log, recording a breach of its
    /// daily loss limit when the loss of its live bots today reached it.
    async fn with_account(&mut self, context: &RiskContext) -> Result<RiskContext, LiveError> {
        let limits = self
            .account_limits(context.now, context.day_start_equity)
            .await?;
        let Some(limits) = limits else {
            return Ok(context.clone());
        };
        Ok(RiskContext {
            account_max_leverage: limits.max_leverage,
            kill_switch_engaged: context.kill_switch_engaged || limits.kill_switch_engaged,
            account_daily_loss: limits.daily_loss,
            ..context.clone()
        })
    }

    /// Catches up with the bot's account in the log and returns its limits, with the loss of
    /// its live bots today against `day_start_equity` (the account's equity at the start of the
    /// UTC day of `now`). The first call that finds the loss at the limit records the breach,
    /// which pauses every bot of the account. Returns `None` for a bot without an account.
    ///
    /// # Errors
    /// Fails when the log cannot be read or appended to.
    pub async fn account_limits(
        &mut self,
        now: DateTime<Utc>,
        day_start_equity: Decimal,
    ) -> Result<Option<AccountRiskState>, LiveError> {
        let Some(ledger) = &mut self.account else {
            return Ok(None);
        };
        ledger
            .catch_up(self.recorder.log().as_ref())
            .await
            .map_err(PaperError::from)?;
        let mut limits = ledger.limits();
        limits.daily_loss = ledger.daily_loss(BotMode::Live, now, day_start_equity);
        if let Some(loss) = limits
            .daily_loss
            .as_mut()
            .filter(|loss| newly_breached(loss))
        {
            let service = BotService::new(Arc::clone(self.recorder.log()));
            let metadata = self.recorder.metadata().clone();
            let detail = daily_loss_detail(loss);
            let day = utc_day(now);
            service
                .record_account_breach(ledger.account_id(), day, &detail, now, metadata)
                .await?;
            loss.breached = true;
            self.recorder.refresh().await?;
        }
        Ok(Some(limits))
    }

    /// Closes the whole position with a reduce-only market order and, once the exchange reports
    /// it filled, cancels the resting orders of this trader, recording `OrderCancelled` for each.
    ///
    /// # Errors
    /// Fails when the log cannot append or a cancellation fails.
    pub async fn close_position(
        &mut self,
        price: Decimal,
        context: &RiskContext,
    ) -> Result<Placement, LiveError> {
        if self.position.is_zero() {
            return Ok(Placement::Rejected);
        }
        let intent = self.close_intent(price);
        let context = RiskContext {
            position: self.position,
            ..context.clone()
        };
        let intent_id = intent.intent_id;
        let placement = self.pass(self.gate.evaluate(intent, &context)).await?;
        if let Placement::Accepted(ack) = &placement
            && ack.filled_quantity.is_zero()
        {
            // Bybit and OKX acknowledge a market order before it fills.
            self.read_market_fill(intent_id, ack).await?;
        }
        if self.position.is_zero() {
            self.cancel_orders(CancelScope::All, "position closed")
                .await?;
            self.stop_price = None;
        }
        Ok(placement)
    }

    /// Reads the position, open orders and balances from the exchange, and the final state of
    /// every resting order of this trader that is no longer open. It then records what changed
    /// meanwhile, as after a reconnect of the account stream (see
    /// [`LiveTrader::on_account_event`]): fills and cancellations, `PositionReconciled`, and a
    /// protective stop where the position has none.
    ///
    /// # Errors
    /// Fails when the exchange cannot be read or the log cannot append.
    pub async fn reconcile(&mut self) -> Result<PositionReconciled, LiveError> {
        let symbol = self.instrument.symbol.clone();
        let credentials = &self.credentials;
        let open_orders = self.client.open_orders(credentials, Some(&symbol)).await?;
        let mut closed = Vec::new();
        for resting in self.resting.values() {
            let id = &resting.client_order_id;
            if open_orders.iter().any(|order| &order.client_order_id == id) {
                continue;
            }
            match self.client.query_order(credentials, &symbol, id).await {
                Ok(status) => closed.push(status),
                Err(AdapterError::OrderNotFound { .. }) => {}
                Err(err) => return Err(err.into()),
            }
        }
        let snapshot = AccountSnapshot {
            open_orders,
            closed_while_disconnected: closed,
            positions: self.client.positions(credentials, Some(&symbol)).await?,
            balances: self.client.balances(credentials).await?,
            taken_at_ms: Utc::now().timestamp_millis(),
        };
        self.apply_snapshot(&snapshot).await
    }

    /// Passes one evaluation down the order path: records the verdict, then, when approved,
    /// records `OrderSubmitted`, places the order, and records the exchange's response.
    async fn pass(&mut self, evaluation: Evaluation) -> Result<Placement, LiveError> {
        let intent_id = evaluation.intent().intent_id;
        let checked = BotEvent::OrderRiskChecked(evaluation.to_event());
        self.record(intent_id, slot::CHECKED, checked).await?;
        let Some(approved) = evaluation.into_approved() else {
            return Ok(Placement::Rejected);
        };
        let client_order_id = keyward_adapters::ClientOrderId::for_intent(intent_id);
        let request = match OrderRequest::from_approved(&approved, &self.instrument) {
            Ok(request) => request,
            Err(err) => return self.record_refusal(intent_id, &client_order_id, &err).await,
        };
        let intent = approved.intent();
        let submitted = OrderSubmitted {
            intent_id,
            client_order_id: client_order_id.as_str().to_owned(),
            symbol: request.symbol().to_owned(),
            side: request.side(),
            kind: request.kind(),
            quantity: request.quantity(),
            price: request.reference_price(),
            reduce_only: request.reduce_only(),
            mode: BotMode::Live,
            submitted_at: Utc::now(),
        };
        self.record(
            intent_id,
            slot::SUBMITTED,
            BotEvent::OrderSubmitted(submitted),
        )
        .await?;

        let ack = match self.client.place_order(&self.credentials, &request).await {
            Ok(ack) => ack,
            Err(err) => return self.record_refusal(intent_id, &client_order_id, &err).await,
        };
        self.placements += 1;
        if self.fail_after_placements == Some(self.placements) {
            self.fail_after_placements = None;
            let placements = self.placements;
            return Err(LiveError::InjectedFault { placements });
        }
        self.record_ack(intent_id, &ack).await?;
        if ack.state.is_open() {
            let resting = Resting {
                client_order_id,
                side: intent.side,
                quantity: request.quantity(),
                reduce_only: intent.reduce_only,
                is_stop: intent.reduce_only && intent.kind == OrderKind::StopMarket,
                stop_loss: intent.stop_loss,
                filled: ack.filled_quantity,
                later_fills: 0,
            };
            self.rest(intent_id, resting);
        }
        if !ack.filled_quantity.is_zero() {
            self.record_fill(intent, &ack).await?;
        }
        Ok(Placement::Accepted(ack))
    }

    async fn record_fill(&mut self, intent: &OrderIntent, ack: &OrderAck) -> Result<(), LiveError> {
        let intent_id = intent.intent_id;
        let price = ack.average_price.or(intent.price).unwrap_or_default();
        let filled = OrderFilled {
            intent_id,
            client_order_id: ack.client_order_id.as_str().to_owned(),
            side: intent.side,
            quantity: ack.filled_quantity,
            price,
            // NOTE: the acknowledgement carries no fee; the account stream's fill does.
            fee: Decimal::ZERO,
            complete: ack.state == OrderState::Filled,
            filled_at: Utc::now(),
        };
        self.record(intent_id, slot::FILLED, BotEvent::OrderFilled(filled))
            .await?;
        let signed = match intent.side {
            Side::Buy => ack.filled_quantity,
            Side::Sell => -ack.filled_quantity,
        };
        self.position += signed;
        let changed = PositionChanged {
            symbol: intent.symbol.clone(),
            quantity: self.position,
            entry_price: (!self.position.is_zero()).then_some(price),
            changed_at: Utc::now(),
        };
        let event = BotEvent::PositionChanged(changed);
        self.record(intent_id, slot::POSITION, event).await
    }

    async fn record_refusal(
        &mut self,
        intent_id: Uuid,
        client_order_id: &ClientOrderId,
        err: &AdapterError,
    ) -> Result<Placement, LiveError> {
        tracing::warn!(%intent_id, code = err.code(), error = %err, "order was not placed");
        let rejected = OrderRejected {
            intent_id,
            client_order_id: client_order_id.as_str().to_owned(),
            code: err.code().to_owned(),
            message: err.to_string(),
            rejected_at: Utc::now(),
        };
        let event = BotEvent::OrderRejected(rejected);
        self.record(intent_id, slot::REJECTED, event).await?;
        Ok(Placement::Refused(err.code().to_owned()))
    }

    /// Places the reduce-only stop of a filled entry over the whole position; if that fails,
    /// closes at market and pauses the bot.
    async fn protect(
        &mut self,
        entry_side: Side,
        stop: Decimal,
        context: &RiskContext,
    ) -> Result<(), LiveError> {
        self.protect_quantity(entry_side, stop, self.position.abs(), context)
            .await
    }

    /// Places a reduce-only stop of `quantity` at `stop` against a position entered with
    /// `entry_side`; if that fails, closes at market and pauses the bot.
    async fn protect_quantity(
        &mut self,
        entry_side: Side,
        stop: Decimal,
        quantity: Decimal,
        context: &RiskContext,
    ) -> Result<(), LiveError> {
        let intent = OrderIntent {
            intent_id: Uuid::now_v7(),
            symbol: self.instrument.symbol.clone(),
            side: opposite(entry_side),
            kind: OrderKind::StopMarket,
            quantity,
            price: Some(stop),
            stop_loss: None,
            reduce_only: true,
        };
        let context = RiskContext {
            position: self.position,
            ..context.clone()
        };
        let evaluation = self.gate.evaluate(intent, &context);
        self.protect_with(evaluation, &context).await
    }

    /// Cancels one resting order and records `OrderCancelled`, or its fills when it filled
    /// before the cancellation reached the exchange.
    async fn cancel_one(&mut self, intent_id: Uuid, reason: &str) -> Result<(), LiveError> {
        let Some(resting) = self.resting.get(&intent_id) else {
            return Ok(());
        };
        let client_order_id = resting.client_order_id.clone();
        let symbol = &self.instrument.symbol;
        let cancelled = self
            .client
            .cancel_order(&self.credentials, symbol, &client_order_id)
            .await;
        match cancelled {
            Ok(status) if status.state == OrderState::Filled => {
                return self.settle(intent_id, &status).await;
            }
            Ok(_) | Err(AdapterError::OrderNotFound { .. }) => {}
            Err(err) => return Err(err.into()),
        }
        self.resting.remove(&intent_id);
        self.record_cancelled(intent_id, &client_order_id, reason)
            .await
    }

    fn close_intent(&self, price: Decimal) -> OrderIntent {
        let side = if self.position > Decimal::ZERO {
            Side::Sell
        } else {
            Side::Buy
        };
        OrderIntent {
            intent_id: Uuid::now_v7(),
            symbol: self.instrument.symbol.clone(),
            side,
            kind: OrderKind::Market,
            quantity: self.position.abs(),
            price: Some(price),
            stop_loss: None,
            reduce_only: true,
        }
    }

    async fn record(
        &mut self,
        intent_id: Uuid,
        slot: u32,
        event: BotEvent,
    ) -> Result<(), LiveError> {
        let event_id = derive_event_id(intent_id, slot);
        Ok(self.recorder.record(event_id, event).await?)
    }
}

fn opposite(side: Side) -> Side {
    match side {
        Side::Buy => Side::Sell,
        Side::Sell => Side::Buy,
    }
}

fn state_name(state: OrderState) -> &'static str {
    match state {
        OrderState::New => "new",
        OrderState::PartiallyFilled => "partially_filled",
        OrderState::Filled => "filled",
        OrderState::Canceled => "canceled",
        OrderState::Rejected => "rejected",
        OrderState::Expired => "expired",
    }
}

mod steps;
pub use steps::CancelScope;

#[cfg(test)]
mod reconnect_tests;
#[cfg(test)]
mod tests;
