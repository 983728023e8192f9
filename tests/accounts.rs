//! Accounts end to end: registration, sessions and devices, timeouts, the browser cookie with
//! CSRF protection, re-authentication, API tokens, password changes, and throttled logins whose
//! responses are the same whether or not the account exists.

mod common;

use std::time::{Duration, Instant};

use common::{Server, TEST_PASSWORD, TEST_USERNAME, account_event_types, stored_events};
use keyward_events::DomainEvent;
use keyward_events::account::AccountEvent;
use serde_json::{Value, json};

async fn start(dir: &tempfile::TempDir, extra: &[&str]) -> Server {
    let mut args = vec!["--sandbox"];
    args.extend_from_slice(extra);
    Server::start(&dir.path().join("data"), &dir.path().join("log"), &args).await
}

fn credentials(username: &str, password: &str) -> Value {
    json!({"username": username, "password": password})
}

#[tokio::test]
async fn registration_checks_its_input() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir, &[]).await;
    let cases = [
        (credentials("alice", "short"), 400, "password"),
        (credentials("a", TEST_PASSWORD), 400, "username"),
        (credentials("alice smith", TEST_PASSWORD), 400, "username"),
        (credentials("alice", TEST_PASSWORD), 201, ""),
        (credentials("ALICE", TEST_PASSWORD), 409, "taken"),
    ];
    for (body, expected, named) in cases {
        let (status, answer) = server
            .send("POST", "/api/v1/accounts", Some(&body), None)
            .await;
        assert_eq!(status, expected, "{body} answered {answer}");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(message.contains(named), "{message} should name {named}");
        assert!(
            !answer.to_string().contains(TEST_PASSWORD),
            "the password came back"
        );
    }
    let (status, _) = server
        .send(
            "POST",
            "/api/v1/sessions",
            Some(&credentials("Alice", TEST_PASSWORD)),
            None,
        )
        .await;
    assert_eq!(status, 201, "usernames ignore case");
    server.stop();
}

#[tokio::test]
async fn sessions_are_listed_and_end_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start(&dir, &[]).await;
    let first = server.login().await;
    let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
    let response = server
        .http()
        .post(server.url("/api/v1/sessions"))
        .header("user-agent", firefox)
        .json(&credentials(TEST_USERNAME, TEST_PASSWORD))
        .send()
        .await
        .unwrap();
    let second: Value = response.json().await.unwrap();
    let second_token = second["token"].as_str().unwrap().to_owned();
    assert_ne!(second_token, first.token, "every login gets a new token");

    let (status, list) = server.get("/api/v1/sessions").await;
    assert_eq!(status, 200);
    let text = list.to_string();
    assert!(
        !text.contains(&first.token) && !text.contains(&second_token),
        "{text}"
    );
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{list}");
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["session_id"], first.session_id.as_str());
    let other = sessions.iter().find(|s| s["current"] == false).unwrap();
    assert_eq!(other["device"], "Firefox on Linux");
    assert_eq!(other["address"], "127.0.0.1");
    for field in ["created_at", "last_used_at", "expires_at"] {
        assert!(other[field].is_string(), "{field} missing: {other}");
    }

    let path = format!(
        "/api/v1/sessions/{}",
        second["session_id"].as_str().unwrap()
    );
    let (status, _) = server.delete(&path).await;
    assert_eq!(status, 204);
    let (status, _) = server
        .send("GET", "/api/v1/keys", None, Some(&second_token))
        .await;
    assert_eq!(
        status, 401,
        "an ended session is refused on its next request"
    );

    let third = server
        .register_and_login(TEST_USERNAME, TEST_PASSWORD)
        .await;
    let (status, ended) = server.delete("/api/v1/sessions/others").await;
    assert_eq!(status, 200);
    assert_eq!(ended["ended"], 1, "{ended}");
    let (status, _) = server
        .send("GET", "/api/v1/keys", None, Some(&third.token))
        .await;
    assert_eq!(status, 401);

    let (status, _) = server.delete("/api/v1/sessions/current").await;
    assert_eq!(status, 204);
    let (status, _) = server.get("/api/v1/keys").await;
    assert_eq!(status, 401, "logged out");
    server.stop();

    let types = account_event_types(&data);
    let terminated = types.iter().filter(|t| *t == "SessionTerminated").count();
    assert_eq!(terminated, 3, "{types:?}");
    assert_eq!(types.iter().filter(|t| *t == "SessionStarted").count(), 3);
}

#[tokio::test]
async fn idle_and_absolute_timeouts_end_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // The store writes last use at most once a second, so the idle timeout is 3 s, not 1 s.
    let args = ["--session-idle-timeout", "3s", "--session-lifetime", "5s"];
    let server = start(&dir, &args).await;
    let busy = server.login().await;
    let idle = server
        .register_and_login(TEST_USERNAME, TEST_PASSWORD)
        .await;
    let started = Instant::now();
    for second in 1..=4 {
        tokio::time::sleep_until((started + Duration::from_secs(second)).into()).await;
        let (status, _) = server.get("/api/v1/keys").await;
        assert_eq!(status, 200, "busy session at {second} s");
    }
    let (status, _) = server
        .send("GET", "/api/v1/keys", None, Some(&idle.token))
        .await;
    assert_eq!(status, 401, "idle for 4 s with a 3 s idle timeout");
    tokio::time::sleep_until((started + Duration::from_millis(5_300)).into()).await;
    let (status, _) = server
        .send("GET", "/api/v1/keys", None, Some(&busy.token))
        .await;
    assert_eq!(status, 401, "past the 5 s lifetime");
    let fresh = server
        .register_and_login(TEST_USERNAME, TEST_PASSWORD)
        .await;
    let (status, _) = server
        .send("GET", "/api/v1/account", None, Some(&fresh.token))
        .await;
    assert_eq!(status, 200);
    server.stop();

    let reasons: Vec<String> = stored_events(&data)
        .iter()
        .filter(|e| e.event_type == "SessionTerminated")
        .filter_map(|e| match AccountEvent::from_recorded(e) {
            Ok(AccountEvent::SessionTerminated(t)) => Some(format!("{:?}", t.reason)),
            _ => None,
        })
        .collect();
    assert!(reasons.contains(&"IdleTimeout".to_owned()), "{reasons:?}");
    assert!(reasons.contains(&"Expired".to_owned()), "{reasons:?}");
}

#[tokio::test]
async fn browser_cookie_needs_csrf_on_changes() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir, &["--trusted-proxy", "127.0.0.1"]).await;
    let (status, _) = server
        .send(
            "POST",
            "/api/v1/accounts",
            Some(&credentials(TEST_USERNAME, TEST_PASSWORD)),
            None,
        )
        .await;
    assert_eq!(status, 201);
    let response = server
        .http()
        .post(server.url("/api/v1/sessions"))
        .header("sec-fetch-mode", "cors")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-for", "203.0.113.5")
        .json(&credentials(TEST_USERNAME, TEST_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let cookies: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let login: Value = response.json().await.unwrap();
    assert!(
        login.get("token").is_none(),
        "a browser gets no token in the body: {login}"
    );
    let session_cookie = cookies
        .iter()
        .find(|c| c.starts_with("keyward_session="))
        .unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure"] {
        assert!(
            session_cookie.contains(attribute),
            "{session_cookie} lacks {attribute}"
        );
    }
    let token = session_cookie["keyward_session=".len()..]
        .split(';')
        .next()
        .unwrap();
    let cookie = format!("keyward_session={token}");
    let csrf = login["csrf_token"].as_str().unwrap();

    let send = |method: reqwest::Method, path: &str| {
        server
            .http()
            .request(method, server.url(path))
            .header("cookie", cookie.clone())
    };
    let (status, sessions) = json_of(send(reqwest::Method::GET, "/api/v1/sessions")).await;
    assert_eq!(status, 200, "reads need no CSRF token");
    assert_eq!(
        sessions["sessions"][0]["address"], "203.0.113.5",
        "{sessions}"
    );

    let key = json!({"exchange": "binance", "label": "x", "api_key": "cookieKey",
                     "api_secret": "CookieSecret"});
    let plain = send(reqwest::Method::POST, "/api/v1/keys").json(&key);
    let (status, refused) = json_of(plain).await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["error"], "csrf_failed");
    let wrong = send(reqwest::Method::POST, "/api/v1/keys")
        .header("x-csrf-token", "AAAA")
        .json(&key);
    assert_eq!(json_of(wrong).await.0, 403);
    let foreign = send(reqwest::Method::POST, "/api/v1/keys")
        .header("x-csrf-token", csrf)
        .header("origin", "https://evil.example")
        .json(&key);
    assert_eq!(json_of(foreign).await.0, 403, "another origin");
    let good = send(reqwest::Method::POST, "/api/v1/keys")
        .header("x-csrf-token", csrf)
        .json(&key);
    let (status, added) = json_of(good).await;
    assert_eq!(status, 202, "{added}");

    let logout =
        send(reqwest::Method::DELETE, "/api/v1/sessions/current").header("x-csrf-token", csrf);
    let response = logout.send().await.unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let cleared = response.headers().get_all("set-cookie").iter().count();
    assert_eq!(cleared, 2, "logout clears both cookies");
    let (status, _) = json_of(send(reqwest::Method::GET, "/api/v1/keys")).await;
    assert_eq!(status, 401);
    server.stop();
}

async fn json_of(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test]
async fn reauth_renews_the_token_and_tokens_are_scoped() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir, &[]).await;
    let login = server.login().await;
    let (status, refused) = server
        .post("/api/v1/reauth", &json!({"password": "wrong password!"}))
        .await;
    assert_eq!(status, 401, "{refused}");
    let (status, renewed) = server
        .post("/api/v1/reauth", &json!({"password": TEST_PASSWORD}))
        .await;
    assert_eq!(status, 200, "{renewed}");
    assert_eq!(renewed["session_id"], login.session_id.as_str());
    let new_token = renewed["token"].as_str().unwrap();
    assert_ne!(new_token, login.token);
    let (status, _) = server
        .send("GET", "/api/v1/keys", None, Some(&login.token))
        .await;
    assert_eq!(status, 401, "the old token stopped working");
    server.use_token(Some(new_token));

    let (status, read) = server
        .post(
            "/api/v1/tokens",
            &json!({"name": "reader", "scope": "read"}),
        )
        .await;
    assert_eq!(status, 201, "{read}");
    let (status, write) = server
        .post(
            "/api/v1/tokens",
            &json!({"name": "writer", "scope": "read_write", "expires_in_days": 7}),
        )
        .await;
    assert_eq!(status, 201, "{write}");
    let (read_token, write_token) = (
        read["token"].as_str().unwrap(),
        write["token"].as_str().unwrap(),
    );
    assert!(read_token.starts_with("kwt_"));

    let (status, list) = server.get("/api/v1/tokens").await;
    assert_eq!(status, 200);
    assert_eq!(list["tokens"].as_array().unwrap().len(), 2, "{list}");
    assert!(
        !list.to_string().contains(read_token),
        "listing shows no token value"
    );

    let bot = json!({"label": "b", "exchange": "binance", "symbol": "BTCUSDT",
                     "strategy": {"name": "sma", "params": {"fast": 5, "slow": 20}}});
    let key = json!({"exchange": "binance", "label": "x", "api_key": "k1", "api_secret": "s1"});
    let cases = [
        (read_token, "GET", "/api/v1/bots", None, 200),
        (read_token, "POST", "/api/v1/bots", Some(&bot), 403),
        (write_token, "POST", "/api/v1/bots", Some(&bot), 201),
        (write_token, "POST", "/api/v1/keys", Some(&key), 403),
        (write_token, "GET", "/api/v1/sessions", None, 403),
        (write_token, "POST", "/api/v1/tokens", Some(&bot), 403),
    ];
    for (token, method, path, body, expected) in cases {
        let (status, answer) = server.send(method, path, body, Some(token)).await;
        assert_eq!(status, expected, "{method} {path}: {answer}");
    }

    let path = format!("/api/v1/tokens/{}", read["token_id"].as_str().unwrap());
    let (status, _) = server.delete(&path).await;
    assert_eq!(status, 204);
    let (status, _) = server
        .send("GET", "/api/v1/bots", None, Some(read_token))
        .await;
    assert_eq!(status, 401, "a revoked token stops working at once");
    let (status, _) = server.delete(&path).await;
    assert_eq!(status, 404, "revoking twice");
    server.stop();
}

#[tokio::test]
async fn password_change_ends_other_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir, &[]).await;
    server.login().await;
    let other = server
        .register_and_login(TEST_USERNAME, TEST_PASSWORD)
        .await;
    let new_password = "a different long password 7";
    let change = |current: &str| json!({"current_password": current, "new_password": new_password});
    let path = "/api/v1/account/password";
    let (status, refused) = server.put(path, &change("nope nope nope")).await;
    assert_eq!(status, 401, "{refused}");
    let (status, changed) = server.put(path, &change(TEST_PASSWORD)).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["sessions_ended"], 1);
    let (status, _) = server
        .send("GET", "/api/v1/keys", None, Some(&other.token))
        .await;
    assert_eq!(status, 401, "the other session ended");
    let (status, _) = server.get("/api/v1/keys").await;
    assert_eq!(status, 200, "this session stays");
    let old = credentials(TEST_USERNAME, TEST_PASSWORD);
    let (status, _) = server
        .send("POST", "/api/v1/sessions", Some(&old), None)
        .await;
    assert_eq!(status, 401);
    let new = credentials(TEST_USERNAME, new_password);
    let (status, _) = server
        .send("POST", "/api/v1/sessions", Some(&new), None)
        .await;
    assert_eq!(status, 201);
    server.stop();
}

#[tokio::test]
async fn one_address_guessing_many_usernames_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir, &["--login-source-lock-after", "4"]).await;
    server.login().await;
    for i in 0..4 {
        let body = credentials(&format!("guess{i}"), "not the password at all");
        let (status, answer) = server
            .send("POST", "/api/v1/sessions", Some(&body), None)
            .await;
        assert_eq!(status, 401, "guess {i}: {answer}");
    }
    let right = credentials(TEST_USERNAME, TEST_PASSWORD);
    let (status, answer) = server
        .send("POST", "/api/v1/sessions", Some(&right), None)
        .await;
    assert_eq!(
        status, 423,
        "the address is locked, even for a right password: {answer}"
    );
    assert_eq!(answer["error"], "locked");
    server.stop();
}

/// Median duration of `attempts`, in milliseconds.
fn median_ms(mut attempts: Vec<Duration>) -> f64 {
    attempts.sort_unstable();
    attempts[attempts.len() / 2].as_secs_f64() * 1000.0
}

#[tokio::test]
async fn unknown_and_known_usernames_answer_alike() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir, &[]).await;
    server.login().await;
    let mut answers = Vec::new();
    for username in [TEST_USERNAME, "nobody-here"] {
        let body = credentials(username, "not the password at all");
        let mut seen = Vec::new();
        for _ in 0..4 {
            let response = server
                .http()
                .post(server.url("/api/v1/sessions"))
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let retry_after = response.headers().get("retry-after").cloned();
            let answer: Value = response.json().await.unwrap();
            seen.push((status, answer, retry_after));
        }
        answers.push(seen);
    }
    let statuses: Vec<u16> = answers[0].iter().map(|(s, _, _)| *s).collect();
    assert_eq!(statuses, [401, 401, 401, 429], "{:?}", answers[0]);
    assert_eq!(
        answers[0], answers[1],
        "known and unknown usernames answer alike"
    );
    server.stop();
}

/// Sends a JSON POST as if from `address`, through the trusted proxy on loopback; returns
/// the status and how long the response took.
async fn post_from(server: &Server, path: &str, body: &Value, address: &str) -> (u16, Duration) {
    let started = Instant::now();
    let response = server
        .http()
        .post(server.url(path))
        .header("x-forwarded-for", address)
        .json(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), started.elapsed())
}

#[tokio::test]
async fn failed_login_timing_does_not_reveal_accounts() {
    const SAMPLES: usize = 15;
    let dir = tempfile::tempdir().unwrap();
    // Each attempt comes from its own address, so the per-address throttle never delays one.
    let server = start(&dir, &["--trusted-proxy", "127.0.0.1"]).await;
    for i in 0..SAMPLES {
        let body = credentials(&format!("known{i}"), TEST_PASSWORD);
        let (status, _) =
            post_from(&server, "/api/v1/accounts", &body, &format!("10.1.0.{i}")).await;
        assert_eq!(status, 201);
    }
    let (mut known_times, mut unknown_times) = (Vec::new(), Vec::new());
    for i in 0..SAMPLES {
        let pairs = [
            (1, "known", &mut known_times),
            (2, "ghost", &mut unknown_times),
        ];
        for (network, name, times) in pairs {
            let body = credentials(&format!("{name}{i}"), "not the password at all");
            let address = format!("10.2.{network}.{i}");
            let (status, took) = post_from(&server, "/api/v1/sessions", &body, &address).await;
            assert_eq!(status, 401);
            times.push(took);
        }
    }
    let (known_ms, unknown_ms) = (median_ms(known_times), median_ms(unknown_times));
    println!(
        "failed login median of {SAMPLES}: known {known_ms:.1} ms, unknown {unknown_ms:.1} ms"
    );
    let ratio = known_ms / unknown_ms;
    assert!(
        (0.5..2.0).contains(&ratio),
        "known {known_ms:.1} ms vs unknown {unknown_ms:.1} ms"
    );
    server.stop();
}

#[tokio::test]
async fn password_hash_uses_the_default_cost() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start(&dir, &[]).await;
    server.login().await;
    server.stop();
    let registered = stored_events(&data)
        .iter()
        .find_map(|e| match AccountEvent::from_recorded(e) {
            Ok(AccountEvent::AccountRegistered(r)) => Some(r),
            _ => None,
        })
        .unwrap();
    let master = keyward_vault::MasterKey::from_base64(
        &common::master_key_b64(),
        keyward_vault::MasterKeySource::Env("KEYWARD_MASTER_KEY".into()),
    )
    .unwrap();
    let vault = keyward_vault::Vault::open(&data, master).unwrap();
    let hash = vault.open_secret(registered.password_ref).unwrap();
    let hash = std::str::from_utf8(hash.expose()).unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
}
