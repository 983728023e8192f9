//! Event subscription (server-sent events and websocket) and the live bot feed, through
//! `keyward serve`.

mod common;

use std::time::Duration;

use common::Server;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

async fn start(dir: &std::path::Path) -> Server {
    Server::start(
        &dir.join("data"),
        &dir.join("log"),
        &["--heartbeat-secs", "1"],
    )
    .await
}

async fn create_bot(server: &Server, token: &str, label: &str) -> (String, u64) {
    let body = json!({"label": label, "exchange": "binance", "symbol": "BTCUSDT",
                      "strategy": {"name": "sma", "params": {"fast": 5, "slow": 20}}});
    let (status, answer) = server
        .send("POST", "/api/v1/bots", Some(&body), Some(token))
        .await;
    assert_eq!(status, 201, "bot creation answered {answer}");
    (
        answer["bot_id"].as_str().unwrap().to_owned(),
        answer["position"].as_u64().unwrap(),
    )
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(server: &Server, path: &str, token: &str) -> Result<Socket, u16> {
    let url = format!("ws://127.0.0.1:{}{path}", server.port);
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(err) => panic!("websocket connection failed: {err}"),
    }
}

/// Reads JSON text messages until the first heartbeat; returns the messages before it.
async fn read_until_heartbeat(socket: &mut Socket) -> Vec<Value> {
    let mut messages = Vec::new();
    loop {
        let next = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("no message within 10 s")
            .expect("socket closed")
            .unwrap();
        let Message::Text(text) = next else {
            continue;
        };
        let value: Value = serde_json::from_str(text.as_str()).unwrap();
        if value["type"] == "heartbeat" {
            assert!(
                value["position"].is_u64(),
                "heartbeat without position: {value}"
            );
            return messages;
        }
        messages.push(value);
    }
}

fn positions(messages: &[Value]) -> Vec<u64> {
    messages
        .iter()
        .map(|m| m["position"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn event_websocket_streams_own_events() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let alice = server
        .register_and_login("alice", common::TEST_PASSWORD)
        .await;
    let bob = server
        .register_and_login("bob", common::TEST_PASSWORD)
        .await;
    let (alice_bot, _) = create_bot(&server, &alice.token, "mine").await;
    let (bob_bot, _) = create_bot(&server, &bob.token, "theirs").await;

    let mut socket = connect(&server, "/api/v1/events/ws?from=0", &alice.token)
        .await
        .unwrap();
    let events = read_until_heartbeat(&mut socket).await;
    let streams: Vec<&str> = events
        .iter()
        .map(|e| e["stream"].as_str().unwrap())
        .collect();
    assert!(
        streams.contains(&format!("bot-{alice_bot}").as_str()),
        "{streams:?}"
    );
    assert!(
        !streams.contains(&format!("bot-{bob_bot}").as_str()),
        "{streams:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["event_type"] == "AccountRegistered")
    );
    let seen = positions(&events);
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");

    let resume = seen[0];
    let mut socket = connect(
        &server,
        &format!("/api/v1/events/ws?from={resume}"),
        &alice.token,
    )
    .await
    .unwrap();
    let resumed = read_until_heartbeat(&mut socket).await;
    assert_eq!(positions(&resumed), seen[1..].to_vec());
}

#[tokio::test]
async fn sse_resumes_from_last_event_id() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let alice = server.login().await;
    create_bot(&server, &alice.token, "one").await;

    let ids = read_sse_ids(&server, &alice.token, None).await;
    assert!(ids.len() >= 3, "{ids:?}");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let resumed = read_sse_ids(&server, &alice.token, Some(ids[0])).await;
    assert_eq!(resumed, ids[1..].to_vec());

    let response = server
        .http()
        .get(server.url("/api/v1/events?from=minus"))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
}

/// Reads SSE event ids until the first heartbeat event.
async fn read_sse_ids(server: &Server, token: &str, last_event_id: Option<u64>) -> Vec<u64> {
    let mut request = server
        .http()
        .get(server.url("/api/v1/events?from=0"))
        .bearer_auth(token);
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id.to_string());
    }
    let mut response = request.send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let mut text = String::new();
    let mut ids = Vec::new();
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .expect("no SSE data within 10 s")
            .unwrap()
            .expect("SSE stream ended");
        text.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = text.find("\n\n") {
            let event: String = text.drain(..end + 2).collect();
            if event.contains("event: heartbeat") {
                return ids;
            }
            if let Some(line) = event.lines().find(|l| l.starts_with("id:")) {
                ids.push(line["id:".len()..].trim().parse().unwrap());
            }
        }
    }
}

#[tokio::test]
async fn bot_feed_streams_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let alice = server
        .register_and_login("alice", common::TEST_PASSWORD)
        .await;
    let bob = server
        .register_and_login("bob", common::TEST_PASSWORD)
        .await;
    let (bot, position) = create_bot(&server, &alice.token, "fed").await;

    let mut socket = connect(
        &server,
        &format!("/api/v1/bots/{bot}/feed?from=0"),
        &alice.token,
    )
    .await
    .unwrap();
    let messages = read_until_heartbeat(&mut socket).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["event_type"], "BotConfigured");
    assert_eq!(messages[0]["bot_id"], bot.as_str());
    assert_eq!(messages[0]["position"], position);

    let mut socket = connect(
        &server,
        &format!("/api/v1/bots/{bot}/feed?from={position}"),
        &alice.token,
    )
    .await
    .unwrap();
    assert!(read_until_heartbeat(&mut socket).await.is_empty());

    let (second, _) = create_bot(&server, &alice.token, "second").await;
    let mut socket = connect(&server, "/api/v1/feed?from=0", &alice.token)
        .await
        .unwrap();
    let messages = read_until_heartbeat(&mut socket).await;
    let bots: Vec<&str> = messages
        .iter()
        .map(|m| m["bot_id"].as_str().unwrap())
        .collect();
    assert_eq!(bots, [bot.as_str(), second.as_str()]);

    let refused = connect(
        &server,
        &format!("/api/v1/bots/{bot}/feed?from=0"),
        &bob.token,
    )
    .await;
    assert_eq!(refused.err(), Some(404));
    let mut socket = connect(&server, "/api/v1/feed?from=0", &bob.token)
        .await
        .unwrap();
    assert!(read_until_heartbeat(&mut socket).await.is_empty());
}

#[tokio::test]
async fn metrics_lists_series_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let alice = server.login().await;
    create_bot(&server, &alice.token, "measured").await;
    let _socket = connect(&server, "/api/v1/feed?from=0", &alice.token)
        .await
        .unwrap();

    let response = server
        .http()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body = response.text().await.unwrap();
    for series in [
        "keyward_eventlog_appends_total",
        "keyward_eventlog_append_seconds",
        "keyward_eventlog_append_batch_events",
        "keyward_subscription_lag_events",
        "keyward_websocket_clients{kind=\"bot_feed\"} 1",
    ] {
        assert!(body.contains(series), "{series} missing from:\n{body}");
    }
    for secret in [
        alice.token.as_str(),
        common::TEST_PASSWORD,
        common::TEST_USERNAME,
    ] {
        assert!(!body.contains(secret), "/metrics shows {secret}");
    }
}
