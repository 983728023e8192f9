//! Random secrets an account hands out: session and API tokens, TOTP seeds, recovery codes.
//!
//! Tokens and recovery codes have enough entropy (256 and 80 bits) that a plain SHA-256 hash is
//! a safe way to store them; only the hash ever reaches the account store.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyward_vault::SecretBytes;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::totp::SEED_LEN;

/// Prefix of login session tokens, so that secret scanners can recognise them.
pub const SESSION_TOKEN_PREFIX: &str = "kws_";
/// Prefix of personal API tokens.
pub const API_TOKEN_PREFIX: &str = "kwt_";
/// Number of recovery codes in a set.
pub const RECOVERY_CODE_COUNT: usize = 10;

/// Why randomness could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("randomness is unavailable: {0}")]
pub struct RandomError(String);

/// A token of 256 random bits as text, with its prefix; wiped on drop.
pub type Token = Zeroizing<String>;

/// Draws a new token with `prefix` and returns it with its hash.
///
/// # Errors
/// Fails when randomness is unavailable.
pub fn new_token(prefix: &str) -> Result<(Token, [u8; 32]), RandomError> {
    let bytes = Zeroizing::new(random::<32>()?);
    let token = Zeroizing::new(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(*bytes)));
    let hash = token_hash(&token);
    Ok((token, hash))
}

/// The stored form of a token: SHA-256 of its text.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Draws a new TOTP seed.
///
/// # Errors
/// Fails when randomness is unavailable.
pub fn new_seed() -> Result<SecretBytes, RandomError> {
    Ok(SecretBytes::new(random::<SEED_LEN>()?.to_vec()))
}

/// Draws a set of recovery codes, each 16 base32 characters in groups of four
/// (`abcd-efgh-ijkl-mnop`, 80 bits).
///
/// # Errors
/// Fails when randomness is unavailable.
pub fn new_recovery_codes() -> Result<Vec<Token>, RandomError> {
    (0..RECOVERY_CODE_COUNT)
        .map(|_| {
            let bytes = Zeroizing::new(random::<10>()?);
            let text = super::totp::base32(&*bytes).to_ascii_lowercase();
            let groups: Vec<&str> = (0..4).map(|i| &text[i * 4..i * 4 + 4]).collect();
            Ok(Zeroizing::new(groups.join("-")))
        })
        .collect()
}

/// The stored form of a recovery code, ignoring case, spaces and dashes.
pub fn recovery_code_hash(code: &str) -> [u8; 32] {
    let normalized: Zeroizing<String> = Zeroizing::new(
        code.chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_lowercase())
            .collect(),
    );
    let mut hasher = Sha256::new();
    hasher.update(b"keyward recovery code v1:");
    hasher.update(normalized.as_bytes());
    hasher.finalize().into()
}

fn random<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| RandomError(e.to_string()))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_and_distinct() {
        let (first, first_hash) = new_token(SESSION_TOKEN_PREFIX).unwrap();
        let (second, _) = new_token(SESSION_TOKEN_PREFIX).unwrap();
        assert!(first.starts_with("kws_"));
        assert_eq!(first.len(), 4 + 43, "{}", first.len());
        assert_ne!(*first, *second);
        assert_eq!(token_hash(&first), first_hash);
    }

    #[test]
    fn recovery_codes_have_the_documented_shape() {
        let codes = new_recovery_codes().unwrap();
        assert_eq!(codes.len(), RECOVERY_CODE_COUNT);
        for code in &codes {
            assert_eq!(code.len(), 19, "{}", code.as_str());
            assert_eq!(code.matches('-').count(), 3);
        }
    }

    #[test]
    fn recovery_code_hash_ignores_case_and_separators() {
        let hash = recovery_code_hash("abcd-efgh-ijkl-mnop");
        assert_eq!(recovery_code_hash("ABCD EFGH IJKL MNOP"), hash);
        assert_eq!(recovery_code_hash("abcdefghijklmnop"), hash);
        assert_ne!(recovery_code_hash("abcd-efgh-ijkl-mnoq"), hash);
    }
}
