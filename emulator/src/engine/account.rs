//! One account's balance, positions, leverage and orders, and the margin arithmetic.

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;

use super::instruments::InstrumentSpec;
use super::types::{
    BalanceRecord, OrderRecord, OrderType, PositionMode, PositionRecord, PositionSide, Side,
};

/// Starting balance of every account, in USDT.
pub(crate) const STARTING_BALANCE: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);
/// Leverage of an instrument until the account sets one (Binance's default).
pub(crate) const DEFAULT_LEVERAGE: u32 = 20;
pub(crate) const SETTLEMENT_ASSET: &str = "USDT";

/// A net (one-way) or one-sided (hedge) position.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PositionState {
    /// Signed quantity: positive long, negative short.
    pub quantity: Decimal,
    pub entry_price: Decimal,
    pub updated_ms: i64,
}

#[derive(Clone, Debug)]
pub(crate) struct Account {
    pub wallet_balance: Decimal,
    pub mode: PositionMode,
    pub leverage: BTreeMap<String, u32>,
    pub positions: BTreeMap<(String, PositionSide), PositionState>,
    pub orders: BTreeMap<u64, OrderRecord>,
    pub client_order_ids: HashMap<String, u64>,
    pub updated_ms: i64,
}

impl Default for Account {
    fn default() -> Self {
        Account {
            wallet_balance: STARTING_BALANCE,
            mode: PositionMode::OneWay,
            leverage: BTreeMap::new(),
            positions: BTreeMap::new(),
            orders: BTreeMap::new(),
            client_order_ids: HashMap::new(),
            updated_ms: 0,
        }
    }
}

impl Account {
    pub fn leverage_of(&self, symbol: &str) -> u32 {
        self.leverage
            .get(symbol)
            .copied()
            .unwrap_or(DEFAULT_LEVERAGE)
    }

    pub fn position(&self, symbol: &str, side: PositionSide) -> PositionState {
        self.positions
            .get(&(symbol.to_owned(), side))
            .cloned()
            .unwrap_or_default()
    }

    pub fn has_open_position(&self) -> bool {
        self.positions
            .values()
            .any(|position| !position.quantity.is_zero())
    }

    pub fn has_open_order(&self) -> bool {
        self.orders.values().any(|order| order.status.is_open())
    }

    /// Builds the position record at `mark`.
    pub fn position_record(
        &self,
        symbol: &str,
        side: PositionSide,
        mark: Decimal,
    ) -> PositionRecord {
        let state = self.position(symbol, side);
        let leverage = self.leverage_of(symbol);
        PositionRecord {
            symbol: symbol.to_owned(),
            position_side: side,
            unrealized_pnl: (mark - state.entry_price) * state.quantity,
            initial_margin: state.quantity.abs() * mark / Decimal::from(leverage),
            quantity: state.quantity,
            entry_price: state.entry_price,
            mark_price: mark,
            leverage,
            updated_ms: state.updated_ms,
        }
    }

    /// Computes the balance with every position marked at `prices`.
    pub fn balance(&self, prices: &BTreeMap<String, Decimal>) -> BalanceRecord {
        let mark = |symbol: &str| prices.get(symbol).copied().unwrap_or_default();
        let mut unrealized = Decimal::ZERO;
        let mut margin = Decimal::ZERO;
        for (symbol, side) in self.positions.keys() {
            let record = self.position_record(symbol, *side, mark(symbol));
            unrealized += record.unrealized_pnl;
            margin += record.initial_margin;
        }
        for order in self.orders.values().filter(|order| order.status.is_open()) {
            margin += self.order_margin(order, mark(&order.symbol));
        }
        BalanceRecord {
            asset: SETTLEMENT_ASSET.to_owned(),
            wallet_balance: self.wallet_balance,
            unrealized_pnl: unrealized,
            available_balance: self.wallet_balance + unrealized - margin,
            updated_ms: self.updated_ms,
        }
    }

    /// Margin an open order holds: none for a reduce-only order.
    pub fn order_margin(&self, order: &OrderRecord, mark: Decimal) -> Decimal {
        if order.reduce_only {
            return Decimal::ZERO;
        }
        let price = match order.order_type {
            OrderType::Limit => order.price.unwrap_or(mark),
            OrderType::StopMarket => order.stop_price.unwrap_or(mark),
            OrderType::Market => mark,
        };
        let remaining = order.quantity - order.filled_quantity;
        remaining * price / Decimal::from(self.leverage_of(&order.symbol))
    }

    /// Applies a fill to the position and the wallet; returns the realized PnL.
    pub fn apply_fill(
        &mut self,
        order: &OrderRecord,
        price: Decimal,
        quantity: Decimal,
        fee: Decimal,
        now_ms: i64,
    ) -> Decimal {
        let key = (order.symbol.clone(), order.position_side);
        let position = self.positions.entry(key).or_default();
        let signed = match order.side {
            Side::Buy => quantity,
            Side::Sell => -quantity,
        };
        let realized = apply_to_position(position, signed, price);
        position.updated_ms = now_ms;
        self.wallet_balance += realized - fee;
        self.updated_ms = now_ms;
        realized
    }
}

/// Adds a signed quantity at `price` to a position and returns the PnL realized by the part
/// that closed it.
fn apply_to_position(position: &mut PositionState, signed: Decimal, price: Decimal) -> Decimal {
    let current = position.quantity;
    let same_direction = current.is_zero() || (current > Decimal::ZERO) == (signed > Decimal::ZERO);
    if same_direction {
        let total = current + signed;
        if !total.is_zero() {
            position.entry_price =
                (position.entry_price * current.abs() + price * signed.abs()) / total.abs();
        }
        position.quantity = total;
        return Decimal::ZERO;
    }
    let closed = signed.abs().min(current.abs());
    let direction = if current > Decimal::ZERO {
        Decimal::ONE
    } else {
        Decimal::NEGATIVE_ONE
    };
    let realized = (price - position.entry_price) * closed * direction;
    let remaining = current + signed;
    if remaining.is_zero() {
        position.entry_price = Decimal::ZERO;
    } else if (remaining > Decimal::ZERO) != (current > Decimal::ZERO) {
        position.entry_price = price;
    }
    position.quantity = remaining;
    realized
}

/// Returns whether an order on `side` reduces a position of signed `quantity`.
pub(crate) fn reduces(quantity: Decimal, side: Side) -> bool {
    match side {
        Side::Buy => quantity < Decimal::ZERO,
        Side::Sell => quantity > Decimal::ZERO,
    }
}

/// Returns the notional of a position after a fill of `quantity` on `side` at `price`.
pub(crate) fn notional_after(
    position: Decimal,
    side: Side,
    quantity: Decimal,
    price: Decimal,
) -> Decimal {
    let signed = match side {
        Side::Buy => quantity,
        Side::Sell => -quantity,
    };
    (position + signed).abs() * price
}

/// Returns the instrument's checks in one place for the matching code.
pub(crate) fn is_multiple(value: Decimal, step: Decimal) -> bool {
    step <= Decimal::ZERO || (value % step).is_zero()
}

/// Returns whether `spec` allows `leverage` at all.
pub(crate) fn leverage_allowed(spec: &InstrumentSpec, leverage: u32) -> bool {
    (1..=spec.max_leverage()).contains(&leverage)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn position_averages_then_realizes() {
        let mut position = PositionState::default();
        assert_eq!(
            apply_to_position(&mut position, dec("1"), dec("100")),
            Decimal::ZERO
        );
        assert_eq!(
            apply_to_position(&mut position, dec("1"), dec("110")),
            Decimal::ZERO
        );
        assert_eq!(position.entry_price, dec("105"));
        let realized = apply_to_position(&mut position, dec("-0.5"), dec("125"));
        assert_eq!(realized, dec("10"));
        assert_eq!(position.quantity, dec("1.5"));
        assert_eq!(position.entry_price, dec("105"));
    }

    #[test]
    fn flipping_sides_resets_entry() {
        let mut position = PositionState::default();
        apply_to_position(&mut position, dec("-2"), dec("100"));
        let realized = apply_to_position(&mut position, dec("3"), dec("90"));
        assert_eq!(realized, dec("20"));
        assert_eq!(position.quantity, dec("1"));
        assert_eq!(position.entry_price, dec("90"));
    }
}
