//! Reading decimals that exchanges send in more than one JSON shape.
//!
//! `rust_decimal` is built with `serde-str`, so a plain `Decimal` field accepts a JSON string
//! only, which is how exchanges send prices and quantities. These helpers cover the rest.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::de::Error;
use serde::{Deserialize, Deserializer};

/// Reads a decimal sent as a JSON string or number. A number is read from its shortest
/// decimal text (`0.004` stays `0.004`), so no binary rounding reaches the value.
///
/// # Errors
/// Fails when the value is neither, or its text is not a decimal.
pub fn number_or_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    decimal_from_value(&value)
        .ok_or_else(|| D::Error::custom(format!("expected a decimal number, got {value}")))
}

/// Reads an optional decimal: a missing field, `null` or `""` is `None`.
///
/// # Errors
/// Fails when the value is present but not a decimal.
pub fn optional_decimal<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Decimal>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    match &value {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(text) if text.is_empty() => Ok(None),
        _ => decimal_from_value(&value)
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("expected a decimal number, got {value}"))),
    }
}

fn decimal_from_value(value: &serde_json::Value) -> Option<Decimal> {
    let text = match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Number(number) => number.to_string(),
        _ => return None,
    };
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Sample {
        #[serde(deserialize_with = "number_or_string")]
        value: Decimal,
        #[serde(default, deserialize_with = "optional_decimal")]
        optional: Option<Decimal>,
    }

    fn parse(text: &str) -> Result<Sample, serde_json::Error> {
        serde_json::from_str(text)
    }

    #[test]
    fn numbers_and_strings_both_read() {
        let cases = [
            (r#"{"value": 0.004}"#, "0.004"),
            (r#"{"value": "0.004"}"#, "0.004"),
            (r#"{"value": 125}"#, "125"),
            (r#"{"value": 1e-8}"#, "0.00000001"),
        ];
        for (json, expected) in cases {
            let sample = parse(json).unwrap_or_else(|err| panic!("{json}: {err}"));
            assert_eq!(sample.value, expected.parse::<Decimal>().unwrap(), "{json}");
        }
        assert!(parse(r#"{"value": true}"#).is_err());
    }

    #[test]
    fn optional_accepts_absent_null_and_empty() {
        for json in [
            r#"{"value": 1}"#,
            r#"{"value": 1, "optional": null}"#,
            r#"{"value": 1, "optional": ""}"#,
        ] {
            assert_eq!(parse(json).unwrap().optional, None, "{json}");
        }
        let sample = parse(r#"{"value": 1, "optional": "2.5"}"#).unwrap();
        assert_eq!(sample.optional, Some("2.5".parse().unwrap()));
    }
}
