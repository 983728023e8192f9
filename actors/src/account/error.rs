//! Why an account command failed.

use std::time::Duration;

use keyward_eventlog::{AppendError, ReadError};
use keyward_events::EventCodecError;
use keyward_vault::VaultError;

use super::password::PasswordError;
use super::secrets::RandomError;
use super::store::StoreError;

/// Why an account command failed. Messages never contain a password, code or token.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("invalid username: {0}")]
    InvalidUsername(String),
    #[error("invalid password: {0}")]
    InvalidPassword(String),
    #[error("the username is taken")]
    UsernameTaken,
    /// Wrong username or password; the same whether or not the username exists.
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("a TOTP code or recovery code is required")]
    SecondFactorRequired,
    #[error("the code is wrong or was already used")]
    InvalidSecondFactor,
    #[error("too many failed attempts; retry in {} s", .retry_after.as_secs().max(1))]
    Throttled { retry_after: Duration },
    #[error("locked after too many failed attempts; retry in {} s", .retry_after.as_secs().max(1))]
    Locked { retry_after: Duration },
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Append(#[from] AppendError),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Decode(#[from] EventCodecError),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Random(#[from] RandomError),
    #[error("the account actor is unavailable: {0}")]
    Actor(String),
    #[error("an account store task failed: {0}")]
    Task(String),
}

impl AccountError {
    /// Whether a credential was checked and refused, so the attempt stays counted.
    pub fn is_refused_credential(&self) -> bool {
        matches!(
            self,
            AccountError::InvalidCredentials | AccountError::InvalidSecondFactor
        )
    }
}
