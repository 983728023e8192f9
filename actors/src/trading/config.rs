//! Sizing and protection settings of a bot's orders, read from its strategy parameters and risk
//! configuration, and the hash that identifies a configuration.

use keyward_events::bot::{Side, StrategySpec};
use keyward_risk::RiskConfig;
use rust_decimal::{Decimal, RoundingStrategy};
use sha2::{Digest, Sha256};

use super::orders::DECIMAL_PLACES;

/// Sizing and order settings of one bot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TradeSettings {
    pub symbol: String,
    /// Fraction of equity used as margin for each entry; 1 puts all equity in.
    pub position_size: Decimal,
    /// Leverage set for the symbol; an entry's notional is `equity * position_size * leverage`.
    pub leverage: Decimal,
    /// Never go short: a cross down only closes the long.
    pub long_only: bool,
    /// Distance of the take-profit limit order from the entry price, in percent; none when
    /// `None`.
    pub take_profit_pct: Option<Decimal>,
    /// Taker fee as a fraction. A market entry leaves room for it, so that an entry of all
    /// equity can pay its own fee.
    pub taker_fee: Decimal,
}

/// A strategy parameter of the order handling that is out of range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("strategy parameter {name} = {value} is invalid; allowed: {allowed}")]
pub struct SettingsError {
    pub name: &'static str,
    pub value: String,
    pub allowed: &'static str,
}

impl TradeSettings {
    /// Reads the order settings of a bot from its strategy parameters, with defaults from its
    /// risk configuration: the position size defaults to `max_position_pct` and the leverage
    /// to 1.
    ///
    /// # Errors
    /// Returns the first parameter that is out of range or of the wrong type.
    pub fn from_spec(
        spec: &StrategySpec,
        risk: &RiskConfig,
        symbol: &str,
        taker_fee: Decimal,
    ) -> Result<Self, SettingsError> {
        let params = &spec.params;
        let default_size = risk.max_position_pct / Decimal::ONE_HUNDRED;
        let position_size = decimal_param(params, "position_size", default_size)?;
        if position_size <= Decimal::ZERO || position_size > Decimal::ONE {
            return Err(invalid(
                "position_size",
                position_size,
                "above 0 and at most 1",
            ));
        }
        let leverage = decimal_param(params, "leverage", Decimal::ONE)?;
        if leverage < Decimal::ONE || leverage > keyward_risk::LEVERAGE_CEILING {
            return Err(invalid("leverage", leverage, "1 to 125"));
        }
        let take_profit_pct = match params.get("take_profit_pct") {
            None | Some(serde_json::Value::Null) => None,
            Some(_) => Some(decimal_param(params, "take_profit_pct", Decimal::ZERO)?),
        };
        if take_profit_pct.is_some_and(|pct| pct <= Decimal::ZERO) {
            let value = take_profit_pct.unwrap_or_default();
            return Err(invalid("take_profit_pct", value, "a percent above 0"));
        }
        let long_only = match params.get("long_only") {
            None => false,
            Some(value) => value.as_bool().ok_or_else(|| SettingsError {
                name: "long_only",
                value: value.to_string(),
                allowed: "true or false",
            })?,
        };
        Ok(Self {
            symbol: symbol.to_owned(),
            position_size,
            leverage,
            long_only,
            take_profit_pct,
            taker_fee,
        })
    }

    /// Returns the quantity of a market entry at `price`: `equity * position_size * leverage`
    /// of notional less room for the taker fee, capped so that a stop `stop_loss_pct` away loses
    /// at most `risk_pct` percent of equity, rounded down to 8 decimal places. Returns zero
    /// when the arithmetic overflows, which the gate rejects.
    pub(super) fn entry_quantity(
        &self,
        equity: Decimal,
        price: Decimal,
        stop_loss_pct: Decimal,
        risk_pct: Decimal,
    ) -> Decimal {
        let by_size = || {
            let notional = equity
                .checked_mul(self.position_size)?
                .checked_mul(self.leverage)?;
            notional.checked_div(price.checked_mul(Decimal::ONE + self.taker_fee)?)
        };
        let by_risk = || {
            let risk = equity.checked_mul(risk_pct)?;
            risk.checked_div(price.checked_mul(stop_loss_pct)?)
        };
        let quantity = match (by_size(), by_risk()) {
            (Some(size), Some(risk)) => size.min(risk),
            _ => return Decimal::ZERO,
        };
        quantity.round_dp_with_strategy(DECIMAL_PLACES, RoundingStrategy::ToZero)
    }

    /// Returns the take-profit price of an entry on `side` filled at `price`, rounded towards
    /// the price.
    pub(super) fn take_profit_price(&self, side: Side, price: Decimal) -> Option<Decimal> {
        let pct = self.take_profit_pct?;
        let hundred = Decimal::ONE_HUNDRED;
        let (factor, rounding) = match side {
            Side::Buy => (hundred + pct, RoundingStrategy::ToNegativeInfinity),
            Side::Sell => (hundred - pct, RoundingStrategy::ToPositiveInfinity),
        };
        let target = price.checked_mul(factor)?.checked_div(hundred)?;
        let target = target.round_dp_with_strategy(DECIMAL_PLACES, rounding);
        (target > Decimal::ZERO).then_some(target)
    }
}

fn decimal_param(
    params: &serde_json::Map<String, serde_json::Value>,
    name: &'static str,
    default: Decimal,
) -> Result<Decimal, SettingsError> {
    let Some(value) = params.get(name) else {
        return Ok(default);
    };
    let parsed = match value {
        serde_json::Value::Number(number) => number.to_string().parse::<Decimal>().ok(),
        serde_json::Value::String(text) => text.parse::<Decimal>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| SettingsError {
        name,
        value: value.to_string(),
        allowed: "a decimal number",
    })
}

fn invalid(name: &'static str, value: Decimal, allowed: &'static str) -> SettingsError {
    SettingsError {
        name,
        value: value.to_string(),
        allowed,
    }
}

/// Returns the hex SHA-256 that identifies a bot configuration: the canonical JSON of its
/// strategy and risk configuration. Going live requires a backtest with the same hash.
pub fn config_hash(strategy: &StrategySpec, risk: &RiskConfig) -> String {
    let risk = serde_json::to_value(risk).unwrap_or_default();
    // serde_json maps keep keys sorted, so equal configurations serialize to equal bytes.
    let canonical = serde_json::json!({"strategy": strategy, "risk": risk});
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    fn spec(params: serde_json::Value) -> StrategySpec {
        let serde_json::Value::Object(params) = params else {
            panic!("params must be an object");
        };
        StrategySpec {
            name: "sma".to_owned(),
            params,
        }
    }

    #[test]
    fn defaults_come_from_risk_configuration() {
        let risk = RiskConfig::default();
        let settings = TradeSettings::from_spec(
            &spec(serde_json::json!({})),
            &risk,
            "BTCUSDT",
            dec("0.0004"),
        );
        let settings = settings.unwrap();
        assert_eq!(settings.position_size, dec("0.5"));
        assert_eq!(settings.leverage, Decimal::ONE);
        assert!(!settings.long_only);
        assert_eq!(settings.take_profit_pct, None);
    }

    #[test]
    fn parameters_override_defaults() {
        let params = serde_json::json!({
            "position_size": 1, "leverage": "3", "long_only": true, "take_profit_pct": 4.5
        });
        let risk = RiskConfig::default();
        let settings = TradeSettings::from_spec(&spec(params), &risk, "ETHUSDT", Decimal::ZERO);
        let settings = settings.unwrap();
        assert_eq!(settings.position_size, Decimal::ONE);
        assert_eq!(settings.leverage, dec("3"));
        assert!(settings.long_only);
        assert_eq!(settings.take_profit_pct, Some(dec("4.5")));
        assert_eq!(settings.symbol, "ETHUSDT");
    }

    #[test]
    fn invalid_parameters_are_named() {
        let cases = [
            (serde_json::json!({"position_size": 1.5}), "position_size"),
            (
                serde_json::json!({"position_size": "lots"}),
                "position_size",
            ),
            (serde_json::json!({"leverage": 0.5}), "leverage"),
            (serde_json::json!({"long_only": "yes"}), "long_only"),
            (
                serde_json::json!({"take_profit_pct": -1}),
                "take_profit_pct",
            ),
        ];
        for (params, name) in cases {
            let risk = RiskConfig::default();
            let err =
                TradeSettings::from_spec(&spec(params.clone()), &risk, "BTCUSDT", Decimal::ZERO);
            assert_eq!(err.unwrap_err().name, name, "{params}");
        }
    }

    #[test]
    fn entry_leaves_room_for_fee_and_respects_risk() {
        let risk = RiskConfig::default();
        let params = serde_json::json!({"position_size": 1});
        let settings = TradeSettings::from_spec(&spec(params), &risk, "BTCUSDT", dec("0.001"));
        let settings = settings.unwrap();
        let all_in = settings.entry_quantity(dec("10000"), dec("100"), dec("2"), dec("100"));
        assert_eq!(all_in, dec("99.9000999"));
        let capped = settings.entry_quantity(dec("10000"), dec("100"), dec("2"), dec("1"));
        assert_eq!(capped, dec("50"));
    }

    #[test]
    fn take_profit_rounds_towards_price() {
        let settings = TradeSettings {
            symbol: "BTCUSDT".to_owned(),
            position_size: Decimal::ONE,
            leverage: Decimal::ONE,
            long_only: false,
            take_profit_pct: Some(dec("3")),
            taker_fee: Decimal::ZERO,
        };
        assert_eq!(
            settings.take_profit_price(Side::Buy, dec("1.23456789")),
            Some(dec("1.27160492"))
        );
        assert_eq!(
            settings.take_profit_price(Side::Sell, dec("1.23456789")),
            Some(dec("1.19753086"))
        );
    }

    #[test]
    fn config_hash_depends_on_every_setting() {
        let base = config_hash(
            &spec(serde_json::json!({"fast": 10, "slow": 30})),
            &RiskConfig::default(),
        );
        let same = config_hash(
            &spec(serde_json::json!({"slow": 30, "fast": 10})),
            &RiskConfig::default(),
        );
        assert_eq!(base, same);
        let other = config_hash(
            &spec(serde_json::json!({"fast": 11, "slow": 30})),
            &RiskConfig::default(),
        );
        assert_ne!(base, other);
        let risk = RiskConfig {
            stop_loss_pct: Decimal::ONE,
            ..RiskConfig::default()
        };
        let other_risk = config_hash(&spec(serde_json::json!({"fast": 10, "slow": 30})), &risk);
        assert_ne!(base, other_risk);
        assert_eq!(base.len(), 64);
    }
}
