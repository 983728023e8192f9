//! Password hashing with Argon2id, off the async threads and with bounded parallelism.

use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use keyward_vault::SecretBytes;
use tokio::sync::Semaphore;

/// Shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Maximum password length accepted, in bytes, because hashing cost grows with length.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Argon2Cost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Argon2Cost {
    /// The OWASP and ASVS minimum for Argon2id with one lane: 19 MiB, two passes.
    pub const RECOMMENDED: Argon2Cost = Argon2Cost {
        memory_kib: 19_456,
        iterations: 2,
        parallelism: 1,
    };

    /// Whether this cost is below [`Argon2Cost::RECOMMENDED`] in memory or passes.
    pub fn is_below_recommended(&self) -> bool {
        self.memory_kib < Self::RECOMMENDED.memory_kib
            || self.iterations < Self::RECOMMENDED.iterations
    }
}

impl Default for Argon2Cost {
    fn default() -> Self {
        Self::RECOMMENDED
    }
}

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("invalid Argon2 cost: {0}")]
    InvalidCost(String),
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error("randomness is unavailable: {0}")]
    Random(String),
}

/// Hashes and verifies passwords; cheap to clone.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// Bounds how many hashes run at once, since each one uses `memory_kib` of memory.
    permits: Arc<Semaphore>,
    /// A hash of a random password, verified against when a username is unknown so that the
    /// response takes as long as for a known one.
    dummy_hash: Arc<String>,
}

impl PasswordHasher {
    /// Builds a hasher with `cost`, running at most `parallel` hashes at a time.
    ///
    /// # Errors
    /// Fails when Argon2 rejects the cost or randomness is unavailable.
    pub fn new(cost: Argon2Cost, parallel: usize) -> Result<Self, PasswordError> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| PasswordError::InvalidCost(e.to_string()))?;
        let mut dummy = [0u8; 32];
        getrandom::fill(&mut dummy).map_err(|e| PasswordError::Random(e.to_string()))?;
        let dummy_hash = hash_with(&params, &dummy)?;
        Ok(PasswordHasher {
            params,
            permits: Arc::new(Semaphore::new(parallel.max(1))),
            dummy_hash: Arc::new(dummy_hash),
        })
    }

    /// Hashes a password into a PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
    ///
    /// # Errors
    /// Fails when randomness is unavailable or hashing fails.
    pub async fn hash(&self, password: &SecretBytes) -> Result<SecretBytes, PasswordError> {
        let params = self.params.clone();
        let password = password.clone();
        let _permit = self.permits.acquire().await;
        let hashed =
            tokio::task::spawn_blocking(move || hash_with(&params, password.expose())).await;
        let phc = hashed.map_err(|e| PasswordError::Hashing(e.to_string()))??;
        Ok(SecretBytes::new(phc.into_bytes()))
    }

    /// Whether `password` matches the PHC string `stored`, with the parameters stored in it.
    pub async fn verify(&self, password: &SecretBytes, stored: SecretBytes) -> bool {
        let password = password.clone();
        let _permit = self.permits.acquire().await;
        let verified = tokio::task::spawn_blocking(move || {
            let Ok(text) = std::str::from_utf8(stored.expose()) else {
                return false;
            };
            let Ok(parsed) = PasswordHash::new(text) else {
                return false;
            };
            argon2_instance(&Params::DEFAULT)
                .verify_password(password.expose(), &parsed)
                .is_ok()
        })
        .await;
        verified.unwrap_or(false)
    }

    /// Verifies `password` against a hash no one knows the password of, and returns false.
    /// Costs the same as [`PasswordHasher::verify`] for an account hashed at this cost.
    pub async fn verify_dummy(&self, password: &SecretBytes) -> bool {
        let stored = SecretBytes::from_str_bytes(&self.dummy_hash);
        let _matched = self.verify(password, stored).await;
        false
    }
}

fn argon2_instance(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn hash_with(params: &Params, password: &[u8]) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| PasswordError::Random(e.to_string()))?;
    let hash = argon2_instance(params)
        .hash_password_with_salt(password, &salt)
        .map_err(|e| PasswordError::Hashing(e.to_string()))?;
    Ok(hash.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: Argon2Cost = Argon2Cost {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn default_cost_meets_the_minimum() {
        let cost = Argon2Cost::default();
        assert!(cost.memory_kib >= 19_456, "{cost:?}");
        assert!(cost.iterations >= 2, "{cost:?}");
        assert!(!cost.is_below_recommended());
        assert!(CHEAP.is_below_recommended());
    }

    #[tokio::test]
    async fn default_hash_is_argon2id_at_the_default_cost() {
        let hasher = PasswordHasher::new(Argon2Cost::default(), 1).unwrap();
        let password = SecretBytes::from_str_bytes("correct horse battery staple");
        let stored = hasher.hash(&password).await.unwrap();
        let text = std::str::from_utf8(stored.expose()).unwrap();
        assert!(
            text.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{text}"
        );
        assert!(hasher.verify(&password, stored.clone()).await);
    }

    #[tokio::test]
    async fn wrong_password_is_refused() {
        let hasher = PasswordHasher::new(CHEAP, 1).unwrap();
        let stored = hasher
            .hash(&SecretBytes::from_str_bytes("the right password"))
            .await
            .unwrap();
        let wrong = SecretBytes::from_str_bytes("the wrong password");
        assert!(!hasher.verify(&wrong, stored).await);
        assert!(
            !hasher
                .verify(&wrong, SecretBytes::from_str_bytes("not a hash"))
                .await
        );
        assert!(!hasher.verify_dummy(&wrong).await);
    }

    #[tokio::test]
    async fn stored_cost_wins_over_configured_cost() {
        let cheap = PasswordHasher::new(CHEAP, 1).unwrap();
        let password = SecretBytes::from_str_bytes("hashed at a low cost");
        let stored = cheap.hash(&password).await.unwrap();
        let default = PasswordHasher::new(Argon2Cost::default(), 1).unwrap();
        assert!(default.verify(&password, stored).await);
    }
}
