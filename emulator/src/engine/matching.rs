//! Order checks and execution against the last price.
//!
//! The engine has no order book of other traders. Market orders fill at the last price of the
//! feed, and a limit order that crosses it fills at once at the last price (taker). A resting
//! limit order fills at its own price (maker) when the feed reaches it. Stop orders fire as
//! market orders when the feed reaches their stop price. Orders fill whole.
// NOTE: no partial fills and no slippage; a bot sees one fill per order.

use rust_decimal::Decimal;

use super::EngineState;
use super::account::{Account, is_multiple, notional_after, reduces};
use super::instruments::InstrumentSpec;
use super::types::{
    AccountChange, AccountId, EngineError, FillRecord, MarketTick, NewOrder, OrderRecord,
    OrderStatus, OrderType, PositionMode, PositionSide, Side, TimeInForce,
};

/// Taker fee as a fraction of the traded value (Binance's base VIP 0 rate).
const TAKER_FEE: Decimal = Decimal::from_parts(5, 0, 0, false, 4);
/// Maker fee as a fraction of the traded value.
const MAKER_FEE: Decimal = Decimal::from_parts(2, 0, 0, false, 4);

/// Checks an order against the instrument's filters, as exchanges do before anything else.
pub(crate) fn check_filters(
    spec: &InstrumentSpec,
    order: &NewOrder,
    market_price: Decimal,
) -> Result<(), EngineError> {
    let quantity = order.quantity;
    if quantity <= Decimal::ZERO || quantity < spec.min_quantity {
        return Err(EngineError::QuantityBelowMinimum {
            quantity,
            min: spec.min_quantity,
        });
    }
    if !is_multiple(quantity, spec.step_size) {
        return Err(EngineError::QuantityNotOnStep {
            quantity,
            step: spec.step_size,
        });
    }
    let max = match order.order_type {
        OrderType::Limit => spec.max_quantity,
        _ => spec.max_market_quantity.or(spec.max_quantity),
    };
    if let Some(max) = max.filter(|max| quantity > *max) {
        return Err(EngineError::QuantityAboveMaximum { quantity, max });
    }
    let order_price = match order.order_type {
        OrderType::Market => None,
        OrderType::Limit => Some(order.price.ok_or(EngineError::PriceMissing)?),
        OrderType::StopMarket => Some(order.stop_price.ok_or(EngineError::PriceMissing)?),
    };
    if let Some(price) = order_price {
        check_price(spec, price)?;
    }
    if order.reduce_only {
        return Ok(());
    }
    let notional = order_price.unwrap_or(market_price) * quantity;
    match spec.min_notional {
        Some(min) if notional < min => Err(EngineError::NotionalBelowMinimum { notional, min }),
        _ => Ok(()),
    }
}

fn check_price(spec: &InstrumentSpec, price: Decimal) -> Result<(), EngineError> {
    let below = spec.min_price.is_some_and(|min| price < min);
    let above = spec.max_price.is_some_and(|max| price > max);
    if price <= Decimal::ZERO || below || above {
        return Err(EngineError::PriceOutOfRange { price });
    }
    if !is_multiple(price, spec.tick_size) {
        return Err(EngineError::PriceNotOnTick {
            price,
            tick: spec.tick_size,
        });
    }
    Ok(())
}

/// Checks the order against the account: position mode, reduce-only, margin, leverage tier.
pub(crate) fn check_account(
    account: &Account,
    spec: &InstrumentSpec,
    order: &NewOrder,
    market_price: Decimal,
    prices: &std::collections::BTreeMap<String, Decimal>,
) -> Result<(), EngineError> {
    let side_ok = match account.mode {
        PositionMode::OneWay => order.position_side == PositionSide::Both,
        PositionMode::Hedge => order.position_side != PositionSide::Both,
    };
    if !side_ok {
        return Err(EngineError::PositionSideMismatch);
    }
    let position = account
        .position(&order.symbol, order.position_side)
        .quantity;
    if order.reduce_only {
        return if reduces(position, order.side) {
            Ok(())
        } else {
            Err(EngineError::ReduceOnlyRejected)
        };
    }
    let price = match order.order_type {
        OrderType::Market => market_price,
        OrderType::Limit => order.price.unwrap_or(market_price),
        OrderType::StopMarket => order.stop_price.unwrap_or(market_price),
    };
    let leverage = account.leverage_of(&order.symbol);
    let required = order.quantity * price / Decimal::from(leverage);
    let available = account.balance(prices).available_balance;
    if required > available {
        return Err(EngineError::InsufficientMargin {
            required,
            available,
        });
    }
    let max_notional = spec.max_notional(leverage);
    if notional_after(position, order.side, order.quantity, price) > max_notional {
        return Err(EngineError::ExceedsLeverageBracket {
            leverage,
            max_notional,
        });
    }
    Ok(())
}

/// Returns the price a new order fills at right away, or `None` when it rests. `Err(())`
/// means it expires instead, because it is post-only and would take, or an IOC or FOK limit
/// that does not cross.
pub(crate) fn immediate_execution(
    order: &OrderRecord,
    market_price: Decimal,
) -> Result<Option<Decimal>, ()> {
    match order.order_type {
        OrderType::Market => Ok(Some(market_price)),
        OrderType::StopMarket => Ok(None),
        OrderType::Limit => {
            let limit = order.price.unwrap_or(market_price);
            let crosses = match order.side {
                Side::Buy => limit >= market_price,
                Side::Sell => limit <= market_price,
            };
            match (crosses, order.time_in_force) {
                (true, TimeInForce::PostOnly) => Err(()),
                (true, _) => Ok(Some(market_price)),
                (false, TimeInForce::Gtc | TimeInForce::PostOnly) => Ok(None),
                (false, TimeInForce::Ioc | TimeInForce::Fok) => Err(()),
            }
        }
    }
}

/// Returns the fill of a resting order once the price moved to `price`: the fill price and
/// whether it is the maker.
pub(crate) fn triggered(order: &OrderRecord, price: Decimal) -> Option<(Decimal, bool)> {
    match (order.order_type, order.side) {
        (OrderType::Limit, Side::Buy) => order
            .price
            .filter(|limit| price <= *limit)
            .map(|limit| (limit, true)),
        (OrderType::Limit, Side::Sell) => order
            .price
            .filter(|limit| price >= *limit)
            .map(|limit| (limit, true)),
        (OrderType::StopMarket, Side::Buy) => order
            .stop_price
            .filter(|stop| price >= *stop)
            .map(|_| (price, false)),
        (OrderType::StopMarket, Side::Sell) => order
            .stop_price
            .filter(|stop| price <= *stop)
            .map(|_| (price, false)),
        (OrderType::Market, _) => None,
    }
}

impl EngineState {
    /// Fills the rest of an order at `price`. A reduce-only order fills only what still
    /// reduces the position and expires with the rest.
    pub(crate) fn fill(
        &mut self,
        account_id: &AccountId,
        order_id: u64,
        price: Decimal,
        maker: bool,
        now_ms: i64,
        changes: &mut Vec<(AccountId, AccountChange)>,
    ) {
        self.next_trade_id += 1;
        let trade_id = self.next_trade_id;
        let Some(account) = self.accounts.get_mut(account_id) else {
            return;
        };
        let Some(mut order) = account.orders.get(&order_id).cloned() else {
            return;
        };
        order.updated_ms = now_ms;
        let quantity = fillable_quantity(account, &order);
        if quantity.is_zero() {
            order.status = OrderStatus::Expired;
            account.orders.insert(order_id, order.clone());
            changes.push((account_id.clone(), AccountChange::Order(order)));
            return;
        }

        let fill = execute(
            account, &mut order, trade_id, price, quantity, maker, now_ms,
        );
        account.orders.insert(order_id, order.clone());
        let mark = self.prices.get(&order.symbol).copied().unwrap_or(price);
        let position = account.position_record(&order.symbol, order.position_side, mark);
        let balance = account.balance(&self.prices);
        self.stats.fills += 1;
        self.pending_ticks.push(trade_tick(&fill));
        for change in [
            AccountChange::Fill(fill),
            AccountChange::Order(order),
            AccountChange::Position(position),
            AccountChange::Balance(balance),
        ] {
            changes.push((account_id.clone(), change));
        }
    }
}

/// Returns what is left to fill of an order; for a reduce-only order no more than the
/// position it reduces.
fn fillable_quantity(account: &Account, order: &OrderRecord) -> Decimal {
    let remaining = order.quantity - order.filled_quantity;
    if !order.reduce_only {
        return remaining;
    }
    let position = account
        .position(&order.symbol, order.position_side)
        .quantity;
    if reduces(position, order.side) {
        remaining.min(position.abs())
    } else {
        Decimal::ZERO
    }
}

/// Applies one fill to the account and the order and returns it. An order that fills only
/// in part (a capped reduce-only order) expires with the rest.
fn execute(
    account: &mut Account,
    order: &mut OrderRecord,
    trade_id: u64,
    price: Decimal,
    quantity: Decimal,
    maker: bool,
    now_ms: i64,
) -> FillRecord {
    let rate = if maker { MAKER_FEE } else { TAKER_FEE };
    let fee = (price * quantity * rate).round_dp(8);
    let realized = account.apply_fill(order, price, quantity, fee, now_ms);
    let filled_value = order.average_price * order.filled_quantity + price * quantity;
    order.filled_quantity += quantity;
    order.average_price = filled_value / order.filled_quantity;
    order.status = if order.filled_quantity == order.quantity {
        OrderStatus::Filled
    } else {
        OrderStatus::Expired
    };
    FillRecord {
        trade_id,
        order_id: order.order_id,
        client_order_id: order.client_order_id.clone(),
        symbol: order.symbol.clone(),
        side: order.side,
        price,
        quantity,
        fee,
        realized_pnl: realized,
        maker,
        time_ms: now_ms,
    }
}

/// The public trade of a fill; the taker is the other side when the order made the market.
fn trade_tick(fill: &FillRecord) -> MarketTick {
    MarketTick::Trade {
        symbol: fill.symbol.clone(),
        trade_id: fill.trade_id,
        price: fill.price,
        quantity: fill.quantity,
        taker_side: if fill.maker {
            opposite(fill.side)
        } else {
            fill.side
        },
        time_ms: fill.time_ms,
    }
}

fn opposite(side: Side) -> Side {
    match side {
        Side::Buy => Side::Sell,
        Side::Sell => Side::Buy,
    }
}
