//! The envelope: sealing secrets under data keys and wrapping data keys under the master key.
//!
//! Pure functions over bytes; storage is the keyring's business.

use aes_gcm::aead::{Aead, AeadInOut, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::VaultError;
use crate::master::MasterKey;
use crate::secret::SecretBytes;

/// What a secret is; part of its associated data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SecretKind {
    ApiKey,
    ApiSecret,
    Passphrase,
    TotpSeed,
    PasswordHash,
}

impl SecretKind {
    /// The name stored in the keyring.
    pub fn as_str(self) -> &'static str {
        match self {
            SecretKind::ApiKey => "api_key",
            SecretKind::ApiSecret => "api_secret",
            SecretKind::Passphrase => "passphrase",
            SecretKind::TotpSeed => "totp_seed",
            SecretKind::PasswordHash => "password_hash",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "api_key" => Some(SecretKind::ApiKey),
            "api_secret" => Some(SecretKind::ApiSecret),
            "passphrase" => Some(SecretKind::Passphrase),
            "totp_seed" => Some(SecretKind::TotpSeed),
            "password_hash" => Some(SecretKind::PasswordHash),
            _ => None,
        }
    }
}

/// The record a secret belongs to; bound to the ciphertext as associated data, so a ciphertext
/// moved to another owner fails to open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretOwner {
    pub account_id: Option<Uuid>,
    /// The key, account or other record the secret belongs to.
    pub record_id: Uuid,
    pub kind: SecretKind,
    /// Further binding, such as the exchange of an API key; empty when there is none.
    pub context: String,
}

impl SecretOwner {
    fn associated_data(&self, secret_id: Uuid) -> Vec<u8> {
        const PREFIX: &[u8] = b"keyward secret v1";
        let kind = self.kind.as_str().as_bytes();
        let capacity = PREFIX.len() + 3 * 16 + 8 + kind.len() + self.context.len();
        let mut aad = Vec::with_capacity(capacity);
        aad.extend_from_slice(PREFIX);
        aad.extend_from_slice(secret_id.as_bytes());
        aad.extend_from_slice(self.account_id.unwrap_or_default().as_bytes());
        aad.extend_from_slice(self.record_id.as_bytes());
        push_framed(&mut aad, self.kind.as_str().as_bytes());
        push_framed(&mut aad, self.context.as_bytes());
        aad
    }
}

fn push_framed(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// A data key wrapped under a key derived from one master key version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedKey {
    pub kek_version: u32,
    pub salt: [u8; 32],
    pub nonce: [u8; 12],
    /// The wrapped data key followed by the GCM tag.
    pub ciphertext: Vec<u8>,
}

/// A secret sealed under its data key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    pub nonce: [u8; 12],
    /// The ciphertext followed by the GCM tag.
    pub ciphertext: Vec<u8>,
}

pub(crate) fn random<const N: usize>() -> Result<[u8; N], VaultError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| VaultError::Random(e.to_string()))?;
    Ok(bytes)
}

/// Derives the key that wraps one data key: HKDF-SHA256 over the master key with the wrap's own
/// salt, so no two wraps share a key.
pub fn derive_wrap_key(
    master: &MasterKey,
    salt: &[u8; 32],
    kek_version: u32,
) -> Zeroizing<[u8; 32]> {
    const PREFIX: &[u8; 24] = b"keyward data key wrap v1";
    let mut info = [0u8; 28];
    info[..24].copy_from_slice(PREFIX);
    info[24..].copy_from_slice(&kek_version.to_be_bytes());
    let mut okm = Zeroizing::new([0u8; 32]);
    hkdf_sha256(Some(salt), master.expose(), &info, okm.as_mut_slice())
        .unwrap_or_else(|_| unreachable!("32 bytes is a valid HKDF-SHA256 output length"));
    okm
}

/// HKDF-SHA256 (RFC 5869): extract with `salt` (none means 32 zero bytes), expand into `okm`.
///
/// # Errors
/// Fails when `okm` is longer than 255 × 32 bytes.
pub fn hkdf_sha256(
    salt: Option<&[u8]>,
    ikm: &[u8],
    info: &[u8],
    okm: &mut [u8],
) -> Result<(), VaultError> {
    Hkdf::<Sha256>::new(salt, ikm)
        .expand(info, okm)
        .map_err(|_| {
            VaultError::InvalidMasterKey(format!("HKDF cannot produce {} bytes", okm.len()))
        })
}

fn wrap_associated_data(dek_id: Uuid, kek_version: u32) -> [u8; 39] {
    const PREFIX: &[u8; 19] = b"keyward data key v1";
    let mut aad = [0u8; 39];
    aad[..19].copy_from_slice(PREFIX);
    aad[19..35].copy_from_slice(dek_id.as_bytes());
    aad[35..].copy_from_slice(&kek_version.to_be_bytes());
    aad
}

/// Wraps a data key under a master key version.
///
/// # Errors
/// Fails only when randomness is unavailable.
pub fn wrap_data_key(
    master: &MasterKey,
    kek_version: u32,
    dek_id: Uuid,
    dek: &[u8; 32],
) -> Result<WrappedKey, VaultError> {
    let salt = random::<32>()?;
    let nonce = random::<12>()?;
    wrap_with(master, kek_version, dek_id, dek, salt, nonce)
}

/// Wraps a data key with a given salt and nonce, which must be fresh random values.
fn wrap_with(
    master: &MasterKey,
    kek_version: u32,
    dek_id: Uuid,
    dek: &[u8; 32],
    salt: [u8; 32],
    nonce: [u8; 12],
) -> Result<WrappedKey, VaultError> {
    let wrap_key = derive_wrap_key(master, &salt, kek_version);
    let aad = wrap_associated_data(dek_id, kek_version);
    let ciphertext = encrypt(&wrap_key, &nonce, dek, &aad)?;
    Ok(WrappedKey {
        kek_version,
        salt,
        nonce,
        ciphertext,
    })
}

/// Unwraps a data key.
///
/// # Errors
/// [`VaultError::Tampered`] when the wrap, its id or its version was altered, or the master key
/// is another one.
pub fn unwrap_data_key(
    master: &MasterKey,
    dek_id: Uuid,
    wrapped: &WrappedKey,
) -> Result<Zeroizing<[u8; 32]>, VaultError> {
    let wrap_key = derive_wrap_key(master, &wrapped.salt, wrapped.kek_version);
    let aad = wrap_associated_data(dek_id, wrapped.kek_version);
    decrypt_key(&wrap_key, &wrapped.nonce, &wrapped.ciphertext, &aad)
        .ok_or(VaultError::Tampered(dek_id))
}

/// Decrypts a wrapped 32-byte key (ciphertext followed by tag) into a zeroizing buffer on the
/// stack, as unwrapping a data key does. Returns `None` when the length is wrong or
/// authentication fails.
pub fn decrypt_key(
    key: &[u8; 32],
    nonce: &[u8; 12],
    wrapped: &[u8],
    aad: &[u8],
) -> Option<Zeroizing<[u8; 32]>> {
    if wrapped.len() != 32 + 16 {
        return None;
    }
    let (ciphertext, tag) = wrapped.split_at(32);
    let tag = aes_gcm::Tag::try_from(tag).ok()?;
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(ciphertext);
    let cipher =
        Aes256Gcm::new_from_slice(key).unwrap_or_else(|_| unreachable!("the key is 32 bytes"));
    cipher
        .decrypt_inout_detached(&Nonce::from(*nonce), aad, out.as_mut_slice().into(), &tag)
        .ok()?;
    Some(out)
}

/// Seals a secret under its data key, bound to its id and owner.
///
/// # Errors
/// Fails only when randomness is unavailable.
pub fn seal(
    dek: &[u8; 32],
    secret_id: Uuid,
    owner: &SecretOwner,
    plaintext: &[u8],
) -> Result<Sealed, VaultError> {
    let nonce = random::<12>()?;
    let aad = owner.associated_data(secret_id);
    let ciphertext = encrypt(dek, &nonce, plaintext, &aad)?;
    Ok(Sealed { nonce, ciphertext })
}

/// Seals a new secret under a new random data key and wraps that key: everything
/// [`crate::Vault::seal`] does before it stores the two rows.
///
/// # Errors
/// Fails only when randomness is unavailable.
pub fn seal_new(
    master: &MasterKey,
    kek_version: u32,
    dek_id: Uuid,
    secret_id: Uuid,
    owner: &SecretOwner,
    plaintext: &[u8],
) -> Result<(WrappedKey, Sealed), VaultError> {
    // One draw from the OS for the data key, the wrap's salt and both nonces.
    let randomness = Zeroizing::new(random::<{ 32 + 32 + 12 + 12 }>()?);
    let (dek, rest) = randomness.split_at(32);
    let (salt, nonces) = rest.split_at(32);
    let dek: &[u8; 32] = dek.try_into().unwrap_or_else(|_| unreachable!("32 bytes"));
    let salt: [u8; 32] = salt.try_into().unwrap_or_else(|_| unreachable!("32 bytes"));
    let wrap_nonce: [u8; 12] = nonces[..12].try_into().unwrap_or_else(|_| unreachable!());
    let seal_nonce: [u8; 12] = nonces[12..].try_into().unwrap_or_else(|_| unreachable!());
    let wrapped = wrap_with(master, kek_version, dek_id, dek, salt, wrap_nonce)?;
    let aad = owner.associated_data(secret_id);
    let ciphertext = encrypt(dek, &seal_nonce, plaintext, &aad)?;
    let sealed = Sealed {
        nonce: seal_nonce,
        ciphertext,
    };
    Ok((wrapped, sealed))
}

/// Opens a sealed secret.
///
/// # Errors
/// [`VaultError::Tampered`] when the ciphertext, its id or its owner does not match.
pub fn open(
    dek: &[u8; 32],
    secret_id: Uuid,
    owner: &SecretOwner,
    sealed: &Sealed,
) -> Result<SecretBytes, VaultError> {
    let aad = owner.associated_data(secret_id);
    let mut plain = decrypt(dek, &sealed.nonce, &sealed.ciphertext, &aad)
        .ok_or(VaultError::Tampered(secret_id))?;
    Ok(SecretBytes::new(std::mem::take(&mut *plain)))
}

/// AES-256-GCM encryption; the output is the ciphertext followed by the 16-byte tag.
///
/// # Errors
/// Fails only on inputs beyond GCM's length limits (64 GiB), which never reach the vault.
pub fn encrypt(
    key: &[u8; 32],
    nonce: &[u8; 12],
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, VaultError> {
    let cipher =
        Aes256Gcm::new_from_slice(key).unwrap_or_else(|_| unreachable!("the key is 32 bytes"));
    cipher
        .encrypt(
            &Nonce::from(*nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| VaultError::Storage("AES-GCM rejected the input length".into()))
}

/// AES-256-GCM decryption of ciphertext followed by tag; `None` when authentication fails.
pub fn decrypt(
    key: &[u8; 32],
    nonce: &[u8; 12],
    ciphertext: &[u8],
    aad: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    let cipher =
        Aes256Gcm::new_from_slice(key).unwrap_or_else(|_| unreachable!("the key is 32 bytes"));
    cipher
        .decrypt(
            &Nonce::from(*nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .ok()
        .map(Zeroizing::new)
}
