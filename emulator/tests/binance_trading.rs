//! Binance trading routes of the emulator, driven through its router with requests signed by
//! the emulator's own signing code: the answers have the fixtures' shapes, and refusals carry
//! the fixtures' exact code, message and HTTP status.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use keyward_emulator::binance::signing::expected_signature;
use keyward_emulator::engine::{BracketSpec, InstrumentSpec};
use keyward_emulator::{EmulatorState, parse_keys, router};
use serde_json::{Value, json};
use tower::ServiceExt;

const FIXTURES: &str = "exchanges/fixtures/binance";
const SECRET: &str = "trading-test-secret";

fn dec(text: &str) -> rust_decimal::Decimal {
    text.parse().expect("decimal literal")
}

/// An instrument with a tick of 0.5 and a step of 0.005, so that a price or quantity can be
/// within the allowed decimals yet off the step.
fn coarse_instrument() -> InstrumentSpec {
    InstrumentSpec {
        symbol: "BTCUSDT".to_owned(),
        base_asset: "BTC".to_owned(),
        quote_asset: "USDT".to_owned(),
        tick_size: dec("0.5"),
        min_price: Some(dec("10")),
        max_price: Some(dec("1000000")),
        step_size: dec("0.005"),
        min_quantity: dec("0.005"),
        max_quantity: Some(dec("100")),
        max_market_quantity: Some(dec("50")),
        min_notional: Some(dec("5")),
        contract_value: dec("0.01"),
        price: dec("60000"),
        brackets: vec![BracketSpec {
            notional_cap: dec("1000000"),
            max_leverage: 50,
            maint_margin_ratio: dec("0.004"),
        }],
    }
}

fn state() -> EmulatorState {
    let keys = json!([{
        "exchange": "binance", "api_key": "trader", "api_secret": SECRET,
        "read": true, "spot": false, "futures": true, "withdraw": false, "transfer": false,
        "ip_allowlist": ["127.0.0.1"],
    }]);
    let keys = parse_keys(&keys.to_string(), "keys.json".as_ref()).expect("keys");
    EmulatorState::with_instruments(keys, vec![coarse_instrument()], None, false)
}

/// Sends a request signed over its query string, as the emulator's Binance dialect checks it.
async fn signed(
    state: &EmulatorState,
    method: &str,
    path: &str,
    params: &str,
) -> (StatusCode, Value) {
    let params = if params.is_empty() {
        format!("timestamp={}", state.now_ms())
    } else {
        format!("{params}&timestamp={}", state.now_ms())
    };
    let signature = expected_signature(SECRET.as_bytes(), params.as_bytes());
    let mut request = Request::builder()
        .method(method)
        .uri(format!("{path}?{params}&signature={signature}"))
        .header("X-MBX-APIKEY", "trader")
        .body(Body::empty())
        .expect("request");
    let client: SocketAddr = "127.0.0.1:40000".parse().expect("address");
    request.extensions_mut().insert(ConnectInfo(client));
    let response = router(state.clone())
        .oneshot(request)
        .await
        .expect("answer");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn fixture(name: &str) -> Option<(StatusCode, Value)> {
    let body = keyward_testkit::read_shared(&format!("{FIXTURES}/{name}"))?;
    let manifest = keyward_testkit::read_shared(&format!("{FIXTURES}/_manifest.json"))?;
    let manifest: Value = serde_json::from_str(&manifest).expect("manifest");
    let status = manifest["files"][name]["http_status"]
        .as_u64()
        .expect("status");
    let status = StatusCode::from_u16(u16::try_from(status).expect("u16")).expect("status");
    Some((status, serde_json::from_str(&body).expect("fixture JSON")))
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect()
}

/// Each refusal and the fixture whose status and body it must match exactly.
#[tokio::test]
async fn order_refusals_match_fixtures() {
    let cases = [
        ("quantity=0.010&price=60000.5", "ok"),
        (
            "quantity=0.010&price=60000.3",
            "error.-4014.price-not-multiple-of-tick.json",
        ),
        (
            "quantity=0.007&price=60000",
            "error.-4023.qty-not-multiple-of-step.json",
        ),
        ("quantity=0.0071&price=60000", "error.-1111.precision.json"),
        ("quantity=0.005&price=100", "error.-4164.min-notional.json"),
        (
            "quantity=50&price=60000",
            "error.-2019.margin-insufficient.json",
        ),
    ];
    let state = state();
    for (params, expected) in cases {
        let params = format!("symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&{params}");
        let (status, body) = signed(&state, "POST", "/fapi/v1/order", &params).await;
        if expected == "ok" {
            assert_eq!(status, StatusCode::OK, "{params}: {body}");
            continue;
        }
        let Some((fixture_status, fixture_body)) = fixture(expected) else {
            return;
        };
        assert_eq!(status, fixture_status, "{params}");
        assert_eq!(body, fixture_body, "{params}");
    }
}

#[tokio::test]
async fn invalid_leverage_matches_fixture() {
    let state = state();
    let (status, body) = signed(
        &state,
        "POST",
        "/fapi/v1/leverage",
        "symbol=BTCUSDT&leverage=51",
    )
    .await;
    let Some((fixture_status, fixture_body)) = fixture("error.-4028.invalid-leverage.json") else {
        return;
    };
    assert_eq!((status, body), (fixture_status, fixture_body));
}

#[tokio::test]
async fn answers_have_the_documented_fields() {
    let state = state();
    let cases = [
        (
            "POST",
            "/fapi/v1/leverage",
            "symbol=BTCUSDT&leverage=21",
            "leverage.json",
        ),
        ("GET", "/fapi/v1/accountConfig", "", "account-config.json"),
        (
            "POST",
            "/fapi/v1/order",
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=50000&newClientOrderId=myOrder1",
            "order-new.ack.json",
        ),
        ("GET", "/fapi/v1/time", "", "server-time.json"),
    ];
    for (method, path, params, name) in cases {
        let (status, body) = signed(&state, method, path, params).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let Some((_, expected)) = fixture(name) else {
            return;
        };
        assert_eq!(keys(&body), keys(&expected), "{path}");
    }
    let (_, leverage) = signed(
        &state,
        "POST",
        "/fapi/v1/leverage",
        "symbol=BTCUSDT&leverage=21",
    )
    .await;
    assert_eq!(
        leverage,
        json!({"leverage": 21, "maxNotionalValue": "1000000", "symbol": "BTCUSDT"})
    );
}

#[tokio::test]
async fn balance_and_positions_have_the_documented_fields() {
    let state = state();
    let order = "symbol=BTCUSDT&side=SELL&type=MARKET&quantity=0.01";
    let (status, placed) = signed(&state, "POST", "/fapi/v1/order", order).await;
    assert_eq!(status, StatusCode::OK, "{placed}");
    let (_, balance) = signed(&state, "GET", "/fapi/v3/balance", "").await;
    let (_, positions) = signed(&state, "GET", "/fapi/v3/positionRisk", "symbol=BTCUSDT").await;
    let (Some((_, balance_fixture)), Some((_, position_fixture))) = (
        fixture("balance-v3.json"),
        fixture("position-risk-v3.one-way.json"),
    ) else {
        return;
    };
    assert_eq!(keys(&balance[0]), keys(&balance_fixture[0]));
    assert_eq!(keys(&positions[0]), keys(&position_fixture[0]));
    let amount = positions[0]["positionAmt"].as_str().expect("text");
    assert_eq!(
        amount.parse::<rust_decimal::Decimal>().expect("decimal"),
        dec("-0.01")
    );
    assert_eq!(positions[0]["positionSide"], "BOTH");
    let wallet: rust_decimal::Decimal = balance[0]["balance"]
        .as_str()
        .expect("text")
        .parse()
        .expect("decimal");
    assert_eq!(
        wallet,
        dec("10000") - dec("0.3"),
        "taker fee of 0.05% on 600 USDT"
    );
}

#[tokio::test]
async fn exchange_info_lists_the_instrument_filters() {
    let state = state();
    let (status, body) = signed(&state, "GET", "/fapi/v1/exchangeInfo", "").await;
    assert_eq!(status, StatusCode::OK);
    let symbol = &body["symbols"][0];
    assert_eq!(symbol["symbol"], "BTCUSDT");
    assert_eq!(symbol["contractType"], "PERPETUAL");
    let filters = symbol["filters"].as_array().expect("filters");
    let filter = |kind: &str| {
        filters
            .iter()
            .find(|filter| filter["filterType"] == kind)
            .unwrap_or_else(|| panic!("{kind}"))
    };
    assert_eq!(filter("PRICE_FILTER")["tickSize"], "0.5");
    assert_eq!(filter("LOT_SIZE")["stepSize"], "0.005");
    assert_eq!(filter("MIN_NOTIONAL")["notional"], "5");
    let Some((_, fixture)) = fixture("exchange-info.btcusdt.json") else {
        return;
    };
    let documented = keys(&fixture["symbols"][0]);
    assert!(keys(symbol).is_subset(&documented), "{:?}", keys(symbol));
}

#[tokio::test]
async fn query_cancel_and_reuse_of_client_order_ids() {
    let state = state();
    let order = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=50000&newClientOrderId=kw-abc";
    let (status, _) = signed(&state, "POST", "/fapi/v1/order", order).await;
    assert_eq!(status, StatusCode::OK);
    let (_, again) = signed(&state, "POST", "/fapi/v1/order", order).await;
    assert_eq!(
        again,
        json!({"code": -4116, "msg": "ClientOrderId is duplicated."})
    );

    let by_id = "symbol=BTCUSDT&origClientOrderId=kw-abc";
    let (_, found) = signed(&state, "GET", "/fapi/v1/order", by_id).await;
    assert_eq!(found["status"], "NEW");
    let (_, open) = signed(&state, "GET", "/fapi/v1/openOrders", "symbol=BTCUSDT").await;
    assert_eq!(open.as_array().expect("list").len(), 1);
    let (_, cancelled) = signed(&state, "DELETE", "/fapi/v1/order", by_id).await;
    assert_eq!(cancelled["status"], "CANCELED");
    let (status, twice) = signed(&state, "DELETE", "/fapi/v1/order", by_id).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(twice["code"], -2011);
    let (_, missing) = signed(
        &state,
        "GET",
        "/fapi/v1/order",
        "symbol=BTCUSDT&origClientOrderId=nope",
    )
    .await;
    assert_eq!(
        missing,
        json!({"code": -2013, "msg": "Order does not exist."})
    );
}

#[tokio::test]
async fn position_mode_changes_only_when_flat() {
    let state = state();
    let (_, unchanged) = signed(
        &state,
        "POST",
        "/fapi/v1/positionSide/dual",
        "dualSidePosition=false",
    )
    .await;
    assert_eq!(unchanged["code"], -4059);
    let (status, _) = signed(
        &state,
        "POST",
        "/fapi/v1/positionSide/dual",
        "dualSidePosition=true",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, mode) = signed(&state, "GET", "/fapi/v1/positionSide/dual", "").await;
    assert_eq!(mode, json!({"dualSidePosition": true}));
    let one_way_order = "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.01";
    let (_, refused) = signed(&state, "POST", "/fapi/v1/order", one_way_order).await;
    assert_eq!(refused["code"], -4061);
    let hedge_order = "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.01&positionSide=LONG";
    let (status, _) = signed(&state, "POST", "/fapi/v1/order", hedge_order).await;
    assert_eq!(status, StatusCode::OK);
    let (_, blocked) = signed(
        &state,
        "POST",
        "/fapi/v1/positionSide/dual",
        "dualSidePosition=false",
    )
    .await;
    assert_eq!(blocked["code"], -4068);
}

#[tokio::test]
async fn leverage_brackets_are_numbers() {
    let state = state();
    let (status, body) = signed(&state, "GET", "/fapi/v1/leverageBracket", "symbol=BTCUSDT").await;
    assert_eq!(status, StatusCode::OK);
    let bracket = &body[0]["brackets"][0];
    assert_eq!(bracket["initialLeverage"], 50);
    assert_eq!(bracket["notionalCap"], 1_000_000);
    assert!(bracket["maintMarginRatio"].is_number());
}
