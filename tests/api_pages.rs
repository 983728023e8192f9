//! Pagination of the list routes through `keyward serve`: `limit`, `after` and `next`.

mod common;

use common::Server;
use serde_json::{Value, json};

async fn create_bot(server: &Server, label: &str) -> String {
    let body = json!({"label": label, "exchange": "binance", "symbol": "BTCUSDT",
                      "strategy": {"name": "sma", "params": {"fast": 5, "slow": 20}}});
    let (status, answer) = server.post("/api/v1/bots", &body).await;
    assert_eq!(status, 201, "{answer}");
    answer["bot_id"].as_str().unwrap().to_owned()
}

/// Reads every page of `path` with `limit=2` and returns the ids under `field` in order.
async fn read_all_pages(server: &Server, path: &str, field: &str, id: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut query = "?limit=2".to_owned();
    for _ in 0..10 {
        let (status, page) = server.get(&format!("{path}{query}")).await;
        assert_eq!(status, 200, "{page}");
        let items = page[field].as_array().unwrap();
        assert!(items.len() <= 2, "{page}");
        ids.extend(
            items
                .iter()
                .map(|item| item[id].as_str().unwrap().to_owned()),
        );
        match page["next"].as_str() {
            Some(next) => query = format!("?limit=2&after={next}"),
            None => return ids,
        }
    }
    panic!("{path} did not end after 10 pages");
}

#[tokio::test]
async fn bots_and_sessions_come_in_pages() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &dir.path().join("log"), &[]).await;
    server.login().await;
    let mut created = Vec::new();
    for label in ["a", "b", "c", "d", "e"] {
        created.push(create_bot(&server, label).await);
    }
    created.sort();

    let paged = read_all_pages(&server, "/api/v1/bots", "bots", "bot_id").await;
    assert_eq!(paged, created);

    let (status, all) = server.get("/api/v1/bots").await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["bots"].as_array().unwrap().len(), 5);
    assert_eq!(all["next"], Value::Null);

    for _ in 0..2 {
        server
            .register_and_login(common::TEST_USERNAME, common::TEST_PASSWORD)
            .await;
    }
    let sessions = read_all_pages(&server, "/api/v1/sessions", "sessions", "session_id").await;
    assert_eq!(sessions.len(), 3, "{sessions:?}");
    let (status, keys) = server.get("/api/v1/keys?limit=1").await;
    assert_eq!(status, 200, "{keys}");
    assert_eq!(keys["keys"], json!([]));
    assert_eq!(keys["next"], Value::Null);
    let (status, tokens) = server.get("/api/v1/tokens?limit=1000").await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["next"], Value::Null);
}

#[tokio::test]
async fn bad_page_values_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &dir.path().join("log"), &[]).await;
    server.login().await;
    for (path, value) in [
        ("/api/v1/keys?limit=0", "\"0\""),
        ("/api/v1/bots?limit=1001", "\"1001\""),
        ("/api/v1/bots?limit=many", "\"many\""),
        ("/api/v1/keys?after=bot-1", "\"bot-1\""),
        ("/api/v1/sessions?limit=-3", "\"-3\""),
        ("/api/v1/tokens?after=12", "\"12\""),
    ] {
        let (status, body) = server.get(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"], "invalid_request", "{path}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(value), "{path}: {body}");
        assert!(body["hint"].is_string(), "{path} has no hint: {body}");
    }
}
