//! `/metrics` through `keyward serve --sandbox`: group-commit batch sizes and exchange
//! rate-limit usage appear once keys are added and probed.

mod common;

use std::time::Duration;

use common::{Server, key_entry, write_key_file};
use serde_json::json;

const BINANCE_SECRET: &str = "MetricsBinanceSecret71";
const OKX_SECRET: &str = "MetricsOkxSecret82";
const OKX_PASSPHRASE: &str = "MetricsOkxPass93";

/// Returns the value of the first sample whose name and labels contain every part of `parts`.
fn sample(body: &str, parts: &[&str]) -> Option<f64> {
    body.lines()
        .filter(|line| !line.starts_with('#'))
        .find(|line| parts.iter().all(|part| line.contains(part)))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn metrics_show_commit_batches_and_rate_limits() {
    let dir = tempfile::tempdir().unwrap();
    let okx = json!({"exchange": "okx", "api_key": "metricsOkxKey", "api_secret": OKX_SECRET,
        "passphrase": OKX_PASSPHRASE, "read": true, "spot": false, "futures": true,
        "withdraw": false, "transfer": false, "ip_allowlist": ["127.0.0.1"]});
    let keys = write_key_file(
        dir.path(),
        &[
            key_entry("metricsBinanceKey", BINANCE_SECRET, true, false),
            okx,
        ],
    );
    let server = Server::start(
        &dir.path().join("data"),
        &dir.path().join("serve.log"),
        &["--sandbox", "--sandbox-keys", keys.to_str().unwrap()],
    )
    .await;
    let login = server.login().await;

    let added = [
        json!({"exchange": "binance", "label": "m", "api_key": "metricsBinanceKey",
               "api_secret": BINANCE_SECRET}),
        json!({"exchange": "okx", "label": "m", "api_key": "metricsOkxKey",
               "api_secret": OKX_SECRET, "passphrase": OKX_PASSPHRASE}),
    ];
    for body in &added {
        let (status, answer) = server.post("/api/v1/keys", body).await;
        assert_eq!(status, 202, "{answer}");
        let key_id = answer["key_id"].as_str().unwrap().to_owned();
        let key = server.wait_key(&key_id, Duration::from_secs(20)).await;
        assert_eq!(key["status"], "verified", "{key}");
    }

    let response = server
        .http()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body = response.text().await.unwrap();

    let fsyncs = sample(&body, &["keyward_eventlog_commit_batch_events_count"]);
    assert!(
        fsyncs.is_some_and(|n| n >= 1.0),
        "no commit batches in:\n{body}"
    );
    let events = sample(&body, &["keyward_eventlog_commit_batch_events_sum"]);
    assert!(
        events.is_some_and(|n| n >= fsyncs.unwrap_or(0.0)),
        "fewer events than fsyncs in:\n{body}"
    );
    assert!(
        body.contains("keyward_eventlog_commit_batch_events_bucket{le=\"1\"}"),
        "the commit batch histogram has no buckets:\n{body}"
    );

    for (host, counted_by) in [
        ("binance", "exchange"),
        ("binance", "client"),
        ("binance-spot", "exchange"),
        ("okx", "client"),
    ] {
        let host_label = format!("exchange=\"{host}\"");
        let by_label = format!("counted_by=\"{counted_by}\"");
        let labels = [host_label.as_str(), by_label.as_str()];
        let used = sample(
            &body,
            &[&["keyward_exchange_rate_limit_used{"], &labels[..]].concat(),
        );
        let limit = sample(
            &body,
            &[&["keyward_exchange_rate_limit_limit{"], &labels[..]].concat(),
        );
        assert!(
            used.is_some_and(|n| n >= 1.0),
            "no usage of {host} counted by {counted_by} in:\n{body}"
        );
        assert!(
            limit.is_some_and(|n| n >= used.unwrap_or(0.0)),
            "no limit of {host} counted by {counted_by} in:\n{body}"
        );
    }

    for secret in [
        BINANCE_SECRET,
        OKX_SECRET,
        OKX_PASSPHRASE,
        "metricsBinanceKey",
        "metricsOkxKey",
        login.token.as_str(),
    ] {
        assert!(!body.contains(secret), "/metrics shows {secret}");
    }
}
