//! Reconciliation after the account stream reconnects, on every exchange the emulator speaks:
//! the stream is cut, something happens on the exchange during the outage, and the trader
//! records it once the stream is back.

use std::time::Duration;

use keyward_adapters::domain::{AccountEvent, AccountStream, OrderType, StreamStatus};
use keyward_emulator::RunningEmulator;
use keyward_eventlog::SegmentLog;
use keyward_events::Exchange;

use super::tests::{
    client_of, context, credentials_of, entry, events, move_price, price, trader_on,
};
use super::*;
use crate::bot::audit::check_order_path;

const WAIT: Duration = Duration::from_secs(10);

/// Hands every event of `stream` to the trader until `last` accepts one, which it hands over
/// too.
async fn pump_until(
    trader: &mut LiveTrader,
    stream: &mut AccountStream,
    last: impl Fn(&AccountEvent) -> bool,
) {
    tokio::time::timeout(WAIT, async {
        loop {
            let event = stream.next().await.expect("the account stream is open");
            let done = last(&event);
            trader.on_account_event(event).await.unwrap();
            if done {
                return;
            }
        }
    })
    .await
    .expect("the awaited account stream event within 10 s");
}

fn is_snapshot(event: &AccountEvent) -> bool {
    matches!(event, AccountEvent::Reconciled(_))
}

fn is_disconnected(event: &AccountEvent) -> bool {
    matches!(
        event,
        AccountEvent::Status(StreamStatus::Disconnected { .. })
    )
}

/// A trader on `exchange` following its account stream, with a long entry of 0.01 protected
/// by a resting stop.
struct Scenario {
    emulator: RunningEmulator,
    log: Arc<dyn EventLog>,
    bot_id: Uuid,
    trader: LiveTrader,
    stream: AccountStream,
    exchange: Exchange,
    _dir: tempfile::TempDir,
}

impl Scenario {
    async fn start(exchange: Exchange) -> Self {
        let emulator = super::tests::emulator().await;
        let dir = tempfile::tempdir().unwrap();
        let log: Arc<dyn EventLog> = Arc::new(SegmentLog::open(dir.path()).unwrap());
        let (bot_id, mut trader) = trader_on(exchange, &emulator, &log).await;
        let client = client_of(exchange, &emulator);
        let mut stream = client
            .account_stream(&credentials_of(exchange))
            .await
            .unwrap();
        pump_until(&mut trader, &mut stream, is_snapshot).await;
        Self {
            emulator,
            log,
            bot_id,
            trader,
            stream,
            exchange,
            _dir: dir,
        }
    }

    /// Drops the account stream and keeps it down until [`Scenario::end_outage`].
    async fn start_outage(&mut self) {
        let state = self.emulator.state();
        state.reject_websockets(true);
        state.disconnect_websockets();
        pump_until(&mut self.trader, &mut self.stream, is_disconnected).await;
    }

    /// Lets the stream reconnect and hands the trader everything up to the snapshot read
    /// after the reconnect.
    async fn end_outage(&mut self) {
        self.emulator.state().reject_websockets(false);
        pump_until(&mut self.trader, &mut self.stream, is_snapshot).await;
    }

    async fn open_orders(&self) -> Vec<keyward_adapters::domain::OrderStatus> {
        client_of(self.exchange, &self.emulator)
            .open_orders(&credentials_of(self.exchange), Some("BTCUSDT"))
            .await
            .unwrap()
    }

    /// Enters long 0.01 at market with a stop 2% below; returns the stop's intent.
    async fn enter_long(&mut self) -> OrderSubmitted {
        let price = price(&self.emulator);
        let placement = self
            .trader
            .enter(entry(price), &context(price))
            .await
            .unwrap();
        assert!(matches!(placement, Placement::Accepted(_)), "{placement:?}");
        let stops = self.stops().await;
        assert_eq!(stops.len(), 1);
        stops[0].clone()
    }

    /// Returns every stop order the bot submitted, oldest first.
    async fn stops(&self) -> Vec<OrderSubmitted> {
        let (_, events) = events(&self.log, self.bot_id).await;
        events
            .into_iter()
            .filter_map(|event| match event {
                BotEvent::OrderSubmitted(order) if order.kind == OrderKind::StopMarket => {
                    Some(order)
                }
                _ => None,
            })
            .collect()
    }
}

fn last_reconciliation(events: &[BotEvent]) -> &PositionReconciled {
    events
        .iter()
        .rev()
        .find_map(|event| match event {
            BotEvent::PositionReconciled(reconciled) => Some(reconciled),
            _ => None,
        })
        .expect("a PositionReconciled")
}

async fn stop_fill_during_outage_is_recorded(exchange: Exchange) {
    let mut scenario = Scenario::start(exchange).await;
    let stop = scenario.enter_long().await;

    scenario.start_outage().await;
    move_price(&scenario.emulator, Decimal::new(95, 2));
    scenario.end_outage().await;

    assert_eq!(scenario.trader.position(), Decimal::ZERO);
    let (records, events) = events(&scenario.log, scenario.bot_id).await;
    assert_eq!(check_order_path(&records), Ok(()));
    let fill = events.iter().find_map(|event| match event {
        BotEvent::OrderFilled(filled) if filled.intent_id == stop.intent_id => Some(filled),
        _ => None,
    });
    let fill = fill.expect("the stop's fill is recorded");
    assert_eq!(fill.quantity, Decimal::new(1, 2));
    assert_eq!(fill.side, Side::Sell);
    assert!(fill.complete);
    let flat = events.iter().any(
        |event| matches!(event, BotEvent::PositionChanged(changed) if changed.quantity.is_zero()),
    );
    assert!(flat, "the position change to flat is recorded");
    let reconciled = last_reconciliation(&events);
    assert_eq!(reconciled.recorded_quantity, Decimal::new(1, 2));
    assert_eq!(reconciled.exchange_quantity, Decimal::ZERO);
    assert_eq!(reconciled.changed_orders.len(), 1);
    assert_eq!(
        reconciled.changed_orders[0].client_order_id,
        stop.client_order_id
    );
    assert_eq!(reconciled.changed_orders[0].state, "filled");
    assert_eq!(
        scenario.stops().await.len(),
        1,
        "no stop for a flat position"
    );
}

async fn stop_cancelled_during_outage_is_placed_again(exchange: Exchange) {
    let mut scenario = Scenario::start(exchange).await;
    let stop = scenario.enter_long().await;

    scenario.start_outage().await;
    let client_order_id = ClientOrderId::for_intent(stop.intent_id);
    client_of(exchange, &scenario.emulator)
        .cancel_order(&credentials_of(exchange), "BTCUSDT", &client_order_id)
        .await
        .unwrap();
    scenario.end_outage().await;

    let (records, events) = events(&scenario.log, scenario.bot_id).await;
    assert_eq!(check_order_path(&records), Ok(()));
    let cancelled = events.iter().find_map(|event| match event {
        BotEvent::OrderCancelled(cancelled) if cancelled.intent_id == stop.intent_id => {
            Some(cancelled)
        }
        _ => None,
    });
    let cancelled = cancelled.expect("the cancellation is recorded");
    assert_eq!(cancelled.reason, "canceled on the exchange");
    let reconciled = last_reconciliation(&events);
    assert_eq!(reconciled.changed_orders.len(), 1);
    assert_eq!(reconciled.changed_orders[0].state, "canceled");
    assert_eq!(reconciled.exchange_quantity, Decimal::new(1, 2));

    let stops = scenario.stops().await;
    assert_eq!(stops.len(), 2, "a new stop replaces the cancelled one");
    assert_eq!(stops[1].price, stop.price);
    assert_eq!(stops[1].quantity, Decimal::new(1, 2));
    assert!(stops[1].reduce_only);
    let open = scenario.open_orders().await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(
        open[0].client_order_id,
        ClientOrderId::for_intent(stops[1].intent_id)
    );
    assert_eq!(open[0].order_type, OrderType::StopMarket);
    assert!(open[0].reduce_only);
}

async fn entry_fill_during_outage_gets_its_stop(exchange: Exchange) {
    let mut scenario = Scenario::start(exchange).await;
    let price = price(&scenario.emulator);
    let limit = (price * Decimal::new(99, 2)).round_dp(1);
    let stop_loss = (price * Decimal::new(97, 2)).round_dp(1);
    let intent = OrderIntent {
        kind: OrderKind::Limit,
        price: Some(limit),
        stop_loss: Some(stop_loss),
        ..entry(price)
    };
    let placement = scenario
        .trader
        .enter(intent.clone(), &context(price))
        .await
        .unwrap();
    assert!(matches!(placement, Placement::Accepted(_)), "{placement:?}");
    assert_eq!(scenario.trader.position(), Decimal::ZERO);

    scenario.start_outage().await;
    move_price(&scenario.emulator, Decimal::new(985, 3));
    scenario.end_outage().await;

    assert_eq!(scenario.trader.position(), Decimal::new(1, 2));
    let (records, events) = events(&scenario.log, scenario.bot_id).await;
    assert_eq!(check_order_path(&records), Ok(()));
    let fill = events.iter().find_map(|event| match event {
        BotEvent::OrderFilled(filled) if filled.intent_id == intent.intent_id => Some(filled),
        _ => None,
    });
    let fill = fill.expect("the entry's fill is recorded");
    assert_eq!(fill.quantity, Decimal::new(1, 2));
    assert!(
        fill.price <= limit,
        "{} above the limit {limit}",
        fill.price
    );
    let stops = scenario.stops().await;
    assert_eq!(stops.len(), 1, "the filled entry gets its stop");
    assert_eq!(stops[0].price, Some(stop_loss));
    let open = scenario.open_orders().await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].order_type, OrderType::StopMarket);
}

#[tokio::test]
async fn binance_stop_fill_during_outage_is_recorded() {
    stop_fill_during_outage_is_recorded(Exchange::Binance).await;
}

#[tokio::test]
async fn bybit_stop_fill_during_outage_is_recorded() {
    stop_fill_during_outage_is_recorded(Exchange::Bybit).await;
}

#[tokio::test]
async fn okx_stop_fill_during_outage_is_recorded() {
    stop_fill_during_outage_is_recorded(Exchange::Okx).await;
}

#[tokio::test]
async fn binance_cancelled_stop_is_placed_again() {
    stop_cancelled_during_outage_is_placed_again(Exchange::Binance).await;
}

#[tokio::test]
async fn bybit_cancelled_stop_is_placed_again() {
    stop_cancelled_during_outage_is_placed_again(Exchange::Bybit).await;
}

#[tokio::test]
async fn okx_cancelled_stop_is_placed_again() {
    stop_cancelled_during_outage_is_placed_again(Exchange::Okx).await;
}

#[tokio::test]
async fn binance_entry_fill_during_outage_gets_its_stop() {
    entry_fill_during_outage_gets_its_stop(Exchange::Binance).await;
}

#[tokio::test]
async fn bybit_entry_fill_during_outage_gets_its_stop() {
    entry_fill_during_outage_gets_its_stop(Exchange::Bybit).await;
}

#[tokio::test]
async fn okx_entry_fill_during_outage_gets_its_stop() {
    entry_fill_during_outage_gets_its_stop(Exchange::Okx).await;
}
