//! Steps a live bot's actor takes on top of the order path. They adopt the orders recorded
//! before a restart, submit without sending an order twice, protect a position, and cancel the
//! bot's orders on the exchange when it pauses or stops.

use chrono::Utc;
use keyward_adapters::domain::{OrderState, OrderType};
use keyward_adapters::{AdapterError, ClientOrderId, OrderAck};
use keyward_eventlog::AppendError;
use keyward_events::bot::{
    BotEvent, BotMode, BotPaused, OrderAcknowledged, OrderCancelled, OrderFilled, OrderKind,
    OrderRejected, PauseReason, Side,
};
use keyward_risk::{Evaluation, RiskContext};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::{LiveError, LiveTrader, PaperError, Placement, Resting, slot};
use crate::bot::BotStatus;

/// Code of `OrderRejected` for an order that was never sent.
const NOT_SENT: &str = "not_sent";
/// Quote asset whose balance is a USDT-margined account's equity.
const QUOTE_ASSET: &str = "USDT";

/// The set of the bot's resting orders a halt cancels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelScope {
    /// Every order: the bot stops.
    All,
    /// Orders that could add to the position; reduce-only orders stay to protect it.
    NewRisk,
}

impl LiveTrader {
    /// Makes the next order placements fail the trader once, after `placements` orders reached
    /// the exchange and before their acknowledgement is recorded: the crash between an order
    /// and its record, for restart tests.
    pub fn fail_after_placements(&mut self, placements: u64) {
        self.fail_after_placements = Some(placements);
    }

    /// Looks up every order the stream records as submitted and not ended. An order that rests
    /// on the exchange is adopted, and one that ended meanwhile has its end recorded. One the
    /// exchange never received is recorded as rejected with code `not_sent`.
    ///
    /// # Errors
    /// Fails when the exchange cannot be read or the log cannot append.
    pub(super) async fn adopt_recorded_orders(&mut self) -> Result<(), LiveError> {
        let symbol = self.instrument.symbol.clone();
        let open: Vec<Uuid> = self.recorder.bot.open_intents.iter().copied().collect();
        for intent_id in open {
            let client_order_id = ClientOrderId::for_intent(intent_id);
            let status = self
                .client
                .query_order(&self.credentials, &symbol, &client_order_id)
                .await;
            let status = match status {
                Ok(status) => status,
                Err(AdapterError::OrderNotFound { .. }) => {
                    // NOTE: a request still in flight when the process stopped could reach the
                    // exchange after this lookup; the order would then rest untracked.
                    let message = "the order was recorded as submitted, but the exchange never \
                                   received it before the bot restarted";
                    self.record_not_sent(intent_id, message).await?;
                    continue;
                }
                Err(err) => return Err(err.into()),
            };
            if !self.recorder.bot.acknowledged_intents.contains(&intent_id) {
                let ack = OrderAck::from_status(&status, true, 1);
                self.record_ack(intent_id, &ack).await?;
            }
            match status.state {
                state if state.is_open() => {
                    // NOTE: the entry's stop loss is not read back from the log, so a later fill
                    // of an adopted entry gets a stop at the bot's `stop_loss_pct` from the
                    // exchange's entry price instead.
                    let resting = Resting {
                        client_order_id,
                        side: status.side,
                        quantity: status.quantity,
                        reduce_only: status.reduce_only,
                        is_stop: status.reduce_only && status.order_type == OrderType::StopMarket,
                        stop_loss: None,
                        filled: status.filled_quantity,
                        later_fills: 0,
                    };
                    self.rest(intent_id, resting);
                }
                OrderState::Filled => {
                    let filled = OrderFilled {
                        intent_id,
                        client_order_id: client_order_id.as_str().to_owned(),
                        side: status.side,
                        quantity: status.filled_quantity,
                        price: status.average_price.unwrap_or_default(),
                        fee: Decimal::ZERO,
                        complete: true,
                        filled_at: Utc::now(),
                    };
                    let event = BotEvent::OrderFilled(filled);
                    self.record(intent_id, slot::FILLED, event).await?;
                }
                _ => {
                    let reason = "ended on the exchange while the bot was not running";
                    self.record_cancelled(intent_id, &client_order_id, reason)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Passes one evaluation down the order path unless its order was sent before, as the
    /// stream records after a restart; then it returns [`Placement::AlreadySent`]. An approved
    /// verdict recorded before a restart is acted on when the intent comes again unchanged,
    /// and otherwise (the equity moved meanwhile, so the size differs) its order is recorded as
    /// rejected with code `not_sent` instead of sent.
    ///
    /// # Errors
    /// Fails when the log cannot append.
    pub async fn submit(&mut self, evaluation: Evaluation) -> Result<Placement, LiveError> {
        let intent_id = evaluation.intent().intent_id;
        if self.recorder.bot.submitted_intents.contains(&intent_id) {
            return Ok(Placement::AlreadySent);
        }
        match self.pass(evaluation).await {
            Err(LiveError::Record(PaperError::Append(AppendError::EventIdReused { .. }))) => {
                if !self.recorder.bot.approved_intents.contains(&intent_id) {
                    return Ok(Placement::Rejected);
                }
                let message = "the verdict was recorded before the bot restarted, and the \
                               intent differs now; the order was not sent";
                self.record_not_sent(intent_id, message).await?;
                Ok(Placement::Refused(NOT_SENT.to_owned()))
            }
            placement => placement,
        }
    }

    async fn record_not_sent(&mut self, intent_id: Uuid, message: &str) -> Result<(), LiveError> {
        let rejected = OrderRejected {
            intent_id,
            client_order_id: ClientOrderId::for_intent(intent_id).as_str().to_owned(),
            code: NOT_SENT.to_owned(),
            message: message.to_owned(),
            rejected_at: Utc::now(),
        };
        let event = BotEvent::OrderRejected(rejected);
        self.record(intent_id, slot::REJECTED, event).await
    }

    /// Places a protective order of a filled entry. A stop that is not placed closes the
    /// position at market and pauses the bot. A stop that is placed, or was sent before a
    /// restart, becomes the position's stop price.
    ///
    /// # Errors
    /// Fails when the log cannot append or the closing order fails too.
    pub async fn protect_with(
        &mut self,
        evaluation: Evaluation,
        context: &RiskContext,
    ) -> Result<(), LiveError> {
        let intent = evaluation.intent();
        let is_stop = intent.kind == OrderKind::StopMarket;
        let stop = intent.price.unwrap_or_default();
        let placement = self.submit(evaluation).await?;
        let placed = matches!(placement, Placement::Accepted(_) | Placement::AlreadySent);
        if is_stop && placed {
            self.stop_price = Some(stop);
        }
        if !is_stop || placed {
            return Ok(());
        }
        let context = RiskContext {
            position: self.position,
            ..context.clone()
        };
        let price = context.last_price.unwrap_or(stop);
        let closing = self.close_position(price, &context).await?;
        let detail = format!("stop at {stop} was not placed; closing at market: {closing:?}");
        let paused = BotPaused {
            reason: PauseReason::StopLossNotPlaced { detail },
            paused_at: Utc::now(),
        };
        self.record(Uuid::now_v7(), slot::PAUSED, BotEvent::BotPaused(paused))
            .await
    }

    /// Returns whether a reduce-only stop of this trader rests on the exchange.
    pub fn has_resting_stop(&self) -> bool {
        self.resting.values().any(|resting| resting.is_stop)
    }

    /// Cancels the bot's resting orders in `scope` on the exchange and records
    /// `OrderCancelled` for each, with `reason`, or its fills when it filled before the
    /// cancellation reached the exchange. Returns how many orders were in scope.
    ///
    /// # Errors
    /// Fails when a cancellation fails or the log cannot append.
    pub async fn cancel_orders(
        &mut self,
        scope: CancelScope,
        reason: &str,
    ) -> Result<usize, LiveError> {
        let intents: Vec<Uuid> = self
            .resting
            .iter()
            .filter(|(_, resting)| scope == CancelScope::All || !resting.reduce_only)
            .map(|(intent_id, _)| *intent_id)
            .collect();
        let count = intents.len();
        for intent_id in intents {
            self.cancel_one(intent_id, reason).await?;
        }
        Ok(count)
    }

    /// Reads the account's equity in USDT: wallet balance plus unrealized PnL.
    ///
    /// # Errors
    /// Fails when the exchange cannot be read.
    pub async fn equity(&self) -> Result<Decimal, LiveError> {
        let balances = self.client.balances(&self.credentials).await?;
        let equity = balances
            .iter()
            .find(|balance| balance.asset == QUOTE_ASSET)
            .map_or(Decimal::ZERO, |balance| {
                balance.wallet_balance + balance.unrealized_pnl
            });
        Ok(equity)
    }

    /// Reads the position from the exchange and reconciles when it differs from the recorded
    /// one, as after a stop filled. Returns the exchange's average entry price.
    ///
    /// # Errors
    /// Fails when the exchange cannot be read or the log cannot append.
    pub async fn sync_position(&mut self) -> Result<Decimal, LiveError> {
        let symbol = self.instrument.symbol.clone();
        let positions = self
            .client
            .positions(&self.credentials, Some(&symbol))
            .await?;
        let position = positions.iter().find(|position| position.symbol == symbol);
        let quantity = position.map_or(Decimal::ZERO, |position| position.quantity);
        if quantity != self.position {
            self.reconcile().await?;
        }
        if self.position.is_zero() && !self.resting.is_empty() {
            self.cancel_orders(CancelScope::All, "position closed")
                .await?;
        }
        Ok(position.map_or(Decimal::ZERO, |position| position.entry_price))
    }

    /// Reads the bot's stream for events others appended (a pause or stop from the API) and
    /// returns whether the bot still trades live, so it may take new risk.
    ///
    /// # Errors
    /// Fails when the stream cannot be read.
    pub async fn refresh(&mut self) -> Result<bool, LiveError> {
        self.recorder.refresh().await?;
        let live = BotStatus::Active {
            mode: BotMode::Live,
        };
        Ok(self.recorder.bot.status == live)
    }

    /// Returns the side of the position's exit orders.
    pub fn exit_side(&self) -> Side {
        if self.position > Decimal::ZERO {
            Side::Sell
        } else {
            Side::Buy
        }
    }

    /// Tracks an order that rests on the exchange.
    pub(super) fn rest(&mut self, intent_id: Uuid, resting: Resting) {
        self.resting.insert(intent_id, resting);
    }

    pub(super) async fn record_ack(
        &mut self,
        intent_id: Uuid,
        ack: &OrderAck,
    ) -> Result<(), LiveError> {
        let acknowledged = OrderAcknowledged {
            intent_id,
            client_order_id: ack.client_order_id.as_str().to_owned(),
            exchange_order_id: ack.exchange_order_id.clone(),
            recovered: ack.recovered,
            acknowledged_at: Utc::now(),
        };
        let event = BotEvent::OrderAcknowledged(acknowledged);
        self.record(intent_id, slot::ACKNOWLEDGED, event).await
    }

    pub(super) async fn record_cancelled(
        &mut self,
        intent_id: Uuid,
        client_order_id: &ClientOrderId,
        reason: &str,
    ) -> Result<(), LiveError> {
        let event = BotEvent::OrderCancelled(OrderCancelled {
            intent_id,
            client_order_id: client_order_id.as_str().to_owned(),
            reason: reason.to_owned(),
            cancelled_at: Utc::now(),
        });
        self.record(intent_id, slot::CANCELLED, event).await
    }
}
