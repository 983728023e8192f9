//! Events of a trading bot's stream (`bot-<uuid>`): lifecycle, risk verdicts, orders, results.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event_family;
use crate::exchange::Exchange;

event_family! {
    /// Everything that happens to one bot.
    pub enum BotEvent {
        BotCreated,
        BotConfigured,
        OrderRiskChecked,
        BacktestCompleted,
    }
}

/// How a bot runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BotMode {
    Backtest,
    Paper,
    Live,
}

/// Strategy name and its parameters, as configured by the user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StrategySpec {
    pub name: String,
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
}

/// A bot was created for one symbol on one exchange.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BotCreated {
    pub bot_id: Uuid,
    #[serde(default)]
    pub account_id: Option<Uuid>,
    pub label: String,
    #[serde(default)]
    pub key_id: Option<Uuid>,
    pub exchange: Exchange,
    pub symbol: String,
    pub created_at: DateTime<Utc>,
}

/// The bot's strategy and risk configuration were set; `config_hash` identifies them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BotConfigured {
    pub strategy: StrategySpec,
    /// Risk configuration as accepted, with defaults filled in.
    pub risk: serde_json::Value,
    /// Hex SHA-256 of the canonical strategy and risk configuration.
    pub config_hash: String,
    pub configured_at: DateTime<Utc>,
}

/// Buy or sell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Buy,
    Sell,
}

/// Market or limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    Market,
    Limit,
    StopMarket,
}

/// An order a bot wants to place, before the risk gate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderIntent {
    pub intent_id: Uuid,
    pub symbol: String,
    pub side: Side,
    pub kind: OrderKind,
    pub quantity: Decimal,
    /// Limit or stop price; for market orders the reference price the gate checked against.
    #[serde(default)]
    pub price: Option<Decimal>,
    #[serde(default)]
    pub stop_loss: Option<Decimal>,
    #[serde(default)]
    pub reduce_only: bool,
}

/// The outcome of one risk rule for one intent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RuleCheck {
    /// Rule name, such as `stop_loss_present` or `max_position_size`.
    pub rule: String,
    pub passed: bool,
    pub detail: String,
    /// Whether a failure of this rule blocks the order. The gate sets it to false for limits on
    /// new risk checked on an order that only reduces risk, so such a failure is only recorded.
    #[serde(default = "enforced_by_default")]
    pub enforced: bool,
}

fn enforced_by_default() -> bool {
    true
}

/// Whether the gate let the intent through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Approved,
    Rejected,
}

/// The risk gate's verdict on an intent, recorded before anything is sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderRiskChecked {
    pub intent: OrderIntent,
    pub verdict: Verdict,
    pub rules: Vec<RuleCheck>,
    pub mode: BotMode,
    pub checked_at: DateTime<Utc>,
}

/// A backtest of the bot's configuration finished.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BacktestCompleted {
    pub backtest_id: Uuid,
    pub config_hash: String,
    /// Hex SHA-256 of the candle data the backtest ran over.
    pub data_hash: String,
    pub data_name: String,
    pub bars: u64,
    pub trades: u64,
    pub first_bar_at: DateTime<Utc>,
    pub last_bar_at: DateTime<Utc>,
    pub final_equity: f64,
    pub total_return: f64,
    pub max_drawdown: f64,
    pub completed_at: DateTime<Utc>,
    /// Figures and hashes added after the first release; absent from older events. Boxed so
    /// that this event does not make every bot event larger.
    #[serde(default)]
    pub details: Option<Box<BacktestDetails>>,
}

/// The report figures and input hashes of a backtest beside its headline numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BacktestDetails {
    /// Annualized Sharpe ratio of the daily returns.
    pub sharpe: Option<f64>,
    /// Annualized Sortino ratio of the daily returns.
    pub sortino: Option<f64>,
    /// Fraction of trades with a positive PnL.
    pub win_rate: Option<f64>,
    /// Gross profit over gross loss of the trades.
    pub profit_factor: Option<f64>,
    /// Fraction of bars that closed with a position open.
    pub exposure: f64,
    pub fees_paid: f64,
    /// Funding paid; negative when more was received.
    pub funding_paid: f64,
    /// Verdicts the risk gate gave during the run.
    pub risk_checks: u64,
    /// Name of the funding-rate file charged during the run, if any.
    pub funding_name: Option<String>,
    /// Hex SHA-256 of the funding-rate file's bytes.
    pub funding_hash: Option<String>,
    /// Hex SHA-256 of the trade list as JSON: equal runs give equal hashes.
    pub trade_list_hash: String,
}
