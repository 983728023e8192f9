//! Vault errors. None of them carries secret material.

use uuid::Uuid;

/// Why a vault operation failed.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("no secret {0} in the keyring; it was never stored or has been deleted")]
    NotFound(Uuid),
    #[error(
        "secret {0} failed to open: its ciphertext, data key or owner record was altered or \
         moved, or the master key is not the one that sealed it"
    )]
    Tampered(Uuid),
    #[error(
        "the master key does not match this data dir (key check failed for version {version}); \
         provide the master key this data dir was created with"
    )]
    WrongMasterKey { version: u32 },
    #[error("invalid master key: {0}")]
    InvalidMasterKey(String),
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
    #[error(
        "no checkpoint key of version {0} in the keyring; the checkpoint was signed with \
         another keyring or its key was removed"
    )]
    UnknownCheckpointKey(u32),
    #[error("the keyring could not be read or written: {0}")]
    Storage(String),
}

impl From<rusqlite::Error> for VaultError {
    fn from(err: rusqlite::Error) -> Self {
        VaultError::Storage(err.to_string())
    }
}
