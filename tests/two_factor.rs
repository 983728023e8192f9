//! TOTP two-factor authentication end to end: enrollment, codes accepted once (also under
//! concurrent requests), recovery codes, disabling, and brute force throttled then locked.

mod common;

use std::time::Duration;

use common::{
    Server, TEST_PASSWORD, TEST_USERNAME, account_event_types, enable_two_factor, fresh_totp_step,
    seed_from_uri, totp_code,
};
use serde_json::{Value, json};

fn login_body(totp_code: Option<&str>) -> Value {
    let mut body = json!({"username": TEST_USERNAME, "password": TEST_PASSWORD});
    if let Some(code) = totp_code {
        body["totp_code"] = json!(code);
    }
    body
}

/// Waits until the account actor has appended the events it records after replying, because
/// a read of the account queues behind those appends.
async fn flush_account_events(server: &Server) {
    let (status, _) = server.get("/api/v1/account").await;
    assert_eq!(status, 200);
}

async fn login_with(server: &Server, body: &Value) -> (u16, Value) {
    server
        .send("POST", "/api/v1/sessions", Some(body), None)
        .await
}

#[tokio::test]
async fn enrollment_gives_uri_and_qr_code() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &dir.path().join("log"),
        &["--sandbox"],
    )
    .await;
    server.login().await;
    let (status, enrollment) = server.post("/api/v1/2fa/enroll", &json!({})).await;
    assert_eq!(status, 200, "{enrollment}");
    let uri = enrollment["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/keyward:alice?secret="),
        "{uri}"
    );
    assert!(uri.contains("&digits=6&period=30"), "{uri}");
    assert_eq!(seed_from_uri(uri).len(), 20);
    let svg = enrollment["qr_svg"].as_str().unwrap();
    assert!(svg.contains("<svg"), "{}", &svg[..80.min(svg.len())]);

    let (_, account) = server.get("/api/v1/account").await;
    assert_eq!(account["two_factor"], "pending", "{account}");
    let (status, _) = login_with(&server, &login_body(None)).await;
    assert_eq!(
        status, 201,
        "a pending enrollment does not guard logins yet"
    );

    let (status, refused) = server
        .post("/api/v1/2fa/confirm", &json!({"totp_code": "12345"}))
        .await;
    assert_eq!(status, 401, "{refused}");
    let (_, account) = server.get("/api/v1/account").await;
    assert_eq!(
        account["two_factor"], "pending",
        "a wrong code confirms nothing"
    );
    server.stop();
}

#[tokio::test]
async fn totp_codes_are_accepted_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &dir.path().join("log"), &["--sandbox"]).await;
    server.login().await;
    let step = fresh_totp_step().await;
    let (seed, recovery) = enable_two_factor(&server, step).await;
    assert_eq!(recovery.len(), 10);
    let (status, again) = server
        .post(
            "/api/v1/2fa/confirm",
            &json!({"totp_code": totp_code(&seed, step)}),
        )
        .await;
    assert_eq!(status, 409, "confirming twice: {again}");

    let (status, required) = login_with(&server, &login_body(None)).await;
    assert_eq!(status, 401, "{required}");
    assert_eq!(required["error"], "totp_required");

    let code = totp_code(&seed, step);
    let (status, first) = login_with(&server, &login_body(Some(&code))).await;
    assert_eq!(status, 201, "{first}");

    let next = totp_code(&seed, step + 1);
    let body = login_body(Some(&next));
    let (a, b) = tokio::join!(login_with(&server, &body), login_with(&server, &body));
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [201, 401],
        "two concurrent logins with one code: {a:?} {b:?}"
    );

    let (status, replayed) = login_with(&server, &body).await;
    assert_eq!(status, 401, "the same code again: {replayed}");
    assert_eq!(replayed["error"], "unauthorized");
    let (status, _) = login_with(&server, &login_body(Some(&code))).await;
    assert_eq!(status, 401, "a code older than one already used");
    flush_account_events(&server).await;
    server.stop();

    let types = account_event_types(&data);
    let failed = types.iter().filter(|t| *t == "LoginFailed").count();
    assert_eq!(failed, 3, "{types:?}");
    assert!(types.contains(&"TwoFactorEnabled".to_owned()));
    assert!(types.contains(&"RecoveryCodesIssued".to_owned()));
}

#[tokio::test]
async fn recovery_codes_work_once_and_disable_needs_a_fresh_code() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &dir.path().join("log"),
        &["--sandbox"],
    )
    .await;
    server.login().await;
    let step = fresh_totp_step().await;
    let (seed, recovery) = enable_two_factor(&server, step).await;

    let mut body = login_body(None);
    body["recovery_code"] = json!(recovery[0].to_uppercase());
    let (status, answer) = login_with(&server, &body).await;
    assert_eq!(status, 201, "a recovery code, in upper case: {answer}");
    let (status, _) = login_with(&server, &body).await;
    assert_eq!(status, 401, "a recovery code works once");

    let used = totp_code(&seed, step - 1);
    let (status, refused) = server
        .post("/api/v1/2fa/disable", &json!({"totp_code": used}))
        .await;
    assert_eq!(status, 401, "disabling with a used code: {refused}");
    let (status, refused) = server.post("/api/v1/2fa/disable", &json!({})).await;
    assert_eq!(status, 401, "{refused}");
    assert_eq!(refused["error"], "totp_required");
    let fresh = totp_code(&seed, step);
    let (status, disabled) = server
        .post("/api/v1/2fa/disable", &json!({"totp_code": fresh}))
        .await;
    assert_eq!(status, 200, "{disabled}");
    let (_, account) = server.get("/api/v1/account").await;
    assert_eq!(account["two_factor"], "off");

    let mut body = login_body(None);
    body["recovery_code"] = json!(recovery[1]);
    let (status, _) = login_with(&server, &body).await;
    assert_eq!(status, 201, "with 2FA off the password suffices");
    server.stop();
}

#[tokio::test]
async fn totp_brute_force_slows_down_then_locks() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = ["--sandbox", "--login-lock-after", "5"];
    let server = Server::start(&data, &dir.path().join("log"), &args).await;
    server.login().await;
    let step = fresh_totp_step().await;
    let (seed, _) = enable_two_factor(&server, step).await;
    let right = totp_code(&seed, step);
    let wrong = |i: u32| format!("{:06}", (right.parse::<u32>().unwrap() + 1 + i) % 1_000_000);

    for i in 0..3 {
        let (status, answer) = login_with(&server, &login_body(Some(&wrong(i)))).await;
        assert_eq!(status, 401, "free failure {i}: {answer}");
    }
    let response = server
        .http()
        .post(server.url("/api/v1/sessions"))
        .json(&login_body(Some(&right)))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        429,
        "the right code is not even checked now"
    );
    assert_eq!(response.headers()["retry-after"], "1");
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["error"], "rate_limited");

    for (i, wait) in [(3, 1.1), (4, 2.1)] {
        tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        let (status, answer) = login_with(&server, &login_body(Some(&wrong(i)))).await;
        assert_eq!(status, 401, "failure {i} after waiting: {answer}");
    }
    let (status, answer) = login_with(&server, &login_body(Some(&right))).await;
    assert_eq!(status, 423, "{answer}");
    assert_eq!(answer["error"], "locked");
    flush_account_events(&server).await;
    server.stop();

    let types = account_event_types(&data);
    assert_eq!(
        types.iter().filter(|t| *t == "LoginFailed").count(),
        5,
        "{types:?}"
    );
    assert!(types.contains(&"AccountLocked".to_owned()), "{types:?}");
}
