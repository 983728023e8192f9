//! Following the account's private stream: updates of this trader's resting orders as they
//! happen, and the snapshot the stream reads over REST after every (re)connect, which shows
//! what changed while it was down.

use keyward_adapters::domain::{AccountEvent, OrderStatus, OrderType, StreamStatus};

use super::*;

impl LiveTrader {
    /// Handles one event of the account's private stream (from
    /// [`ExchangeClient::account_stream`]).
    ///
    /// After every (re)connect the stream delivers a snapshot read over REST. From it the
    /// trader records what happened to its resting orders while the stream was down (fills as
    /// `OrderFilled` and `PositionChanged`, cancellations and expiries as `OrderCancelled`),
    /// then `PositionReconciled`. It places a protective stop again when the position has none,
    /// and cancels its stops once the position is flat. Updates of its resting orders that
    /// arrive on the stream are recorded the same way as they come.
    ///
    /// # Errors
    /// Fails when the exchange cannot be read or the log cannot append.
    pub async fn on_account_event(&mut self, event: AccountEvent) -> Result<(), LiveError> {
        let bot_id = self.recorder.bot.bot_id;
        match event {
            AccountEvent::Status(StreamStatus::Connected { reconnects }) => {
                tracing::info!(%bot_id, reconnects, "account stream connected");
            }
            AccountEvent::Status(StreamStatus::Disconnected {
                reason,
                retry_in_ms,
            }) => {
                tracing::warn!(%bot_id, %reason, retry_in_ms,
                    "account stream disconnected; reconciling once it reconnects");
            }
            AccountEvent::Reconciled(snapshot) => {
                self.apply_snapshot(&snapshot).await?;
            }
            AccountEvent::Order(status) => self.on_order(&status).await?,
            AccountEvent::Fill(_) | AccountEvent::Position(_) | AccountEvent::Balance(_) => {}
        }
        Ok(())
    }

    /// Records an update of one of this trader's resting orders, then protects or cleans up
    /// after the position it changed.
    async fn on_order(&mut self, status: &OrderStatus) -> Result<(), LiveError> {
        if status.symbol != self.instrument.symbol {
            return Ok(());
        }
        let Some(intent_id) = self.intent_of(&status.client_order_id) else {
            return Ok(());
        };
        self.settle(intent_id, status).await?;
        self.guard_position(&[]).await
    }

    /// Records what an account snapshot shows changed since this trader last looked: each
    /// resting order's fills and end, then `PositionReconciled` with the position recorded
    /// before them, adopting the exchange's position. Then protects or cleans up after that
    /// position.
    pub(super) async fn apply_snapshot(
        &mut self,
        snapshot: &AccountSnapshot,
    ) -> Result<PositionReconciled, LiveError> {
        let symbol = self.instrument.symbol.clone();
        let recorded_quantity = self.position;
        let mut changed_orders = Vec::new();
        let intents: Vec<Uuid> = self.resting.keys().copied().collect();
        for intent_id in intents {
            let Some(status) = self.status_in(snapshot, intent_id).await? else {
                continue;
            };
            let recorded = self.resting.get(&intent_id).map(|resting| resting.filled);
            if status.state.is_open() && recorded == Some(status.filled_quantity) {
                continue;
            }
            changed_orders.push(ReconciledOrder {
                client_order_id: status.client_order_id.as_str().to_owned(),
                state: state_name(status.state).to_owned(),
                filled_quantity: status.filled_quantity,
            });
            self.settle(intent_id, &status).await?;
        }

        // NOTE: the snapshot was read when the stream connected. If this trader recorded fills
        // after that moment and before this call, the snapshot's position is stale, and it is
        // adopted anyway.
        let position = snapshot
            .positions
            .iter()
            .find(|position| position.symbol == symbol);
        let exchange_quantity = position.map_or(Decimal::ZERO, |position| position.quantity);
        self.last_price = position.and_then(|position| position.mark_price);
        self.entry_price = position.map(|position| position.entry_price);
        if let Some(balance) = snapshot.balances.iter().find(|b| b.asset == "USDT") {
            self.equity = balance.wallet_balance + balance.unrealized_pnl;
        }
        let reconciled = PositionReconciled {
            symbol: symbol.clone(),
            recorded_quantity,
            exchange_quantity,
            open_orders: snapshot
                .open_orders
                .iter()
                .filter(|order| order.symbol == symbol)
                .map(|order| order.client_order_id.as_str().to_owned())
                .collect(),
            changed_orders,
            reconciled_at: Utc::now(),
        };
        if exchange_quantity != self.position {
            tracing::warn!(bot_id = %self.recorder.bot.bot_id, after_fills = %self.position,
                exchange = %exchange_quantity,
                "position after the recorded fills differs from the exchange's; adopting it");
        }
        self.position = exchange_quantity;
        let event = BotEvent::PositionReconciled(reconciled.clone());
        self.recorder.record(Uuid::now_v7(), event).await?;
        self.guard_position(&snapshot.open_orders).await?;
        Ok(reconciled)
    }

    /// Returns the state of a resting order as the snapshot shows it. When the snapshot leaves
    /// the order out, the exchange is asked, and `None` means it does not know the order.
    async fn status_in(
        &self,
        snapshot: &AccountSnapshot,
        intent_id: Uuid,
    ) -> Result<Option<OrderStatus>, LiveError> {
        let Some(resting) = self.resting.get(&intent_id) else {
            return Ok(None);
        };
        let id = &resting.client_order_id;
        let listed = snapshot
            .open_orders
            .iter()
            .chain(&snapshot.closed_while_disconnected)
            .find(|order| &order.client_order_id == id);
        if let Some(status) = listed {
            return Ok(Some(status.clone()));
        }
        let symbol = &self.instrument.symbol;
        match self.client.query_order(&self.credentials, symbol, id).await {
            Ok(status) => Ok(Some(status)),
            Err(AdapterError::OrderNotFound { .. }) => {
                tracing::warn!(%intent_id, client_order_id = id.as_str(),
                    "resting order is unknown to the exchange; leaving it as recorded");
                Ok(None)
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Records the fills of a resting order beyond those already recorded and, once it ended
    /// without filling completely, its cancellation. An order still open stays resting.
    pub(super) async fn settle(
        &mut self,
        intent_id: Uuid,
        status: &OrderStatus,
    ) -> Result<(), LiveError> {
        let Some(mut resting) = self.resting.remove(&intent_id) else {
            return Ok(());
        };
        let new_quantity = status.filled_quantity - resting.filled;
        if new_quantity > Decimal::ZERO {
            self.record_later_fill(intent_id, &mut resting, status, new_quantity)
                .await?;
        }
        match status.state {
            OrderState::New | OrderState::PartiallyFilled => {
                self.resting.insert(intent_id, resting);
            }
            OrderState::Filled => {}
            OrderState::Canceled | OrderState::Expired | OrderState::Rejected => {
                let reason = format!("{} on the exchange", state_name(status.state));
                let event = BotEvent::OrderCancelled(OrderCancelled {
                    intent_id,
                    client_order_id: resting.client_order_id.as_str().to_owned(),
                    reason,
                    cancelled_at: Utc::now(),
                });
                self.record(intent_id, slot::CANCELLED, event).await?;
            }
        }
        Ok(())
    }

    async fn record_later_fill(
        &mut self,
        intent_id: Uuid,
        resting: &mut Resting,
        status: &OrderStatus,
        quantity: Decimal,
    ) -> Result<(), LiveError> {
        let price = status
            .average_price
            .or(status.trigger_price)
            .or(status.price)
            .unwrap_or_default();
        let filled = OrderFilled {
            intent_id,
            client_order_id: resting.client_order_id.as_str().to_owned(),
            side: resting.side,
            quantity,
            price,
            // NOTE: order updates and snapshots carry no fee; the account stream's fills do.
            fee: Decimal::ZERO,
            complete: status.state == OrderState::Filled,
            filled_at: Utc::now(),
        };
        let fill_slot = slot::LATER_FILL + 2 * resting.later_fills;
        self.record(intent_id, fill_slot, BotEvent::OrderFilled(filled))
            .await?;
        resting.filled = status.filled_quantity;
        resting.later_fills += 1;

        self.position += match resting.side {
            Side::Buy => quantity,
            Side::Sell => -quantity,
        };
        if !resting.reduce_only && self.stop_price.is_none() {
            self.stop_price = resting.stop_loss;
        }
        let changed = PositionChanged {
            symbol: self.instrument.symbol.clone(),
            quantity: self.position,
            entry_price: (!self.position.is_zero()).then_some(price),
            changed_at: Utc::now(),
        };
        let event = BotEvent::PositionChanged(changed);
        self.record(intent_id, fill_slot + 1, event).await
    }

    /// Makes the position safe after a change: when flat, cancels this trader's resting stops;
    /// otherwise places a stop over the quantity no resting stop covers. `exchange_orders` are
    /// open orders the exchange listed, counted with this trader's own.
    async fn guard_position(&mut self, exchange_orders: &[OrderStatus]) -> Result<(), LiveError> {
        if self.position.is_zero() {
            self.stop_price = None;
            return self.cancel_stops("position closed").await;
        }
        let (entry_side, stop_side) = if self.position > Decimal::ZERO {
            (Side::Buy, Side::Sell)
        } else {
            (Side::Sell, Side::Buy)
        };
        let uncovered = self.position.abs() - self.stop_quantity(exchange_orders, stop_side);
        if uncovered <= Decimal::ZERO {
            return Ok(());
        }
        let Some(stop) = self.stop_price.or_else(|| self.default_stop(entry_side)) else {
            tracing::error!(bot_id = %self.recorder.bot.bot_id, position = %self.position,
                "position has no protective stop and no price to place one at");
            return Ok(());
        };
        tracing::warn!(bot_id = %self.recorder.bot.bot_id, %uncovered, %stop,
            "position lacks a protective stop; placing one");
        let last_price = self.last_price.unwrap_or(stop);
        let context = RiskContext {
            last_price: Some(last_price),
            ..RiskContext::new(BotMode::Live, Utc::now(), self.equity)
        };
        self.protect_quantity(entry_side, stop, uncovered, &context)
            .await
    }

    /// Returns the quantity that open reduce-only stops on `stop_side` would close: those the
    /// exchange listed and this trader's own, each counted once.
    fn stop_quantity(&self, exchange_orders: &[OrderStatus], stop_side: Side) -> Decimal {
        let symbol = &self.instrument.symbol;
        let listed = exchange_orders.iter().filter(|order| {
            &order.symbol == symbol
                && order.reduce_only
                && order.side == stop_side
                && order.order_type == OrderType::StopMarket
                && order.state.is_open()
        });
        let mut covered: Decimal = listed
            .clone()
            .map(|order| order.quantity - order.filled_quantity)
            .sum();
        for resting in self.resting.values() {
            let listed_already = listed
                .clone()
                .any(|order| order.client_order_id == resting.client_order_id);
            if resting.is_stop && resting.side == stop_side && !listed_already {
                covered += resting.quantity - resting.filled;
            }
        }
        covered
    }

    /// Returns a stop at the bot's `stop_loss_pct` from the position's entry price, when the
    /// exchange reported one.
    fn default_stop(&self, entry_side: Side) -> Option<Decimal> {
        let entry = self.entry_price.filter(|price| *price > Decimal::ZERO)?;
        let distance = entry * self.gate.config().stop_loss_pct / Decimal::ONE_HUNDRED;
        Some(match entry_side {
            Side::Buy => entry - distance,
            Side::Sell => entry + distance,
        })
    }

    /// Cancels this trader's resting stops, recording `OrderCancelled` for each.
    async fn cancel_stops(&mut self, reason: &str) -> Result<(), LiveError> {
        let stops: Vec<Uuid> = self
            .resting
            .iter()
            .filter(|(_, resting)| resting.is_stop)
            .map(|(intent_id, _)| *intent_id)
            .collect();
        for intent_id in stops {
            self.cancel_one(intent_id, reason).await?;
        }
        Ok(())
    }

    fn intent_of(&self, client_order_id: &ClientOrderId) -> Option<Uuid> {
        self.resting
            .iter()
            .find(|(_, resting)| &resting.client_order_id == client_order_id)
            .map(|(intent_id, _)| *intent_id)
    }
}
