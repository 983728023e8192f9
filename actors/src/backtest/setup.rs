//! One place that turns a bot configuration and the simulated account's settings into a run, so
//! that the command line, a sweep and the server's backtest route run the same thing for the
//! same configuration.

use keyward_events::bot::StrategySpec;
use keyward_risk::{RiskConfig, RiskConfigError, RiskGate};
use rust_decimal::prelude::ToPrimitive;
use uuid::Uuid;

use super::{BacktestConfig, BacktestError, DEFAULT_FEE, DEFAULT_MAKER_FEE, FinalFill};
use crate::strategy::{self, ConfiguredStrategy, StrategyError};
use crate::trading::{SettingsError, TradeSettings, config_hash, to_decimal};

/// Settings of the simulated account, which are not part of a bot's configuration.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunSettings {
    /// Starting cash in the quote currency.
    pub cash: f64,
    /// Taker fee, a fraction of each market or stop fill's notional.
    pub fee: f64,
    /// Maker fee, a fraction of each limit fill's notional.
    pub maker_fee: f64,
    /// Slippage of market and stop fills, in basis points.
    pub slippage_bps: f64,
    pub final_fill: FinalFill,
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            cash: 10_000.0,
            fee: DEFAULT_FEE,
            maker_fee: DEFAULT_MAKER_FEE,
            slippage_bps: 0.0,
            final_fill: FinalFill::LastClose,
        }
    }
}

/// Everything that decides a run's trades besides the data.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSpec {
    pub strategy: StrategySpec,
    pub risk: RiskConfig,
    pub symbol: String,
    pub settings: RunSettings,
}

/// A run ready to start: the strategy, the gate and the driver's settings.
#[derive(Clone, Debug)]
pub struct PreparedRun {
    pub strategy: ConfiguredStrategy,
    pub gate: RiskGate,
    pub config: BacktestConfig,
}

/// Error of preparing a run.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Strategy(#[from] StrategyError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Risk(#[from] RiskConfigError),
    #[error(transparent)]
    Backtest(#[from] BacktestError),
}

impl RunSpec {
    /// Returns the hash of the bot configuration (strategy and risk), the one that going live
    /// checks.
    pub fn config_hash(&self) -> String {
        config_hash(&self.strategy, &self.risk)
    }

    /// Builds the strategy, the gate and the driver's settings. The run id derives from the
    /// configuration and the settings, so equal runs give equal intent ids. It leaves out the
    /// data, so that a run can start before the data's hash is known. Intent ids only need to
    /// be unique within a run, because a backtest records none of them.
    ///
    /// # Errors
    /// Returns the first invalid strategy parameter, order setting, risk limit or account
    /// setting.
    pub fn prepare(&self) -> Result<PreparedRun, SetupError> {
        let strategy = strategy::from_spec(&self.strategy)?;
        let gate = RiskGate::new(self.risk.clone())?;
        let fee = to_decimal(self.settings.fee);
        let trade = TradeSettings::from_spec(&self.strategy, &self.risk, &self.symbol, fee)?;
        let seed = format!("{}:{:?}", self.config_hash(), self.settings);
        let config = BacktestConfig {
            run_id: Uuid::new_v5(&Uuid::NAMESPACE_OID, seed.as_bytes()),
            symbol: trade.symbol,
            cash: self.settings.cash,
            fee: self.settings.fee,
            maker_fee: self.settings.maker_fee,
            slippage_bps: self.settings.slippage_bps,
            position_size: trade.position_size.to_f64().unwrap_or(0.0),
            leverage: trade.leverage.to_f64().unwrap_or(0.0),
            long_only: trade.long_only,
            take_profit_pct: trade.take_profit_pct.and_then(|pct| pct.to_f64()),
            final_fill: self.settings.final_fill,
        };
        config.validate()?;
        Ok(PreparedRun {
            strategy,
            gate,
            config,
        })
    }
}
