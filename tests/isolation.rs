//! Isolation between accounts: a second account tries every route on the first account's keys,
//! bots, sessions, tokens, events and feeds, and always gets 404, exactly as for an id that
//! does not exist.

mod common;

use std::time::Duration;

use common::{Login, Server, key_entry, write_key_file};
use serde_json::{Value, json};

const SECRET: &str = "IsolationGoodSecret77";

/// Whether a response means the route itself is not served (no handler for that path or
/// method), as opposed to a handler that found nothing.
fn route_not_served(status: u16, body: &Value) -> bool {
    status == 405
        || (status == 404
            && body["message"]
                .as_str()
                .unwrap_or("")
                .contains("no such route"))
}

struct Owner {
    login: Login,
    key_id: String,
    bot_id: String,
    token_id: String,
    api_token: String,
}

async fn set_up_owner(server: &Server) -> Owner {
    let login = server.login().await;
    let key = json!({"exchange": "binance", "label": "own", "api_key": "isoGoodKey",
                     "api_secret": SECRET});
    let (status, added) = server.post("/api/v1/keys", &key).await;
    assert_eq!(status, 202, "{added}");
    let key_id = added["key_id"].as_str().unwrap().to_owned();
    let verified = server.wait_key(&key_id, Duration::from_secs(5)).await;
    assert_eq!(verified["status"], "verified", "{verified}");

    let bot = json!({"label": "own", "key_id": key_id, "exchange": "binance",
                     "symbol": "BTCUSDT", "strategy": {"name": "sma", "params": {"fast": 5, "slow": 20}}});
    let (status, created) = server.post("/api/v1/bots", &bot).await;
    assert_eq!(status, 201, "{created}");
    let bot_id = created["bot_id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/bots/{bot_id}/backtests");
    let (status, done) = server.post(&path, &json!({"data": "wave.csv"})).await;
    assert_eq!(status, 201, "{done}");

    let token = json!({"name": "integration", "scope": "read_write"});
    let (status, created) = server.post("/api/v1/tokens", &token).await;
    assert_eq!(status, 201, "{created}");
    Owner {
        login,
        key_id,
        bot_id,
        token_id: created["token_id"].as_str().unwrap().to_owned(),
        api_token: created["token"].as_str().unwrap().to_owned(),
    }
}

/// Every route that names one of the owner's resources, with `{key}`, `{bot}`, `{session}`
/// and `{token}` standing for its ids. Rows whose route is not served yet are reported, not
/// failed, and start being checked as soon as the route exists.
fn matrix() -> Vec<(&'static str, &'static str, Option<Value>)> {
    let rotate = json!({"api_key": "isoOtherKey", "api_secret": "IsolationOtherSecret"});
    let bot_config = json!({"label": "taken", "exchange": "binance", "symbol": "ETHUSDT",
                            "strategy": {"name": "sma", "params": {"fast": 3, "slow": 9}}});
    vec![
        ("GET", "/api/v1/keys/{key}", None),
        ("POST", "/api/v1/keys/{key}/rotate", Some(rotate)),
        ("DELETE", "/api/v1/keys/{key}", None),
        ("DELETE", "/api/v1/keys/{key}?force=true", None),
        ("GET", "/api/v1/bots/{bot}", None),
        ("PUT", "/api/v1/bots/{bot}", Some(bot_config)),
        (
            "POST",
            "/api/v1/bots/{bot}/backtests",
            Some(json!({"data": "wave.csv"})),
        ),
        (
            "POST",
            "/api/v1/bots/{bot}/activate",
            Some(json!({"mode": "paper"})),
        ),
        ("POST", "/api/v1/bots/{bot}/pause", Some(json!({}))),
        ("POST", "/api/v1/bots/{bot}/stop", Some(json!({}))),
        ("GET", "/api/v1/bots/{bot}/feed?from=0", None),
        ("GET", "/api/v1/audit?stream=key-{key}", None),
        ("GET", "/api/v1/audit?stream=bot-{bot}", None),
        ("DELETE", "/api/v1/sessions/{session}", None),
        ("DELETE", "/api/v1/tokens/{token}", None),
    ]
}

fn fill(path: &str, owner: &Owner) -> String {
    path.replace("{key}", &owner.key_id)
        .replace("{bot}", &owner.bot_id)
        .replace("{session}", &owner.login.session_id)
        .replace("{token}", &owner.token_id)
}

fn fill_unknown(path: &str) -> String {
    let unknown = "01900000-0000-7000-8000-000000000000";
    path.replace("{key}", unknown)
        .replace("{bot}", unknown)
        .replace("{session}", unknown)
        .replace("{token}", unknown)
}

/// Sends every matrix row with `token` and checks that the response equals the one for an
/// unknown id, and (for a login session) that it is 404. Returns the rows not served yet.
async fn try_matrix(server: &Server, owner: &Owner, token: &str, session: bool) -> Vec<String> {
    let mut not_served = Vec::new();
    for (method, template, body) in matrix() {
        let path = fill(template, owner);
        let (status, answer) = server.send(method, &path, body.as_ref(), Some(token)).await;
        if route_not_served(status, &answer) {
            not_served.push(format!("{method} {template}"));
            continue;
        }
        if session {
            assert_eq!(status, 404, "{method} {path} answered {status} {answer}");
        }
        let unknown = fill_unknown(template);
        let (absent_status, absent) = server
            .send(method, &unknown, body.as_ref(), Some(token))
            .await;
        assert_eq!(
            status, absent_status,
            "{method} {template}: {answer} vs {absent}"
        );
        assert!(
            status == 404 || status == 403,
            "{method} {path}: {status} {answer}"
        );
        assert_eq!(
            answer["error"], absent["error"],
            "{method} {template}: {answer} vs {absent}"
        );
    }
    not_served
}

#[tokio::test]
async fn second_account_gets_404_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let keys = write_key_file(dir.path(), &[key_entry("isoGoodKey", SECRET, true, false)]);
    let market = dir.path().join("market");
    std::fs::create_dir(&market).unwrap();
    common::write_wave_csv(&market.join("wave.csv"), 300);
    let args = [
        "--sandbox",
        "--sandbox-keys",
        keys.to_str().unwrap(),
        "--market-data-dir",
        market.to_str().unwrap(),
    ];
    let server = Server::start(&dir.path().join("data"), &dir.path().join("log"), &args).await;
    let owner = set_up_owner(&server).await;

    let intruder = server
        .register_and_login("mallory", "another long password 42")
        .await;
    let not_served = try_matrix(&server, &owner, &intruder.token, true).await;
    let token = json!({"name": "probe", "scope": "read_write"});
    let (status, created) = server
        .send(
            "POST",
            "/api/v1/tokens",
            Some(&token),
            Some(&intruder.token),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let intruder_api_token = created["token"].as_str().unwrap();
    try_matrix(&server, &owner, intruder_api_token, false).await;
    if !not_served.is_empty() {
        println!("routes not served yet, so not checked: {not_served:?}");
    }

    let bot = json!({"label": "theft", "key_id": owner.key_id, "exchange": "binance",
                     "symbol": "BTCUSDT", "strategy": {"name": "sma", "params": {"fast": 5, "slow": 20}}});
    let (status, answer) = server
        .send("POST", "/api/v1/bots", Some(&bot), Some(&intruder.token))
        .await;
    assert_eq!(status, 404, "a bot on another account's key: {answer}");

    assert_lists_are_own(&server, &intruder).await;
    assert_owner_untouched(&server, &owner).await;
    let (_, account) = server.get("/api/v1/account").await;
    let owner_account = account["account_id"].as_str().unwrap().to_owned();
    server.stop();
    assert_events_name_their_account(&dir.path().join("data"), &owner, &owner_account);
}

/// Checks that every event of a key, bot or account stream names its account in the
/// metadata, because event streams filter on it, and that the owner's streams name the owner.
fn assert_events_name_their_account(data: &std::path::Path, owner: &Owner, account: &str) {
    let owned = [
        format!("key-{}", owner.key_id),
        format!("bot-{}", owner.bot_id),
    ];
    let events = common::stored_events(data);
    assert!(events.len() > 10, "{} events", events.len());
    for event in &events {
        let metadata = event.parsed_metadata();
        let Some(account_id) = metadata.account_id else {
            panic!(
                "{} at {} names no account",
                event.event_type, event.position
            );
        };
        if owned.contains(&event.stream.as_str().to_owned()) {
            assert_eq!(account_id.to_string(), account, "{}", event.event_type);
        }
    }
}

async fn assert_lists_are_own(server: &Server, intruder: &Login) {
    let token = Some(intruder.token.as_str());
    for (path, field) in [
        ("/api/v1/keys", "keys"),
        ("/api/v1/bots", "bots"),
        ("/api/v1/dashboard", "keys"),
        ("/api/v1/dashboard", "bots"),
    ] {
        let (status, list) = server.send("GET", path, None, token).await;
        assert_eq!(status, 200, "{path}: {list}");
        let items = list[field].as_array().unwrap();
        assert!(
            items.is_empty(),
            "{path} shows {field} of another account: {list}"
        );
    }
    let (status, tokens) = server.send("GET", "/api/v1/tokens", None, token).await;
    assert_eq!(status, 200);
    let tokens = tokens["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert_eq!(tokens[0]["name"], "probe");
    let (status, sessions) = server.send("GET", "/api/v1/sessions", None, token).await;
    assert_eq!(status, 200);
    let sessions = sessions["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0]["session_id"], intruder.session_id.as_str());
}

async fn assert_owner_untouched(server: &Server, owner: &Owner) {
    let (status, key) = server.get(&format!("/api/v1/keys/{}", owner.key_id)).await;
    assert_eq!(status, 200, "{key}");
    assert_eq!(key["status"], "verified", "{key}");
    let (status, bot) = server.get(&format!("/api/v1/bots/{}", owner.bot_id)).await;
    assert_eq!(status, 200, "{bot}");
    assert_eq!(bot["backtests"].as_array().unwrap().len(), 1, "{bot}");
    let (status, _) = server.get("/api/v1/sessions").await;
    assert_eq!(status, 200, "the owner's session still works");
    let (status, keys) = server
        .send("GET", "/api/v1/keys", None, Some(&owner.api_token))
        .await;
    assert_eq!(status, 200, "the owner's API token still works: {keys}");
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn routes_need_a_login() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &dir.path().join("log"),
        &["--sandbox"],
    )
    .await;
    let some_id = "01900000-0000-7000-8000-000000000000";
    let routes = [
        ("GET", "/api/v1/keys".to_owned()),
        ("POST", "/api/v1/keys".to_owned()),
        ("GET", format!("/api/v1/keys/{some_id}")),
        ("GET", "/api/v1/bots".to_owned()),
        ("POST", "/api/v1/bots".to_owned()),
        ("GET", format!("/api/v1/bots/{some_id}")),
        ("POST", format!("/api/v1/bots/{some_id}/backtests")),
        ("GET", "/api/v1/dashboard".to_owned()),
        ("GET", "/api/v1/sessions".to_owned()),
        ("DELETE", "/api/v1/sessions/current".to_owned()),
        ("GET", "/api/v1/tokens".to_owned()),
        ("POST", "/api/v1/2fa/enroll".to_owned()),
        ("POST", "/api/v1/reauth".to_owned()),
    ];
    let body = json!({});
    for (method, path) in &routes {
        for token in [None, Some("kws_not-a-real-token")] {
            let (status, answer) = server.send(method, path, Some(&body), token).await;
            assert_eq!(status, 401, "{method} {path} with {token:?}: {answer}");
            assert_eq!(answer["error"], "unauthorized", "{answer}");
        }
    }
    let (status, _) = server.send("GET", "/healthz", None, None).await;
    assert_eq!(status, 200);
    server.stop();
}
