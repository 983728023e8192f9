//! Events of an exchange API key's stream (`key-<uuid>`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event_family;
use crate::exchange::{Exchange, KeyPermissions};

event_family! {
    /// Everything that happens to one exchange API key.
    pub enum KeyEvent {
        KeyAdded,
        KeyProbeStarted,
        KeyProbed,
        KeyProbeFailed,
        WithdrawalDisabledConfirmed,
        KeyRejected,
        KeyFlagged,
        KeyRotated,
        KeyDeleted,
    }
}

/// Where the key's secrets are sealed in the vault; never the secrets themselves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VaultRef {
    /// The full API key, sealed so that only the masked form appears outside the vault.
    pub api_key_id: Uuid,
    pub secret_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase_id: Option<Uuid>,
}

/// A key was handed to keyward; its secret is sealed in the vault.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
pub struct KeyAdded {
    pub key_id: Uuid,
    #[serde(default)]
    pub account_id: Option<Uuid>,
    pub exchange: Exchange,
    pub label: String,
    /// The API key with all but its first and last four characters hidden.
    pub masked_api_key: String,
    pub vault_ref: VaultRef,
    pub added_at: DateTime<Utc>,
}

/// A probe of the key's permissions began.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
pub struct KeyProbeStarted {
    pub attempt: u32,
    pub exchange_host: String,
    pub started_at: DateTime<Utc>,
}

/// The exchange answered the probe; the permissions are normalized.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
pub struct KeyProbed {
    pub permissions: KeyPermissions,
    pub latency_ms: u64,
    /// Exchange clock minus local clock, in milliseconds.
    pub clock_offset_ms: i64,
    pub exchange_host: String,
    /// The exchange's own permission flags, as it sent them.
    pub raw_flags: BTreeMap<String, serde_json::Value>,
    pub probed_at: DateTime<Utc>,
}

/// A probe failed for a reason that may pass (timeout, 5xx, rate limit, clock skew).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
pub struct KeyProbeFailed {
    pub attempt: u32,
    /// Machine-readable cause, such as `timeout` or `rate_limited`.
    pub cause: String,
    pub message: String,
    /// Delay before the next attempt; absent when the retry budget is spent.
    #[serde(default)]
    pub retry_in_ms: Option<u64>,
    pub exchange_host: String,
    pub failed_at: DateTime<Utc>,
}

/// The probe proved the key can neither withdraw nor transfer, and can trade futures.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
pub struct WithdrawalDisabledConfirmed {
    pub exchange_host: String,
    pub confirmed_at: DateTime<Utc>,
}

/// One reason a key was rejected, with a hint the user can act on.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
pub struct RejectionReason {
    /// Machine-readable reason, such as `withdraw_enabled` or `futures_trading_missing`.
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The exchange's own error code, where the rejection came from an error answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange_code: Option<String>,
}

/// The key must not be used; the reasons say why.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
pub struct KeyRejected {
    pub reasons: Vec<RejectionReason>,
    pub exchange_host: String,
    pub rejected_at: DateTime<Utc>,
}

/// A verified key carries a risk worth a warning (no IP allowlist, near expiry, old).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
pub struct KeyFlagged {
    /// Machine-readable flag, such as `no_ip_allowlist`.
    pub flag: String,
    pub message: String,
    pub flagged_at: DateTime<Utc>,
}

/// The key's credentials were replaced; it must be probed again.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
pub struct KeyRotated {
    pub masked_api_key: String,
    pub vault_ref: VaultRef,
    pub rotated_at: DateTime<Utc>,
}

/// The key was deleted; its sealed secrets are shredded right after this event.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
pub struct KeyDeleted {
    pub vault_ref: VaultRef,
    pub deleted_at: DateTime<Utc>,
}

/// Hides all but the first and last four characters of an API key (`abcd…wxyz`).
///
/// Keys shorter than 16 characters would show half or more of themselves that way, so they
/// are hidden entirely (`…`).
pub fn mask_api_key(api_key: &str) -> String {
    let chars: Vec<char> = api_key.chars().collect();
    if chars.len() < 16 {
        return "…".to_owned();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::DomainEvent;

    #[test]
    fn mask_keeps_four_each_side() {
        assert_eq!(mask_api_key("abcdefghijklmnopwxyz"), "abcd…wxyz");
        assert_eq!(mask_api_key("short"), "…");
        assert_eq!(mask_api_key("ABCDEFGHI"), "…");
        assert_eq!(mask_api_key("abcdefghijklmnop"), "abcd…mnop");
        assert_eq!(mask_api_key(""), "…");
    }

    #[test]
    fn key_event_round_trips() {
        let event = KeyEvent::from(WithdrawalDisabledConfirmed {
            exchange_host: "http://127.0.0.1:1".into(),
            confirmed_at: Utc::now(),
        });
        let bytes = event.encode_payload();
        let back = KeyEvent::decode(event.event_type(), 1, &bytes).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn unknown_type_is_an_error() {
        let err = KeyEvent::decode("KeyExploded", 1, b"{}").unwrap_err();
        assert!(err.to_string().contains("KeyExploded"));
    }
}
