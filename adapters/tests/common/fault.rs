//! 1,000 orders from 25 bots sharing one client, with 20% of all requests failing: timeouts,
//! 5xx, rate limits, dropped responses and unknown execution status, plus orders that show in
//! queries only after a delay. The emulator's own duplicate check is off, so only the
//! adapter's lookups stand between a lost response and a doubled order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use keyward_adapters::ExchangeClient;
use keyward_emulator::RunningEmulator;
use keyward_events::Exchange;
use keyward_events::bot::{OrderKind, Side};
use serde_json::{Value, json};

const BOTS: usize = 25;
const ORDERS_PER_BOT: usize = 40;

#[derive(Debug, Default)]
struct BotOutcome {
    placed: usize,
    recovered: usize,
    resent: usize,
    failed: Vec<String>,
}

/// Places one bot's orders one after another, as a bot acting on signals would.
async fn run_bot(client: Arc<dyn ExchangeClient>, exchange: Exchange, bot: usize) -> BotOutcome {
    let credentials = credentials(exchange, &format!("bot-{bot}"));
    let mut outcome = BotOutcome::default();
    for index in 0..ORDERS_PER_BOT {
        let price = format!("{}", 50_000 + bot * 100 + index);
        let order = request(
            client.as_ref(),
            intent(OrderKind::Limit, Side::Buy, "0.001", &price),
        )
        .await;
        match client.place_order(&credentials, &order).await {
            Ok(ack) => {
                outcome.placed += 1;
                outcome.recovered += usize::from(ack.recovered);
                outcome.resent += usize::from(ack.submissions > 1);
            }
            Err(err) => outcome
                .failed
                .push(format!("{}: {err}", order.client_order_id())),
        }
    }
    outcome
}

async fn emulator(exchange: Exchange) -> RunningEmulator {
    let keys: Vec<Value> = (0..BOTS)
        .map(|bot| key(exchange, &format!("bot-{bot}"), json!({})))
        .collect();
    start_emulator(Value::Array(keys)).await
}

/// Places 1,000 orders on `exchange` under 20% faults and checks that none is doubled.
pub async fn thousand_order_scenario(exchange: Exchange) {
    let emulator = emulator(exchange).await;
    let mut options = fast_options();
    options.request_timeout = Duration::from_millis(300);
    options.orders.first_lookup_delay = Duration::from_millis(20);
    options.orders.max_delay = Duration::from_millis(200);
    let client = client(exchange, &emulator, options);
    client
        .instruments()
        .await
        .expect("instruments before the faults start");
    admin(
        &emulator,
        "POST",
        "/faults",
        json!({
            "seed": 20_261_204,
            "timeout_rate": 0.03, "server_error_rate": 0.04, "rate_limit_rate": 0.03,
            "dropped_response_rate": 0.05, "unknown_status_rate": 0.05,
            "delayed_visibility_rate": 0.1, "visibility_delay_ms": 150,
            "stall_ms": 600, "retry_after_s": null, "duplicate_check": false,
        }),
    )
    .await;

    let started = Instant::now();
    let bots: Vec<_> = (0..BOTS)
        .map(|bot| tokio::spawn(run_bot(Arc::clone(&client), exchange, bot)))
        .collect();
    let mut outcomes = Vec::new();
    for bot in bots {
        outcomes.push(bot.await.expect("bot task"));
    }
    let elapsed = started.elapsed();
    let stats = admin(&emulator, "GET", "/stats", json!({})).await;
    admin(&emulator, "DELETE", "/faults", json!({})).await;

    let mut per_client_order_id: BTreeMap<String, usize> = BTreeMap::new();
    for bot in 0..BOTS {
        for order in orders_on_exchange(&emulator, exchange, &format!("bot-{bot}")).await {
            let id = order["client_order_id"].as_str().expect("id").to_owned();
            *per_client_order_id.entry(id).or_insert(0) += 1;
        }
    }
    let doubled: Vec<_> = per_client_order_id
        .iter()
        .filter(|(_, n)| **n > 1)
        .collect();
    let placed: usize = outcomes.iter().map(|o| o.placed).sum();
    let recovered: usize = outcomes.iter().map(|o| o.recovered).sum();
    let resent: usize = outcomes.iter().map(|o| o.resent).sum();
    let failed: Vec<&String> = outcomes.iter().flat_map(|o| &o.failed).collect();
    eprintln!(
        "{exchange} fault scenario: {placed} placed, {recovered} recovered by lookup, {resent} sent again, \
         {} failed, {} orders on the exchange, {} doubled, in {:.1} s; injected {}",
        failed.len(),
        per_client_order_id.len(),
        doubled.len(),
        elapsed.as_secs_f64(),
        stats["injected_faults"]
    );

    assert!(doubled.is_empty(), "orders placed twice: {doubled:?}");
    assert!(failed.is_empty(), "orders that failed: {failed:?}");
    assert_eq!(placed, BOTS * ORDERS_PER_BOT);
    assert_eq!(per_client_order_id.len(), BOTS * ORDERS_PER_BOT);
    let injected: u64 = stats["injected_faults"]
        .as_object()
        .expect("counts")
        .iter()
        .filter(|(kind, _)| kind.as_str() != "delayed_visibility")
        .map(|(_, count)| count.as_u64().expect("count"))
        .sum();
    let requests_at_least = BOTS * ORDERS_PER_BOT;
    assert!(
        injected as f64 >= 0.15 * requests_at_least as f64,
        "only {injected} faults injected"
    );
    assert!(recovered > 0, "no order was recovered by lookup");
    assert!(resent > 0, "no order was sent again");
    assert_eq!(stats["engine"]["duplicate_client_order_ids"], 0);
}
