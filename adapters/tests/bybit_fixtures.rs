//! Recorded Bybit responses and real websocket captures parsed into keyward's types.

use chrono::{TimeZone, Utc};
use keyward_adapters::bybit::parse::stream::{self, StreamMessage};
use keyward_adapters::bybit::parse::{self, key_information};
use keyward_adapters::bybit::wire::{
    BybitInstrumentPage, BybitOrderIds, BybitPositionPage, BybitServerTime, BybitWalletPage,
};
use keyward_adapters::domain::MarketEvent;
use keyward_events::KeyPermissions;
use keyward_events::bot::Side;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use rust_decimal::Decimal;
use serde_json::Value;

const FIXTURES: &str = "exchanges/fixtures/bybit";
const ENDPOINT: &str = "GET http://127.0.0.1/v5/user/query-api";

fn fixture(name: &str) -> Option<String> {
    keyward_testkit::read_shared(&format!("{FIXTURES}/{name}"))
}

fn dec(text: &str) -> Decimal {
    text.parse().expect("decimal literal")
}

fn decode<T: serde::de::DeserializeOwned>(name: &str) -> Option<T> {
    let body = fixture(name)?;
    let decoded = parse::decode(ENDPOINT, StatusCode::OK, &HeaderMap::new(), body.as_bytes());
    Some(decoded.unwrap_or_else(|err| panic!("{name}: {err}")))
}

fn permissions(futures: bool, withdraw: bool, transfer: bool, ip: bool) -> KeyPermissions {
    KeyPermissions {
        read: true,
        spot_trade: false,
        futures_trade: futures,
        withdraw,
        transfer,
        ip_restricted: ip,
        expires_at: None,
    }
}

#[test]
fn every_key_information_fixture_maps() {
    let march = Some(Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap());
    let cases = [
        (
            // readOnly 0 on a classic account: Derivatives is a unified-account group.
            "query-api.doc-example-2025-no-ip-bound.json",
            KeyPermissions {
                spot_trade: true,
                expires_at: Some(Utc.with_ymd_and_hms(2023, 12, 22, 7, 20, 25).unwrap()),
                ..permissions(true, false, true, false)
            },
        ),
        (
            // readOnly 1 wins over the trade groups the example still lists.
            "query-api.doc-example-2026.json",
            permissions(false, false, true, true),
        ),
        (
            "query-api.read-only-no-ip-bound.json",
            KeyPermissions {
                expires_at: march,
                ..permissions(false, false, false, false)
            },
        ),
        (
            "query-api.trade-no-ip-bound.json",
            KeyPermissions {
                expires_at: march,
                ..permissions(true, false, false, false)
            },
        ),
        (
            "query-api.trade-no-withdraw-ip-bound.json",
            permissions(true, false, false, true),
        ),
        (
            "query-api.transfer-enabled-no-withdraw.json",
            permissions(true, false, true, true),
        ),
        (
            "query-api.withdraw-enabled.json",
            permissions(true, true, true, true),
        ),
    ];
    for (name, expected) in cases {
        let Some(body) = fixture(name) else { return };
        let (mapped, raw_flags) = key_information(ENDPOINT, body.as_bytes())
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(mapped, expected, "{name}");
        assert!(raw_flags.contains_key("permissions"), "{name}: raw flags");
        assert!(!raw_flags.contains_key("secret"), "{name}: no secret field");
    }
}

#[test]
fn every_error_fixture_maps() {
    let cases = [
        ("error.10001.param-error.json", "exchange_rejected"),
        ("error.10002.timestamp-recv-window.json", "clock_skew"),
        ("error.10003.invalid-api-key.json", "invalid_key"),
        ("error.10004.bad-signature.json", "invalid_signature"),
        (
            "error.10004.bad-signature-2026-wording.json",
            "invalid_signature",
        ),
        ("error.10005.permission-denied.json", "permission_denied"),
        ("error.10006.rate-limited.json", "rate_limited"),
        ("error.10010.ip-not-allowed.json", "ip_not_allowed"),
        (
            "error.110007.insufficient-available-balance.json",
            "insufficient_margin",
        ),
        (
            "error.110043.leverage-not-modified.json",
            "exchange_rejected",
        ),
        ("error.110094.min-notional.json", "filter_rejected"),
    ];
    let Some(manifest) = fixture("_manifest.json") else {
        return;
    };
    let manifest: Value = serde_json::from_str(&manifest).expect("manifest is JSON");
    for (name, code) in cases {
        let Some(body) = fixture(name) else { return };
        // The manifest records HTTP 200 for every retCode, as Bybit's fixtures assume.
        let status = manifest["files"][name]["http_status"]
            .as_str()
            .unwrap_or("200");
        assert!(status.starts_with("200"), "{name}: {status}");
        let err =
            parse::decode::<Value>(ENDPOINT, StatusCode::OK, &HeaderMap::new(), body.as_bytes())
                .unwrap_err();
        assert_eq!(err.code(), code, "{name}: {err}");
        let expected_code = name.split('.').nth(1).expect("code in the name");
        assert_eq!(
            err.exchange_code().as_deref(),
            Some(expected_code),
            "{name}"
        );
    }
}

#[test]
fn server_time_fixture_reads_ms() {
    let Some(time) = decode::<BybitServerTime>("market-time.json") else {
        return;
    };
    let ms = parse::server_time_ms(&time.time_second, &time.time_nano).unwrap();
    assert_eq!(ms, 1_688_639_403_423);
}

#[test]
fn instrument_fixture_rules() {
    let Some(page) = decode::<BybitInstrumentPage>("instruments-info.linear.btcusdt.json") else {
        return;
    };
    let instruments = parse::instruments(page.list);
    let btc = &instruments[0];
    assert_eq!(btc.symbol, "BTCUSDT");
    assert_eq!(btc.exchange_symbol, "BTCUSDT");
    assert_eq!(btc.tick_size, dec("0.10"));
    assert_eq!(btc.step_size, dec("0.001"));
    assert_eq!(btc.min_quantity, dec("0.001"));
    assert_eq!(btc.min_notional, Some(dec("5")));
    assert_eq!(btc.max_quantity, Some(dec("1190")));
    assert_eq!(btc.max_market_quantity, Some(dec("500")));
    assert_eq!(btc.max_leverage, Some(dec("100")));
    assert_eq!(btc.contract_value, Decimal::ONE);
    assert!(btc.trading);
}

#[test]
fn captured_instruments_parse() {
    let path = "data/market/bybit_linear_instruments-info_2026-08-09_BTCUSDT_ETHUSDT.json";
    let Some(body) = keyward_testkit::read_shared(path) else {
        return;
    };
    let page: BybitInstrumentPage =
        parse::decode(ENDPOINT, StatusCode::OK, &HeaderMap::new(), body.as_bytes()).unwrap();
    let instruments = parse::instruments(page.list);
    let symbols: Vec<&str> = instruments.iter().map(|i| i.symbol.as_str()).collect();
    assert_eq!(symbols, ["BTCUSDT", "ETHUSDT"]);
    assert_eq!(instruments[0].max_quantity, Some(dec("1500")));
}

#[test]
fn wallet_fixture_balances() {
    let Some(page) = decode::<BybitWalletPage>("wallet-balance.unified.json") else {
        return;
    };
    let balances = parse::balances(page);
    assert_eq!(balances.len(), 1);
    assert_eq!(balances[0].asset, "BTC");
    assert_eq!(balances[0].wallet_balance, Decimal::ZERO);
    assert_eq!(balances[0].available_balance, Decimal::ZERO);
}

#[test]
fn position_fixture_sell_is_negative() {
    let Some(page) = decode::<BybitPositionPage>("position-list.json") else {
        return;
    };
    assert_eq!(
        parse::position_mode(&page.list),
        keyward_adapters::PositionMode::OneWay
    );
    let position = parse::position(page.list[0].clone());
    assert_eq!(position.quantity, dec("-300"));
    assert_eq!(position.entry_price, dec("27464.50441675"));
    assert_eq!(position.leverage, Some(dec("10")));
    assert_eq!(position.liquidation_price, None);
    assert_eq!(position.updated_at_ms, 1_697_673_600_012);
}

#[test]
fn order_fixtures_carry_ids() {
    let Some(created) = decode::<BybitOrderIds>("order-create.json") else {
        return;
    };
    assert_eq!(created.order_id, "1321003749386327552");
    assert_eq!(created.order_link_id, "spot-test-postonly");
    let Some(cancelled) = decode::<BybitOrderIds>("order-cancel.json") else {
        return;
    };
    assert_eq!(cancelled.order_link_id, "linear-004");
    let Some(leverage) = decode::<Value>("set-leverage.json") else {
        return;
    };
    assert_eq!(leverage, serde_json::json!({}));
}

#[test]
fn rate_limit_headers_fixture() {
    let Some(text) = fixture("rate-limit-headers.json") else {
        return;
    };
    let map: std::collections::BTreeMap<String, String> = serde_json::from_str(&text).unwrap();
    let mut headers = HeaderMap::new();
    for (name, value) in &map {
        let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
        headers.insert(name, HeaderValue::from_str(value).unwrap());
    }
    assert_eq!(parse::limit_spent(&headers), None, "9 requests remain");
    headers.insert("x-bapi-limit-status", HeaderValue::from_static("0"));
    assert!(parse::limit_spent(&headers).is_some(), "none remain");
}

fn market_events(name: &str) -> Option<Vec<MarketEvent>> {
    let text = fixture(name)?;
    match stream::message(&text) {
        Ok(StreamMessage::Market(events)) => Some(events),
        other => panic!("{name}: expected market data, got {other:?}"),
    }
}

#[test]
fn websocket_fixtures_parse() {
    let Some(trades) = market_events("ws.publicTrade.json") else {
        return;
    };
    let MarketEvent::Trade(trade) = &trades[0] else {
        panic!("expected a trade")
    };
    assert_eq!(trade.price, dec("16578.50"));
    assert_eq!(trade.quantity, dec("0.001"));
    assert_eq!(trade.taker_side, Some(Side::Buy));
    assert_eq!(trade.time_ms, 1_672_304_486_865);

    let Some(klines) = market_events("ws.kline.json") else {
        return;
    };
    let MarketEvent::Candle(candle) = &klines[0] else {
        panic!("expected a candle")
    };
    assert_eq!(candle.interval, "5m");
    assert_eq!(candle.open_time_ms, 1_672_324_800_000);
    assert_eq!(candle.close, dec("16677"));
    assert!(!candle.closed);

    let Some(ack) = fixture("ws.subscribe.response.linear.json") else {
        return;
    };
    let parsed = stream::message(&ack).unwrap();
    let StreamMessage::Answer { op, success, .. } = parsed else {
        panic!("expected an answer, got {parsed:?}")
    };
    assert_eq!(op, "subscribe");
    assert!(success);
    let Some(pong) = fixture("ws.pong.linear.json") else {
        return;
    };
    assert_eq!(stream::message(&pong), Ok(StreamMessage::Pong));
}

#[test]
fn websocket_requests_match_fixtures() {
    let Some(subscribe) = fixture("ws.subscribe.request.json") else {
        return;
    };
    let topics = [
        "publicTrade.BTCUSDT".to_owned(),
        "kline.1.BTCUSDT".to_owned(),
        "tickers.BTCUSDT".to_owned(),
    ];
    let built: Value = serde_json::from_str(&stream::subscribe_request("test", &topics)).unwrap();
    assert_eq!(built, serde_json::from_str::<Value>(&subscribe).unwrap());
    let Some(ping) = fixture("ws.ping.request.json") else {
        return;
    };
    let built: Value = serde_json::from_str(&stream::ping_request("100001")).unwrap();
    assert_eq!(built, serde_json::from_str::<Value>(&ping).unwrap());
}

#[test]
fn captured_linear_stream_parses() {
    let path = "data/market/bybit_linear_ws_BTCUSDT_2026-08-09.txt";
    let Some(capture) = keyward_testkit::read_shared(path) else {
        return;
    };
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for line in capture.lines() {
        let Some((_, text)) = line.split_once(" < ") else {
            continue;
        };
        let parsed = stream::message(text).unwrap_or_else(|err| panic!("{err}: {text}"));
        let kind = match parsed {
            StreamMessage::Answer { success, .. } => {
                assert!(success, "{text}");
                "answer"
            }
            StreamMessage::Pong => "pong",
            StreamMessage::Market(events) => match events.first() {
                Some(MarketEvent::Trade(_)) => "trades",
                Some(MarketEvent::Candle(_)) => "candle",
                Some(MarketEvent::Ticker(_)) => "ticker",
                Some(MarketEvent::Book(_)) => "book",
                Some(other) => panic!("unexpected {other:?}"),
                None => "ignored",
            },
        };
        *counts.entry(kind).or_insert(0) += 1;
    }
    assert_eq!(counts.get("trades"), Some(&16));
    assert_eq!(counts.get("candle"), Some(&22));
    assert_eq!(counts.get("ticker"), Some(&185));
    assert_eq!(counts.get("book"), Some(&414));
    assert_eq!(
        counts.get("answer"),
        Some(&17),
        "every subscribe ack of the connection"
    );
}
