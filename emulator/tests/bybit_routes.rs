//! Bybit routes of the emulator, driven through its router: authentication failures return
//! the recorded fixtures' code and message, and the key information has Bybit's shape.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use keyward_emulator::bybit::signing::{expected_signature, signed_text};
use keyward_emulator::{EmulatorKey, EmulatorState, parse_keys, router};
use serde_json::{Value, json};
use tower::ServiceExt;

const FIXTURES: &str = "exchanges/fixtures/bybit";
const SECRET: &str = "emulator-test-secret";
const LOCAL: &str = "127.0.0.1:50000";

fn key(api_key: &str, flags: Value) -> Value {
    let mut entry = json!({
        "exchange": "bybit", "api_key": api_key, "api_secret": SECRET,
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
        key(
            "bound",
            json!({"ip_allowlist": ["127.0.0.1", "192.0.2.10"]})
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
    /// Milliseconds added to the emulator's clock for `X-BAPI-TIMESTAMP`.
    skew_ms: i64,
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
        let timestamp = (state.now_ms() + signing.skew_ms).to_string();
        let payload = if method == "GET" {
            uri.split_once('?').map_or("", |(_, query)| query)
        } else {
            body
        };
        let text = signed_text(&timestamp, signing.api_key, "5000", payload.as_bytes());
        request = request
            .header("X-BAPI-API-KEY", signing.api_key)
            .header("X-BAPI-TIMESTAMP", timestamp)
            .header("X-BAPI-RECV-WINDOW", "5000")
            .header(
                "X-BAPI-SIGN",
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

fn signed(api_key: &str) -> Option<Signing<'_>> {
    Some(Signing {
        api_key,
        secret: SECRET,
        skew_ms: 0,
    })
}

fn fixture(name: &str) -> Option<Value> {
    let text = keyward_testkit::read_shared(&format!("{FIXTURES}/{name}"))?;
    Some(serde_json::from_str(&text).expect("fixture is JSON"))
}

/// Checks that an error body has the fixture's `retCode` and `retMsg`.
fn assert_matches(body: &Value, name: &str) {
    let Some(expected) = fixture(name) else {
        return;
    };
    assert_eq!(body["retCode"], expected["retCode"], "{name}: {body}");
    assert_eq!(body["retMsg"], expected["retMsg"], "{name}: {body}");
}

#[tokio::test]
async fn key_problems_return_fixture_codes() {
    let state = state();
    let uri = "/v5/user/query-api";
    let (status, body) = call(&state, "GET", uri, "", signed("nobody")).await;
    assert_eq!(status, StatusCode::OK);
    assert_matches(&body, "error.10003.invalid-api-key.json");

    let (_, body) = call(&state, "GET", uri, "", signed("elsewhere")).await;
    assert_matches(&body, "error.10010.ip-not-allowed.json");

    let wrong_secret = Signing {
        api_key: "good",
        secret: "wrong",
        skew_ms: 0,
    };
    let (_, body) = call(&state, "GET", uri, "", Some(wrong_secret)).await;
    assert_eq!(body["retCode"], 10004, "{body}");

    let late = Signing {
        api_key: "good",
        secret: SECRET,
        skew_ms: -6000,
    };
    let (_, body) = call(&state, "GET", uri, "", Some(late)).await;
    assert_eq!(body["retCode"], 10002, "{body}");
    let msg = body["retMsg"].as_str().expect("message");
    assert!(msg.contains("recv_window[5000]"), "{msg}");
}

#[tokio::test]
async fn read_only_key_cannot_trade() {
    let state = state();
    let order = json!({"category": "linear", "symbol": "BTCUSDT", "side": "Buy",
        "orderType": "Market", "qty": "0.001", "orderLinkId": "ro-1"})
    .to_string();
    let (_, body) = call(
        &state,
        "POST",
        "/v5/order/create",
        &order,
        signed("readonly"),
    )
    .await;
    assert_matches(&body, "error.10005.permission-denied.json");
}

#[tokio::test]
async fn key_information_has_fixture_shape() {
    let state = state();
    let (_, body) = call(&state, "GET", "/v5/user/query-api", "", signed("bound")).await;
    let Some(expected) = fixture("query-api.trade-no-withdraw-ip-bound.json") else {
        return;
    };
    let result = &body["result"];
    for field in ["readOnly", "ips", "expiredAt", "uta"] {
        assert!(result.get(field).is_some(), "{field} missing: {result}");
    }
    assert_eq!(result["readOnly"], expected["result"]["readOnly"]);
    for group in ["ContractTrade", "Derivatives", "Wallet", "Spot"] {
        assert_eq!(
            result["permissions"][group], expected["result"]["permissions"][group],
            "{group}"
        );
    }
    assert_eq!(result["ips"][1], expected["result"]["ips"][0]);
    assert_eq!(result["expiredAt"], expected["result"]["expiredAt"]);

    let (_, body) = call(&state, "GET", "/v5/user/query-api", "", signed("readonly")).await;
    assert_eq!(body["result"]["readOnly"], 1);
    assert_eq!(body["result"]["ips"], json!(["*"]));
}

#[tokio::test]
async fn leverage_unchanged_is_110043() {
    let state = state();
    let body = json!({"category": "linear", "symbol": "BTCUSDT",
        "buyLeverage": "10", "sellLeverage": "10"})
    .to_string();
    let uri = "/v5/position/set-leverage";
    let (_, first) = call(&state, "POST", uri, &body, signed("good")).await;
    assert_eq!(first["retCode"], 0, "{first}");
    let (_, again) = call(&state, "POST", uri, &body, signed("good")).await;
    assert_matches(&again, "error.110043.leverage-not-modified.json");
}

#[tokio::test]
async fn order_below_notional_is_110094() {
    let state = state();
    let order = json!({"category": "linear", "symbol": "BTCUSDT", "side": "Buy",
        "orderType": "Limit", "qty": "0.001", "price": "1000", "orderLinkId": "small-1"})
    .to_string();
    let (_, body) = call(&state, "POST", "/v5/order/create", &order, signed("good")).await;
    assert_matches(&body, "error.110094.min-notional.json");
}

#[tokio::test]
async fn server_time_has_fixture_fields() {
    let state = state();
    let (_, body) = call(&state, "GET", "/v5/market/time", "", None).await;
    let Some(expected) = fixture("market-time.json") else {
        return;
    };
    for field in ["timeSecond", "timeNano"] {
        assert!(body["result"][field].is_string(), "{field}: {body}");
        assert!(expected["result"][field].is_string(), "{field}");
    }
    let seconds: i64 = body["result"]["timeSecond"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((seconds * 1000 - state.now_ms()).abs() < 2000);
}
