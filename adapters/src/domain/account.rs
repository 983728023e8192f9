//! The contents of an account: balances, positions, leverage and position mode.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One asset of the futures account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    pub asset: String,
    /// Deposits plus realized profit and loss, minus fees.
    pub wallet_balance: Decimal,
    /// The balance new orders may still use as margin.
    pub available_balance: Decimal,
    /// Unrealized profit and loss of open positions in this asset.
    pub unrealized_pnl: Decimal,
    /// Milliseconds since the Unix epoch, as the exchange reports it (0 when it does not).
    pub updated_at_ms: i64,
}

/// The account's position in one instrument, as one net (one-way) quantity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// keyward's symbol, e.g. `BTCUSDT`.
    pub symbol: String,
    /// Signed quantity in the base asset: positive long, negative short, zero flat.
    pub quantity: Decimal,
    /// Average entry price; zero when flat.
    pub entry_price: Decimal,
    pub mark_price: Option<Decimal>,
    pub unrealized_pnl: Decimal,
    pub leverage: Option<Decimal>,
    pub liquidation_price: Option<Decimal>,
    /// Milliseconds since the Unix epoch, as the exchange reports it (0 when it does not).
    pub updated_at_ms: i64,
}

impl Position {
    /// Returns whether the position is flat.
    pub fn is_flat(&self) -> bool {
        self.quantity.is_zero()
    }
}

/// The way an account keeps positions: one net position or two sides per instrument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PositionMode {
    /// One net position per instrument; keyward trades only in this mode.
    OneWay,
    /// Separate long and short positions per instrument (Binance "dual side", Bybit "both
    /// sides", OKX `long_short_mode`).
    Hedge,
}

/// The outcome of setting an instrument's leverage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeverageSet {
    pub symbol: String,
    pub leverage: Decimal,
    /// Largest position value allowed at this leverage, where the exchange reports it.
    pub max_notional: Option<Decimal>,
    /// False when the exchange reported that the leverage was already set, which counts as
    /// success.
    pub changed: bool,
}
