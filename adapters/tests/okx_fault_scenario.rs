//! 1,000 orders in OKX's dialect with 20% of all requests failing: none may be placed
//! twice. The scenario is in `common::fault`.

mod common;

use keyward_events::Exchange;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okx_thousand_orders_none_twice() {
    common::fault::thousand_order_scenario(Exchange::Okx).await;
}
