//! Trading strategies: they decide from market data and the bot's own position alone, with no
//! clock and no I/O, so backtest, paper and live runs take the same decisions on the same bars.

mod rsi;
mod sma;

pub use rsi::{MAX_PERIOD, RsiReversion};
pub use sma::{MAX_WINDOW, SmaCross};

use keyward_events::bot::StrategySpec;
use keyward_events::market::Candle;

/// Direction of the bot's position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PositionSide {
    Flat,
    Long,
    Short,
}

/// A strategy's decision after one closed bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// Keep the position as it is.
    Hold,
    /// Close any short and go long.
    GoLong,
    /// Close any long and go short, or stay flat when the bot trades long only.
    GoShort,
}

impl Signal {
    /// Returns the position the bot should hold after this signal, or `None` to keep its
    /// current one.
    pub fn target(self, long_only: bool) -> Option<PositionSide> {
        match self {
            Self::Hold => None,
            Self::GoLong => Some(PositionSide::Long),
            Self::GoShort if long_only => Some(PositionSide::Flat),
            Self::GoShort => Some(PositionSide::Short),
        }
    }
}

/// A trading strategy fed one closed bar at a time.
pub trait Strategy {
    /// Takes the next closed bar and the bot's current position, and returns the decision for
    /// this bar. It receives bars up to and including `candle` and nothing later.
    fn on_bar(&mut self, candle: &Candle, position: PositionSide) -> Signal;
}

/// A strategy parameter outside its allowed range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("strategy parameter {name} = {value} is invalid; allowed: {allowed}")]
pub struct StrategyError {
    pub name: &'static str,
    pub value: String,
    pub allowed: String,
}

/// A strategy built from a bot's [`StrategySpec`]; one variant per strategy name.
#[derive(Clone, Debug)]
pub enum ConfiguredStrategy {
    /// `{"name": "sma", "params": {"fast": N, "slow": M}}`.
    Sma(SmaCross),
    /// `{"name": "rsi", "params": {"period": N, "oversold": A, "overbought": B}}`, the levels
    /// defaulting to 30 and 70.
    Rsi(RsiReversion),
}

impl Strategy for ConfiguredStrategy {
    fn on_bar(&mut self, candle: &Candle, position: PositionSide) -> Signal {
        match self {
            Self::Sma(sma) => sma.on_bar(candle, position),
            Self::Rsi(rsi) => rsi.on_bar(candle, position),
        }
    }
}

/// Parameters every strategy accepts: the order handling's, and the candle interval a paper bot
/// follows.
const TRADE_PARAMS: [&str; 5] = [
    "position_size",
    "leverage",
    "long_only",
    "take_profit_pct",
    "interval",
];

/// Builds the strategy a spec names, with its parameters checked.
///
/// Parameters of the order handling (`position_size`, `leverage`, `long_only`,
/// `take_profit_pct`) are read by [`crate::trading::TradeSettings::from_spec`] instead.
///
/// # Errors
/// Returns an unknown strategy name, an unknown parameter, or the first missing or invalid
/// parameter.
pub fn from_spec(spec: &StrategySpec) -> Result<ConfiguredStrategy, StrategyError> {
    let own: &[&str] = match spec.name.as_str() {
        "sma" => &["fast", "slow"],
        "rsi" => &["period", "oversold", "overbought"],
        _ => &[],
    };
    if !own.is_empty() {
        let unknown = spec
            .params
            .keys()
            .find(|key| !own.contains(&key.as_str()) && !TRADE_PARAMS.contains(&key.as_str()));
        if let Some(key) = unknown {
            let allowed: Vec<&str> = own.iter().chain(TRADE_PARAMS.iter()).copied().collect();
            return Err(StrategyError {
                name: "params",
                value: format!("{key:?}"),
                allowed: format!("the parameters {}", allowed.join(", ")),
            });
        }
    }
    match spec.name.as_str() {
        "sma" => {
            let fast = window_param(spec, "fast")?;
            let slow = window_param(spec, "slow")?;
            Ok(ConfiguredStrategy::Sma(SmaCross::new(fast, slow)?))
        }
        "rsi" => {
            let period = window_param(spec, "period")?;
            let oversold = level_param(spec, "oversold", 30.0)?;
            let overbought = level_param(spec, "overbought", 70.0)?;
            Ok(ConfiguredStrategy::Rsi(RsiReversion::new(
                period, oversold, overbought,
            )?))
        }
        other => Err(StrategyError {
            name: "name",
            value: format!("{other:?}"),
            allowed: "\"sma\" or \"rsi\"".to_owned(),
        }),
    }
}

fn window_param(spec: &StrategySpec, name: &'static str) -> Result<usize, StrategyError> {
    let value = spec.params.get(name);
    value
        .and_then(serde_json::Value::as_u64)
        .and_then(|bars| usize::try_from(bars).ok())
        .ok_or_else(|| StrategyError {
            name,
            value: value.map_or_else(|| "missing".to_owned(), ToString::to_string),
            allowed: "a whole number of bars".to_owned(),
        })
}

fn level_param(
    spec: &StrategySpec,
    name: &'static str,
    default: f64,
) -> Result<f64, StrategyError> {
    let Some(value) = spec.params.get(name) else {
        return Ok(default);
    };
    value.as_f64().ok_or_else(|| StrategyError {
        name,
        value: value.to_string(),
        allowed: "a number of index points".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, params: serde_json::Value) -> StrategySpec {
        StrategySpec {
            name: name.to_owned(),
            params: params.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn unknown_parameter_is_rejected() {
        let err = from_spec(&spec(
            "sma",
            serde_json::json!({"fast": 10, "slow": 30, "x": 1}),
        ))
        .unwrap_err();
        assert_eq!(err.name, "params");
        assert_eq!(err.value, "\"x\"");
        assert!(err.allowed.contains("fast"), "{err}");

        let err =
            from_spec(&spec("rsi", serde_json::json!({"period": 14, "fast": 3}))).unwrap_err();
        assert_eq!(err.value, "\"fast\"");
    }

    #[test]
    fn trade_parameters_are_accepted() {
        let params = serde_json::json!({
            "fast": 10, "slow": 30, "position_size": 0.5, "leverage": 2,
            "long_only": true, "take_profit_pct": 3, "interval": "5m",
        });
        assert!(from_spec(&spec("sma", params)).is_ok());
    }
}
