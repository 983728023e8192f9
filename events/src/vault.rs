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

/// Every data key was rewrapped under a new master key version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MasterKeyRotated {
    pub from_version: u32,
    pub to_version: u32,
    pub data_keys_rewrapped: u64,
    pub rotated_at: DateTime<Utc>,
}

/// A master key version no data key uses any more was retired.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MasterKeyVersionRetired {
    pub version: u32,
    pub retired_at: DateTime<Utc>,
}
