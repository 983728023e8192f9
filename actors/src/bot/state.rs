//! A bot's state, rebuilt from its stream.

use keyward_events::Exchange;
use keyward_events::bot::{BotEvent, StrategySpec};
use keyward_risk::RiskConfig;
use uuid::Uuid;

/// A bot as its stream describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct BotState {
    pub bot_id: Uuid,
    pub account_id: Option<Uuid>,
    pub label: String,
    pub exchange: Exchange,
    pub symbol: String,
    pub strategy: StrategySpec,
    pub risk: RiskConfig,
    pub config_hash: String,
    /// Version of the stream's last event.
    pub version: u64,
}

impl BotState {
    /// Applies one event; `None` until the bot is both created and configured.
    pub fn evolve(state: Option<BotState>, event: &BotEvent, version: u64) -> Option<BotState> {
        match (state, event) {
            (None, BotEvent::BotCreated(created)) => Some(BotState {
                bot_id: created.bot_id,
                account_id: created.account_id,
                label: created.label.clone(),
                exchange: created.exchange,
                symbol: created.symbol.clone(),
                strategy: StrategySpec {
                    name: String::new(),
                    params: serde_json::Map::new(),
                },
                risk: RiskConfig::default(),
                config_hash: String::new(),
                version,
            }),
            (Some(mut bot), BotEvent::BotConfigured(configured)) => {
                bot.strategy = configured.strategy.clone();
                bot.risk = serde_json::from_value(configured.risk.clone()).unwrap_or_default();
                bot.config_hash = configured.config_hash.clone();
                bot.version = version;
                Some(bot)
            }
            (Some(mut bot), _) => {
                bot.version = version;
                Some(bot)
            }
            (None, _) => None,
        }
    }
}
