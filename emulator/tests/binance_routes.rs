//! Binance routes of the emulator, driven through its router: error paths return the recorded
//! fixtures' exact code, message and HTTP status.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use keyward_emulator::binance::signing::expected_signature;
use keyward_emulator::{EmulatorKey, EmulatorState, parse_keys, router};
use serde_json::{Value, json};
use tower::ServiceExt;

const FIXTURES: &str = "exchanges/fixtures/binance";
const SECRET: &str = "emulator-test-secret";
const LOCAL: &str = "127.0.0.1:50000";

fn key(api_key: &str, flags: Value) -> Value {
    let mut entry = json!({
        "exchange": "binance", "api_key": api_key, "api_secret": SECRET,
        "read": true, "spot": false, "futures": true, "withdraw": false, "transfer": false,
        "ip_allowlist": ["127.0.0.1"],
    });
    for (name, value) in flags.as_object().expect("flags object") {
        entry[name] = value.clone();
    }
    entry
}

fn state() -> EmulatorState {
    let keys = json!([
        key("good", json!({})),
        key("elsewhere", json!({"ip_allowlist": ["192.0.2.10"]})),
        key("readonly", json!({"futures": false, "ip_allowlist": []})),
    ]);
    let keys: Vec<EmulatorKey> =
        parse_keys(&keys.to_string(), std::path::Path::new("test-keys.json")).expect("keys");
    EmulatorState::new(keys, None)
}

struct Answer {
    status: StatusCode,
    weight: Option<String>,
    body: Value,
}

async fn call(state: &EmulatorState, method: &str, uri: &str, api_key: Option<&str>) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(api_key) = api_key {
        request = request.header("X-MBX-APIKEY", api_key);
    }
    let mut request = request.body(Body::empty()).expect("request");
    let client: SocketAddr = LOCAL.parse().expect("address");
    request.extensions_mut().insert(ConnectInfo(client));
    let response = router(state.clone())
        .oneshot(request)
        .await
        .expect("router answers");
    let status = response.status();
    let weight = ["x-mbx-used-weight-1m", "x-sapi-used-ip-weight-1m"]
        .iter()
        .find_map(|name| response.headers().get(*name))
        .map(|value| value.to_str().expect("ASCII header").to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        weight,
        body,
    }
}

fn signed(path: &str, params: &str, secret: &str) -> String {
    let signature = expected_signature(secret.as_bytes(), params.as_bytes());
    format!("{path}?{params}&signature={signature}")
}

fn restrictions_uri(timestamp: i64, secret: &str) -> String {
    let params = format!("timestamp={timestamp}&recvWindow=5000");
    signed("/sapi/v1/account/apiRestrictions", &params, secret)
}

/// The fixture body and its HTTP status from the manifest.
fn fixture(name: &str) -> Option<(StatusCode, Value)> {
    let body = keyward_testkit::read_shared(&format!("{FIXTURES}/{name}"))?;
    let manifest = keyward_testkit::read_shared(&format!("{FIXTURES}/_manifest.json"))?;
    let manifest: Value = serde_json::from_str(&manifest).expect("manifest is JSON");
    let status = manifest["files"][name]["http_status"]
        .as_u64()
        .expect("status in manifest");
    let status = StatusCode::from_u16(u16::try_from(status).expect("u16")).expect("status");
    Some((
        status,
        serde_json::from_str(&body).expect("fixture is JSON"),
    ))
}

async fn assert_fixture(answer: Answer, name: &str) {
    let Some((status, body)) = fixture(name) else {
        return;
    };
    assert_eq!(answer.status, status, "{name}: status");
    assert_eq!(answer.body, body, "{name}: body");
    assert!(answer.weight.is_some(), "{name}: weight header");
}

#[tokio::test]
async fn unknown_key_answers_2015() {
    let state = state();
    let answer = call(
        &state,
        "GET",
        &restrictions_uri(state.now_ms(), SECRET),
        Some("nope"),
    )
    .await;
    assert_fixture(answer, "error.-2015.invalid-key-ip-or-permission.json").await;
}

#[tokio::test]
async fn missing_key_header_answers_2015() {
    let state = state();
    let answer = call(
        &state,
        "GET",
        &restrictions_uri(state.now_ms(), SECRET),
        None,
    )
    .await;
    assert_fixture(answer, "error.-2015.invalid-key-ip-or-permission.json").await;
}

#[tokio::test]
async fn address_outside_allowlist_answers_2015() {
    let state = state();
    let uri = restrictions_uri(state.now_ms(), SECRET);
    let answer = call(&state, "GET", &uri, Some("elsewhere")).await;
    assert_fixture(answer, "error.-2015.invalid-key-ip-or-permission.json").await;
}

#[tokio::test]
async fn wrong_secret_answers_1022() {
    let state = state();
    let uri = restrictions_uri(state.now_ms(), "not-the-secret");
    let answer = call(&state, "GET", &uri, Some("good")).await;
    assert_fixture(answer, "error.-1022.bad-signature.json").await;
}

#[tokio::test]
async fn old_timestamp_answers_1021_outside_window() {
    let state = state();
    let uri = restrictions_uri(state.now_ms() - 10_000, SECRET);
    let answer = call(&state, "GET", &uri, Some("good")).await;
    assert_fixture(answer, "error.-1021.timestamp-outside-recvwindow.json").await;
}

#[tokio::test]
async fn future_timestamp_answers_1021_ahead() {
    let state = state();
    let uri = restrictions_uri(state.now_ms() + 5_000, SECRET);
    let answer = call(&state, "GET", &uri, Some("good")).await;
    assert_fixture(answer, "error.-1021.timestamp-ahead.json").await;
}

#[tokio::test]
async fn key_check_comes_before_signature_check() {
    let state = state();
    let uri = restrictions_uri(state.now_ms(), "not-the-secret");
    let answer = call(&state, "GET", &uri, Some("elsewhere")).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.body["code"], -2015);
}

#[tokio::test]
async fn missing_signature_answers_1102() {
    let state = state();
    let uri = format!(
        "/sapi/v1/account/apiRestrictions?timestamp={}",
        state.now_ms()
    );
    let answer = call(&state, "GET", &uri, Some("good")).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.body["code"], -1102);
}

#[tokio::test]
async fn good_key_gets_restrictions_in_binance_shape() {
    let state = state();
    let answer = call(
        &state,
        "GET",
        &restrictions_uri(state.now_ms(), SECRET),
        Some("good"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let name = "api-restrictions.futures-trade-no-withdraw-ip-restricted.json";
    let Some((_, mut expected)) = fixture(name) else {
        return;
    };
    let created = answer.body["createTime"]
        .as_i64()
        .expect("createTime is a number");
    assert!(created > 1_600_000_000_000, "createTime {created}");
    expected["createTime"] = json!(created);
    assert_eq!(answer.body, expected);
}

#[tokio::test]
async fn readonly_key_reports_no_restriction_and_no_futures() {
    let state = state();
    let uri = restrictions_uri(state.now_ms(), SECRET);
    let answer = call(&state, "GET", &uri, Some("readonly")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["ipRestrict"], false);
    assert_eq!(answer.body["enableFutures"], false);
    assert_eq!(answer.body["enableReading"], true);
}

#[tokio::test]
async fn balance_needs_futures_permission() {
    let state = state();
    let params = format!("recvWindow=5000&timestamp={}", state.now_ms());
    let uri = signed("/fapi/v3/balance", &params, SECRET);
    let good = call(&state, "GET", &uri, Some("good")).await;
    assert_eq!(good.status, StatusCode::OK);
    assert_eq!(good.body[0]["asset"], "USDT");
    assert!(good.body[0]["balance"].is_string());
    let readonly = call(&state, "GET", &uri, Some("readonly")).await;
    assert_fixture(readonly, "error.-2015.invalid-key-ip-or-permission.json").await;
}

#[tokio::test]
async fn public_routes_answer_with_weight() {
    let state = state();
    let time = call(&state, "GET", "/fapi/v1/time", None).await;
    assert_eq!(time.status, StatusCode::OK);
    let server_time = time.body["serverTime"].as_i64().expect("serverTime");
    assert!((server_time - state.now_ms()).abs() < 5_000);
    let ping = call(&state, "GET", "/fapi/v1/ping", None).await;
    assert_eq!(ping.body, json!({}));
    let weight = |answer: &Answer| -> u32 {
        answer
            .weight
            .as_deref()
            .expect("weight header")
            .parse()
            .expect("a number")
    };
    assert_eq!(weight(&time), 1);
    // The count restarts when a minute ends between the two requests.
    assert!(
        weight(&ping) == 2 || weight(&ping) == 1,
        "ping weight {}",
        weight(&ping)
    );
}

#[tokio::test]
async fn admin_changes_key_flags() {
    let state = state();
    let update = Request::builder()
        .method("POST")
        .uri("/_emulator/keys/good")
        .body(Body::from(r#"{"withdraw": true, "ip_allowlist": []}"#))
        .expect("request");
    let response = router(state.clone()).oneshot(update).await.expect("answer");
    assert_eq!(response.status(), StatusCode::OK);
    let answer = call(
        &state,
        "GET",
        &restrictions_uri(state.now_ms(), SECRET),
        Some("good"),
    )
    .await;
    assert_eq!(answer.body["enableWithdrawals"], true);
    assert_eq!(answer.body["ipRestrict"], false);
}

#[tokio::test]
async fn admin_rejects_unknown_key_and_bad_body() {
    let state = state();
    let post = |uri: &str, body: &'static str| {
        Request::builder()
            .method("POST")
            .uri(uri)
            .body(Body::from(body))
            .expect("request")
    };
    let missing = router(state.clone())
        .oneshot(post("/_emulator/keys/nope", "{}"))
        .await;
    assert_eq!(missing.expect("answer").status(), StatusCode::NOT_FOUND);
    let typo = router(state.clone()).oneshot(post("/_emulator/keys/good", r#"{"withdrawl":1}"#));
    assert_eq!(
        typo.await.expect("answer").status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn clock_skew_fault_moves_server_time() {
    let state = state();
    let fault = Request::builder()
        .method("POST")
        .uri("/_emulator/faults")
        .body(Body::from(r#"{"clock_skew_ms": -60000}"#))
        .expect("request");
    let response = router(state.clone()).oneshot(fault).await.expect("answer");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(state.clock_skew_ms(), -60_000);

    let system_now = chrono::Utc::now().timestamp_millis();
    let time = call(&state, "GET", "/fapi/v1/time", None).await;
    let server_time = time.body["serverTime"].as_i64().expect("serverTime");
    assert!((system_now - 61_000..system_now - 59_000).contains(&server_time));

    let uri = restrictions_uri(system_now, SECRET);
    let answer = call(&state, "GET", &uri, Some("good")).await;
    assert_fixture(answer, "error.-1021.timestamp-ahead.json").await;
}
