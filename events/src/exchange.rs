//! Exchanges keyward trades on, and the permission set every probe is normalized into.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An exchange offering USDT-margined perpetual futures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Exchange {
    Binance,
    Bybit,
    Okx,
}

impl Exchange {
    pub const ALL: [Exchange; 3] = [Exchange::Binance, Exchange::Bybit, Exchange::Okx];

    /// The lowercase name used in the API, the CLI and key files.
    pub fn as_str(self) -> &'static str {
        match self {
            Exchange::Binance => "binance",
            Exchange::Bybit => "bybit",
            Exchange::Okx => "okx",
        }
    }

    /// Whether API keys of this exchange come with a passphrase.
    pub fn requires_passphrase(self) -> bool {
        matches!(self, Exchange::Okx)
    }
}

/// The name is not one of the supported exchanges.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown exchange {0:?}; expected one of binance, bybit, okx")]
pub struct UnknownExchange(pub String);

impl FromStr for Exchange {
    type Err = UnknownExchange;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "binance" => Ok(Exchange::Binance),
            "bybit" => Ok(Exchange::Bybit),
            "okx" => Ok(Exchange::Okx),
            other => Err(UnknownExchange(other.to_owned())),
        }
    }
}

impl fmt::Display for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an API key may do, normalized across exchanges.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KeyPermissions {
    pub read: bool,
    pub spot_trade: bool,
    pub futures_trade: bool,
    pub withdraw: bool,
    /// Internal or universal transfer between accounts.
    pub transfer: bool,
    /// The key only works from an IP allowlist.
    pub ip_restricted: bool,
    /// When the key or its trading permission expires, where the exchange reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}
