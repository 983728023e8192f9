//! Signing with a key's secret straight from the vault.

use std::sync::Arc;

use keyward_adapters::{Credentials, Signer, SignerError};
use keyward_events::key::VaultRef;
use keyward_vault::{Vault, VaultError};
use uuid::Uuid;
use zeroize::Zeroizing;

/// Opens the secret from the vault for each signature and wipes it right after, so no
/// plaintext secret outlives one request.
pub struct VaultSigner {
    vault: Arc<Vault>,
    secret_id: Uuid,
    passphrase_id: Option<Uuid>,
}

impl VaultSigner {
    /// A signer for the secret (and passphrase, for OKX keys) sealed under these ids.
    pub fn new(vault: Arc<Vault>, secret_id: Uuid, passphrase_id: Option<Uuid>) -> Self {
        VaultSigner {
            vault,
            secret_id,
            passphrase_id,
        }
    }
}

impl Signer for VaultSigner {
    fn hmac_sha256(&self, message: &[u8]) -> Result<[u8; 32], SignerError> {
        let secret = self
            .vault
            .open_secret(self.secret_id)
            .map_err(unavailable)?;
        keyward_adapters::hmac_sha256(secret.expose(), message)
    }

    fn passphrase(&self) -> Result<Option<Zeroizing<String>>, SignerError> {
        let Some(id) = self.passphrase_id else {
            return Ok(None);
        };
        let secret = self.vault.open_secret(id).map_err(unavailable)?;
        let text =
            String::from_utf8(secret.expose().to_vec()).map_err(|_| SignerError::Unavailable {
                reason: "the stored passphrase is not UTF-8".into(),
            })?;
        Ok(Some(Zeroizing::new(text)))
    }
}

/// Builds the credentials of a key: its API key opened from the vault, and a signer that opens
/// the secret for each signature.
///
/// # Errors
/// Fails when the vault cannot open the API key.
pub(crate) fn vault_credentials(
    vault: &Arc<Vault>,
    vault_ref: &VaultRef,
) -> Result<Credentials, VaultError> {
    let api_key = vault.open_secret(vault_ref.api_key_id)?;
    let api_key = String::from_utf8_lossy(api_key.expose()).into_owned();
    let signer = VaultSigner::new(
        Arc::clone(vault),
        vault_ref.secret_id,
        vault_ref.passphrase_id,
    );
    Ok(Credentials::new(api_key, Arc::new(signer)))
}

fn unavailable(err: keyward_vault::VaultError) -> SignerError {
    SignerError::Unavailable {
        reason: err.to_string(),
    }
}
