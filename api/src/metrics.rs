//! `/metrics` in the Prometheus text format, through the `metrics` facade.
//!
//! Series come from five places. A wrapper around the event log records append count,
//! latency and events per append call (`keyward_eventlog_append_batch_events`). The embedded
//! log's writer records events per fsync (`keyward_eventlog_commit_batch_events`). The exchange
//! adapters export rate-limit usage per host (`keyward_exchange_rate_limit_*`). A task that
//! follows the log counts probes, risk verdicts, orders and probe latency from recorded events.
//! The API itself counts websocket clients and samples projection lag at each scrape. Labels
//! contain only exchange and host names, outcomes, rule names, event types and projection
//! names, never an account, key or secret.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use async_trait::async_trait;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use keyward_eventlog::{
    AppendError, Appended, Direction, EventLog, ExpectedVersion, ReadError, Subscription,
    SubscriptionFilter,
};
use keyward_events::{NewEvent, RecordedEvent, StreamName};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::Value;
use tokio::sync::watch;

use crate::AppState;

/// Buckets of the latency histograms, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets of the events-per-append and events-per-fsync histograms.
const BATCH_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder once; later calls return the same handle.
/// Returns `None` when another recorder was installed first.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Suffix("_seconds".into()),
                    LATENCY_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        metrics_exporter_prometheus::Matcher::Full(
                            "keyward_eventlog_append_batch_events".into(),
                        ),
                        BATCH_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        metrics_exporter_prometheus::Matcher::Full(
                            keyward_eventlog::COMMIT_BATCH_METRIC.into(),
                        ),
                        BATCH_BUCKETS,
                    )
                });
            match builder.and_then(PrometheusBuilder::install_recorder) {
                Ok(handle) => Some(handle),
                Err(err) => {
                    tracing::warn!(error = %err, "cannot install the metrics recorder; /metrics stays empty");
                    None
                }
            }
        })
        .clone()
}

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "service",
    summary = "Metrics in the Prometheus text format",
    security(()),
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String))
)]
pub async fn render(State(state): State<AppState>) -> Response {
    let head = *state.log.head().borrow();
    metrics::gauge!("keyward_eventlog_head_position").set(head as f64);
    for (subscriber, position) in [
        ("dashboard", state.dashboard.position()),
        ("audit", state.audit.position()),
    ] {
        let lag = head.saturating_sub(position) as f64;
        metrics::gauge!("keyward_subscription_lag_events", "subscriber" => subscriber).set(lag);
    }
    let body = match install() {
        Some(handle) => {
            handle.run_upkeep();
            handle.render()
        }
        None => String::new(),
    };
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Counts one connected streaming client of a kind while it lives.
pub struct ClientGuard {
    kind: &'static str,
}

impl ClientGuard {
    /// Counts a client of `kind` (`bot_feed`, `events_ws` or `events_sse`).
    pub fn new(kind: &'static str) -> Self {
        metrics::gauge!("keyward_websocket_clients", "kind" => kind).increment(1.0);
        ClientGuard { kind }
    }
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        metrics::gauge!("keyward_websocket_clients", "kind" => self.kind).decrement(1.0);
    }
}

/// An event log that records append counts and latency, then delegates.
pub struct MeteredLog {
    inner: Arc<dyn EventLog>,
}

impl MeteredLog {
    /// Wraps `inner`.
    pub fn wrap(inner: Arc<dyn EventLog>) -> Arc<dyn EventLog> {
        Arc::new(MeteredLog { inner })
    }
}

#[async_trait]
impl EventLog for MeteredLog {
    async fn append(
        &self,
        stream: &StreamName,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Appended, AppendError> {
        let count = events.len();
        let started = Instant::now();
        let result = self.inner.append(stream, expected, events).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(AppendError::WrongExpectedVersion { .. }) => "version_conflict",
            Err(_) => "error",
        };
        let category = stream.category().as_str();
        metrics::histogram!("keyward_eventlog_append_seconds", "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        metrics::counter!("keyward_eventlog_appends_total", "category" => category, "outcome" => outcome)
            .increment(1);
        if result.is_ok() {
            metrics::counter!("keyward_eventlog_appended_events_total", "category" => category)
                .increment(count as u64);
            metrics::histogram!("keyward_eventlog_append_batch_events").record(count as f64);
        }
        result
    }

    async fn read_stream(
        &self,
        stream: &StreamName,
        from: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, ReadError> {
        self.inner.read_stream(stream, from, direction, limit).await
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, ReadError> {
        self.inner.read_all(after, limit).await
    }

    fn head(&self) -> watch::Receiver<u64> {
        self.inner.head()
    }
}

/// Follows the log from its head and counts probes, risk verdicts and orders from their
/// events.
pub fn spawn_event_counters(log: Arc<dyn EventLog>) -> tokio::task::JoinHandle<()> {
    let after = *log.head().borrow();
    let mut subscription = Subscription::new(log, after, SubscriptionFilter::All);
    tokio::spawn(async move {
        let mut counters = EventCounters::default();
        loop {
            match subscription.next().await {
                Ok(record) => counters.count(&record),
                Err(err) => {
                    tracing::warn!(error = %err, "event counters stopped");
                    return;
                }
            }
        }
    })
}

/// Counts domain outcomes from recorded events.
#[derive(Default)]
struct EventCounters {
    /// Exchange of each key, learnt from `KeyAdded`.
    // NOTE: keys added before the server started have no exchange here; their probes are
    // counted under exchange "unknown".
    exchanges: std::collections::HashMap<uuid::Uuid, String>,
}

impl EventCounters {
    fn count(&mut self, record: &RecordedEvent) {
        metrics::counter!("keyward_events_total", "event_type" => record.event_type.clone())
            .increment(1);
        let payload: Value = serde_json::from_slice(&record.payload).unwrap_or(Value::Null);
        match record.event_type.as_str() {
            "KeyAdded" => {
                if let Some(exchange) = payload.get("exchange").and_then(Value::as_str) {
                    self.exchanges
                        .insert(record.stream.id(), exchange.to_owned());
                }
            }
            "KeyProbed" => {
                self.count_probe(record, "verified");
                if let Some(ms) = payload.get("latency_ms").and_then(Value::as_u64) {
                    let exchange = self.exchange_of(record);
                    metrics::histogram!("keyward_exchange_request_seconds", "exchange" => exchange, "endpoint" => "key_permissions")
                        .record(ms as f64 / 1000.0);
                }
            }
            "KeyRejected" => self.count_probe(record, "rejected"),
            "KeyProbeFailed" => self.count_probe(record, "failed"),
            "OrderRiskChecked" => count_verdict(&payload),
            "OrderSubmitted" | "OrderAcknowledged" | "OrderFilled" | "OrderCancelled"
            | "OrderRejected" => {
                let outcome = record
                    .event_type
                    .trim_start_matches("Order")
                    .to_ascii_lowercase();
                metrics::counter!("keyward_orders_total", "outcome" => outcome).increment(1);
            }
            _ => {}
        }
    }

    fn exchange_of(&self, record: &RecordedEvent) -> String {
        self.exchanges
            .get(&record.stream.id())
            .cloned()
            .unwrap_or_else(|| "unknown".to_owned())
    }

    fn count_probe(&self, record: &RecordedEvent, outcome: &'static str) {
        let exchange = self.exchange_of(record);
        metrics::counter!("keyward_key_probes_total", "exchange" => exchange, "outcome" => outcome)
            .increment(1);
    }
}

fn count_verdict(payload: &Value) {
    let verdict = payload
        .get("verdict")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_owned();
    metrics::counter!("keyward_risk_verdicts_total", "verdict" => verdict).increment(1);
    let rules = payload.get("rules").and_then(Value::as_array);
    for rule in rules.into_iter().flatten() {
        let Some(name) = rule.get("rule").and_then(Value::as_str) else {
            continue;
        };
        let result = if rule.get("passed").and_then(Value::as_bool) == Some(true) {
            "passed"
        } else {
            "failed"
        };
        metrics::counter!("keyward_risk_rule_checks_total", "rule" => name.to_owned(), "result" => result)
            .increment(1);
    }
}
