//! 1,000 orders in Binance's dialect with 20% of all requests failing: none may be placed
//! twice. The scenario is in `common::fault`.

mod common;

use keyward_events::Exchange;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_thousand_orders_none_twice() {
    common::fault::thousand_order_scenario(Exchange::Binance).await;
}
