//! Recorded Binance responses parsed into keyward's permissions and errors.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use keyward_adapters::AdapterError;
use keyward_adapters::binance::parse::{api_restrictions, error_from_response};
use keyward_events::KeyPermissions;
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
