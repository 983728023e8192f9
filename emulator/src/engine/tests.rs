use std::sync::Arc;

use keyward_events::Exchange;

use super::*;
use crate::faults::with_visibility_delay;

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn engine() -> Engine {
    Engine::new(default_instruments(), Arc::new(FaultPlan::default()))
}

fn account() -> AccountId {
    AccountId::new(Exchange::Binance, "key-a")
}

fn order(side: Side, order_type: OrderType, quantity: &str, price: Option<&str>) -> NewOrder {
    NewOrder {
        symbol: "BTCUSDT".to_owned(),
        side,
        order_type,
        quantity: dec(quantity),
        price: price.filter(|_| order_type == OrderType::Limit).map(dec),
        stop_price: price
            .filter(|_| order_type == OrderType::StopMarket)
            .map(dec),
        time_in_force: TimeInForce::Gtc,
        reduce_only: false,
        client_order_id: None,
        position_side: PositionSide::Both,
    }
}

#[test]
fn market_order_fills_at_last_price() {
    let engine = engine();
    let record = engine
        .place(
            &account(),
            order(Side::Buy, OrderType::Market, "0.01", None),
            1,
        )
        .unwrap();
    assert_eq!(record.status, OrderStatus::Filled);
    assert_eq!(record.average_price, dec("60000"));
    let positions = engine.positions(&account());
    assert_eq!(positions.len(), 1);
    assert_eq!(positions[0].quantity, dec("0.01"));
    let balance = engine.balance(&account());
    assert_eq!(balance.wallet_balance, dec("10000") - dec("0.3"));
    assert_eq!(engine.stats().fills, 1);
}

#[test]
fn limit_order_rests_until_the_price_reaches_it() {
    let engine = engine();
    let resting = engine
        .place(
            &account(),
            order(Side::Buy, OrderType::Limit, "0.01", Some("59000")),
            1,
        )
        .unwrap();
    assert_eq!(resting.status, OrderStatus::New);
    assert_eq!(engine.open_orders(&account(), None, 2).len(), 1);
    engine
        .set_price("BTCUSDT", dec("59500"), dec("1"), 3)
        .unwrap();
    assert!(engine.open_orders(&account(), None, 4).len() == 1);
    engine
        .set_price("BTCUSDT", dec("58900"), dec("1"), 5)
        .unwrap();
    let key = OrderKey::OrderId(resting.order_id);
    let filled = engine.order(&account(), "BTCUSDT", &key, 6).unwrap();
    assert_eq!(filled.status, OrderStatus::Filled);
    assert_eq!(filled.average_price, dec("59000"));
}

#[test]
fn stop_order_fires_when_crossed() {
    let engine = engine();
    engine
        .place(
            &account(),
            order(Side::Buy, OrderType::Market, "0.01", None),
            1,
        )
        .unwrap();
    let mut stop = order(Side::Sell, OrderType::StopMarket, "0.01", Some("58000"));
    stop.reduce_only = true;
    let stop = engine.place(&account(), stop, 2).unwrap();
    assert_eq!(stop.status, OrderStatus::New);
    engine
        .set_price("BTCUSDT", dec("57900"), dec("1"), 3)
        .unwrap();
    assert!(engine.positions(&account()).is_empty());
    let key = OrderKey::OrderId(stop.order_id);
    let fired = engine.order(&account(), "BTCUSDT", &key, 4).unwrap();
    assert_eq!(fired.status, OrderStatus::Filled);
    assert_eq!(fired.average_price, dec("57900"));
}

#[test]
fn filters_reject_like_an_exchange() {
    let engine = engine();
    let cases = [
        (
            order(Side::Buy, OrderType::Limit, "0.0005", Some("60000")),
            "below",
        ),
        (
            order(Side::Buy, OrderType::Limit, "0.0015", Some("60000")),
            "step",
        ),
        (
            order(Side::Buy, OrderType::Limit, "0.01", Some("60000.05")),
            "tick",
        ),
        (
            order(Side::Buy, OrderType::Limit, "0.001", Some("1000")),
            "order value",
        ),
        (order(Side::Buy, OrderType::Market, "121", None), "maximum"),
    ];
    for (order, expected) in cases {
        let err = engine.place(&account(), order, 1).unwrap_err();
        assert!(
            err.to_string().contains(expected),
            "{err} should mention {expected}"
        );
    }
    assert_eq!(engine.stats().orders_rejected, 5);
}

#[test]
fn reused_client_order_id_is_rejected() {
    let engine = engine();
    let mut first = order(Side::Buy, OrderType::Limit, "0.01", Some("50000"));
    first.client_order_id = Some("kw-1".to_owned());
    engine.place(&account(), first.clone(), 1).unwrap();
    let err = engine.place(&account(), first, 2).unwrap_err();
    assert_eq!(err, EngineError::DuplicateClientOrderId("kw-1".to_owned()));
    assert_eq!(engine.stats().duplicate_client_order_ids, 1);
}

#[test]
fn insufficient_margin_and_brackets() {
    let engine = engine();
    let big = order(Side::Buy, OrderType::Market, "10", None);
    let err = engine.place(&account(), big, 1).unwrap_err();
    assert!(
        matches!(err, EngineError::InsufficientMargin { .. }),
        "{err}"
    );
    engine.set_leverage(&account(), "BTCUSDT", 125).unwrap();
    engine.set_wallet_balance(&account(), dec("1000000"));
    let over_tier = order(Side::Buy, OrderType::Market, "1", None);
    let err = engine.place(&account(), over_tier, 2).unwrap_err();
    assert!(
        matches!(err, EngineError::ExceedsLeverageBracket { .. }),
        "{err}"
    );
}

#[test]
fn leverage_changes_and_limits() {
    let engine = engine();
    let change = engine.set_leverage(&account(), "BTCUSDT", 20).unwrap();
    assert!(!change.changed);
    let change = engine.set_leverage(&account(), "BTCUSDT", 50).unwrap();
    assert!(change.changed);
    assert_eq!(change.max_notional, dec("12000000"));
    let err = engine.set_leverage(&account(), "BTCUSDT", 126).unwrap_err();
    assert_eq!(
        err,
        EngineError::InvalidLeverage {
            leverage: 126,
            max: 125
        }
    );
}

#[test]
fn position_mode_changes_only_when_flat() {
    let engine = engine();
    let err = engine
        .set_position_mode(&account(), PositionMode::OneWay)
        .unwrap_err();
    assert_eq!(
        err,
        EngineError::PositionModeUnchanged(PositionMode::OneWay)
    );
    engine
        .place(
            &account(),
            order(Side::Buy, OrderType::Market, "0.01", None),
            1,
        )
        .unwrap();
    let err = engine
        .set_position_mode(&account(), PositionMode::Hedge)
        .unwrap_err();
    assert_eq!(err, EngineError::PositionModeBlockedByPosition);
    let other = AccountId::new(Exchange::Binance, "key-b");
    engine
        .set_position_mode(&other, PositionMode::Hedge)
        .unwrap();
    let err = engine
        .place(&other, order(Side::Buy, OrderType::Market, "0.01", None), 2)
        .unwrap_err();
    assert_eq!(err, EngineError::PositionSideMismatch);
}

#[test]
fn reduce_only_needs_an_opposite_position() {
    let engine = engine();
    let mut close = order(Side::Sell, OrderType::Market, "0.01", None);
    close.reduce_only = true;
    let err = engine.place(&account(), close.clone(), 1).unwrap_err();
    assert_eq!(err, EngineError::ReduceOnlyRejected);
    engine
        .place(
            &account(),
            order(Side::Buy, OrderType::Market, "0.01", None),
            2,
        )
        .unwrap();
    close.quantity = dec("0.05");
    let closed = engine.place(&account(), close, 3).unwrap();
    assert_eq!(closed.filled_quantity, dec("0.01"));
    assert!(engine.positions(&account()).is_empty());
}

#[tokio::test]
async fn delayed_order_is_hidden_from_queries() {
    let engine = engine();
    let mut delayed = order(Side::Buy, OrderType::Limit, "0.01", Some("50000"));
    delayed.client_order_id = Some("kw-late".to_owned());
    let record = with_visibility_delay(500, async { engine.place(&account(), delayed, 1_000) })
        .await
        .unwrap();
    assert_eq!(record.visible_from_ms, 1_500);
    let key = OrderKey::ClientOrderId("kw-late".to_owned());
    assert_eq!(
        engine.order(&account(), "BTCUSDT", &key, 1_499),
        Err(EngineError::OrderNotFound)
    );
    assert!(engine.open_orders(&account(), None, 1_499).is_empty());
    assert!(engine.order(&account(), "BTCUSDT", &key, 1_500).is_ok());
    assert_eq!(engine.all_orders(&account()).len(), 1);
}

#[test]
fn fills_reach_account_subscribers() {
    let engine = engine();
    let mut updates = engine.subscribe_account();
    let mut ticks = engine.subscribe_market();
    engine
        .place(
            &account(),
            order(Side::Buy, OrderType::Market, "0.01", None),
            1,
        )
        .unwrap();
    let mut kinds = Vec::new();
    while let Ok(update) = updates.try_recv() {
        assert_eq!(update.account, account());
        kinds.push(match update.change {
            AccountChange::Order(_) => "order",
            AccountChange::Fill(_) => "fill",
            AccountChange::Position(_) => "position",
            AccountChange::Balance(_) => "balance",
        });
    }
    assert_eq!(kinds, ["order", "fill", "order", "position", "balance"]);
    assert!(matches!(ticks.try_recv(), Ok(MarketTick::Trade { .. })));
}
