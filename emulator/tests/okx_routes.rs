//! OKX routes of the emulator, driven through its router: authentication failures return the
//! recorded fixtures' code, message and HTTP status, and the account configuration has OKX's
//! shape.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use keyward_emulator::okx::signing::{expected_signature, signed_text};
use keyward_emulator::{EmulatorKey, EmulatorState, parse_keys, router};
use serde_json::{Value, json};
use tower::ServiceExt;

const FIXTURES: &str = "exchanges/fixtures/okx";
const SECRET: &str = "emulator-test-secret";
const PASSPHRASE: &str = "emulator-test-passphrase";
const LOCAL: &str = "127.0.0.1:50000";

fn key(api_key: &str, flags: Value) -> Value {
    let mut entry = json!({
        "exchange": "okx", "api_key": api_key, "api_secret": SECRET, "passphrase": PASSPHRASE,
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
        key("demo", json!({"testnet": true})),
        key(
            "withdraw",
            json!({"withdraw": true, "ip_allowlist": ["127.0.0.1", "192.0.2.10"]})
        ),
    ]);
    let keys: Vec<EmulatorKey> =
        parse_keys(&keys.to_string(), std::path::Path::new("test-keys.json")).expect("keys");
    EmulatorState::new(keys, None)
}

/// How a test request is signed.
struct Signing<'a> {
    api_key: &'a str,
    secret: &'a str,
    passphrase: &'a str,
    /// Milliseconds added to the emulator's clock for `OK-ACCESS-TIMESTAMP`.
    skew_ms: i64,
}

fn signed(api_key: &str) -> Option<Signing<'_>> {
    Some(Signing {
        api_key,
        secret: SECRET,
        passphrase: PASSPHRASE,
        skew_ms: 0,
    })
}

async fn call(
    state: &EmulatorState,
    method: &str,
    uri: &str,
    body: &str,
    signing: Option<Signing<'_>>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(signing) = signing {
        let time = chrono::DateTime::from_timestamp_millis(state.now_ms() + signing.skew_ms)
            .expect("time in range");
        let timestamp = time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        let text = signed_text(&timestamp, method, uri, body.as_bytes());
        request = request
            .header("OK-ACCESS-KEY", signing.api_key)
            .header("OK-ACCESS-TIMESTAMP", timestamp)
            .header("OK-ACCESS-PASSPHRASE", signing.passphrase)
            .header(
                "OK-ACCESS-SIGN",
                expected_signature(signing.secret.as_bytes(), &text),
            );
    }
    let mut request = request.body(Body::from(body.to_owned())).expect("request");
    let client: SocketAddr = LOCAL.parse().expect("address");
    request.extensions_mut().insert(ConnectInfo(client));
    let response = router(state.clone())
        .oneshot(request)
        .await
        .expect("router responds");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, serde_json::from_slice(&bytes).expect("JSON body"))
}

fn fixture(name: &str) -> Option<Value> {
    let text = keyward_testkit::read_shared(&format!("{FIXTURES}/{name}"))?;
    Some(serde_json::from_str(&text).expect("fixture is JSON"))
}

/// Checks that an error has the fixture's HTTP status, `code` and `msg`.
fn assert_matches(status: StatusCode, body: &Value, name: &str) {
    let Some(expected) = fixture(name) else {
        return;
    };
    assert_eq!(body["code"], expected["code"], "{name}: {body}");
    assert_eq!(body["msg"], expected["msg"], "{name}: {body}");
    let Some(manifest) = fixture("_manifest.json") else {
        return;
    };
    let expected_status = manifest["files"][name]["http_status"].as_u64();
    assert_eq!(Some(u64::from(status.as_u16())), expected_status, "{name}");
}

#[tokio::test]
async fn key_problems_return_fixture_bodies() {
    let state = state();
    let uri = "/api/v5/account/config";
    let (status, body) = call(&state, "GET", uri, "", signed("nobody")).await;
    assert_matches(status, &body, "error.50111.invalid-api-key.json");

    let wrong_secret = Signing {
        secret: "wrong",
        ..signed("good").expect("signing")
    };
    let (status, body) = call(&state, "GET", uri, "", Some(wrong_secret)).await;
    assert_matches(status, &body, "error.50113.invalid-signature.json");

    let wrong_passphrase = Signing {
        passphrase: "wrong",
        ..signed("good").expect("signing")
    };
    let (status, body) = call(&state, "GET", uri, "", Some(wrong_passphrase)).await;
    assert_matches(status, &body, "error.50105.passphrase-incorrect.json");

    let stale = Signing {
        skew_ms: -31_000,
        ..signed("good").expect("signing")
    };
    let (status, body) = call(&state, "GET", uri, "", Some(stale)).await;
    assert_matches(status, &body, "error.50102.timestamp-expired.json");

    let (status, body) = call(&state, "GET", uri, "", signed("demo")).await;
    assert_matches(status, &body, "error.50101.key-env-mismatch.json");

    let (status, body) = call(&state, "GET", uri, "", signed("elsewhere")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "50110");
    let msg = body["msg"].as_str().expect("message");
    assert!(msg.contains("127.0.0.1"), "{msg}");
}

#[tokio::test]
async fn read_only_key_cannot_trade() {
    let state = state();
    let order = json!({"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy",
        "ordType": "market", "sz": "1", "clOrdId": "ro1"})
    .to_string();
    let (status, body) = call(
        &state,
        "POST",
        "/api/v5/trade/order",
        &order,
        signed("readonly"),
    )
    .await;
    assert_matches(status, &body, "error.50120.no-permission.json");
}

#[tokio::test]
async fn account_config_has_fixture_shape() {
    let state = state();
    let uri = "/api/v5/account/config";
    let (_, body) = call(&state, "GET", uri, "", signed("withdraw")).await;
    let Some(expected) = fixture("account-config.withdraw-enabled-ip-bound.json") else {
        return;
    };
    let config = &body["data"][0];
    for field in ["perm", "ip", "posMode", "acctLv", "uid", "mainUid"] {
        assert!(config[field].is_string(), "{field}: {config}");
        assert!(expected["data"][0][field].is_string(), "{field}");
    }
    assert_eq!(config["perm"], expected["data"][0]["perm"]);
    assert_eq!(config["posMode"], "net_mode");
    assert_eq!(config["ip"], "127.0.0.1,192.0.2.10");

    let (_, body) = call(&state, "GET", uri, "", signed("readonly")).await;
    assert_eq!(body["data"][0]["perm"], "read_only");
    assert_eq!(body["data"][0]["ip"], "");
}

#[tokio::test]
async fn order_failure_is_per_order() {
    let state = state();
    let order = json!({"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy",
        "ordType": "limit", "px": "60000", "sz": "0.15", "clOrdId": "lot1"})
    .to_string();
    let (status, body) = call(
        &state,
        "POST",
        "/api/v5/trade/order",
        &order,
        signed("good"),
    )
    .await;
    let Some(expected) = fixture("error.51121.lot-size.order.json") else {
        return;
    };
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["code"], expected["code"]);
    assert_eq!(body["msg"], expected["msg"]);
    assert_eq!(body["data"][0]["sCode"], expected["data"][0]["sCode"]);
    assert_eq!(body["data"][0]["sMsg"], expected["data"][0]["sMsg"]);
}

#[tokio::test]
async fn unknown_instrument_is_51001() {
    let state = state();
    let uri = "/api/v5/public/instruments?instType=SWAP&instId=NOPE-USDT-SWAP";
    let (_, body) = call(&state, "GET", uri, "", None).await;
    assert_eq!(body["data"], json!([]));
    let uri = "/api/v5/trade/order?instId=NOPE-USDT-SWAP&clOrdId=x";
    let (status, body) = call(&state, "GET", uri, "", signed("good")).await;
    assert_matches(status, &body, "error.51001.instrument-not-found.json");
}
