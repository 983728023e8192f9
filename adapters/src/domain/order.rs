//! Orders: the request built from an approved intent, client order ids, and what the exchange
//! reports back.

use std::fmt;

use keyward_events::bot::{OrderKind, Side};
use keyward_risk::ApprovedOrder;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::instrument::Instrument;
use crate::error::{AdapterError, OrderProblem};
use crate::precision::{check_order, round_price, round_quantity};

/// Prefix of every client order id keyward derives, so its orders are recognizable.
const CLIENT_ORDER_ID_PREFIX: &str = "kw";
/// Digits of a UUID written in base 36: 36^25 > 2^128.
const BASE36_DIGITS: usize = 25;

/// The id keyward gives an order, derived from the intent's id so that a retry of the same
/// intent carries the same id and the exchange (or a lookup) can tell it was already placed.
///
/// Derived ids are `kw` plus the intent id in base 36 (lowercase letters and digits), 27
/// characters, which fits every exchange's limits: Binance `[.A-Z:/a-z0-9_-]{1,36}`, Bybit
/// up to 36 letters, digits, `-` and `_`, OKX up to 32 letters and digits. Ids read from an
/// exchange may have any shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientOrderId(String);

impl ClientOrderId {
    /// Derives the client order id of an intent.
    pub fn for_intent(intent_id: Uuid) -> Self {
        let mut value = intent_id.as_u128();
        let mut digits = [b'0'; BASE36_DIGITS];
        for digit in digits.iter_mut().rev() {
            let remainder = u8::try_from(value % 36).unwrap_or(0);
            *digit = match remainder {
                0..=9 => b'0' + remainder,
                _ => b'a' + remainder - 10,
            };
            value /= 36;
        }
        let digits: String = digits.iter().map(|byte| char::from(*byte)).collect();
        ClientOrderId(format!("{CLIENT_ORDER_ID_PREFIX}{digits}"))
    }

    /// Wraps an id as an exchange reported it.
    pub fn from_exchange(id: impl Into<String>) -> Self {
        ClientOrderId(id.into())
    }

    /// Returns the id as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the intent id this client order id was derived from, or `None` for an order
    /// keyward did not place.
    pub fn intent_id(&self) -> Option<Uuid> {
        let digits = self.0.strip_prefix(CLIENT_ORDER_ID_PREFIX)?;
        if digits.len() != BASE36_DIGITS {
            return None;
        }
        let value = u128::from_str_radix(digits, 36).ok()?;
        let id = Uuid::from_u128(value);
        (ClientOrderId::for_intent(id) == *self).then_some(id)
    }
}

impl fmt::Display for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How long a limit order stays on the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeInForce {
    /// Good till cancelled.
    Gtc,
    /// Immediate or cancel.
    Ioc,
    /// Fill or kill.
    Fok,
    /// Post only: rejected or cancelled instead of taking liquidity.
    PostOnly,
}

/// An order ready for the wire: built only from a [`ApprovedOrder`], with quantity and price
/// rounded to the instrument's steps and checked against its minimums.
///
/// Its fields are private and [`OrderRequest::from_approved`] is its only constructor, so an
/// adapter cannot be handed an order that skipped the risk gate:
///
/// ```compile_fail,E0451
/// # use keyward_adapters::OrderRequest;
/// # fn forge() -> OrderRequest {
/// OrderRequest { symbol: "BTCUSDT".to_owned(), ..todo!() }
/// # }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct OrderRequest {
    intent_id: Uuid,
    client_order_id: ClientOrderId,
    symbol: String,
    side: Side,
    kind: OrderKind,
    quantity: Decimal,
    price: Option<Decimal>,
    trigger_price: Option<Decimal>,
    reference_price: Option<Decimal>,
    reduce_only: bool,
    time_in_force: Option<TimeInForce>,
}

impl OrderRequest {
    /// Builds the request for an approved intent on `instrument`.
    ///
    /// The quantity rounds down to the step. A limit price rounds to the tick on the side that
    /// is safe for the order: a buy down, a sell up. A stop's trigger price rounds the same
    /// way (a buy stop down, a sell stop up), so the stop fires no later than requested. A
    /// market order keeps the intent's price only as the reference for the minimum notional.
    ///
    /// # Errors
    /// Returns [`AdapterError::InvalidOrder`] when the symbols differ, the instrument is not
    /// trading, a limit or stop order has no price, or the rounded order is below the minimum
    /// quantity or notional or above the maximum quantity.
    pub fn from_approved(
        approved: &ApprovedOrder,
        instrument: &Instrument,
    ) -> Result<Self, AdapterError> {
        let intent = approved.intent();
        let invalid = |problem| AdapterError::InvalidOrder {
            symbol: intent.symbol.clone(),
            problem,
        };
        if intent.symbol != instrument.symbol {
            return Err(invalid(OrderProblem::SymbolMismatch {
                instrument: instrument.symbol.clone(),
            }));
        }
        if !instrument.trading {
            return Err(invalid(OrderProblem::NotTrading));
        }
        let quantity = round_quantity(intent.quantity, instrument.step_size);
        let rounded_price = intent
            .price
            .map(|price| round_price(price, instrument.tick_size, intent.side));
        let (price, trigger_price, time_in_force) = match intent.kind {
            OrderKind::Market => (None, None, None),
            OrderKind::Limit => {
                let price = rounded_price.ok_or_else(|| invalid(OrderProblem::PriceMissing))?;
                (Some(price), None, Some(TimeInForce::Gtc))
            }
            OrderKind::StopMarket => {
                let trigger = rounded_price.ok_or_else(|| invalid(OrderProblem::PriceMissing))?;
                (None, Some(trigger), None)
            }
        };
        let request = OrderRequest {
            intent_id: intent.intent_id,
            client_order_id: ClientOrderId::for_intent(intent.intent_id),
            symbol: intent.symbol.clone(),
            side: intent.side,
            kind: intent.kind,
            quantity,
            price,
            trigger_price,
            reference_price: rounded_price,
            reduce_only: intent.reduce_only,
            time_in_force,
        };
        check_order(&request, intent.quantity, instrument).map_err(invalid)?;
        Ok(request)
    }

    /// Returns the id of the intent this order carries out.
    pub fn intent_id(&self) -> Uuid {
        self.intent_id
    }

    /// Returns the client order id derived from the intent id.
    pub fn client_order_id(&self) -> &ClientOrderId {
        &self.client_order_id
    }

    /// Returns keyward's symbol, e.g. `BTCUSDT`.
    pub fn symbol(&self) -> &str {
        &self.symbol
    }

    pub fn side(&self) -> Side {
        self.side
    }

    pub fn kind(&self) -> OrderKind {
        self.kind
    }

    /// Returns the quantity in the base asset, rounded down to the step.
    pub fn quantity(&self) -> Decimal {
        self.quantity
    }

    /// Returns the limit price of a limit order, rounded to the tick.
    pub fn price(&self) -> Option<Decimal> {
        self.price
    }

    /// Returns the trigger price of a stop order, rounded to the tick.
    pub fn trigger_price(&self) -> Option<Decimal> {
        self.trigger_price
    }

    /// Returns the price the order's value is judged at: the limit or trigger price, or for a
    /// market order the reference price the risk gate checked, rounded to the tick.
    pub fn reference_price(&self) -> Option<Decimal> {
        self.reference_price
    }

    pub fn reduce_only(&self) -> bool {
        self.reduce_only
    }

    /// Returns the time in force of a limit order; `None` for market and stop orders.
    pub fn time_in_force(&self) -> Option<TimeInForce> {
        self.time_in_force
    }
}

/// The state of an order on the exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    /// Accepted and resting (or, for a stop, waiting for its trigger).
    New,
    PartiallyFilled,
    Filled,
    Canceled,
    Rejected,
    /// Ended by the exchange without a full fill (an IOC remainder, a reduce-only order with
    /// nothing left to reduce).
    Expired,
}

impl OrderState {
    /// Returns whether the order may still fill.
    pub fn is_open(self) -> bool {
        matches!(self, OrderState::New | OrderState::PartiallyFilled)
    }
}

/// The type of an order as the exchange reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderType {
    Market,
    Limit,
    StopMarket,
    /// A type keyward does not place, by the exchange's name (e.g. `TRAILING_STOP_MARKET`).
    Other(String),
}

impl From<OrderKind> for OrderType {
    fn from(kind: OrderKind) -> Self {
        match kind {
            OrderKind::Market => OrderType::Market,
            OrderKind::Limit => OrderType::Limit,
            OrderKind::StopMarket => OrderType::StopMarket,
        }
    }
}

/// An order as the exchange reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderStatus {
    /// keyward's symbol, e.g. `BTCUSDT`.
    pub symbol: String,
    pub client_order_id: ClientOrderId,
    pub exchange_order_id: String,
    pub side: Side,
    pub order_type: OrderType,
    pub state: OrderState,
    /// Ordered quantity in the base asset.
    pub quantity: Decimal,
    /// Filled quantity in the base asset.
    pub filled_quantity: Decimal,
    /// Limit price; `None` for market and stop-market orders.
    pub price: Option<Decimal>,
    /// Average fill price; `None` before the first fill.
    pub average_price: Option<Decimal>,
    /// Trigger price of a stop order.
    pub trigger_price: Option<Decimal>,
    pub reduce_only: bool,
    /// Milliseconds since the Unix epoch of the last change.
    pub updated_at_ms: i64,
}

/// The exchange's acknowledgement of a placed order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderAck {
    pub client_order_id: ClientOrderId,
    pub exchange_order_id: String,
    /// The order's state when acknowledged; [`OrderState::New`] where the exchange only
    /// confirms acceptance (Bybit, OKX).
    pub state: OrderState,
    pub filled_quantity: Decimal,
    pub average_price: Option<Decimal>,
    /// Milliseconds since the Unix epoch, as the exchange reports it (0 when it does not).
    pub acknowledged_at_ms: i64,
    /// True when the placement's response was lost (timeout, dropped connection, unknown
    /// execution status) and the order was found by looking up its client order id.
    pub recovered: bool,
    /// How many times the order was sent, 1 unless a retry was needed.
    pub submissions: u32,
}

impl OrderAck {
    /// Builds the acknowledgement of an order found by a lookup.
    pub fn from_status(status: &OrderStatus, recovered: bool, submissions: u32) -> Self {
        OrderAck {
            client_order_id: status.client_order_id.clone(),
            exchange_order_id: status.exchange_order_id.clone(),
            state: status.state,
            filled_quantity: status.filled_quantity,
            average_price: status.average_price,
            acknowledged_at_ms: status.updated_at_ms,
            recovered,
            submissions,
        }
    }
}

/// One execution of an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    /// keyward's symbol, e.g. `BTCUSDT`.
    pub symbol: String,
    pub client_order_id: ClientOrderId,
    pub exchange_order_id: String,
    pub trade_id: String,
    pub side: Side,
    pub price: Decimal,
    /// Quantity in the base asset.
    pub quantity: Decimal,
    /// Fee charged, positive; a rebate is negative.
    pub fee: Decimal,
    pub fee_asset: String,
    pub realized_pnl: Option<Decimal>,
    /// True when the order provided liquidity.
    pub maker: bool,
    /// Milliseconds since the Unix epoch.
    pub time_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_order_id_round_trips_the_intent_id() {
        let intent_id = Uuid::now_v7();
        let id = ClientOrderId::for_intent(intent_id);
        assert_eq!(id.as_str().len(), 27);
        assert!(id.as_str().starts_with("kw"));
        assert!(
            id.as_str()
                .bytes()
                .all(|byte| byte.is_ascii_digit() || byte.is_ascii_lowercase())
        );
        assert_eq!(id.intent_id(), Some(intent_id));
        assert_eq!(ClientOrderId::for_intent(intent_id), id);
    }

    #[test]
    fn extreme_intent_ids_keep_their_length() {
        for intent_id in [Uuid::nil(), Uuid::max()] {
            let id = ClientOrderId::for_intent(intent_id);
            assert_eq!(id.as_str().len(), 27, "{id}");
            assert_eq!(id.intent_id(), Some(intent_id));
        }
    }

    #[test]
    fn foreign_ids_have_no_intent() {
        for text in ["testOrder", "kw", "kwzzzzzzzzzzzzzzzzzzzzzzzzz", "kw0"] {
            assert_eq!(
                ClientOrderId::from_exchange(text).intent_id(),
                None,
                "{text}"
            );
        }
    }
}
