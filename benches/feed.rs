//! The bot feed load tool: websocket clients on one bot's feed while a publisher appends the
//! bot's risk verdicts to the log, against a bare tokio-tungstenite broadcast server measured
//! in the same run with the same clients and messages of the same size.
//!
//! Two phases per server. Paced: `--rate` messages per second for `--seconds`, one event per
//! message, measuring delivery latency (commit time to client receipt) and checking that every
//! client saw every position once and in order. Burst: `--burst` messages as fast as the
//! publisher can, measuring delivered messages per second across all clients.
//!
//! Run with `cargo bench --bench feed -- [--clients 200] [--rate 1000] [--seconds 10]
//! [--burst 5000]`; the figures are in docs/benchmarks.md.

#[path = "feed/bare.rs"]
mod bare;
#[path = "feed/keyward_server.rs"]
mod keyward_server;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use keyward_eventlog::{EventLog, ExpectedVersion};
use keyward_events::bot::{
    BotEvent, BotMode, OrderIntent, OrderKind, OrderRiskChecked, RuleCheck, Side, Verdict,
};
use keyward_events::{Category, DomainEvent, Metadata, NewEvent, StreamName};
use keyward_projections::FeedMessage;
use serde::Deserialize;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use uuid::Uuid;

/// Load settings from the command line.
#[derive(Clone, Copy, Debug)]
struct Options {
    clients: usize,
    rate: u64,
    seconds: u64,
    burst: usize,
}

impl Options {
    fn from_args() -> Options {
        let mut options = Options {
            clients: 200,
            rate: 1000,
            seconds: 10,
            burst: 5000,
        };
        let args: Vec<String> = std::env::args().collect();
        for pair in args.windows(2) {
            let value = pair[1].parse::<u64>().ok();
            match (pair[0].as_str(), value) {
                ("--clients", Some(v)) => options.clients = v as usize,
                ("--rate", Some(v)) => options.rate = v.max(1),
                ("--seconds", Some(v)) => options.seconds = v.max(1),
                ("--burst", Some(v)) => options.burst = v as usize,
                _ => {}
            }
        }
        options
    }

    fn paced_messages(&self) -> usize {
        (self.rate * self.seconds) as usize
    }
}

/// The fields of a feed message a client reads; heartbeats have no `recorded_at`.
#[derive(Deserialize)]
struct Received {
    position: u64,
    recorded_at: Option<DateTime<Utc>>,
}

/// Reads the fields before `payload`, which both servers write first, so that the clients
/// spend their CPU on receiving rather than on parsing payloads they do not look at.
fn read_header(text: &str) -> Option<Received> {
    let header = match text.find(",\"payload\":") {
        Some(end) => format!("{}}}", &text[..end]),
        None => text.to_owned(),
    };
    serde_json::from_str(&header).ok()
}

/// What one client saw.
#[derive(Default)]
struct ClientRecord {
    positions: Vec<u64>,
    latencies_us: Vec<i64>,
    last_receipt: Option<Instant>,
    close_code: Option<u16>,
}

/// The figures of one phase against one server.
#[derive(Debug)]
struct PhaseResult {
    messages: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    messages_per_sec: f64,
    clients_with_gaps: usize,
    clients_closed: usize,
}

fn main() {
    let options = Options::from_args();
    // Criterion's harness passes `--bench`; a plain `cargo test --benches` run passes nothing
    // and only checks that the tool builds.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run(options));
}

async fn run(options: Options) {
    println!(
        "feed load: {} clients, {} messages/s for {} s, then a burst of {}",
        options.clients, options.rate, options.seconds, options.burst
    );
    let payload = sample_payload();
    let capacity = options.burst.max(options.paced_messages()) + 1024;

    let bare = bare::start(capacity).await;
    let bare_paced = bare_phase(&bare, options, &payload, Phase::Paced).await;
    let bare_burst = bare_phase(&bare, options, &payload, Phase::Burst).await;

    let keyward = keyward_server::start(capacity).await;
    let (token, bot_id) = keyward_server::bot_with_token(keyward.address).await;
    let keyward_paced = keyward_phase(&keyward, &token, &bot_id, options, Phase::Paced).await;
    let keyward_burst = keyward_phase(&keyward, &token, &bot_id, options, Phase::Burst).await;

    print_result("bare paced", &bare_paced);
    print_result("keyward paced", &keyward_paced);
    print_result("bare burst", &bare_burst);
    print_result("keyward burst", &keyward_burst);
    let ratio = keyward_burst.messages_per_sec / bare_burst.messages_per_sec.max(1.0);
    println!("keyward / bare burst throughput: {ratio:.2}");
    let summary = serde_json::json!({
        "clients": options.clients,
        "rate": options.rate,
        "seconds": options.seconds,
        "burst": options.burst,
        "keyward_paced_p99_ms": keyward_paced.p99_ms,
        "keyward_paced_gaps": keyward_paced.clients_with_gaps,
        "bare_paced_p99_ms": bare_paced.p99_ms,
        "keyward_burst_messages_per_sec": keyward_burst.messages_per_sec,
        "bare_burst_messages_per_sec": bare_burst.messages_per_sec,
        "throughput_ratio": ratio,
    });
    println!("{summary}");
}

fn print_result(name: &str, result: &PhaseResult) {
    println!(
        "{name:>14}: {} messages/client, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, \
         {:.0} messages/s delivered, {} clients with gaps, {} closed",
        result.messages,
        result.p50_ms,
        result.p99_ms,
        result.max_ms,
        result.messages_per_sec,
        result.clients_with_gaps,
        result.clients_closed
    );
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Paced,
    Burst,
}

/// A risk verdict like the ones a bot records before each order.
fn sample_payload() -> NewEvent {
    let checked = OrderRiskChecked {
        intent: OrderIntent {
            intent_id: Uuid::now_v7(),
            symbol: "BTCUSDT".into(),
            side: Side::Buy,
            kind: OrderKind::Market,
            quantity: rust_decimal::Decimal::new(40, 3),
            price: Some(rust_decimal::Decimal::new(100_000, 0)),
            stop_loss: Some(rust_decimal::Decimal::new(98_000, 0)),
            reduce_only: false,
        },
        verdict: Verdict::Approved,
        rules: [
            "stop_loss_present",
            "max_stop_distance",
            "max_position_size",
            "max_leverage",
        ]
        .into_iter()
        .map(|rule| RuleCheck {
            rule: rule.into(),
            passed: true,
            detail: "within the configured limit".into(),
            enforced: true,
        })
        .collect(),
        mode: BotMode::Paper,
        checked_at: Utc::now(),
    };
    BotEvent::OrderRiskChecked(checked).to_new_event(Uuid::now_v7(), Metadata::default())
}

async fn bare_phase(
    server: &bare::BareServer,
    options: Options,
    event: &NewEvent,
    phase: Phase,
) -> PhaseResult {
    let url = format!("ws://{}/", server.address);
    let clients = connect_clients(&url, None, options.clients).await;
    let payload: serde_json::Value = serde_json::from_slice(&event.payload).unwrap_or_default();
    let count = match phase {
        Phase::Paced => options.paced_messages(),
        Phase::Burst => options.burst,
    };
    let base = match phase {
        Phase::Paced => 0,
        Phase::Burst => 10_000_000,
    };
    let message = |position: u64| {
        let message = FeedMessage {
            position,
            bot_id: Uuid::nil(),
            event_type: "OrderRiskChecked".into(),
            recorded_at: Utc::now(),
            payload: payload.clone(),
        };
        serde_json::to_string(&message).unwrap_or_default().into()
    };
    let started = Instant::now();
    let mut ticks = pacer(options.rate);
    for i in 1..=count as u64 {
        if phase == Phase::Paced {
            ticks.tick().await;
        } else if i % 256 == 0 {
            tokio::task::yield_now().await;
        }
        let _ = server.sender.send(message(base + i));
    }
    let expected: Vec<u64> = (1..=count as u64).map(|i| base + i).collect();
    finish(clients, &expected, started).await
}

async fn keyward_phase(
    server: &keyward_server::KeywardServer,
    token: &str,
    bot_id: &str,
    options: Options,
    phase: Phase,
) -> PhaseResult {
    let head = *server.log.head().borrow();
    let url = format!(
        "ws://{}/api/v1/bots/{bot_id}/feed?from={head}",
        server.address
    );
    let clients = connect_clients(&url, Some(token), options.clients).await;
    let stream = StreamName::new(Category::Bot, bot_id.parse().unwrap_or_default());
    let started = Instant::now();
    let expected = match phase {
        Phase::Paced => publish_paced(&server.log, &stream, options).await,
        Phase::Burst => publish_burst(&server.log, &stream, options.burst).await,
    };
    finish(clients, &expected, started).await
}

/// Appends one verdict per tick; appends run concurrently so that group commit shares fsyncs
/// as it would between bots. Returns the positions appended, in order.
async fn publish_paced(log: &Arc<dyn EventLog>, stream: &StreamName, options: Options) -> Vec<u64> {
    let mut ticks = pacer(options.rate);
    let mut appends = Vec::with_capacity(options.paced_messages());
    for _ in 0..options.paced_messages() {
        ticks.tick().await;
        let log = Arc::clone(log);
        let stream = stream.clone();
        let event = fresh(sample_payload());
        appends.push(tokio::spawn(async move {
            log.append(&stream, ExpectedVersion::Any, vec![event]).await
        }));
    }
    let mut positions = Vec::new();
    for append in appends {
        if let Ok(Ok(appended)) = append.await {
            positions.push(appended.last_position);
        }
    }
    positions.sort_unstable();
    positions
}

/// Appends `count` verdicts in batches of 100, as fast as the log takes them.
async fn publish_burst(log: &Arc<dyn EventLog>, stream: &StreamName, count: usize) -> Vec<u64> {
    let mut positions = Vec::with_capacity(count);
    let template = sample_payload();
    let mut remaining = count;
    while remaining > 0 {
        let batch: Vec<NewEvent> = (0..remaining.min(100))
            .map(|_| fresh(template.clone()))
            .collect();
        remaining -= batch.len();
        if let Ok(appended) = log.append(stream, ExpectedVersion::Any, batch).await {
            positions.extend(appended.first_position..=appended.last_position);
        }
    }
    positions
}

fn fresh(mut event: NewEvent) -> NewEvent {
    event.event_id = Uuid::now_v7();
    event
}

fn pacer(rate: u64) -> tokio::time::Interval {
    let mut ticks = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    ticks
}

/// The connected clients of one phase.
struct Clients {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<ClientRecord>>,
    /// Feed messages received by all clients together.
    delivered: Arc<AtomicUsize>,
}

/// Connects `count` clients; each records what it receives until `stop` turns true.
async fn connect_clients(url: &str, token: Option<&str>, count: usize) -> Clients {
    let (stop, stopped) = watch::channel(false);
    let delivered = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(count);
    for _ in 0..count {
        let mut request = url.into_client_request().expect("a websocket URL");
        if let Some(token) = token {
            let header = format!("Bearer {token}").parse().expect("a header value");
            request.headers_mut().insert("authorization", header);
        }
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("the websocket connects");
        tasks.push(tokio::spawn(record_client(
            socket,
            stopped.clone(),
            Arc::clone(&delivered),
        )));
    }
    Clients {
        stop,
        tasks,
        delivered,
    }
}

async fn record_client<S>(
    mut socket: S,
    mut stopped: watch::Receiver<bool>,
    delivered: Arc<AtomicUsize>,
) -> ClientRecord
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let mut record = ClientRecord::default();
    loop {
        let next = tokio::select! {
            next = socket.next() => next,
            _ = stopped.wait_for(|stop| *stop) => return record,
        };
        match next {
            Some(Ok(Message::Text(text))) => {
                let Some(received) = read_header(text.as_str()) else {
                    continue;
                };
                let Some(recorded_at) = received.recorded_at else {
                    continue;
                };
                let latency = (Utc::now() - recorded_at).num_microseconds().unwrap_or(0);
                record.positions.push(received.position);
                record.latencies_us.push(latency.max(0));
                record.last_receipt = Some(Instant::now());
                delivered.fetch_add(1, Ordering::Relaxed);
            }
            Some(Ok(Message::Close(frame))) => {
                record.close_code = frame.map(|f| u16::from(f.code));
                return record;
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return record,
        }
    }
}

/// Waits until every client has every expected message (or 30 s passed), then stops them and
/// computes the figures.
async fn finish(clients: Clients, expected: &[u64], started: Instant) -> PhaseResult {
    let deadline = Instant::now() + Duration::from_secs(30);
    let all = expected.len() * clients.tasks.len();
    while clients.delivered.load(Ordering::Relaxed) < all && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    clients.stop.send_replace(true);
    let mut records = Vec::with_capacity(clients.tasks.len());
    for task in clients.tasks {
        records.push(task.await.unwrap_or_default());
    }
    summarize(&records, expected, started)
}

fn summarize(records: &[ClientRecord], expected: &[u64], started: Instant) -> PhaseResult {
    let mut latencies: Vec<i64> = records
        .iter()
        .flat_map(|r| r.latencies_us.iter().copied())
        .collect();
    latencies.sort_unstable();
    let percentile = |p: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let index = ((latencies.len() - 1) as f64 * p).round() as usize;
        latencies[index] as f64 / 1000.0
    };
    let delivered: usize = records.iter().map(|r| r.positions.len()).sum();
    let last = records.iter().filter_map(|r| r.last_receipt).max();
    let elapsed = last.map_or(0.0, |last| (last - started).as_secs_f64());
    PhaseResult {
        messages: expected.len(),
        p50_ms: percentile(0.50),
        p99_ms: percentile(0.99),
        max_ms: percentile(1.0),
        messages_per_sec: if elapsed > 0.0 {
            delivered as f64 / elapsed
        } else {
            0.0
        },
        clients_with_gaps: records.iter().filter(|r| r.positions != expected).count(),
        clients_closed: records.iter().filter(|r| r.close_code.is_some()).count(),
    }
}
