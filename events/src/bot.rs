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
        BotActivated,
        BotPaused,
        BotStopped,
        OrderRiskChecked,
        OrderSubmitted,
        OrderAcknowledged,
        OrderFilled,
        OrderCancelled,
        OrderRejected,
        PositionChanged,
        PositionReconciled,
        RiskLimitBreached,
        BacktestCompleted,
        PaperRunCompleted,
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

/// The bot started trading in `mode` (paper or live) with the configuration `config_hash`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BotActivated {
    pub mode: BotMode,
    pub config_hash: String,
    /// Exchange host a live bot trades against; `None` for paper trading.
    #[serde(default)]
    pub exchange_host: Option<String>,
    pub activated_at: DateTime<Utc>,
}

/// Why a bot stopped taking new risk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PauseReason {
    /// The user paused it.
    Requested,
    /// A daily loss or drawdown limit was breached; `rule` names it.
    RiskLimitBreached { rule: String },
    /// A protective stop could not be placed, so the position was closed at market.
    StopLossNotPlaced { detail: String },
    /// The account's kill switch was engaged.
    KillSwitch,
}

/// The bot stopped taking new risk; resting orders stay and it can be activated again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BotPaused {
    pub reason: PauseReason,
    pub paused_at: DateTime<Utc>,
}

/// The bot stopped for good; its open orders were cancelled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BotStopped {
    /// `requested` or `kill_switch`.
    pub reason: String,
    pub stopped_at: DateTime<Utc>,
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

/// An approved order was handed to the exchange (or, in paper mode, to the simulated one).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderSubmitted {
    pub intent_id: Uuid,
    /// Client order id derived from the intent id.
    pub client_order_id: String,
    pub symbol: String,
    pub side: Side,
    pub kind: OrderKind,
    /// Quantity as sent, rounded to the instrument's step.
    pub quantity: Decimal,
    #[serde(default)]
    pub price: Option<Decimal>,
    pub reduce_only: bool,
    pub mode: BotMode,
    pub submitted_at: DateTime<Utc>,
}

/// The exchange accepted an order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderAcknowledged {
    pub intent_id: Uuid,
    pub client_order_id: String,
    pub exchange_order_id: String,
    /// True when the response was lost and the order was found by its client order id.
    #[serde(default)]
    pub recovered: bool,
    pub acknowledged_at: DateTime<Utc>,
}

/// An order filled, in whole or in part.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderFilled {
    pub intent_id: Uuid,
    pub client_order_id: String,
    pub side: Side,
    pub quantity: Decimal,
    pub price: Decimal,
    pub fee: Decimal,
    /// Whether the order has no quantity left to fill.
    pub complete: bool,
    pub filled_at: DateTime<Utc>,
}

/// An order was cancelled: by the bot (a stop whose position closed) or by the exchange.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderCancelled {
    pub intent_id: Uuid,
    pub client_order_id: String,
    pub reason: String,
    pub cancelled_at: DateTime<Utc>,
}

/// The exchange (or the adapter, before sending) turned an approved order down.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderRejected {
    pub intent_id: Uuid,
    pub client_order_id: String,
    /// Stable error code, such as `insufficient_margin` or `invalid_order`.
    pub code: String,
    pub message: String,
    pub rejected_at: DateTime<Utc>,
}

/// The bot's position changed after a fill.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PositionChanged {
    pub symbol: String,
    /// Signed quantity: positive long, negative short, zero flat.
    pub quantity: Decimal,
    /// Average entry price; `None` when flat.
    #[serde(default)]
    pub entry_price: Option<Decimal>,
    pub changed_at: DateTime<Utc>,
}

/// An order the bot knew of, as the exchange reported it during reconciliation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReconciledOrder {
    pub client_order_id: String,
    /// The exchange's state name, such as `filled` or `canceled`.
    pub state: String,
    pub filled_quantity: Decimal,
}

/// The bot's position and open orders were read from the exchange (at start and after a
/// reconnect); what differed from the bot's own record is listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PositionReconciled {
    pub symbol: String,
    /// Signed position as the bot had recorded it.
    pub recorded_quantity: Decimal,
    /// Signed position the exchange reports.
    pub exchange_quantity: Decimal,
    /// Client order ids open on the exchange.
    pub open_orders: Vec<String>,
    /// Orders the bot knew as open that ended while it was not watching.
    #[serde(default)]
    pub changed_orders: Vec<ReconciledOrder>,
    pub reconciled_at: DateTime<Utc>,
}

/// A daily loss or drawdown limit was breached; the bot pauses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RiskLimitBreached {
    /// Rule name, such as `daily_loss_limit` or `max_drawdown`.
    pub rule: String,
    pub detail: String,
    pub breached_at: DateTime<Utc>,
}

/// A paper run of the bot's configuration ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PaperRunCompleted {
    pub config_hash: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub bars: u64,
    pub orders: u64,
    pub final_equity: Decimal,
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
