//! Recorded OKX responses and captures parsed into keyward's types.

use keyward_adapters::domain::{MarketEvent, PositionMode};
use keyward_adapters::okx::parse::stream::{self, StreamMessage};
use keyward_adapters::okx::parse::{self, account_config, error_from_response};
use keyward_adapters::okx::wire::{
    OkxAccountConfig, OkxBalance, OkxEnvelope, OkxInstrument, OkxLeverage, OkxOrderResult,
    OkxPosition, OkxServerTime,
};
use keyward_events::KeyPermissions;
use keyward_events::bot::Side;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use rust_decimal::Decimal;
use serde_json::Value;

const FIXTURES: &str = "exchanges/fixtures/okx";
const ENDPOINT: &str = "GET http://127.0.0.1/api/v5/account/config";

fn fixture(name: &str) -> Option<String> {
    keyward_testkit::read_shared(&format!("{FIXTURES}/{name}"))
}

fn dec(text: &str) -> Decimal {
    text.parse().expect("decimal literal")
}

fn decode<T: serde::de::DeserializeOwned>(name: &str) -> Option<Vec<T>> {
    let body = fixture(name)?;
    let decoded = parse::decode(ENDPOINT, StatusCode::OK, body.as_bytes());
    Some(decoded.unwrap_or_else(|err| panic!("{name}: {err}")))
}

fn permissions(futures: bool, withdraw: bool, ip: bool) -> KeyPermissions {
    KeyPermissions {
        read: true,
        spot_trade: futures,
        futures_trade: futures,
        withdraw,
        transfer: false,
        ip_restricted: ip,
        expires_at: None,
    }
}

#[test]
fn every_account_config_fixture_maps() {
    let cases = [
        (
            "account-config.doc-example.withdraw-enabled-no-ip.json",
            permissions(true, true, false),
            PositionMode::Hedge,
        ),
        (
            "account-config.read-only.json",
            permissions(false, false, false),
            PositionMode::OneWay,
        ),
        (
            "account-config.trade-no-ip.json",
            permissions(true, false, false),
            PositionMode::OneWay,
        ),
        (
            "account-config.trade-no-withdraw-ip-bound.json",
            permissions(true, false, true),
            PositionMode::OneWay,
        ),
        (
            "account-config.withdraw-enabled-ip-bound.json",
            permissions(true, true, true),
            PositionMode::OneWay,
        ),
    ];
    for (name, expected, mode) in cases {
        let Some(body) = fixture(name) else { return };
        let (mapped, raw_flags) =
            account_config(ENDPOINT, body.as_bytes()).unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(mapped, expected, "{name}");
        assert!(raw_flags.contains_key("perm"), "{name}: raw flags");
        let config: Vec<OkxAccountConfig> =
            parse::decode(ENDPOINT, StatusCode::OK, body.as_bytes()).unwrap();
        assert_eq!(
            parse::position_mode(&config[0].pos_mode),
            Ok(mode),
            "{name}"
        );
    }
}

#[test]
fn every_error_fixture_maps() {
    let cases = [
        ("error.50011.rate-limited.json", "rate_limited"),
        ("error.50011.rate-limited-200.json", "rate_limited"),
        ("error.50101.key-env-mismatch.json", "environment_mismatch"),
        ("error.50102.timestamp-expired.json", "clock_skew"),
        (
            "error.50105.passphrase-incorrect.json",
            "invalid_passphrase",
        ),
        ("error.50110.ip-not-allowed.json", "ip_not_allowed"),
        ("error.50111.invalid-api-key.json", "invalid_key"),
        ("error.50112.invalid-timestamp.json", "exchange_rejected"),
        ("error.50113.invalid-signature.json", "invalid_signature"),
        ("error.50120.no-permission.json", "permission_denied"),
        ("error.51000.parameter-error.json", "exchange_rejected"),
        ("error.51001.instrument-not-found.json", "unknown_symbol"),
        (
            "error.51008.insufficient-margin.order.json",
            "insufficient_margin",
        ),
        ("error.51121.lot-size.order.json", "filter_rejected"),
    ];
    let Some(manifest) = fixture("_manifest.json") else {
        return;
    };
    let manifest: Value = serde_json::from_str(&manifest).expect("manifest is JSON");
    for (name, code) in cases {
        let Some(body) = fixture(name) else { return };
        let status = manifest["files"][name]["http_status"]
            .as_u64()
            .and_then(|status| StatusCode::from_u16(u16::try_from(status).ok()?).ok())
            .unwrap_or_else(|| panic!("{name}: status in the manifest"));
        let err = if status.is_success() {
            parse::decode::<Value>(ENDPOINT, status, body.as_bytes()).unwrap_err()
        } else {
            error_from_response(ENDPOINT, status, &HeaderMap::new(), body.as_bytes())
        };
        assert_eq!(err.code(), code, "{name}: {err}");
        // UnknownSymbol names the symbol instead of the exchange's code.
        if code != "unknown_symbol" {
            let expected_code = name.split('.').nth(1).expect("code in the name");
            assert_eq!(
                err.exchange_code().as_deref(),
                Some(expected_code),
                "{name}"
            );
        }
    }
}

#[test]
fn server_time_fixture() {
    let Some(data) = decode::<OkxServerTime>("public-time.json") else {
        return;
    };
    assert_eq!(data[0].ts, "1597026383085");
}

#[test]
fn instrument_fixture_in_base_asset() {
    let Some(list) = decode::<OkxInstrument>("public-instruments.swap.btc-usdt-swap.json") else {
        return;
    };
    let instruments = parse::instruments(list);
    let btc = &instruments[0];
    assert_eq!(btc.symbol, "BTCUSDT");
    assert_eq!(btc.exchange_symbol, "BTC-USDT-SWAP");
    assert_eq!(btc.contract_value, dec("0.01"));
    assert_eq!(btc.tick_size, dec("0.1"));
    assert_eq!(btc.step_size, dec("0.001"), "0.1 contracts of 0.01 BTC");
    assert_eq!(btc.min_quantity, dec("0.001"));
    assert_eq!(btc.max_market_quantity, Some(dec("120")));
    assert_eq!(btc.max_leverage, Some(dec("100")));
    assert_eq!(btc.min_notional, None);
}

#[test]
fn captured_swap_list_parses() {
    let path = "data/market/okx_public_instruments_SWAP_2022-05-13.json";
    let Some(body) = keyward_testkit::read_shared(path) else {
        return;
    };
    let list: Vec<OkxInstrument> =
        parse::decode(ENDPOINT, StatusCode::OK, body.as_bytes()).unwrap();
    assert_eq!(list.len(), 166);
    let instruments = parse::instruments(list);
    assert!(
        instruments.len() > 100,
        "linear swaps: {}",
        instruments.len()
    );
    assert!(instruments.iter().all(|i| i.settle_asset == "USDT"));
    let btc = instruments
        .iter()
        .find(|instrument| instrument.symbol == "BTCUSDT")
        .expect("BTC-USDT-SWAP");
    assert_eq!(btc.step_size, dec("0.01"), "1 contract of 0.01 BTC in 2022");
    assert_eq!(btc.max_leverage, Some(dec("125")));
}

#[test]
fn balance_fixture() {
    let Some(list) = decode::<OkxBalance>("account-balance.json") else {
        return;
    };
    let balances = parse::balances(list);
    assert_eq!(balances[0].asset, "USDT");
    assert_eq!(balances[0].wallet_balance, dec("4850.435693622894"));
    assert_eq!(balances[0].available_balance, dec("4834.3170936228935"));
    assert_eq!(balances[0].unrealized_pnl, dec("-7.545600000000006"));
    assert_eq!(balances[0].updated_at_ms, 1_705_449_605_015);
}

#[test]
fn position_fixture() {
    let Some(mut list) = decode::<OkxPosition>("account-positions.json") else {
        return;
    };
    let position = parse::position(list.remove(0), "BTCUSDT".to_owned(), Decimal::ONE);
    assert_eq!(position.quantity, dec("0.00190433573"));
    assert_eq!(position.entry_price, dec("62961.4"));
    assert_eq!(position.leverage, Some(dec("5")));
    assert_eq!(position.liquidation_price, Some(dec("53615.448336593756")));
}

#[test]
fn trade_fixtures_carry_ids() {
    let Some(ack) = decode::<OkxOrderResult>("trade-order.ack.json") else {
        return;
    };
    assert_eq!(ack[0].cl_ord_id, "oktswap6");
    assert_eq!(ack[0].ord_id, "312269865356374016");
    assert_eq!(ack[0].s_code, "0");
    let Some(cancel) = decode::<OkxOrderResult>("trade-cancel-order.json") else {
        return;
    };
    assert_eq!(cancel[0].ord_id, "12345689");
    let Some(leverage) = decode::<OkxLeverage>("set-leverage.json") else {
        return;
    };
    assert_eq!(leverage[0].lever, dec("30"));
}

fn parsed(name: &str) -> Option<StreamMessage> {
    let text = fixture(name)?;
    let no_contracts = |_: &str| None;
    Some(stream::message(&text, &no_contracts).unwrap_or_else(|err| panic!("{name}: {err}")))
}

#[test]
fn websocket_pushes_parse() {
    let Some(StreamMessage::Market(trades)) = parsed("ws.trades.json") else {
        return;
    };
    let MarketEvent::Trade(trade) = &trades[0] else {
        panic!("expected a trade")
    };
    assert_eq!(trade.symbol, "BTCUSDT");
    assert_eq!(trade.price, dec("42219.9"));
    assert_eq!(trade.quantity, dec("0.12060306"));
    assert_eq!(trade.taker_side, Some(Side::Buy));

    let Some(StreamMessage::Market(tickers)) = parsed("ws.tickers.json") else {
        return;
    };
    let MarketEvent::Ticker(ticker) = &tickers[0] else {
        panic!("expected a ticker")
    };
    assert_eq!(ticker.last_price, Some(dec("9999.99")));
    assert_eq!(ticker.bid_price, Some(dec("8888.88")));

    let Some(StreamMessage::Market(candles)) = parsed("ws.candle1D.business.json") else {
        return;
    };
    let MarketEvent::Candle(candle) = &candles[0] else {
        panic!("expected a candle")
    };
    assert_eq!(candle.interval, "1d");
    assert_eq!(candle.open_time_ms, 1_597_026_383_085);
    assert_eq!(candle.close, dec("8548.26"));
    assert!(!candle.closed);
}

#[test]
fn websocket_events_parse() {
    let Some(text) = fixture("ws.subscribe.response.json") else {
        return;
    };
    // A confirmation names its channel in `arg` but is no account push.
    assert_eq!(stream::account_events(&text, &[]), Ok(None));
    let Some(subscribed) = parsed("ws.subscribe.response.json") else {
        return;
    };
    assert_eq!(
        subscribed,
        StreamMessage::Confirmed {
            event: "subscribe".to_owned()
        }
    );
    let Some(StreamMessage::Error { code, .. }) = parsed("ws.subscribe.error.json") else {
        panic!("expected an error event")
    };
    assert_eq!(code, "60012");
    let Some(StreamMessage::Notice { code, .. }) = parsed("ws.notice.json") else {
        panic!("expected a notice")
    };
    assert_eq!(code, "64008");
    assert_eq!(stream::message("pong", &|_| None), Ok(StreamMessage::Pong));
}

#[test]
fn subscribe_request_matches_fixture() {
    let Some(text) = fixture("ws.subscribe.request.json") else {
        return;
    };
    let args = [
        ("trades".to_owned(), "BTC-USDT-SWAP".to_owned()),
        ("tickers".to_owned(), "BTC-USDT-SWAP".to_owned()),
    ];
    let built: Value = serde_json::from_str(&stream::subscribe_request("1512", &args)).unwrap();
    assert_eq!(built, serde_json::from_str::<Value>(&text).unwrap());
}

#[test]
fn envelope_without_data_decodes() {
    let body = br#"{"msg":"Invalid Sign","code":"50113"}"#;
    let envelope: OkxEnvelope<Value> = serde_json::from_slice(body).unwrap();
    assert!(envelope.data.is_empty());
}
