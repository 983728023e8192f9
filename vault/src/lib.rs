//! The vault: envelope encryption of every stored secret, and the keyring that holds them.
//!
//! Each secret (API secret, OKX passphrase, TOTP seed, password hash) is sealed with AES-256-GCM
//! under its own random data key, with associated data binding it to its owner. The data key is
//! wrapped with AES-256-GCM under a key derived per wrap by HKDF-SHA256 from the master key and
//! a random salt. Sealed secrets and wrapped data keys live in the keyring (`keyring.db`), never
//! in the event log. Plaintext exists only in zeroizing buffers for the moment it is used.

mod checkpoint;
pub mod envelope;
mod error;
mod keyring;
pub mod master;
mod rotation;
mod secret;
mod shred;

pub use envelope::{SecretKind, SecretOwner};
pub use error::VaultError;
pub use keyring::{KEYRING_FILE, Vault};
pub use master::{MasterKey, MasterKeySource};
pub use rotation::{Rotation, VersionStatus};
pub use secret::SecretBytes;
