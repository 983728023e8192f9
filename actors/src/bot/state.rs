//! A bot's state, rebuilt from its stream.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use keyward_events::Exchange;
use keyward_events::bot::{BotEvent, BotMode, PauseReason, StrategySpec, Verdict};
use keyward_risk::RiskConfig;
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

/// Where a bot stands in its lifecycle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum BotStatus {
    /// Created and configured, never activated or paused since.
    Configured,
    /// Trading in `mode`.
    Active { mode: BotMode },
    /// Not taking new risk until activated again.
    Paused { reason: PauseReason },
    /// Stopped for good.
    Stopped,
}

/// A completed backtest or paper run, as far as going live needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackRecord {
    pub config_hash: String,
    pub paper: bool,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// A bot as its stream describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct BotState {
    pub bot_id: Uuid,
    pub account_id: Option<Uuid>,
    pub label: String,
    pub key_id: Option<Uuid>,
    pub exchange: Exchange,
    pub symbol: String,
    pub strategy: StrategySpec,
    pub risk: RiskConfig,
    /// Whether the recorded risk configuration decoded and passed validation.
    pub risk_valid: bool,
    pub config_hash: String,
    pub status: BotStatus,
    /// Completed backtests and paper runs, oldest first.
    pub track_records: Vec<TrackRecord>,
    /// Signed position as the bot's fills and reconciliations recorded it.
    pub position: Decimal,
    /// Stream version of the last `BotActivated`: each activation starts a new run.
    pub activated_version: Option<u64>,
    /// Mode of the last `BotActivated`.
    pub activated_mode: Option<BotMode>,
    /// Intents with a recorded `OrderRiskChecked`, whatever its verdict.
    pub checked_intents: BTreeSet<Uuid>,
    /// Intents with a recorded approving `OrderRiskChecked`.
    pub approved_intents: BTreeSet<Uuid>,
    /// Intents with a recorded `OrderSubmitted`.
    pub submitted_intents: BTreeSet<Uuid>,
    /// Intents with a recorded `OrderAcknowledged`.
    pub acknowledged_intents: BTreeSet<Uuid>,
    /// Submitted intents not yet filled, cancelled or rejected.
    pub open_intents: BTreeSet<Uuid>,
    /// Version of the stream's last event.
    pub version: u64,
}

impl BotState {
    /// Applies one event; `None` until the bot is created.
    pub fn evolve(state: Option<BotState>, event: &BotEvent, version: u64) -> Option<BotState> {
        match (state, event) {
            (None, BotEvent::BotCreated(created)) => Some(BotState {
                bot_id: created.bot_id,
                account_id: created.account_id,
                label: created.label.clone(),
                key_id: created.key_id,
                exchange: created.exchange,
                symbol: created.symbol.clone(),
                strategy: StrategySpec {
                    name: String::new(),
                    params: serde_json::Map::new(),
                },
                risk: RiskConfig::default(),
                risk_valid: false,
                config_hash: String::new(),
                status: BotStatus::Configured,
                track_records: Vec::new(),
                position: Decimal::ZERO,
                activated_version: None,
                activated_mode: None,
                checked_intents: BTreeSet::new(),
                approved_intents: BTreeSet::new(),
                submitted_intents: BTreeSet::new(),
                acknowledged_intents: BTreeSet::new(),
                open_intents: BTreeSet::new(),
                version,
            }),
            (Some(mut bot), event) => {
                if matches!(event, BotEvent::BotActivated(_)) {
                    bot.activated_version = Some(version);
                }
                bot.apply(event);
                bot.version = version;
                Some(bot)
            }
            (None, _) => None,
        }
    }

    /// Returns whether the bot is trading now.
    pub fn is_active(&self) -> bool {
        matches!(self.status, BotStatus::Active { .. })
    }

    fn apply(&mut self, event: &BotEvent) {
        match event {
            BotEvent::BotConfigured(configured) => {
                self.strategy = configured.strategy.clone();
                let risk = serde_json::from_value::<RiskConfig>(configured.risk.clone());
                self.risk_valid = risk.as_ref().is_ok_and(|risk| risk.validate().is_ok());
                self.risk = risk.unwrap_or_default();
                self.config_hash = configured.config_hash.clone();
            }
            BotEvent::BotActivated(activated) => {
                self.activated_mode = Some(activated.mode);
                self.status = BotStatus::Active {
                    mode: activated.mode,
                };
            }
            BotEvent::BotPaused(paused) => {
                self.status = BotStatus::Paused {
                    reason: paused.reason.clone(),
                };
            }
            BotEvent::BotStopped(_) => self.status = BotStatus::Stopped,
            BotEvent::OrderRiskChecked(checked) => {
                let intent_id = checked.intent.intent_id;
                self.checked_intents.insert(intent_id);
                if checked.verdict == Verdict::Approved {
                    self.approved_intents.insert(intent_id);
                }
            }
            BotEvent::OrderSubmitted(submitted) => {
                self.submitted_intents.insert(submitted.intent_id);
                self.open_intents.insert(submitted.intent_id);
            }
            BotEvent::OrderAcknowledged(acknowledged) => {
                self.acknowledged_intents.insert(acknowledged.intent_id);
            }
            BotEvent::OrderFilled(filled) if filled.complete => {
                self.open_intents.remove(&filled.intent_id);
            }
            BotEvent::OrderCancelled(cancelled) => {
                self.open_intents.remove(&cancelled.intent_id);
            }
            BotEvent::OrderRejected(rejected) => {
                self.open_intents.remove(&rejected.intent_id);
            }
            BotEvent::PositionChanged(changed) => self.position = changed.quantity,
            BotEvent::PositionReconciled(reconciled) => {
                self.position = reconciled.exchange_quantity;
            }
            BotEvent::BacktestCompleted(done) => self.track_records.push(TrackRecord {
                config_hash: done.config_hash.clone(),
                paper: false,
                from: done.first_bar_at,
                to: done.last_bar_at,
            }),
            BotEvent::PaperRunCompleted(done) => self.track_records.push(TrackRecord {
                config_hash: done.config_hash.clone(),
                paper: true,
                from: done.started_at,
                to: done.ended_at,
            }),
            _ => {}
        }
    }
}
