//! `GET /api/v1/schemas/events`: the JSON Schema of every event payload, for consumers of the
//! event stream and the bot feed.

use axum::Json;
use keyward_events::Category;
use keyward_events::account::{
    AccountLocked, AccountRegistered, AccountRiskLimitsSet, ApiTokenCreated, ApiTokenRevoked,
    KillSwitchEngaged, KillSwitchReleased, LoginFailed, LoginSucceeded, PasswordChanged,
    ReAuthenticated, ReAuthenticationFailed, RecoveryCodeUsed, RecoveryCodesIssued, SessionStarted,
    SessionTerminated, TwoFactorCodeRejected, TwoFactorDisabled, TwoFactorEnabled,
    TwoFactorEnrollmentStarted,
};
use keyward_events::bot::{
    BacktestCompleted, BotActivated, BotConfigured, BotCreated, BotPaused, BotStopped,
    OrderAcknowledged, OrderCancelled, OrderFilled, OrderRejected, OrderRiskChecked,
    OrderSubmitted, PaperRunCompleted, PositionChanged, PositionReconciled, RiskLimitBreached,
};
use keyward_events::key::{
    KeyAdded, KeyDeleted, KeyFlagged, KeyProbeFailed, KeyProbeStarted, KeyProbed, KeyRejected,
    KeyRotated, WithdrawalDisabledConfirmed,
};
use keyward_events::vault::{MasterKeyRotated, MasterKeyVersionRetired};
use schemars::{Schema, schema_for};
use serde_json::{Map, Value, json};

/// One event type's payload schema.
pub struct EventSchema {
    pub event_type: &'static str,
    pub category: Category,
    /// The schema version new events of this type are written with.
    pub schema_version: u16,
    pub schema: Schema,
}

macro_rules! schemas {
    ($category:expr; $($payload:ident),+ $(,)?) => {
        [$(EventSchema {
            event_type: stringify!($payload),
            category: $category,
            schema_version: 1,
            schema: schema_for!($payload),
        }),+]
    };
}

/// The schema of every event payload.
// TODO: an event type added to a family needs its entry here; the test below lists the
// missing ones.
pub fn event_schemas() -> Vec<EventSchema> {
    let mut all = Vec::new();
    all.extend(schemas![Category::Key;
        KeyAdded, KeyProbeStarted, KeyProbed, KeyProbeFailed, WithdrawalDisabledConfirmed,
        KeyRejected, KeyFlagged, KeyRotated, KeyDeleted,
    ]);
    all.extend(schemas![Category::Bot;
        BotCreated, BotConfigured, BotActivated, BotPaused, BotStopped, OrderRiskChecked,
        OrderSubmitted, OrderAcknowledged, OrderFilled, OrderCancelled, OrderRejected,
        PositionChanged, PositionReconciled, RiskLimitBreached, BacktestCompleted,
        PaperRunCompleted,
    ]);
    all.extend(schemas![Category::Account;
        AccountRegistered, PasswordChanged, TwoFactorEnrollmentStarted, TwoFactorEnabled,
        TwoFactorDisabled, TwoFactorCodeRejected, RecoveryCodesIssued, RecoveryCodeUsed,
        LoginSucceeded, LoginFailed, AccountLocked, ReAuthenticated, ReAuthenticationFailed,
        SessionStarted, SessionTerminated, ApiTokenCreated, ApiTokenRevoked,
        AccountRiskLimitsSet, KillSwitchEngaged, KillSwitchReleased,
    ]);
    all.extend(schemas![Category::Vault; MasterKeyRotated, MasterKeyVersionRetired]);
    all
}

/// `GET /api/v1/schemas/events`: `{"events": {TYPE: {category, schema_version, schema}}}`.
#[utoipa::path(
    get,
    path = "/api/v1/schemas/events",
    tag = "events",
    summary = "JSON Schema of every event payload",
    security(()),
    responses((status = 200, description = "`{\"events\": {TYPE: {category, schema_version, schema}}}`", body = Object))
)]
pub async fn serve() -> Json<Value> {
    let mut events = Map::new();
    for entry in event_schemas() {
        events.insert(
            entry.event_type.to_owned(),
            json!({
                "category": entry.category,
                "schema_version": entry.schema_version,
                "schema": entry.schema,
            }),
        );
    }
    Json(json!({"events": events}))
}

#[cfg(test)]
mod tests {
    use keyward_events::account::AccountEvent;
    use keyward_events::bot::BotEvent;
    use keyward_events::key::KeyEvent;
    use keyward_events::vault::VaultEvent;

    use super::*;

    #[test]
    fn every_event_type_has_a_schema() {
        let listed: Vec<&str> = event_schemas().iter().map(|e| e.event_type).collect();
        let families = [
            KeyEvent::EVENT_TYPES,
            BotEvent::EVENT_TYPES,
            AccountEvent::EVENT_TYPES,
            VaultEvent::EVENT_TYPES,
        ];
        let missing: Vec<&str> = families
            .iter()
            .flat_map(|types| types.iter().copied())
            .filter(|event_type| !listed.contains(event_type))
            .collect();
        assert!(
            missing.is_empty(),
            "event types without a schema: {missing:?}"
        );
        assert_eq!(
            listed.len(),
            families.iter().map(|t| t.len()).sum::<usize>()
        );
    }

    #[test]
    fn schema_names_required_fields() {
        let schemas = event_schemas();
        let added = schemas.iter().find(|e| e.event_type == "KeyAdded").unwrap();
        let schema = added.schema.as_value();
        let required = schema["required"].as_array().unwrap();
        assert!(required.contains(&json!("masked_api_key")));
        assert!(schema["properties"]["vault_ref"].is_object());
        assert!(!schema.to_string().contains("api_secret"));
    }
}
