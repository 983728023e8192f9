//! The instruments the emulator lists: from an instrument file, or a built-in pair.
//!
//! The instrument file is a JSON array of objects with the fields of [`InstrumentSpec`];
//! decimals are strings, e.g.
//! `{"symbol": "BTCUSDT", "base_asset": "BTC", "tick_size": "0.1", "step_size": "0.001",
//! "min_quantity": "0.001", "price": "60000", …}`. Every dialect lists the same instruments in
//! its own shape; OKX expresses sizes in contracts of `contract_value`.

use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One USDT-margined perpetual.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentSpec {
    /// keyward's symbol, e.g. `BTCUSDT`; Binance and Bybit use it as is.
    pub symbol: String,
    pub base_asset: String,
    #[serde(default = "usdt")]
    pub quote_asset: String,
    pub tick_size: Decimal,
    #[serde(default)]
    pub min_price: Option<Decimal>,
    #[serde(default)]
    pub max_price: Option<Decimal>,
    /// Quantity step in the base asset.
    pub step_size: Decimal,
    pub min_quantity: Decimal,
    #[serde(default)]
    pub max_quantity: Option<Decimal>,
    #[serde(default)]
    pub max_market_quantity: Option<Decimal>,
    #[serde(default)]
    pub min_notional: Option<Decimal>,
    /// Base asset per contract, for dialects that count contracts (OKX).
    #[serde(default = "one")]
    pub contract_value: Decimal,
    /// Starting price, until the price feed moves it.
    pub price: Decimal,
    /// Leverage tiers, lowest position value first; at least one.
    pub brackets: Vec<BracketSpec>,
}

/// One leverage tier: positions worth up to `notional_cap` may use up to `max_leverage`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BracketSpec {
    pub notional_cap: Decimal,
    pub max_leverage: u32,
    pub maint_margin_ratio: Decimal,
}

fn usdt() -> String {
    "USDT".to_owned()
}

fn one() -> Decimal {
    Decimal::ONE
}

impl InstrumentSpec {
    /// Returns the highest leverage of any tier.
    pub fn max_leverage(&self) -> u32 {
        self.brackets
            .iter()
            .map(|bracket| bracket.max_leverage)
            .max()
            .unwrap_or(1)
    }

    /// Returns the largest position value allowed at `leverage`: the cap of the last tier that
    /// still allows it.
    pub fn max_notional(&self, leverage: u32) -> Decimal {
        self.brackets
            .iter()
            .filter(|bracket| bracket.max_leverage >= leverage)
            .map(|bracket| bracket.notional_cap)
            .max()
            .unwrap_or(Decimal::ZERO)
    }

    /// Returns the lower bound of each tier's position value.
    pub fn bracket_floors(&self) -> Vec<Decimal> {
        let mut floor = Decimal::ZERO;
        self.brackets
            .iter()
            .map(|bracket| {
                let this = floor;
                floor = bracket.notional_cap;
                this
            })
            .collect()
    }
}

/// An instrument file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InstrumentFileError {
    #[error("cannot read instrument file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("instrument file {path} is invalid: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("instrument file {path}, {symbol}: {reason}")]
    Invalid {
        path: PathBuf,
        symbol: String,
        reason: String,
    },
}

/// Reads and checks an instrument file.
///
/// # Errors
/// Returns [`InstrumentFileError`] for an unreadable file, invalid JSON, an unknown field, or
/// an instrument with a non-positive step, tick, price or contract value, no tiers, or a
/// duplicate symbol.
pub fn load_instruments(path: &Path) -> Result<Vec<InstrumentSpec>, InstrumentFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| InstrumentFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    let instruments: Vec<InstrumentSpec> =
        serde_json::from_str(&text).map_err(|source| InstrumentFileError::Json {
            path: path.to_owned(),
            source,
        })?;
    for (index, instrument) in instruments.iter().enumerate() {
        let invalid = |reason: &str| InstrumentFileError::Invalid {
            path: path.to_owned(),
            symbol: instrument.symbol.clone(),
            reason: reason.to_owned(),
        };
        check(instrument).map_err(|reason| invalid(&reason))?;
        if instruments[..index]
            .iter()
            .any(|other| other.symbol == instrument.symbol)
        {
            return Err(invalid("listed twice"));
        }
    }
    Ok(instruments)
}

fn check(instrument: &InstrumentSpec) -> Result<(), String> {
    let positive = [
        ("tick_size", instrument.tick_size),
        ("step_size", instrument.step_size),
        ("price", instrument.price),
        ("contract_value", instrument.contract_value),
    ];
    if let Some((name, _)) = positive.iter().find(|(_, value)| *value <= Decimal::ZERO) {
        return Err(format!("{name} must be positive"));
    }
    if instrument.brackets.is_empty() {
        return Err("brackets must list at least one leverage tier".to_owned());
    }
    if instrument
        .brackets
        .iter()
        .any(|bracket| bracket.max_leverage == 0)
    {
        return Err("a tier's max_leverage must be at least 1".to_owned());
    }
    Ok(())
}

fn dec(text: &str) -> Decimal {
    text.parse().unwrap_or(Decimal::ZERO)
}

fn bracket(cap: &str, max_leverage: u32, ratio: &str) -> BracketSpec {
    BracketSpec {
        notional_cap: dec(cap),
        max_leverage,
        maint_margin_ratio: dec(ratio),
    }
}

/// BTCUSDT and ETHUSDT with rules like Binance's published ones (tick 0.10 and 0.01, step
/// 0.001, minimum notional 5) and OKX's contract values (0.01 BTC, 0.1 ETH).
pub fn default_instruments() -> Vec<InstrumentSpec> {
    let tiers = vec![
        bracket("50000", 125, "0.004"),
        bracket("600000", 100, "0.005"),
        bracket("3000000", 75, "0.0065"),
        bracket("12000000", 50, "0.01"),
        bracket("70000000", 25, "0.02"),
    ];
    vec![
        InstrumentSpec {
            symbol: "BTCUSDT".to_owned(),
            base_asset: "BTC".to_owned(),
            quote_asset: usdt(),
            tick_size: dec("0.1"),
            min_price: Some(dec("556.8")),
            max_price: Some(dec("4529764")),
            step_size: dec("0.001"),
            min_quantity: dec("0.001"),
            max_quantity: Some(dec("1000")),
            max_market_quantity: Some(dec("120")),
            min_notional: Some(dec("5")),
            contract_value: dec("0.01"),
            price: dec("60000"),
            brackets: tiers.clone(),
        },
        InstrumentSpec {
            symbol: "ETHUSDT".to_owned(),
            base_asset: "ETH".to_owned(),
            quote_asset: usdt(),
            tick_size: dec("0.01"),
            min_price: Some(dec("39.86")),
            max_price: Some(dec("306177")),
            step_size: dec("0.001"),
            min_quantity: dec("0.001"),
            max_quantity: Some(dec("10000")),
            max_market_quantity: Some(dec("2000")),
            min_notional: Some(dec("5")),
            contract_value: dec("0.1"),
            price: dec("3000"),
            brackets: tiers,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_notional_follows_tiers() {
        let btc = &default_instruments()[0];
        assert_eq!(btc.max_leverage(), 125);
        assert_eq!(btc.max_notional(125), dec("50000"));
        assert_eq!(btc.max_notional(100), dec("600000"));
        assert_eq!(btc.max_notional(20), dec("70000000"));
        assert_eq!(btc.max_notional(126), Decimal::ZERO);
        assert_eq!(btc.bracket_floors()[1], dec("50000"));
    }

    #[test]
    fn instrument_file_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("instruments.json");
        let mut spec = default_instruments().remove(0);
        spec.step_size = Decimal::ZERO;
        std::fs::write(&path, serde_json::to_string(&vec![spec]).unwrap()).unwrap();
        let err = load_instruments(&path).unwrap_err();
        assert!(err.to_string().contains("step_size"), "{err}");

        std::fs::write(
            &path,
            serde_json::to_string(&default_instruments()).unwrap(),
        )
        .unwrap();
        let loaded = load_instruments(&path).unwrap();
        assert_eq!(loaded, default_instruments());
    }
}
