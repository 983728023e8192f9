//! Events of a user account's stream (`account-<uuid>`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event_family;

event_family! {
    /// Everything that happens to one account.
    pub enum AccountEvent {
        AccountRegistered,
    }
}

/// An account was registered; its password hash is sealed in the vault's keyring.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountRegistered {
    pub account_id: Uuid,
    pub username: String,
    pub registered_at: DateTime<Utc>,
}
