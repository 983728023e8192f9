//! Events of the vault's stream (`vault-<uuid>`): master key versions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event_family;

event_family! {
    /// Changes to the master key that wraps every data key.
    pub enum VaultEvent {
        MasterKeyRotated,
        MasterKeyVersionRetired,
    }
}

/// Every data key and checkpoint key was rewrapped under a new master key version; sealed
/// secrets were not touched.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MasterKeyRotated {
    pub from_version: u32,
    pub to_version: u32,
    pub data_keys_rewrapped: u64,
    #[serde(default)]
    pub checkpoint_keys_rewrapped: u64,
    pub rotated_at: DateTime<Utc>,
}

/// A master key version under which no data key or checkpoint key is wrapped any more was
/// retired.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MasterKeyVersionRetired {
    pub version: u32,
    pub retired_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::DomainEvent;

    #[test]
    fn rotation_without_checkpoint_count_decodes() {
        let payload = br#"{"from_version":1,"to_version":2,"data_keys_rewrapped":5,
            "rotated_at":"2026-01-02T03:04:05Z"}"#;
        let event = VaultEvent::decode("MasterKeyRotated", 1, payload).unwrap();
        let VaultEvent::MasterKeyRotated(rotated) = event else {
            panic!("decoded as {event:?}");
        };
        assert_eq!(rotated.data_keys_rewrapped, 5);
        assert_eq!(rotated.checkpoint_keys_rewrapped, 0);
    }

    #[test]
    fn retirement_round_trips() {
        let event = VaultEvent::from(MasterKeyVersionRetired {
            version: 3,
            retired_at: Utc::now(),
        });
        let back = VaultEvent::decode(event.event_type(), 1, &event.encode_payload()).unwrap();
        assert_eq!(back, event);
    }
}
