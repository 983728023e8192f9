//! Bots that tests create.

use keyward_events::Exchange;
use keyward_events::bot::{OrderRiskChecked, RuleCheck, StrategySpec};
use keyward_risk::RiskConfig;
use uuid::Uuid;

use super::NewBot;

/// A BTCUSDT bot with an SMA 5/20 crossover and the default risk limits.
pub(crate) fn sma_bot(label: &str, exchange: Exchange, account_id: Option<Uuid>) -> NewBot {
    let params = serde_json::json!({"fast": 5, "slow": 20});
    NewBot {
        account_id,
        label: label.to_owned(),
        key_id: None,
        exchange,
        symbol: "BTCUSDT".to_owned(),
        strategy: StrategySpec {
            name: "sma".to_owned(),
            params: params.as_object().cloned().unwrap_or_default(),
        },
        risk: RiskConfig::default(),
    }
}

/// Returns the result of the account's daily loss rule in a verdict.
pub(crate) fn account_loss_check(checked: &OrderRiskChecked) -> &RuleCheck {
    checked
        .rules
        .iter()
        .find(|rule| rule.rule == "account_daily_loss_limit")
        .expect("every verdict carries the account's daily loss rule")
}
