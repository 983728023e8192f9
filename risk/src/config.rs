//! A bot's risk configuration: the limits the gate enforces, with safe defaults.
//!
//! Fields ending in `_pct` are percent numbers (`2` means 2%). In JSON every field is optional,
//! and each Decimal field accepts a number (`2`) or a string (`"2"`). Unknown fields are
//! rejected, so a misspelt limit cannot silently fall back to its default.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use serde::{Deserialize, Deserializer, Serialize};

/// Highest leverage accepted in a configuration. Binance USDⓈ-M `POST /fapi/v1/leverage` takes
/// 1 to 125, and OKX and Bybit list no swap above 125, so a higher value is a mistake.
pub const LEVERAGE_CEILING: Decimal = Decimal::from_parts(125, 0, 0, false, 0);

/// The risk limits of one bot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskConfig {
    /// Distance of the protective stop the bot places from its entry price, in percent.
    #[serde(deserialize_with = "decimal_from_number_or_string")]
    pub stop_loss_pct: Decimal,
    /// Largest accepted distance between an order's price and its stop loss, in percent.
    #[serde(deserialize_with = "decimal_from_number_or_string")]
    pub max_stop_distance_pct: Decimal,
    /// Largest loss, if the stop is hit, that one order may risk, in percent of equity.
    #[serde(deserialize_with = "decimal_from_number_or_string")]
    pub risk_per_trade_pct: Decimal,
    /// Largest margin (position notional divided by leverage) in percent of equity.
    #[serde(deserialize_with = "decimal_from_number_or_string")]
    pub max_position_pct: Decimal,
    /// Largest leverage, both as set on the exchange and as position notional over equity.
    #[serde(deserialize_with = "decimal_from_number_or_string")]
    pub max_leverage: Decimal,
    /// Largest number of positions open at once across the account.
    pub max_open_positions: u32,
    /// Largest number of orders in any 60 seconds.
    pub max_orders_per_minute: u32,
    /// Loss since the start of the UTC day, in percent of that day's starting equity, at which
    /// new risk stops.
    #[serde(deserialize_with = "decimal_from_number_or_string")]
    pub daily_loss_limit_pct: Decimal,
    /// Fall of equity from its peak, in percent of the peak, at which new risk stops.
    #[serde(deserialize_with = "decimal_from_number_or_string")]
    pub max_drawdown_pct: Decimal,
    /// Largest distance of an order's price from the last traded price, in percent.
    #[serde(deserialize_with = "decimal_from_number_or_string")]
    pub price_band_pct: Decimal,
}

impl Default for RiskConfig {
    /// Conservative limits: a 2% stop on half the equity without leverage risks 1% of equity,
    /// exactly the default risk per trade.
    fn default() -> Self {
        Self {
            stop_loss_pct: Decimal::TWO,
            max_stop_distance_pct: Decimal::from(5),
            risk_per_trade_pct: Decimal::ONE,
            max_position_pct: Decimal::from(50),
            max_leverage: Decimal::ONE,
            max_open_positions: 3,
            max_orders_per_minute: 10,
            daily_loss_limit_pct: Decimal::from(5),
            max_drawdown_pct: Decimal::from(20),
            price_band_pct: Decimal::from(5),
        }
    }
}

/// A risk configuration field outside its allowed range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("risk setting {field} = {value} is out of range; allowed: {allowed}")]
pub struct RiskConfigError {
    pub field: &'static str,
    pub value: String,
    pub allowed: String,
}

/// Allowed interval of one field, used for the check and for the error message.
#[derive(Clone, Copy)]
enum Range {
    /// `0 < value <= max`.
    PositiveUpTo(Decimal),
    /// `0 < value < max`.
    PositiveBelow(Decimal),
    /// `min <= value <= max`.
    Between(Decimal, Decimal),
}

impl Range {
    fn contains(self, value: Decimal) -> bool {
        match self {
            Self::PositiveUpTo(max) => value > Decimal::ZERO && value <= max,
            Self::PositiveBelow(max) => value > Decimal::ZERO && value < max,
            Self::Between(min, max) => value >= min && value <= max,
        }
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PositiveUpTo(max) => write!(f, "greater than 0 and at most {max}"),
            Self::PositiveBelow(max) => write!(f, "greater than 0 and less than {max}"),
            Self::Between(min, max) => write!(f, "{min} to {max}"),
        }
    }
}

impl RiskConfig {
    /// Checks every field against its allowed range.
    ///
    /// # Errors
    /// Returns the first field out of range, with its value and the allowed range.
    pub fn validate(&self) -> Result<(), RiskConfigError> {
        let hundred = Decimal::ONE_HUNDRED;
        let decimal_fields = [
            (
                "max_stop_distance_pct",
                self.max_stop_distance_pct,
                Range::PositiveBelow(hundred),
            ),
            (
                "stop_loss_pct",
                self.stop_loss_pct,
                Range::PositiveUpTo(self.max_stop_distance_pct),
            ),
            (
                "risk_per_trade_pct",
                self.risk_per_trade_pct,
                Range::PositiveUpTo(hundred),
            ),
            (
                "max_position_pct",
                self.max_position_pct,
                Range::PositiveUpTo(hundred),
            ),
            (
                "max_leverage",
                self.max_leverage,
                Range::Between(Decimal::ONE, LEVERAGE_CEILING),
            ),
            (
                "daily_loss_limit_pct",
                self.daily_loss_limit_pct,
                Range::PositiveUpTo(hundred),
            ),
            (
                "max_drawdown_pct",
                self.max_drawdown_pct,
                Range::PositiveUpTo(hundred),
            ),
            (
                "price_band_pct",
                self.price_band_pct,
                Range::PositiveUpTo(hundred),
            ),
        ];
        for (field, value, range) in decimal_fields {
            if !range.contains(value) {
                let mut allowed = range.to_string();
                if field == "stop_loss_pct" {
                    allowed.push_str(" (max_stop_distance_pct)");
                }
                return Err(RiskConfigError {
                    field,
                    value: value.to_string(),
                    allowed,
                });
            }
        }

        let count_fields = [
            ("max_open_positions", self.max_open_positions),
            ("max_orders_per_minute", self.max_orders_per_minute),
        ];
        for (field, value) in count_fields {
            if value == 0 {
                let allowed = "1 or more".to_owned();
                return Err(RiskConfigError {
                    field,
                    value: value.to_string(),
                    allowed,
                });
            }
        }
        Ok(())
    }
}

/// Reads a Decimal from a JSON number or string. The workspace's `serde-str` setting of
/// rust_decimal alone would accept only strings.
fn decimal_from_number_or_string<'de, D>(deserializer: D) -> Result<Decimal, D::Error>
where
    D: Deserializer<'de>,
{
    deserializer.deserialize_any(DecimalVisitor)
}

struct DecimalVisitor;

impl serde::de::Visitor<'_> for DecimalVisitor {
    type Value = Decimal;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a decimal number or a string holding one")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Decimal, E> {
        Decimal::from_str(text)
            .or_else(|_| Decimal::from_scientific(text))
            .map_err(|_| E::invalid_value(serde::de::Unexpected::Str(text), &self))
    }

    fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Decimal, E> {
        Ok(Decimal::from(value))
    }

    fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Decimal, E> {
        Ok(Decimal::from(value))
    }

    fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<Decimal, E> {
        Decimal::from_f64(value)
            .ok_or_else(|| E::invalid_value(serde::de::Unexpected::Float(value), &self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(RiskConfig::default().validate(), Ok(()));
    }

    #[test]
    fn empty_json_gives_defaults() {
        let config: RiskConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, RiskConfig::default());
    }

    #[test]
    fn json_accepts_numbers_and_strings() {
        let json = r#"{"stop_loss_pct": 1.5, "max_leverage": "3", "max_position_pct": 80}"#;
        let config: RiskConfig = serde_json::from_str(json).unwrap();
        assert_eq!(config.stop_loss_pct, Decimal::new(15, 1));
        assert_eq!(config.max_leverage, Decimal::from(3));
        assert_eq!(config.max_position_pct, Decimal::from(80));
        assert_eq!(
            config.max_drawdown_pct,
            RiskConfig::default().max_drawdown_pct
        );
    }

    #[test]
    fn json_rejects_unknown_fields() {
        let err = serde_json::from_str::<RiskConfig>(r#"{"stop_los_pct": 2}"#).unwrap_err();
        assert!(err.to_string().contains("stop_los_pct"), "{err}");
    }

    #[test]
    fn json_rejects_non_numbers() {
        let err = serde_json::from_str::<RiskConfig>(r#"{"max_leverage": "lots"}"#).unwrap_err();
        assert!(err.to_string().contains("lots"), "{err}");
    }

    #[test]
    fn validate_names_field_value_and_range() {
        let cases: &[(&str, RiskConfig, &str)] = &[
            (
                "zero stop",
                RiskConfig {
                    stop_loss_pct: Decimal::ZERO,
                    ..RiskConfig::default()
                },
                "risk setting stop_loss_pct = 0 is out of range; allowed: greater than 0 and \
                 at most 5 (max_stop_distance_pct)",
            ),
            (
                "stop beyond maximum distance",
                RiskConfig {
                    stop_loss_pct: Decimal::from(6),
                    ..RiskConfig::default()
                },
                "stop_loss_pct = 6 is out of range",
            ),
            (
                "leverage too high",
                RiskConfig {
                    max_leverage: Decimal::from(200),
                    ..RiskConfig::default()
                },
                "max_leverage = 200 is out of range; allowed: 1 to 125",
            ),
            (
                "leverage below one",
                RiskConfig {
                    max_leverage: Decimal::new(5, 1),
                    ..RiskConfig::default()
                },
                "max_leverage = 0.5 is out of range",
            ),
            (
                "position above all equity",
                RiskConfig {
                    max_position_pct: Decimal::from(101),
                    ..RiskConfig::default()
                },
                "max_position_pct = 101 is out of range; allowed: greater than 0 and at most 100",
            ),
            (
                "stop distance of 100%",
                RiskConfig {
                    max_stop_distance_pct: Decimal::ONE_HUNDRED,
                    ..RiskConfig::default()
                },
                "max_stop_distance_pct = 100 is out of range; allowed: greater than 0 and less \
                 than 100",
            ),
            (
                "negative drawdown",
                RiskConfig {
                    max_drawdown_pct: Decimal::NEGATIVE_ONE,
                    ..RiskConfig::default()
                },
                "max_drawdown_pct = -1 is out of range",
            ),
            (
                "no orders allowed",
                RiskConfig {
                    max_orders_per_minute: 0,
                    ..RiskConfig::default()
                },
                "max_orders_per_minute = 0 is out of range; allowed: 1 or more",
            ),
        ];
        for (name, config, expected) in cases {
            let err = config.validate().expect_err(name);
            let message = err.to_string();
            assert!(
                message.contains(expected),
                "{name}: {message:?} lacks {expected:?}"
            );
        }
    }
}
