//! One-time passwords: HOTP (RFC 4226) and TOTP (RFC 6238), seeds, and `otpauth://` URIs.
//!
//! keyward issues SHA-1, six-digit, 30-second codes, the parameters every authenticator app
//! supports; SHA-256 and SHA-512 exist for the RFC's test vectors.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha512};

/// Length of a TOTP time step, in seconds.
pub const STEP_SECS: i64 = 30;
/// Digits of the codes keyward issues.
pub const DIGITS: u32 = 6;
/// Steps accepted on each side of the current one, for clock skew between phone and server.
pub const SKEW_STEPS: i64 = 1;
/// Length of a new seed in bytes (160 bits, the length RFC 4226 recommends).
pub const SEED_LEN: usize = 20;

/// The HMAC under the one-time password.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtpAlgorithm {
    Sha1,
    Sha256,
    Sha512,
}

/// The HOTP value of `counter`: dynamic truncation of the HMAC, modulo `10^digits`.
pub fn hotp(algorithm: OtpAlgorithm, seed: &[u8], counter: u64, digits: u32) -> u32 {
    let message = counter.to_be_bytes();
    let digest = match algorithm {
        OtpAlgorithm::Sha1 => hmac_bytes::<Hmac<Sha1>>(seed, &message),
        OtpAlgorithm::Sha256 => hmac_bytes::<Hmac<Sha256>>(seed, &message),
        OtpAlgorithm::Sha512 => hmac_bytes::<Hmac<Sha512>>(seed, &message),
    };
    truncate(&digest) % 10u32.pow(digits)
}

/// The TOTP time step that contains `unix_secs`, with T0 = 0.
pub fn time_step(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

/// The code keyward expects at time step `step`, zero-padded to [`DIGITS`].
pub fn code_at_step(seed: &[u8], step: i64) -> String {
    let counter = u64::try_from(step).unwrap_or(0);
    let value = hotp(OtpAlgorithm::Sha1, seed, counter, DIGITS);
    format!("{value:0width$}", width = DIGITS as usize)
}

/// The steps within the allowed skew of `now_step` whose code equals `code`, oldest first.
///
/// The comparison runs over every candidate step, so its time does not depend on which step
/// (if any) matched.
pub fn matching_steps(seed: &[u8], code: &str, now_step: i64) -> Vec<i64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Vec::new();
    }
    (now_step - SKEW_STEPS..=now_step + SKEW_STEPS)
        .filter(|step| constant_time_eq(code_at_step(seed, *step).as_bytes(), code.as_bytes()))
        .collect()
}

/// The `otpauth://totp/…` URI authenticator apps read from the QR code.
pub fn otpauth_uri(issuer: &str, username: &str, seed: &[u8]) -> String {
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1\
         &digits={DIGITS}&period={STEP_SECS}",
        issuer = percent_encode(issuer),
        account = percent_encode(username),
        secret = base32(seed),
    )
}

/// RFC 4648 base32 without padding, the form authenticator apps expect for seeds.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer = 0u16;
    let mut bits = 0u8;
    for &byte in bytes {
        buffer = (buffer << 8) | u16::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[usize::from((buffer >> bits) & 31)]));
        }
    }
    if bits > 0 {
        out.push(char::from(
            ALPHABET[usize::from((buffer << (5 - bits)) & 31)],
        ));
    }
    out
}

fn hmac_bytes<M: Mac + KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length, so `new_from_slice` cannot fail here.
    let Ok(mut mac) = <M as KeyInit>::new_from_slice(key) else {
        return Vec::new();
    };
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// RFC 4226 section 5.3: four bytes at the offset named by the last byte's low nibble, with the
/// top bit cleared.
fn truncate(digest: &[u8]) -> u32 {
    let Some(last) = digest.last() else {
        return 0;
    };
    let offset = usize::from(last & 0x0f);
    let Some(window) = digest.get(offset..offset + 4) else {
        return 0;
    };
    u32::from_be_bytes([window[0], window[1], window[2], window[3]]) & 0x7fff_ffff
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn algorithm(name: &str) -> OtpAlgorithm {
        match name {
            "SHA1" => OtpAlgorithm::Sha1,
            "SHA256" => OtpAlgorithm::Sha256,
            "SHA512" => OtpAlgorithm::Sha512,
            other => panic!("unknown algorithm {other}"),
        }
    }

    fn vectors(file: &str) -> Option<Vec<Value>> {
        let text = keyward_testkit::read_shared(file)?;
        let doc: Value = serde_json::from_str(&text).unwrap();
        Some(doc["vectors"].as_array().unwrap().clone())
    }

    #[test]
    fn hotp_rfc4226_vectors() {
        let Some(vectors) = vectors("vectors/hotp.json") else {
            return;
        };
        assert!(vectors.len() >= 10);
        for vector in &vectors {
            let seed = hex::decode(vector["secret_hex"].as_str().unwrap()).unwrap();
            let counter = vector["counter"].as_u64().unwrap();
            let digits = u32::try_from(vector["digits"].as_u64().unwrap()).unwrap();
            let code = hotp(OtpAlgorithm::Sha1, &seed, counter, digits);
            let expected = vector["hotp"].as_str().unwrap();
            assert_eq!(format!("{code:06}"), expected, "{}", vector["id"]);
        }
    }

    #[test]
    fn totp_rfc6238_vectors() {
        let Some(vectors) = vectors("vectors/totp.json") else {
            return;
        };
        assert!(vectors.len() >= 18);
        for vector in &vectors {
            let id = &vector["id"];
            let seed = hex::decode(vector["secret_hex"].as_str().unwrap()).unwrap();
            let time = vector["time"].as_i64().unwrap();
            let step = time_step(time);
            let t_hex = vector["T_hex"].as_str().unwrap();
            assert_eq!(format!("{step:016X}"), t_hex, "{id}: time step");
            let counter = u64::try_from(step).unwrap();
            let algorithm = algorithm(vector["algorithm"].as_str().unwrap());
            let code = hotp(algorithm, &seed, counter, 8);
            assert_eq!(
                format!("{code:08}"),
                vector["totp"].as_str().unwrap(),
                "{id}"
            );
            if algorithm == OtpAlgorithm::Sha1 {
                let six = vector["totp_6_digits_derived"].as_str().unwrap();
                assert_eq!(code_at_step(&seed, step), six, "{id}: six digits");
                assert_eq!(
                    base32(&seed),
                    vector["secret_base32"].as_str().unwrap(),
                    "{id}"
                );
            }
        }
    }

    #[test]
    fn matching_steps_allow_one_step_of_skew() {
        let seed = b"12345678901234567890";
        let now = time_step(1_111_111_109);
        for offset in [-1, 0, 1] {
            let code = code_at_step(seed, now + offset);
            assert_eq!(matching_steps(seed, &code, now), vec![now + offset]);
        }
        for offset in [-2, 2] {
            let code = code_at_step(seed, now + offset);
            assert!(
                matching_steps(seed, &code, now).is_empty(),
                "offset {offset}"
            );
        }
    }

    #[test]
    fn matching_steps_reject_malformed_codes() {
        let seed = b"12345678901234567890";
        for code in ["", "12345", "1234567", "12a456", "081804 1"] {
            assert!(matching_steps(seed, code, 100).is_empty(), "{code:?}");
        }
    }

    #[test]
    fn otpauth_uri_names_issuer_account_and_seed() {
        let uri = otpauth_uri("keyward", "alice smith", b"12345678901234567890");
        assert_eq!(
            uri,
            "otpauth://totp/keyward:alice%20smith?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=keyward&algorithm=SHA1&digits=6&period=30"
        );
    }
}
