//! The exchange-neutral engine every dialect plugs into: instruments, last prices, and per key
//! an account with a balance, positions, leverage, position mode and orders.
//!
//! Dialects parse their requests into the engine's types ([`NewOrder`], [`OrderKey`]), call
//! the engine, and write its records ([`OrderRecord`], [`PositionRecord`], …) and errors
//! ([`EngineError`]) back in their exchange's shapes and codes. Private streams follow
//! [`Engine::subscribe_account`], public ones [`Engine::subscribe_market`]. All state sits
//! behind one lock; no call waits while holding it.

mod account;
pub mod feed;
mod instruments;
mod matching;
mod types;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rust_decimal::Decimal;
use serde::Serialize;
use tokio::sync::broadcast;

pub use instruments::{
    BracketSpec, InstrumentFileError, InstrumentSpec, default_instruments, load_instruments,
};
pub use types::{
    AccountChange, AccountId, AccountUpdate, BalanceRecord, EngineError, FillRecord,
    LeverageChange, MarketTick, NewOrder, OrderKey, OrderRecord, OrderStatus, OrderType,
    PositionMode, PositionRecord, PositionSide, Side, TimeInForce,
};

use crate::faults::{FaultPlan, current_visibility_delay_ms};
use account::{Account, leverage_allowed};
use matching::{check_account, check_filters, immediate_execution, triggered};

/// Messages a slow stream subscriber may fall behind before it misses some.
const BROADCAST_CAPACITY: usize = 8192;

/// Counters of what the engine did, for the admin routes and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EngineStats {
    pub orders_accepted: u64,
    pub orders_rejected: u64,
    /// Placements refused because the client order id was already used.
    pub duplicate_client_order_ids: u64,
    pub fills: u64,
}

/// The matching engine and accounts of one emulator.
#[derive(Debug)]
pub struct Engine {
    state: Mutex<EngineState>,
    faults: Arc<FaultPlan>,
    account_updates: broadcast::Sender<AccountUpdate>,
    market_ticks: broadcast::Sender<MarketTick>,
}

#[derive(Debug)]
pub(crate) struct EngineState {
    instruments: BTreeMap<String, InstrumentSpec>,
    prices: BTreeMap<String, Decimal>,
    accounts: BTreeMap<AccountId, Account>,
    next_order_id: u64,
    next_trade_id: u64,
    stats: EngineStats,
    /// Public trades produced by fills, sent once the lock is released.
    pending_ticks: Vec<MarketTick>,
}

type Changes = Vec<(AccountId, AccountChange)>;

impl Engine {
    /// Creates an engine listing `instruments` at their starting prices.
    pub fn new(instruments: Vec<InstrumentSpec>, faults: Arc<FaultPlan>) -> Self {
        let prices = instruments
            .iter()
            .map(|spec| (spec.symbol.clone(), spec.price))
            .collect();
        let instruments = instruments
            .into_iter()
            .map(|spec| (spec.symbol.clone(), spec))
            .collect();
        Engine {
            state: Mutex::new(EngineState {
                instruments,
                prices,
                accounts: BTreeMap::new(),
                next_order_id: 8_000_000_000,
                next_trade_id: 0,
                stats: EngineStats::default(),
                pending_ticks: Vec::new(),
            }),
            faults,
            account_updates: broadcast::channel(BROADCAST_CAPACITY).0,
            market_ticks: broadcast::channel(BROADCAST_CAPACITY).0,
        }
    }

    /// Returns every instrument, ordered by symbol.
    pub fn instruments(&self) -> Vec<InstrumentSpec> {
        self.lock().instruments.values().cloned().collect()
    }

    pub fn instrument(&self, symbol: &str) -> Option<InstrumentSpec> {
        self.lock().instruments.get(symbol).cloned()
    }

    /// Returns the last price of an instrument.
    pub fn price(&self, symbol: &str) -> Option<Decimal> {
        self.lock().prices.get(symbol).copied()
    }

    /// Moves an instrument's last price, fills every resting order it reaches and publishes
    /// the trade.
    ///
    /// # Errors
    /// Returns [`EngineError::UnknownSymbol`] for an instrument the engine does not list.
    pub fn set_price(
        &self,
        symbol: &str,
        price: Decimal,
        quantity: Decimal,
        now_ms: i64,
    ) -> Result<(), EngineError> {
        let mut changes = Vec::new();
        let ticks = {
            let mut state = self.lock();
            if !state.instruments.contains_key(symbol) {
                return Err(EngineError::UnknownSymbol(symbol.to_owned()));
            }
            state.prices.insert(symbol.to_owned(), price);
            state.next_trade_id += 1;
            let trade = MarketTick::Trade {
                symbol: symbol.to_owned(),
                trade_id: state.next_trade_id,
                price,
                quantity,
                taker_side: Side::Buy,
                time_ms: now_ms,
            };
            state.pending_ticks.push(trade);
            state.match_resting(symbol, price, now_ms, &mut changes);
            std::mem::take(&mut state.pending_ticks)
        };
        self.publish(changes, ticks);
        Ok(())
    }

    /// Publishes a candle update of the price feed.
    pub fn publish_candle(&self, candle: MarketTick) {
        let _ = self.market_ticks.send(candle);
    }

    /// Places an order for an account and executes what executes at once.
    ///
    /// # Errors
    /// Returns the [`EngineError`] an exchange would reject the order with.
    pub fn place(
        &self,
        account: &AccountId,
        order: NewOrder,
        now_ms: i64,
    ) -> Result<OrderRecord, EngineError> {
        let delay_ms = current_visibility_delay_ms();
        let duplicate_check = self.faults.config().duplicate_check;
        let mut changes = Vec::new();
        let (result, ticks) = {
            let mut state = self.lock();
            let result = state.place(
                account,
                order,
                now_ms,
                delay_ms,
                duplicate_check,
                &mut changes,
            );
            match &result {
                Ok(_) => state.stats.orders_accepted += 1,
                Err(EngineError::DuplicateClientOrderId(_)) => {
                    state.stats.duplicate_client_order_ids += 1;
                }
                Err(_) => state.stats.orders_rejected += 1,
            }
            (result, std::mem::take(&mut state.pending_ticks))
        };
        self.publish(changes, ticks);
        result
    }

    /// Cancels an open order.
    ///
    /// # Errors
    /// Returns [`EngineError::OrderNotFound`] when the account has no such open order that
    /// queries can see.
    pub fn cancel(
        &self,
        account: &AccountId,
        symbol: &str,
        key: &OrderKey,
        now_ms: i64,
    ) -> Result<OrderRecord, EngineError> {
        let mut changes = Vec::new();
        let result = {
            let mut state = self.lock();
            let order = state.visible_order(account, symbol, key, now_ms)?;
            if !order.status.is_open() {
                return Err(EngineError::OrderNotFound);
            }
            let mut order = order;
            order.status = OrderStatus::Canceled;
            order.updated_ms = now_ms;
            if let Some(stored) = state.accounts.get_mut(account) {
                stored.orders.insert(order.order_id, order.clone());
            }
            changes.push((account.clone(), AccountChange::Order(order.clone())));
            order
        };
        self.publish(changes, Vec::new());
        Ok(result)
    }

    /// Reads one order of an account, as queries show it.
    ///
    /// # Errors
    /// Returns [`EngineError::OrderNotFound`] for an unknown order or one still hidden by
    /// the delayed-visibility fault.
    pub fn order(
        &self,
        account: &AccountId,
        symbol: &str,
        key: &OrderKey,
        now_ms: i64,
    ) -> Result<OrderRecord, EngineError> {
        self.lock().visible_order(account, symbol, key, now_ms)
    }

    /// Reads an account's open orders that queries can see, oldest first.
    pub fn open_orders(
        &self,
        account: &AccountId,
        symbol: Option<&str>,
        now_ms: i64,
    ) -> Vec<OrderRecord> {
        let state = self.lock();
        let Some(stored) = state.accounts.get(account) else {
            return Vec::new();
        };
        stored
            .orders
            .values()
            .filter(|order| order.status.is_open() && order.visible_from_ms <= now_ms)
            .filter(|order| symbol.is_none_or(|symbol| order.symbol == symbol))
            .cloned()
            .collect()
    }

    /// Reads every order an account ever placed, hidden ones included, for the admin routes.
    pub fn all_orders(&self, account: &AccountId) -> Vec<OrderRecord> {
        let state = self.lock();
        state
            .accounts
            .get(account)
            .map(|stored| stored.orders.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Reads the account's settlement balance.
    pub fn balance(&self, account: &AccountId) -> BalanceRecord {
        let mut state = self.lock();
        let state = &mut *state;
        let stored = state.accounts.entry(account.clone()).or_default();
        stored.balance(&state.prices)
    }

    /// Sets the account's wallet balance, for tests and sandbox set-ups.
    pub fn set_wallet_balance(&self, account: &AccountId, amount: Decimal) {
        let mut state = self.lock();
        state
            .accounts
            .entry(account.clone())
            .or_default()
            .wallet_balance = amount;
    }

    /// Reads the account's open positions, marked at the last prices.
    pub fn positions(&self, account: &AccountId) -> Vec<PositionRecord> {
        let state = self.lock();
        let Some(stored) = state.accounts.get(account) else {
            return Vec::new();
        };
        stored
            .positions
            .iter()
            .filter(|(_, position)| !position.quantity.is_zero())
            .map(|((symbol, side), _)| {
                let mark = state.prices.get(symbol).copied().unwrap_or_default();
                stored.position_record(symbol, *side, mark)
            })
            .collect()
    }

    /// Reads the leverage an account uses for an instrument.
    pub fn leverage(&self, account: &AccountId, symbol: &str) -> u32 {
        let state = self.lock();
        state
            .accounts
            .get(account)
            .map_or(account::DEFAULT_LEVERAGE, |stored| {
                stored.leverage_of(symbol)
            })
    }

    /// Sets an instrument's leverage for an account.
    ///
    /// # Errors
    /// Returns [`EngineError::UnknownSymbol`], [`EngineError::InvalidLeverage`] outside the
    /// instrument's range, or [`EngineError::ExceedsLeverageBracket`] when the open position
    /// is too large for it.
    pub fn set_leverage(
        &self,
        account: &AccountId,
        symbol: &str,
        leverage: u32,
    ) -> Result<LeverageChange, EngineError> {
        let mut state = self.lock();
        let state = &mut *state;
        let spec = state
            .instruments
            .get(symbol)
            .ok_or_else(|| EngineError::UnknownSymbol(symbol.to_owned()))?;
        if !leverage_allowed(spec, leverage) {
            return Err(EngineError::InvalidLeverage {
                leverage,
                max: spec.max_leverage(),
            });
        }
        let stored = state.accounts.entry(account.clone()).or_default();
        let mark = state.prices.get(symbol).copied().unwrap_or(spec.price);
        let position = stored.position(symbol, PositionSide::Both).quantity.abs() * mark;
        let max_notional = spec.max_notional(leverage);
        if position > max_notional {
            return Err(EngineError::ExceedsLeverageBracket {
                leverage,
                max_notional,
            });
        }
        let changed = stored.leverage_of(symbol) != leverage;
        stored.leverage.insert(symbol.to_owned(), leverage);
        Ok(LeverageChange {
            symbol: symbol.to_owned(),
            leverage,
            max_notional,
            changed,
        })
    }

    pub fn position_mode(&self, account: &AccountId) -> PositionMode {
        let state = self.lock();
        state
            .accounts
            .get(account)
            .map_or(PositionMode::OneWay, |stored| stored.mode)
    }

    /// Changes an account's position mode, which exchanges refuse while anything is open.
    ///
    /// # Errors
    /// Returns [`EngineError::PositionModeUnchanged`] when the mode is already `mode`, and
    /// [`EngineError::PositionModeBlockedByPosition`] or
    /// [`EngineError::PositionModeBlockedByOrders`] while a position or order is open.
    pub fn set_position_mode(
        &self,
        account: &AccountId,
        mode: PositionMode,
    ) -> Result<(), EngineError> {
        let mut state = self.lock();
        let stored = state.accounts.entry(account.clone()).or_default();
        if stored.mode == mode {
            return Err(EngineError::PositionModeUnchanged(mode));
        }
        if stored.has_open_position() {
            return Err(EngineError::PositionModeBlockedByPosition);
        }
        if stored.has_open_order() {
            return Err(EngineError::PositionModeBlockedByOrders);
        }
        stored.mode = mode;
        Ok(())
    }

    /// Follows every account's changes; receivers pick their account.
    pub fn subscribe_account(&self) -> broadcast::Receiver<AccountUpdate> {
        self.account_updates.subscribe()
    }

    /// Follows trades and candles of every instrument.
    pub fn subscribe_market(&self) -> broadcast::Receiver<MarketTick> {
        self.market_ticks.subscribe()
    }

    pub fn stats(&self) -> EngineStats {
        self.lock().stats.clone()
    }

    fn publish(&self, changes: Changes, ticks: Vec<MarketTick>) {
        for (account, change) in changes {
            let _ = self.account_updates.send(AccountUpdate { account, change });
        }
        for tick in ticks {
            let _ = self.market_ticks.send(tick);
        }
    }

    fn lock(&self) -> MutexGuard<'_, EngineState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl EngineState {
    fn place(
        &mut self,
        account_id: &AccountId,
        order: NewOrder,
        now_ms: i64,
        delay_ms: u64,
        duplicate_check: bool,
        changes: &mut Changes,
    ) -> Result<OrderRecord, EngineError> {
        let spec = self
            .instruments
            .get(&order.symbol)
            .cloned()
            .ok_or_else(|| EngineError::UnknownSymbol(order.symbol.clone()))?;
        let market_price = self
            .prices
            .get(&order.symbol)
            .copied()
            .ok_or_else(|| EngineError::NoMarketPrice(order.symbol.clone()))?;
        check_filters(&spec, &order, market_price)?;
        let account = self.accounts.entry(account_id.clone()).or_default();
        if let Some(id) = &order.client_order_id
            && duplicate_check
            && account.client_order_ids.contains_key(id)
        {
            return Err(EngineError::DuplicateClientOrderId(id.clone()));
        }
        check_account(account, &spec, &order, market_price, &self.prices)?;

        self.next_order_id += 1;
        let order_id = self.next_order_id;
        let record = new_record(order, order_id, now_ms, delay_ms);
        let account = self.accounts.entry(account_id.clone()).or_default();
        account
            .client_order_ids
            .insert(record.client_order_id.clone(), order_id);
        account.orders.insert(order_id, record.clone());
        changes.push((account_id.clone(), AccountChange::Order(record.clone())));

        match immediate_execution(&record, market_price) {
            Ok(Some(price)) => self.fill(account_id, order_id, price, false, now_ms, changes),
            Ok(None) => {}
            Err(()) => self.expire(account_id, order_id, now_ms, changes),
        }
        let account = self.accounts.get(account_id);
        Ok(account
            .and_then(|account| account.orders.get(&order_id).cloned())
            .unwrap_or(record))
    }

    fn expire(
        &mut self,
        account_id: &AccountId,
        order_id: u64,
        now_ms: i64,
        changes: &mut Changes,
    ) {
        let Some(account) = self.accounts.get_mut(account_id) else {
            return;
        };
        if let Some(order) = account.orders.get_mut(&order_id) {
            order.status = OrderStatus::Expired;
            order.updated_ms = now_ms;
            changes.push((account_id.clone(), AccountChange::Order(order.clone())));
        }
    }

    /// Fills every resting order of `symbol` that `price` reaches.
    fn match_resting(&mut self, symbol: &str, price: Decimal, now_ms: i64, changes: &mut Changes) {
        let mut due = Vec::new();
        for (account_id, account) in &self.accounts {
            for order in account.orders.values() {
                if order.symbol != symbol || !order.status.is_open() {
                    continue;
                }
                if let Some((fill_price, maker)) = triggered(order, price) {
                    due.push((account_id.clone(), order.order_id, fill_price, maker));
                }
            }
        }
        for (account_id, order_id, fill_price, maker) in due {
            self.fill(&account_id, order_id, fill_price, maker, now_ms, changes);
        }
    }

    fn visible_order(
        &self,
        account_id: &AccountId,
        symbol: &str,
        key: &OrderKey,
        now_ms: i64,
    ) -> Result<OrderRecord, EngineError> {
        let account = self
            .accounts
            .get(account_id)
            .ok_or(EngineError::OrderNotFound)?;
        let order_id = match key {
            OrderKey::OrderId(id) => Some(*id),
            OrderKey::ClientOrderId(id) => account.client_order_ids.get(id).copied(),
        };
        order_id
            .and_then(|id| account.orders.get(&id))
            .filter(|order| order.symbol == symbol && order.visible_from_ms <= now_ms)
            .cloned()
            .ok_or(EngineError::OrderNotFound)
    }
}

fn new_record(order: NewOrder, order_id: u64, now_ms: i64, delay_ms: u64) -> OrderRecord {
    let delay = i64::try_from(delay_ms).unwrap_or(i64::MAX);
    OrderRecord {
        order_id,
        client_order_id: order
            .client_order_id
            .unwrap_or_else(|| format!("emulator-{order_id}")),
        symbol: order.symbol,
        side: order.side,
        order_type: order.order_type,
        time_in_force: order.time_in_force,
        position_side: order.position_side,
        status: OrderStatus::New,
        quantity: order.quantity,
        filled_quantity: Decimal::ZERO,
        price: order.price,
        stop_price: order.stop_price,
        average_price: Decimal::ZERO,
        reduce_only: order.reduce_only,
        created_ms: now_ms,
        updated_ms: now_ms,
        visible_from_ms: now_ms.saturating_add(delay),
    }
}

#[cfg(test)]
mod tests;
