//! The bot lifecycle through the API: configure, activate in paper mode, pause, stop, the
//! conditions for going live, account limits and the kill switch.

mod common;

use common::Server;
use serde_json::{Value, json};

fn bot_body(label: &str) -> Value {
    json!({"label": label, "exchange": "binance", "symbol": "BTCUSDT",
           "strategy": {"name": "sma", "params": {"fast": 5, "slow": 20}}})
}

async fn create_bot(server: &Server, label: &str) -> String {
    let (status, created) = server.post("/api/v1/bots", &bot_body(label)).await;
    assert_eq!(status, 201, "{created}");
    created["bot_id"].as_str().unwrap().to_owned()
}

async fn start() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &dir.path().join("log"),
        &["--sandbox"],
    )
    .await;
    server.login().await;
    (dir, server)
}

#[tokio::test]
async fn lifecycle_follows_commands() {
    let (_dir, server) = start().await;
    let bot_id = create_bot(&server, "lifecycle").await;
    let path = |action: &str| format!("/api/v1/bots/{bot_id}{action}");

    let (status, body) = server.post(&path("/pause"), &json!({})).await;
    assert_eq!(status, 409, "pausing a bot that never ran: {body}");

    let (status, body) = server
        .post(&path("/activate"), &json!({"mode": "paper"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, bot) = server.get(&path("")).await;
    assert_eq!(status, 200, "{bot}");
    assert_eq!(bot["status"], "active");
    assert_eq!(bot["mode"], "paper");

    let strategy = json!({"name": "sma", "params": {"fast": 3, "slow": 9}});
    let (status, body) = server.put(&path(""), &json!({"strategy": strategy})).await;
    assert_eq!(status, 409, "configuring an active bot: {body}");

    let (status, body) = server.post(&path("/pause"), &json!({})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.put(&path(""), &json!({"strategy": strategy})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["config_hash"].as_str().map(str::len), Some(64));

    let bad = json!({"strategy": {"name": "sma", "params": {"fast": 9, "slow": 3}}});
    let (status, body) = server.put(&path(""), &bad).await;
    assert_eq!(status, 400, "{body}");

    let (status, body) = server.post(&path("/stop"), &json!({})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server
        .post(&path("/activate"), &json!({"mode": "paper"}))
        .await;
    assert_eq!(status, 409, "activating a stopped bot: {body}");
    let (_, bot) = server.get(&path("")).await;
    assert_eq!(bot["status"], "stopped");
    server.stop();
}

#[tokio::test]
async fn going_live_lists_every_unmet_condition() {
    let (_dir, server) = start().await;
    let bot_id = create_bot(&server, "live").await;
    let path = format!("/api/v1/bots/{bot_id}/activate");
    let (status, body) = server.post(&path, &json!({"mode": "live"})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "activation_refused");
    let unmet: Vec<&str> = body["unmet"]
        .as_array()
        .unwrap()
        .iter()
        .map(|condition| condition.as_str().unwrap())
        .collect();
    assert_eq!(
        unmet,
        ["two_factor_disabled", "key_missing", "no_track_record"]
    );
    let (_, bot) = server.get(&format!("/api/v1/bots/{bot_id}")).await;
    assert_eq!(bot["status"], "configured");
    server.stop();
}

#[tokio::test]
async fn kill_switch_stops_every_bot() {
    let (_dir, server) = start().await;
    let limits = json!({"max_leverage": 3, "daily_loss_limit_pct": 4});
    let (status, body) = server.put("/api/v1/account/risk", &limits).await;
    assert_eq!(status, 200, "{body}");
    let bad = json!({"max_leverage": 500, "daily_loss_limit_pct": 4});
    let (status, body) = server.put("/api/v1/account/risk", &bad).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("max_leverage = 500")
    );

    let active = create_bot(&server, "active").await;
    let idle = create_bot(&server, "idle").await;
    let activate = format!("/api/v1/bots/{active}/activate");
    let (status, body) = server.post(&activate, &json!({"mode": "paper"})).await;
    assert_eq!(status, 200, "{body}");

    let (status, body) = server.post("/api/v1/account/kill-switch", &json!({})).await;
    assert_eq!(status, 200, "{body}");
    let mut stopped: Vec<&str> = body["stopped_bots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    stopped.sort_unstable();
    let mut expected = [active.as_str(), idle.as_str()];
    expected.sort_unstable();
    assert_eq!(stopped, expected);
    for bot_id in [&active, &idle] {
        let (_, bot) = server.get(&format!("/api/v1/bots/{bot_id}")).await;
        assert_eq!(bot["status"], "stopped", "{bot}");
    }

    let (_, risk) = server.get("/api/v1/account/risk").await;
    assert_eq!(risk["kill_switch_engaged"], true);
    assert_eq!(risk["max_leverage"], "3");
    let fresh = create_bot(&server, "fresh").await;
    let path = format!("/api/v1/bots/{fresh}/activate");
    let (status, body) = server.post(&path, &json!({"mode": "paper"})).await;
    assert_eq!(status, 409, "activating under the kill switch: {body}");

    let (status, body) = server.delete("/api/v1/account/kill-switch").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.post(&path, &json!({"mode": "paper"})).await;
    assert_eq!(status, 200, "{body}");

    // The risk routes appended to the account stream beside the account's actor; its next
    // command (a login records SessionStarted) still succeeds at the first try.
    server.login().await;
    server.stop();
}

#[tokio::test]
async fn rsi_parameters_are_validated() {
    let (_dir, server) = start().await;
    let mut bot = bot_body("rsi");
    bot["strategy"] = json!({"name": "rsi", "params": {"period": 14, "oversold": 25}});
    let (status, body) = server.post("/api/v1/bots", &bot).await;
    assert_eq!(status, 201, "{body}");

    bot["strategy"] = json!({"name": "rsi", "params": {"period": 14, "oversold": 80}});
    let (status, body) = server.post("/api/v1/bots", &bot).await;
    assert_eq!(status, 400, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("overbought = 70"), "{message}");
    assert!(message.contains("greater than oversold (80)"), "{message}");
    server.stop();
}

#[tokio::test]
async fn bot_configuration_is_checked_against_its_key() {
    let (_dir, server) = start().await;
    let key = json!({"exchange": "binance", "label": "main", "api_key": "botsApiKeyOne",
                     "api_secret": "botsApiSecretOne"});
    let (status, added) = server.post("/api/v1/keys", &key).await;
    assert_eq!(status, 202, "{added}");
    let mut bot = bot_body("mismatch");
    bot["key_id"] = added["key_id"].clone();
    bot["exchange"] = json!("bybit");
    let (status, body) = server.post("/api/v1/bots", &bot).await;
    assert_eq!(status, 400, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("is a binance key"), "{message}");

    let mut bot = bot_body("extra");
    bot["strategy"]["params"]["x"] = json!(1);
    let (status, body) = server.post("/api/v1/bots", &bot).await;
    assert_eq!(status, 400, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("\"x\""), "{message}");
    server.stop();
}

#[tokio::test]
async fn other_account_cannot_drive_bot() {
    let (_dir, server) = start().await;
    let bot_id = create_bot(&server, "owned").await;
    let other = server
        .register_and_login("mallory", "another long password 42")
        .await;
    let strategy = json!({"strategy": {"name": "sma", "params": {"fast": 3, "slow": 9}}});
    let attempts = [
        ("POST", "/activate", Some(json!({"mode": "paper"}))),
        ("POST", "/pause", Some(json!({}))),
        ("POST", "/stop", Some(json!({}))),
        ("PUT", "", Some(strategy)),
        ("GET", "", None),
    ];
    for (method, suffix, body) in attempts {
        let path = format!("/api/v1/bots/{bot_id}{suffix}");
        let token = Some(other.token.as_str());
        let (status, answer) = server.send(method, &path, body.as_ref(), token).await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
    }
    server.use_token(Some(&other.token));
    let (status, body) = server.post("/api/v1/account/kill-switch", &json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["stopped_bots"],
        json!([]),
        "another account's bot is untouched"
    );
    server.stop();
}
