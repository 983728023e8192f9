//! Recorded Binance responses and real websocket captures parsed into keyward's types.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use keyward_adapters::AdapterError;
use keyward_adapters::binance::parse::stream::{
    MarketMessage, UserMessage, depth_snapshot, market_message, user_message,
};
use keyward_adapters::binance::parse::{self, api_restrictions, error_from_response};
use keyward_adapters::domain::{AccountEvent, MarketEvent, OrderState, OrderType, PositionMode};
use keyward_events::KeyPermissions;
use keyward_events::bot::Side;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

const FIXTURES: &str = "exchanges/fixtures/binance";
const ENDPOINT: &str = "GET http://127.0.0.1/sapi/v1/account/apiRestrictions";

/// Every fixture file name of the folder that starts with `prefix`, sorted.
fn fixture_names(prefix: &str) -> Option<Vec<String>> {
    let dir = keyward_testkit::shared_file(FIXTURES)?;
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("fixture folder is readable")
        .map(|entry| {
            entry
                .expect("folder entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.starts_with(prefix) && name.ends_with(".json"))
        .collect();
    names.sort();
    Some(names)
}

fn fixture(name: &str) -> Option<String> {
    keyward_testkit::read_shared(&format!("{FIXTURES}/{name}"))
}

fn manifest_status(name: &str) -> Option<StatusCode> {
    let manifest: Value = serde_json::from_str(&fixture("_manifest.json")?).expect("JSON");
    let status = manifest["files"][name]["http_status"]
        .as_u64()
        .expect("status in manifest");
    Some(StatusCode::from_u16(u16::try_from(status).expect("u16")).expect("valid status"))
}

fn permissions(read: bool, futures: bool, withdraw: bool, ip_restricted: bool) -> KeyPermissions {
    KeyPermissions {
        read,
        spot_trade: false,
        futures_trade: futures,
        withdraw,
        transfer: false,
        ip_restricted,
        expires_at: None,
    }
}

fn expected_permissions(name: &str) -> KeyPermissions {
    match name {
        // Portfolio margin in place of enableFutures still counts as futures trading.
        "api-restrictions.doc-example.json" => permissions(true, true, false, false),
        "api-restrictions.futures-trade-no-ip-restriction.json" => {
            permissions(true, true, false, false)
        }
        "api-restrictions.futures-trade-no-withdraw-ip-restricted.json" => {
            permissions(true, true, false, true)
        }
        "api-restrictions.read-only.json" => permissions(true, false, false, false),
        "api-restrictions.with-trading-authority-expiry.json" => KeyPermissions {
            expires_at: Some(Utc.timestamp_millis_opt(1_628_985_600_000).unwrap()),
            ..permissions(true, true, false, true)
        },
        "api-restrictions.withdraw-enabled.json" => permissions(true, true, true, true),
        other => panic!("no expected permissions for fixture {other}; add it to the table"),
    }
}

#[test]
fn restrictions_fixtures_map_to_permissions() {
    let Some(names) = fixture_names("api-restrictions") else {
        return;
    };
    assert!(names.len() >= 6, "fixtures: {names:?}");
    for name in &names {
        let Some(body) = fixture(name) else { return };
        let parsed = api_restrictions(ENDPOINT, body.as_bytes())
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(parsed.permissions, expected_permissions(name), "{name}");
    }
}

#[test]
fn restrictions_keep_every_flag_raw() {
    let Some(names) = fixture_names("api-restrictions") else {
        return;
    };
    for name in &names {
        let Some(body) = fixture(name) else { return };
        let raw: serde_json::Map<String, Value> = serde_json::from_str(&body).expect("JSON");
        let parsed = api_restrictions(ENDPOINT, body.as_bytes()).expect("parses");
        assert_eq!(parsed.raw_flags.len(), raw.len(), "{name}");
        for (flag, value) in &raw {
            assert_eq!(parsed.raw_flags.get(flag), Some(value), "{name}: {flag}");
        }
    }
}

/// Expected `code()` and `exchange_code()` per error fixture.
fn expected_error(name: &str) -> (&'static str, &'static str) {
    match name {
        "error.-1003.ip-banned.json" | "error.-1003.rate-limited.json" => ("rate_limited", "-1003"),
        "error.-1021.timestamp-ahead.json" | "error.-1021.timestamp-outside-recvwindow.json" => {
            ("clock_skew", "-1021")
        }
        "error.-1022.bad-signature.json" => ("invalid_signature", "-1022"),
        "error.-2015.invalid-key-ip-or-permission.json" => ("invalid_key", "-2015"),
        "error.-1111.precision.json" => ("filter_rejected", "-1111"),
        "error.-2019.margin-insufficient.json" => ("insufficient_margin", "-2019"),
        "error.-4014.price-not-multiple-of-tick.json" => ("filter_rejected", "-4014"),
        "error.-4023.qty-not-multiple-of-step.json" => ("filter_rejected", "-4023"),
        "error.-4028.invalid-leverage.json" => ("invalid_leverage", "-4028"),
        "error.-4164.min-notional.json" => ("filter_rejected", "-4164"),
        other => panic!("no expected error for fixture {other}; add it to the table"),
    }
}

#[test]
fn error_fixtures_map_to_adapter_errors() {
    let Some(names) = fixture_names("error.") else {
        return;
    };
    assert!(names.len() >= 12, "fixtures: {names:?}");
    for name in &names {
        let (Some(body), Some(status)) = (fixture(name), manifest_status(name)) else {
            return;
        };
        let err = error_from_response(ENDPOINT, status, &HeaderMap::new(), body.as_bytes());
        let (code, exchange_code) = expected_error(name);
        assert_eq!(err.code(), code, "{name}: {err}");
        assert_eq!(
            err.exchange_code().as_deref(),
            Some(exchange_code),
            "{name}"
        );

        let msg: Value = serde_json::from_str(&body).expect("JSON");
        let msg = msg["msg"].as_str().expect("msg");
        assert!(
            err.to_string().contains(msg) || code == "rate_limited",
            "{name}: {err}"
        );
        assert!(!err.hint().is_empty(), "{name}");
    }
}

#[test]
fn transient_errors_are_the_retryable_ones() {
    let Some(names) = fixture_names("error.") else {
        return;
    };
    for name in &names {
        let (Some(body), Some(status)) = (fixture(name), manifest_status(name)) else {
            return;
        };
        let err = error_from_response(ENDPOINT, status, &HeaderMap::new(), body.as_bytes());
        let transient = matches!(err.code(), "rate_limited" | "clock_skew");
        assert_eq!(err.is_transient(), transient, "{name}");
    }
}

#[test]
fn rate_limit_fixture_with_retry_after_header() {
    let name = "error.-1003.rate-limited.json";
    let (Some(body), Some(status)) = (fixture(name), manifest_status(name)) else {
        return;
    };
    let Some(headers) = fixture("response-headers.fapi-429.example.json") else {
        return;
    };
    let headers: serde_json::Map<String, Value> = serde_json::from_str(&headers).expect("JSON");
    let mut map = HeaderMap::new();
    for (header, value) in &headers {
        let name = reqwest::header::HeaderName::from_bytes(header.as_bytes()).expect("name");
        map.insert(
            name,
            value.as_str().expect("text").parse().expect("header value"),
        );
    }
    let err = error_from_response(ENDPOINT, status, &map, body.as_bytes());
    let AdapterError::RateLimited {
        retry_after,
        status,
        ..
    } = err
    else {
        panic!("expected a rate limit, got {err:?}");
    };
    assert_eq!(status, 429);
    assert_eq!(retry_after, Some(Duration::from_secs(60)));
}

fn decimal(text: &str) -> rust_decimal::Decimal {
    text.parse().expect("decimal literal")
}

#[test]
fn exchange_info_fixture_gives_btcusdt_rules() {
    let Some(body) = fixture("exchange-info.btcusdt.json") else {
        return;
    };
    let instruments = parse::instruments(ENDPOINT, body.as_bytes()).expect("parses");
    assert_eq!(instruments.len(), 1);
    let btc = &instruments[0];
    assert_eq!(btc.symbol, "BTCUSDT");
    assert!(btc.trading);
    assert_eq!(btc.tick_size, decimal("0.10"));
    assert_eq!(btc.step_size, decimal("0.001"));
    assert_eq!(btc.min_quantity, decimal("0.001"));
    assert_eq!(btc.max_quantity, Some(decimal("1000")));
    assert_eq!(btc.max_market_quantity, Some(decimal("120")));
    assert_eq!(btc.min_notional, Some(decimal("5")));
    assert_eq!(btc.min_price, Some(decimal("556.80")));
    assert_eq!(btc.contract_value, decimal("1"));
    assert_eq!(btc.settle_asset, "USDT");
}

#[test]
fn real_exchange_info_keeps_only_usdt_perpetuals() {
    let Some(body) =
        keyward_testkit::read_shared("data/market/binance_um_exchangeInfo_2021-07-21.json")
    else {
        return;
    };
    let raw: Value = serde_json::from_str(&body).expect("JSON");
    let listed = raw["symbols"].as_array().expect("symbols").len();
    let instruments = parse::instruments(ENDPOINT, body.as_bytes()).expect("parses");
    assert!(
        instruments.len() > 100 && instruments.len() < listed,
        "{} of {listed}",
        instruments.len()
    );
    let btc = instruments
        .iter()
        .find(|i| i.symbol == "BTCUSDT")
        .expect("BTCUSDT");
    assert_eq!(btc.tick_size, decimal("0.01"));
    assert_eq!(btc.step_size, decimal("0.001"));
    assert_eq!(btc.min_notional, Some(decimal("5")));
    assert!(instruments.iter().all(|i| i.settle_asset == "USDT"));
    assert!(
        instruments
            .iter()
            .all(|i| i.tick_size > rust_decimal::Decimal::ZERO)
    );
}

#[test]
fn account_fixtures_parse() {
    let (Some(balance), Some(positions), Some(leverage), Some(config), Some(time)) = (
        fixture("balance-v3.json"),
        fixture("position-risk-v3.one-way.json"),
        fixture("leverage.json"),
        fixture("account-config.json"),
        fixture("server-time.json"),
    ) else {
        return;
    };
    let balances = parse::balances(ENDPOINT, balance.as_bytes()).expect("balance");
    assert_eq!(balances[0].asset, "USDT");
    assert_eq!(balances[0].wallet_balance, decimal("122607.35137903"));
    assert_eq!(balances[0].available_balance, decimal("23.72469206"));

    let positions = parse::positions(ENDPOINT, positions.as_bytes()).expect("positions");
    assert_eq!(positions[0].symbol, "ADAUSDT");
    assert_eq!(positions[0].quantity, decimal("30"));
    assert_eq!(positions[0].entry_price, decimal("0.385"));
    assert_eq!(positions[0].mark_price, Some(decimal("0.41047590")));
    assert_eq!(positions[0].liquidation_price, None);

    let set = parse::leverage(ENDPOINT, leverage.as_bytes()).expect("leverage");
    assert_eq!(set.leverage, decimal("21"));
    assert_eq!(set.max_notional, Some(decimal("1000000")));

    let mode = parse::position_mode(ENDPOINT, config.as_bytes()).expect("config");
    assert_eq!(mode, PositionMode::Hedge);

    let time = parse::server_time(ENDPOINT, time.as_bytes()).expect("time");
    assert_eq!(time.server_time, 1_499_827_319_559);
}

#[test]
fn order_fixtures_parse() {
    let (Some(ack), Some(cancel)) = (fixture("order-new.ack.json"), fixture("order-cancel.json"))
    else {
        return;
    };
    let ack = parse::order(ENDPOINT, ack.as_bytes()).expect("ack");
    assert_eq!(ack.client_order_id.as_str(), "testOrder");
    assert_eq!(ack.exchange_order_id, "22542179");
    assert_eq!(ack.state, OrderState::New);
    assert_eq!(ack.order_type, OrderType::Limit);
    assert_eq!(ack.quantity, decimal("10"));
    assert_eq!(ack.price, None, "price 0 means none");
    assert_eq!(ack.average_price, None);

    let cancel = parse::order(ENDPOINT, cancel.as_bytes()).expect("cancel");
    assert_eq!(cancel.state, OrderState::Canceled);
    assert_eq!(
        cancel.order_type,
        OrderType::Other("TRAILING_STOP_MARKET".to_owned())
    );
    assert_eq!(cancel.trigger_price, Some(decimal("9300")));
}

#[test]
fn weight_header_fixtures_are_read() {
    let (Some(fapi), Some(sapi)) = (
        fixture("response-headers.fapi.example.json"),
        fixture("response-headers.sapi.example.json"),
    ) else {
        return;
    };
    for (headers, name, expected) in [
        (fapi, "x-mbx-used-weight-1m", 30),
        (sapi, "x-sapi-used-ip-weight-1m", 1),
    ] {
        let headers: serde_json::Map<String, Value> = serde_json::from_str(&headers).expect("JSON");
        let value = headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| value.as_str())
            .expect("weight header");
        assert_eq!(value.parse::<u32>().expect("number"), expected);
    }
}

#[test]
fn stream_fixtures_parse() {
    let (Some(agg), Some(kline), Some(combined), Some(ack), Some(request)) = (
        fixture("ws.aggTrade.json"),
        fixture("ws.kline.json"),
        fixture("ws.combined-stream-wrapper.json"),
        fixture("ws.subscribe.response.json"),
        fixture("ws.subscribe.request.json"),
    ) else {
        return;
    };
    let MarketMessage::Event(MarketEvent::Trade(trade)) = market_message(&agg).expect("aggTrade")
    else {
        panic!("aggTrade is a trade");
    };
    assert_eq!(trade.symbol, "BTCUSDT");
    assert_eq!(trade.price, decimal("0.001"));
    assert_eq!(trade.quantity, decimal("100"));
    assert_eq!(
        trade.taker_side,
        Some(Side::Sell),
        "m=true: the buyer made the market"
    );
    assert_eq!(trade.time_ms, 123_456_785);

    let MarketMessage::Event(MarketEvent::Candle(candle)) = market_message(&kline).expect("kline")
    else {
        panic!("kline is a candle");
    };
    assert_eq!(candle.interval, "1m");
    assert_eq!(candle.high, decimal("0.0025"));
    assert!(!candle.closed);

    let wrapped = market_message(&combined).expect("combined");
    assert_eq!(wrapped, market_message(&agg).expect("aggTrade"));
    assert_eq!(
        market_message(&ack).expect("ack"),
        MarketMessage::Subscribed { id: 1 }
    );

    let request: Value = serde_json::from_str(&request).expect("JSON");
    assert_eq!(request["method"], "SUBSCRIBE");
    assert_eq!(request["params"][0], "btcusdt@aggTrade");
}

#[test]
fn real_websocket_capture_parses_every_line() {
    let Some(capture) =
        keyward_testkit::read_shared("data/market/binance_um_ws_BTCUSDT_2024-08-08T235415Z_5s.txt")
    else {
        return;
    };
    let (mut trades, mut books, mut tickers, mut snapshots) = (0, 0, 0, 0);
    for (number, line) in capture.lines().enumerate() {
        let (_, message) = line.split_once(' ').expect("time and message");
        if !message.contains("\"stream\"") {
            let snapshot = depth_snapshot("BTCUSDT", message)
                .unwrap_or_else(|err| panic!("line {}: {err}", number + 1));
            assert!(snapshot.snapshot && !snapshot.bids.is_empty());
            snapshots += 1;
            continue;
        }
        match market_message(message).unwrap_or_else(|err| panic!("line {}: {err}", number + 1)) {
            MarketMessage::Event(MarketEvent::Trade(trade)) => {
                assert!(trade.price > decimal("60000") && trade.price < decimal("63000"));
                trades += 1;
            }
            MarketMessage::Event(MarketEvent::Book(book)) => {
                assert!(book.first_update_id <= book.last_update_id);
                books += 1;
            }
            MarketMessage::Event(MarketEvent::BookTicker(ticker)) => {
                assert!(ticker.bid_price < ticker.ask_price);
                tickers += 1;
            }
            other => panic!("line {}: unexpected {other:?}", number + 1),
        }
    }
    assert_eq!((trades, books, tickers, snapshots), (154, 96, 769, 1));
}

#[test]
fn user_stream_events_parse() {
    let update = r#"{"e":"ORDER_TRADE_UPDATE","E":1568879465651,"T":1568879465650,"o":{
        "s":"BTCUSDT","c":"TEST","S":"SELL","o":"MARKET","f":"GTC","q":"0.001","p":"0",
        "ap":"60000","sp":"0","x":"TRADE","X":"FILLED","i":8886774,"l":"0.001","z":"0.001",
        "L":"60000","N":"USDT","n":"0.03","T":1568879465650,"t":42,"b":"0","a":"0","m":false,
        "R":true,"wt":"CONTRACT_PRICE","ot":"MARKET","ps":"BOTH","cp":false,"rp":"1.5"}}"#;
    let UserMessage::Events(events) = user_message(update).expect("order update") else {
        panic!("events");
    };
    let [AccountEvent::Fill(fill), AccountEvent::Order(order)] = events.as_slice() else {
        panic!("a fill then the order: {events:?}");
    };
    assert_eq!(fill.quantity, decimal("0.001"));
    assert_eq!(fill.fee, decimal("0.03"));
    assert_eq!(fill.realized_pnl, Some(decimal("1.5")));
    assert_eq!(order.state, OrderState::Filled);
    assert!(order.reduce_only);

    let account = r#"{"e":"ACCOUNT_UPDATE","E":1,"T":2,"a":{"m":"ORDER",
        "B":[{"a":"USDT","wb":"122624.12","cw":"100.12","bc":"50.1"}],
        "P":[{"s":"BTCUSDT","pa":"-0.001","ep":"60000","bep":"0","cr":"200","up":"0.5",
        "mt":"cross","iw":"0","ps":"BOTH"}]}}"#;
    let UserMessage::Events(events) = user_message(account).expect("account update") else {
        panic!("events");
    };
    assert!(
        matches!(&events[0], AccountEvent::Balance(b) if b.wallet_balance == decimal("122624.12"))
    );
    assert!(matches!(&events[1], AccountEvent::Position(p) if p.quantity == decimal("-0.001")));

    let expired = r#"{"e":"listenKeyExpired","E":1576653824250,"listenKey":"abc"}"#;
    assert_eq!(
        user_message(expired).expect("expiry"),
        UserMessage::ListenKeyExpired
    );
}
