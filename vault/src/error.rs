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
         provide the current master key, version {version}"
    )]
    WrongMasterKey { version: u32 },
    #[error(
        "the master key is version {version}, which was rotated out; provide the current \
         master key, version {current}"
    )]
    RotatedMasterKey { version: u32, current: u32 },
    #[error(
        "the new master key is master key version {version} already; generate a new one, for \
         example with `head -c 32 /dev/urandom | base64`"
    )]
    MasterKeyReused { version: u32 },
    #[error("no master key version {0} in the keyring; `keyward vault status` lists them")]
    UnknownMasterKeyVersion(u32),
    #[error(
        "master key version {0} is the current one and cannot be retired; rotate to a new \
         master key first"
    )]
    CurrentMasterKeyVersion(u32),
    #[error("master key version {0} is retired already")]
    MasterKeyVersionRetired(u32),
    #[error(
        "master key version {version} still wraps {data_keys} data keys and {checkpoint_keys} \
         checkpoint keys; run `keyward vault rotate-master` before retiring it"
    )]
    MasterKeyVersionInUse {
        version: u32,
        data_keys: u64,
        checkpoint_keys: u64,
    },
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
