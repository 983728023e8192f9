//! `GET /api/v1/audit` through `keyward serve`: the caller's lines only, read-your-writes,
//! pagination, and JSON logs.

mod common;

use common::Server;
use serde_json::{Value, json};

async fn create_bot(server: &Server, token: &str, label: &str) -> u64 {
    let body = json!({"label": label, "exchange": "binance", "symbol": "BTCUSDT",
                      "strategy": {"name": "sma", "params": {"fast": 5, "slow": 20}}});
    let (status, answer) = server
        .send("POST", "/api/v1/bots", Some(&body), Some(token))
        .await;
    assert_eq!(status, 201, "bot creation answered {answer}");
    answer["position"].as_u64().unwrap()
}

async fn audit(server: &Server, token: &str, query: &str) -> (u16, Value) {
    server
        .send("GET", &format!("/api/v1/audit{query}"), None, Some(token))
        .await
}

#[tokio::test]
async fn audit_lists_own_events_in_pages() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("log");
    let server = Server::start(&data, &log, &["--log-format", "json"]).await;
    let alice = server
        .register_and_login("alice", common::TEST_PASSWORD)
        .await;
    let bob = server
        .register_and_login("bob", common::TEST_PASSWORD)
        .await;
    let written = create_bot(&server, &alice.token, "audited").await;

    let (status, page) = audit(&server, &alice.token, "").await;
    assert_eq!(status, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    let created = items
        .iter()
        .find(|item| item["event_type"] == "BotCreated")
        .expect("the session's own write is visible at once");
    assert_eq!(created["session_id"], alice.session_id.as_str());
    assert_eq!(created["source_address"], "127.0.0.1");
    assert!(created["text"].as_str().unwrap().contains("BotCreated"));
    assert!(page["position"].as_u64().unwrap() >= written);
    assert!(page["next"].is_null());
    let all: Vec<u64> = items
        .iter()
        .map(|i| i["position"].as_u64().unwrap())
        .collect();

    let mut paged = Vec::new();
    let mut query = "?limit=1".to_owned();
    loop {
        let (status, page) = audit(&server, &alice.token, &query).await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 1);
        paged.extend(items.iter().map(|i| i["position"].as_u64().unwrap()));
        match page["next"].as_u64() {
            Some(next) => query = format!("?limit=1&after={next}"),
            None => break,
        }
    }
    assert_eq!(paged, all);

    let (_, theirs) = audit(&server, &bob.token, "").await;
    let positions: Vec<u64> = theirs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["position"].as_u64().unwrap())
        .collect();
    assert!(
        positions.iter().all(|p| !all.contains(p)),
        "bob sees alice's lines"
    );

    server.stop();
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for line in lines {
        let value: Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON log line: {line}"));
        assert!(value["level"].is_string(), "{line}");
        assert!(!line.contains(&alice.token), "a session token in the log");
    }
}

#[tokio::test]
async fn audit_rejects_bad_queries() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &dir.path().join("log"), &[]).await;
    let alice = server.login().await;

    let (status, body) = audit(&server, &alice.token, "?limit=0").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_request");
    assert!(
        body["message"].as_str().unwrap().contains("limit 0"),
        "{body}"
    );

    let (status, body) = audit(&server, &alice.token, "?from=yesterday").await;
    assert_eq!(status, 400);
    assert!(
        body["hint"].as_str().unwrap().contains("RFC 3339"),
        "{body}"
    );

    let (status, _) = server.send("GET", "/api/v1/audit", None, None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn audit_resumes_from_checkpoint_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &dir.path().join("log-1"), &[]).await;
    let alice = server.login().await;
    let written = create_bot(&server, &alice.token, "before restart").await;
    let (status, before) = audit(&server, &alice.token, &format!("?min_position={written}")).await;
    assert_eq!(status, 200, "{before}");
    let lines_before = before["items"].as_array().unwrap().clone();
    assert!(
        lines_before
            .iter()
            .any(|item| item["event_type"] == "BotCreated"),
        "{before}"
    );
    server.stop();
    assert!(
        data.join("projections").join("audit.json").is_file(),
        "no audit checkpoint after a clean stop"
    );

    let restarted_log = dir.path().join("log-2");
    let server = Server::start(&data, &restarted_log, &[]).await;
    let log = std::fs::read_to_string(&restarted_log).unwrap();
    assert!(
        log.lines().any(
            |line| line.contains("projection resumed from its checkpoint")
                && line.contains("audit")
        ),
        "the audit trail did not resume from its checkpoint; log:\n{log}"
    );
    let (status, after) = audit(&server, &alice.token, "").await;
    assert_eq!(status, 200, "{after}");
    let lines_after = after["items"].as_array().unwrap();
    assert!(lines_after.len() >= lines_before.len(), "{after}");
    assert_eq!(lines_after[..lines_before.len()], lines_before[..]);

    let later = create_bot(&server, &alice.token, "after restart").await;
    let (status, page) = audit(&server, &alice.token, &format!("?after={written}")).await;
    assert_eq!(status, 200, "{page}");
    let positions: Vec<u64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["position"].as_u64().unwrap())
        .collect();
    assert!(positions.contains(&later), "{page}");
}
