//! Live trading through an exchange adapter: the same order handling and risk gate as paper
//! trading, with orders placed through [`ExchangeClient`].
//!
//! Every intent's `OrderRiskChecked` is appended before anything is sent, then
//! `OrderSubmitted`, then the order goes out as an [`OrderRequest`], which only an approved
//! order can build. The exchange's response is recorded as `OrderAcknowledged` (and
//! `OrderFilled`) or `OrderRejected`. An entry that fills gets a resting reduce-only stop at
//! once; when the stop cannot be placed, the position is closed at market and the bot pauses.
//! [`LiveTrader::reconcile`] reads the position and open orders from the exchange and records
//! what changed while the bot was not watching.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::Utc;
use keyward_adapters::domain::OrderState;
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

use super::paper::PaperError;
use super::recorder::Recorder;
use super::{BotCommandError, BotService};

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

/// One bot trading live on one exchange account.
// NOTE: no actor feeds a live bot's signals from market data yet, and fills that arrive later
// on the account stream (a stop hit) are recorded only by `reconcile`.
pub struct LiveTrader {
    recorder: Recorder,
    gate: RiskGate,
    client: Arc<dyn ExchangeClient>,
    credentials: Credentials,
    instrument: Instrument,
    /// Orders this trader placed that rest on the exchange, by intent.
    resting: BTreeMap<Uuid, ClientOrderId>,
    /// Intents of resting orders that are reduce-only.
    protective: BTreeSet<Uuid>,
    /// Intents of resting orders that are stops.
    stops: BTreeSet<Uuid>,
    /// Signed position as recorded.
    position: Decimal,
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
        let mut trader = Self {
            recorder: Recorder::new(log, stream, metadata, bot),
            gate,
            client,
            credentials,
            instrument,
            resting: BTreeMap::new(),
            protective: BTreeSet::new(),
            stops: BTreeSet::new(),
            position,
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
    /// position is closed at market and the bot pauses.
    ///
    /// # Errors
    /// Fails when the log cannot append or the closing order fails too.
    pub async fn enter(
        &mut self,
        intent: OrderIntent,
        context: &RiskContext,
    ) -> Result<Placement, LiveError> {
        let stop_loss = intent.stop_loss;
        let evaluation = self.gate.evaluate(intent, context);
        let side = evaluation.intent().side;
        let placement = self.pass(evaluation).await?;
        let Placement::Accepted(ack) = &placement else {
            return Ok(placement);
        };
        if ack.filled_quantity.is_zero() {
            return Ok(placement);
        }
        let Some(stop) = stop_loss else {
            return Ok(placement);
        };
        self.protect(side, stop, context).await?;
        Ok(placement)
    }

    /// Closes the whole position with a reduce-only market order and cancels the resting
    /// orders of this trader, recording `OrderCancelled` for each.
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
        let placement = self.pass(self.gate.evaluate(intent, &context)).await?;
        if self.position.is_zero() {
            self.cancel_resting("position closed").await?;
        }
        Ok(placement)
    }

    /// Reads the position and open orders from the exchange, records `PositionReconciled`
    /// with every resting order of this trader that ended meanwhile, and adopts the
    /// exchange's position.
    ///
    /// # Errors
    /// Fails when the exchange cannot be read or the log cannot append.
    pub async fn reconcile(&mut self) -> Result<PositionReconciled, LiveError> {
        let symbol = self.instrument.symbol.clone();
        let positions = self
            .client
            .positions(&self.credentials, Some(&symbol))
            .await?;
        let exchange_quantity = positions
            .iter()
            .find(|position| position.symbol == symbol)
            .map_or(Decimal::ZERO, |position| position.quantity);
        let open = self
            .client
            .open_orders(&self.credentials, Some(&symbol))
            .await?;
        let mut changed_orders = Vec::new();
        let resting = std::mem::take(&mut self.resting);
        for (intent_id, client_order_id) in resting {
            if open.iter().any(|o| o.client_order_id == client_order_id) {
                self.resting.insert(intent_id, client_order_id);
                continue;
            }
            let status = self
                .client
                .query_order(&self.credentials, &symbol, &client_order_id)
                .await?;
            changed_orders.push(ReconciledOrder {
                client_order_id: client_order_id.as_str().to_owned(),
                state: state_name(status.state).to_owned(),
                filled_quantity: status.filled_quantity,
            });
        }
        let reconciled = PositionReconciled {
            symbol,
            recorded_quantity: self.position,
            exchange_quantity,
            open_orders: open
                .iter()
                .map(|order| order.client_order_id.as_str().to_owned())
                .collect(),
            changed_orders,
            reconciled_at: Utc::now(),
        };
        self.position = exchange_quantity;
        let event = BotEvent::PositionReconciled(reconciled.clone());
        self.recorder.record(Uuid::now_v7(), event).await?;
        Ok(reconciled)
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
            self.rest(
                intent_id,
                client_order_id,
                request.reduce_only(),
                request.kind(),
            );
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

    /// Places the reduce-only stop of a filled entry; if that fails, closes at market and
    /// pauses the bot.
    async fn protect(
        &mut self,
        entry_side: Side,
        stop: Decimal,
        context: &RiskContext,
    ) -> Result<(), LiveError> {
        let intent = OrderIntent {
            intent_id: Uuid::now_v7(),
            symbol: self.instrument.symbol.clone(),
            side: opposite(entry_side),
            kind: OrderKind::StopMarket,
            quantity: self.position.abs(),
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

    async fn cancel_resting(&mut self, reason: &str) -> Result<(), LiveError> {
        let symbol = self.instrument.symbol.clone();
        let resting = std::mem::take(&mut self.resting);
        for (intent_id, client_order_id) in resting {
            let cancelled = self
                .client
                .cancel_order(&self.credentials, &symbol, &client_order_id)
                .await;
            match cancelled {
                Ok(_) | Err(AdapterError::OrderNotFound { .. }) => {}
                Err(err) => return Err(err.into()),
            }
            let event = BotEvent::OrderCancelled(OrderCancelled {
                intent_id,
                client_order_id: client_order_id.as_str().to_owned(),
                reason: reason.to_owned(),
                cancelled_at: Utc::now(),
            });
            self.record(intent_id, slot::CANCELLED, event).await?;
        }
        Ok(())
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
mod tests;
