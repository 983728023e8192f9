//! Tests of the simulated exchange's fill rules.
#![allow(
    clippy::float_cmp,
    reason = "the prices and amounts compared are exact in binary floating point"
)]

use std::str::FromStr;

use chrono::DateTime;
use keyward_events::bot::{BotMode, OrderIntent};
use keyward_risk::{RiskConfig, RiskContext, RiskGate};

use super::*;

const T0: i64 = 1_758_240_000_000;

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

fn bar(index: i64, open: f64, high: f64, low: f64, close: f64) -> Candle {
    Candle {
        open_time_ms: T0 + index * 300_000,
        open,
        high,
        low,
        close,
        volume: 1.0,
    }
}

/// Approves `intent` through a gate wide enough for any order in these tests, as if the
/// position were `position`.
fn approve(intent: OrderIntent, position: Decimal) -> ApprovedOrder {
    let config = RiskConfig {
        stop_loss_pct: dec("50"),
        max_stop_distance_pct: dec("99"),
        risk_per_trade_pct: dec("100"),
        max_position_pct: dec("100"),
        max_leverage: dec("125"),
        daily_loss_limit_pct: dec("100"),
        max_drawdown_pct: dec("100"),
        price_band_pct: dec("100"),
        ..RiskConfig::default()
    };
    let gate = RiskGate::new(config).unwrap();
    let now = DateTime::from_timestamp_millis(T0).unwrap();
    let context = RiskContext {
        last_price: intent.price,
        position,
        ..RiskContext::new(BotMode::Backtest, now, dec("1000000"))
    };
    gate.evaluate(intent, &context)
        .into_approved()
        .expect("approved")
}

fn order(id: u128, side: Side, kind: OrderKind, quantity: &str, price: &str) -> ApprovedOrder {
    let stop_loss = match side {
        Side::Buy => dec(price) * dec("0.9"),
        Side::Sell => dec(price) * dec("1.1"),
    };
    let intent = OrderIntent {
        intent_id: Uuid::from_u128(id),
        symbol: "BTCUSDT".to_owned(),
        side,
        kind,
        quantity: dec(quantity),
        price: Some(dec(price)),
        stop_loss: Some(stop_loss),
        reduce_only: false,
    };
    approve(intent, Decimal::ZERO)
}

fn reduce_only(
    id: u128,
    side: Side,
    kind: OrderKind,
    quantity: &str,
    price: &str,
) -> ApprovedOrder {
    let intent = OrderIntent {
        intent_id: Uuid::from_u128(id),
        symbol: "BTCUSDT".to_owned(),
        side,
        kind,
        quantity: dec(quantity),
        price: Some(dec(price)),
        stop_loss: None,
        reduce_only: true,
    };
    // The gate approves a reduce-only order only against a position it reduces.
    let position = match side {
        Side::Buy => -dec(quantity),
        Side::Sell => dec(quantity),
    };
    approve(intent, position)
}

fn exchange() -> SimulatedExchange {
    let fees = FeeSchedule {
        taker: 0.001,
        maker: 0.0002,
    };
    SimulatedExchange::new(10_000.0, fees, 0.0)
}

/// Opens a long of 10 at 100 through a market order filled at bar 0's open.
fn long_of_ten(exchange: &mut SimulatedExchange) {
    let mut fills = Vec::new();
    exchange.submit(&order(1, Side::Buy, OrderKind::Market, "10", "100"));
    exchange.open_bar(&bar(0, 100.0, 100.0, 100.0, 100.0), &mut fills);
    assert_eq!(fills.len(), 1);
    assert_eq!(fills[0].opened, 10.0);
}

#[test]
fn market_order_fills_at_next_open_with_taker_fee() {
    let mut exchange = exchange();
    long_of_ten(&mut exchange);
    assert_eq!(exchange.position(), 10.0);
    assert!((exchange.wallet() - (10_000.0 - 1.0)).abs() < 1e-9);
    assert!((exchange.equity(110.0) - (10_000.0 - 1.0 + 100.0)).abs() < 1e-9);
}

#[test]
fn limit_entry_fills_inside_bar_with_maker_fee() {
    let mut exchange = exchange();
    let mut fills = Vec::new();
    exchange.submit(&order(1, Side::Buy, OrderKind::Limit, "1", "95"));
    exchange.trade_bar(&bar(0, 100.0, 101.0, 96.0, 97.0), &mut fills);
    assert!(fills.is_empty(), "the low stayed above the limit");
    exchange.trade_bar(&bar(1, 97.0, 98.0, 94.0, 96.0), &mut fills);
    assert_eq!(fills.len(), 1);
    assert_eq!(fills[0].price, 95.0);
    assert!((fills[0].fee - 95.0 * 0.0002).abs() < 1e-12);

    let mut gapped = Vec::new();
    exchange.submit(&order(2, Side::Buy, OrderKind::Limit, "1", "95"));
    exchange.trade_bar(&bar(2, 93.0, 96.0, 92.0, 95.5), &mut gapped);
    assert_eq!(
        gapped[0].price, 93.0,
        "a bar opening below the limit fills at the open"
    );
}

#[test]
fn stop_entry_fills_at_stop_or_gap_open() {
    let mut exchange = exchange();
    let mut fills = Vec::new();
    exchange.submit(&order(1, Side::Buy, OrderKind::StopMarket, "1", "105"));
    exchange.trade_bar(&bar(0, 100.0, 106.0, 99.0, 104.0), &mut fills);
    assert_eq!(fills[0].price, 105.0);

    let mut gapped = Vec::new();
    exchange.submit(&order(2, Side::Buy, OrderKind::StopMarket, "1", "105"));
    exchange.trade_bar(&bar(1, 107.0, 108.0, 106.5, 107.5), &mut gapped);
    assert_eq!(gapped[0].price, 107.0);
}

#[test]
fn bar_crossing_stop_and_target_fills_stop_and_cancels_target() {
    let mut exchange = exchange();
    long_of_ten(&mut exchange);
    exchange.submit(&reduce_only(2, Side::Sell, OrderKind::Limit, "10", "110"));
    exchange.submit(&reduce_only(
        3,
        Side::Sell,
        OrderKind::StopMarket,
        "10",
        "95",
    ));

    let mut fills = Vec::new();
    exchange.trade_bar(&bar(1, 100.0, 111.0, 94.0, 105.0), &mut fills);
    assert_eq!(fills.len(), 1);
    assert_eq!(fills[0].intent_id, Uuid::from_u128(3));
    assert_eq!(fills[0].price, 95.0);
    assert_eq!(exchange.position(), 0.0);

    let mut later = Vec::new();
    exchange.trade_bar(&bar(2, 105.0, 120.0, 104.0, 115.0), &mut later);
    assert!(
        later.is_empty(),
        "the target was cancelled with the position"
    );
    assert_eq!(exchange.trades()[0].exit_reason, ExitReason::StopLoss);
}

#[test]
fn reduce_only_never_opens() {
    let mut exchange = exchange();
    let mut fills = Vec::new();
    exchange.submit(&reduce_only(1, Side::Sell, OrderKind::Market, "1", "100"));
    exchange.open_bar(&bar(0, 100.0, 100.0, 100.0, 100.0), &mut fills);
    assert!(fills.is_empty());
    assert_eq!(exchange.position(), 0.0);

    long_of_ten(&mut exchange);
    exchange.submit(&reduce_only(2, Side::Sell, OrderKind::Market, "15", "100"));
    exchange.open_bar(&bar(1, 101.0, 101.0, 101.0, 101.0), &mut fills);
    assert_eq!(
        fills[0].quantity, 10.0,
        "only the position's quantity fills"
    );
    assert_eq!(exchange.position(), 0.0);
}

#[test]
fn reversal_closes_then_opens_and_records_trade() {
    let mut exchange = exchange();
    long_of_ten(&mut exchange);
    let mut fills = Vec::new();
    exchange.submit(&order(2, Side::Sell, OrderKind::Market, "15", "100"));
    exchange.open_bar(&bar(1, 110.0, 110.0, 110.0, 110.0), &mut fills);
    assert_eq!(exchange.position(), -5.0);
    assert_eq!(fills[0].opened, 5.0);

    let trade = &exchange.trades()[0];
    assert_eq!(trade.side, TradeSide::Long);
    assert_eq!(trade.quantity, 10.0);
    let fees = 10.0 * 100.0 * 0.001 + 10.0 * 110.0 * 0.001;
    assert!((trade.fees - fees).abs() < 1e-9);
    assert!((trade.pnl - (100.0 - fees)).abs() < 1e-9);
}

#[test]
fn funding_charges_longs_and_pays_shorts() {
    let mut exchange = exchange();
    long_of_ten(&mut exchange);
    let paid = exchange.charge_funding(0.0001, 200.0);
    assert!((paid - 0.2).abs() < 1e-12);

    let mut fills = Vec::new();
    exchange.submit(&order(2, Side::Sell, OrderKind::Market, "20", "200"));
    exchange.open_bar(&bar(1, 200.0, 200.0, 200.0, 200.0), &mut fills);
    let received = exchange.charge_funding(0.0001, 200.0);
    assert!((received + 0.2).abs() < 1e-12);
    assert!(exchange.funding_paid().abs() < 1e-12);
    assert!((exchange.trades()[0].funding - 0.2).abs() < 1e-12);
}

#[test]
fn slippage_applies_to_market_and_stop_fills_only() {
    let fees = FeeSchedule {
        taker: 0.0,
        maker: 0.0,
    };
    let mut exchange = SimulatedExchange::new(10_000.0, fees, 10.0);
    let mut fills = Vec::new();
    exchange.submit(&order(1, Side::Buy, OrderKind::Market, "1", "100"));
    exchange.open_bar(&bar(0, 100.0, 100.0, 100.0, 100.0), &mut fills);
    assert!((fills[0].price - 100.1).abs() < 1e-9);

    exchange.submit(&reduce_only(
        2,
        Side::Sell,
        OrderKind::StopMarket,
        "1",
        "90",
    ));
    exchange.trade_bar(&bar(1, 95.0, 96.0, 89.0, 90.0), &mut fills);
    assert!((fills[1].price - 89.91).abs() < 1e-9);

    exchange.submit(&order(3, Side::Buy, OrderKind::Limit, "1", "80"));
    exchange.trade_bar(&bar(2, 85.0, 86.0, 79.0, 80.0), &mut fills);
    assert_eq!(fills[2].price, 80.0);
}
