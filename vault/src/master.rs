//! The master key: where it comes from and how it is checked against a data dir.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::VaultError;

/// Environment variable holding the master key as base64 of 32 bytes.
pub const MASTER_KEY_ENV: &str = "KEYWARD_MASTER_KEY";

/// Where a master key was found, for messages that must not show the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MasterKeySource {
    Env(String),
    File(PathBuf),
    Generated(PathBuf),
}

impl fmt::Display for MasterKeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MasterKeySource::Env(name) => write!(f, "environment variable {name}"),
            MasterKeySource::File(path) => write!(f, "key file {}", path.display()),
            MasterKeySource::Generated(path) => write!(f, "generated key file {}", path.display()),
        }
    }
}

/// The 256-bit key from which every data key's wrapping key is derived.
pub struct MasterKey {
    bytes: Zeroizing<[u8; 32]>,
    source: MasterKeySource,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("bytes", &"[redacted]")
            .field("source", &self.source)
            .finish()
    }
}

impl MasterKey {
    /// Builds a key from raw bytes.
    pub fn from_bytes(bytes: [u8; 32], source: MasterKeySource) -> Self {
        MasterKey {
            bytes: Zeroizing::new(bytes),
            source,
        }
    }

    /// Decodes base64 of exactly 32 bytes; surrounding whitespace is ignored.
    ///
    /// # Errors
    /// Fails on invalid base64 or a length other than 32 bytes, without echoing the input.
    pub fn from_base64(text: &str, source: MasterKeySource) -> Result<Self, VaultError> {
        let decoded = Zeroizing::new(STANDARD.decode(text.trim()).map_err(|_| {
            VaultError::InvalidMasterKey(format!(
                "{source} is not valid base64; expected base64 of 32 random bytes, \
                 for example from `head -c 32 /dev/urandom | base64`"
            ))
        })?);
        let bytes: [u8; 32] = decoded.as_slice().try_into().map_err(|_| {
            VaultError::InvalidMasterKey(format!(
                "{source} decodes to {} bytes; expected exactly 32",
                decoded.len()
            ))
        })?;
        Ok(MasterKey::from_bytes(bytes, source))
    }

    /// Reads the key from an environment variable, if it is set.
    ///
    /// # Errors
    /// Fails when the variable is set but does not hold base64 of 32 bytes.
    pub fn from_env(name: &str) -> Result<Option<Self>, VaultError> {
        match std::env::var(name) {
            Ok(text) => {
                MasterKey::from_base64(&text, MasterKeySource::Env(name.to_owned())).map(Some)
            }
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(VaultError::InvalidMasterKey(format!(
                "environment variable {name} is not valid UTF-8; expected base64 of 32 bytes"
            ))),
        }
    }

    /// Reads a key file holding base64 of 32 bytes.
    ///
    /// # Errors
    /// Fails when the file cannot be read or does not hold a valid key.
    pub fn from_file(path: &Path) -> Result<Self, VaultError> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            VaultError::InvalidMasterKey(format!("cannot read key file {}: {e}", path.display()))
        })?);
        MasterKey::from_base64(&text, MasterKeySource::File(path.to_owned()))
    }

    /// Creates a new random key and writes it, base64-encoded, to a new file readable only by
    /// its owner.
    ///
    /// # Errors
    /// Fails when the file exists already or cannot be written, or randomness is unavailable.
    pub fn generate_file(path: &Path) -> Result<Self, VaultError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut_slice()).map_err(|e| VaultError::Random(e.to_string()))?;
        let encoded = Zeroizing::new(STANDARD.encode(bytes.as_slice()));
        write_owner_only(path, encoded.as_bytes()).map_err(|e| {
            VaultError::InvalidMasterKey(format!("cannot create key file {}: {e}", path.display()))
        })?;
        Ok(MasterKey::from_bytes(
            *bytes,
            MasterKeySource::Generated(path.to_owned()),
        ))
    }

    /// Where the key came from.
    pub fn source(&self) -> &MasterKeySource {
        &self.source
    }

    pub(crate) fn expose(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// A value that identifies the key without revealing it, stored to detect a wrong key.
    pub(crate) fn key_check(&self) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.bytes.as_slice())
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(b"keyward master key check v1");
        mac.finalize().into_bytes().into()
    }
}

fn write_owner_only(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_key_must_be_32_bytes() {
        let source = MasterKeySource::Env("TEST".into());
        let short = STANDARD.encode([1u8; 16]);
        let err = MasterKey::from_base64(&short, source.clone()).unwrap_err();
        assert!(err.to_string().contains("16 bytes"), "{err}");
        let err = MasterKey::from_base64("not base64!", source.clone()).unwrap_err();
        assert!(!err.to_string().contains("not base64!"), "{err}");
        let good = STANDARD.encode([7u8; 32]);
        assert!(MasterKey::from_base64(&format!(" {good}\n"), source).is_ok());
    }

    #[test]
    fn generated_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let key = MasterKey::generate_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = MasterKey::from_file(&path).unwrap();
        assert_eq!(key.expose(), again.expose());
        assert!(
            MasterKey::generate_file(&path).is_err(),
            "must not overwrite a key"
        );
        assert!(!format!("{key:?}").contains(&STANDARD.encode(key.expose())));
    }
}
