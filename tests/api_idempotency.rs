//! `Idempotency-Key` on commands, through `keyward serve`.

mod common;

use common::Server;
use serde_json::{Value, json};

fn bot(label: &str) -> Value {
    json!({"label": label, "exchange": "binance", "symbol": "BTCUSDT",
           "strategy": {"name": "sma", "params": {"fast": 5, "slow": 20}}})
}

/// Posts a bot with an `Idempotency-Key`; returns the status, the replay header and the body.
async fn post_bot(server: &Server, token: &str, key: &str, body: &Value) -> (u16, bool, Value) {
    let response = server
        .http()
        .post(server.url("/api/v1/bots"))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let replayed = response.headers().get("idempotent-replayed").is_some();
    (status, replayed, response.json().await.unwrap_or_default())
}

async fn bot_count(server: &Server, token: &str) -> usize {
    let (status, body) = server.send("GET", "/api/v1/bots", None, Some(token)).await;
    assert_eq!(status, 200, "{body}");
    body["bots"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn retried_command_runs_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &dir.path().join("log"), &[]).await;
    let alice = server
        .register_and_login("alice", common::TEST_PASSWORD)
        .await;
    let bob = server
        .register_and_login("bob", common::TEST_PASSWORD)
        .await;

    let (status, replayed, first) = post_bot(&server, &alice.token, "create-1", &bot("a")).await;
    assert_eq!(status, 201, "{first}");
    assert!(!replayed);
    let (status, replayed, second) = post_bot(&server, &alice.token, "create-1", &bot("a")).await;
    assert_eq!(status, 201, "{second}");
    assert!(replayed, "the retry was not answered from the kept answer");
    assert_eq!(second, first);
    assert_eq!(bot_count(&server, &alice.token).await, 1);

    let (status, _, conflict) = post_bot(&server, &alice.token, "create-1", &bot("b")).await;
    assert_eq!(status, 409, "{conflict}");
    assert_eq!(conflict["error"], "conflict");

    let (status, replayed, other) = post_bot(&server, &bob.token, "create-1", &bot("a")).await;
    assert_eq!(status, 201, "{other}");
    assert!(!replayed, "another account got alice's answer");
    assert_ne!(other["bot_id"], first["bot_id"]);

    let (status, _, fresh) = post_bot(&server, &alice.token, "create-2", &bot("a")).await;
    assert_eq!(status, 201, "{fresh}");
    assert_eq!(bot_count(&server, &alice.token).await, 2);
}

#[tokio::test]
async fn invalid_key_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &dir.path().join("log"), &[]).await;
    let alice = server.login().await;

    let long = "k".repeat(256);
    let (status, _, body) = post_bot(&server, &alice.token, &long, &bot("a")).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Idempotency-Key"),
        "{body}"
    );
    assert_eq!(bot_count(&server, &alice.token).await, 0);
}

#[tokio::test]
async fn retry_after_restart_gets_stored_response() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &dir.path().join("log-1"), &[]).await;
    let alice = server.login().await;
    let (status, replayed, first) = post_bot(&server, &alice.token, "restart-1", &bot("a")).await;
    assert_eq!(status, 201, "{first}");
    assert!(!replayed);
    // Dropping the server kills it with SIGKILL: nothing is saved at shutdown.
    drop(server);

    let server = Server::start(&data, &dir.path().join("log-2"), &[]).await;
    let (status, replayed, second) = post_bot(&server, &alice.token, "restart-1", &bot("a")).await;
    assert_eq!(status, 201, "{second}");
    assert!(replayed, "the retry after a restart ran again: {second}");
    assert_eq!(second, first);
    assert_eq!(bot_count(&server, &alice.token).await, 1);

    let (status, _, conflict) = post_bot(&server, &alice.token, "restart-1", &bot("b")).await;
    assert_eq!(status, 409, "{conflict}");
    assert_eq!(conflict["error"], "conflict");
    assert_eq!(bot_count(&server, &alice.token).await, 1);
}
