//! Published AES-256-GCM and HKDF-SHA256 test vectors through the vault's own functions.

use keyward_vault::envelope::{decrypt, decrypt_key, encrypt, hkdf_sha256};
use serde_json::Value;

fn bytes(vector: &Value, field: &str) -> Vec<u8> {
    hex::decode(vector[field].as_str().unwrap_or("")).unwrap()
}

#[test]
fn aes_gcm_vectors() {
    let Some(text) = keyward_testkit::read_shared("vectors/aes-gcm.json") else {
        return;
    };
    let doc: Value = serde_json::from_str(&text).unwrap();
    let vectors = doc["vectors"].as_array().unwrap();
    let mut checked = 0;
    let mut skipped = 0;
    let mut keys_checked = 0;
    for vector in vectors {
        let id = vector["id"].as_str().unwrap();
        let key = bytes(vector, "key");
        let iv = bytes(vector, "iv");
        let (Ok(key), Ok(iv)) = (
            <[u8; 32]>::try_from(key.as_slice()),
            <[u8; 12]>::try_from(iv.as_slice()),
        ) else {
            // GCM allows other nonce lengths, but the vault only ever uses 96-bit nonces.
            skipped += 1;
            continue;
        };
        let aad = bytes(vector, "aad");
        let plaintext = bytes(vector, "plaintext");
        let mut wire = bytes(vector, "ciphertext");
        wire.extend(bytes(vector, "tag"));
        let opened = decrypt(&key, &iv, &wire, &aad);
        let opened_key = decrypt_key(&key, &iv, &wire, &aad);
        if plaintext.len() == 32 && vector["result"] == "valid" {
            assert_eq!(
                opened_key.as_deref().map(<[u8; 32]>::as_slice),
                Some(plaintext.as_slice()),
                "{id}: decrypt a key"
            );
            keys_checked += 1;
        } else {
            assert!(opened_key.is_none(), "{id}: opened as a wrapped key");
        }
        if vector["result"] == "valid" {
            assert_eq!(
                encrypt(&key, &iv, &plaintext, &aad).unwrap(),
                wire,
                "{id}: encrypt"
            );
            assert_eq!(
                opened.as_deref().map(Vec::as_slice),
                Some(plaintext.as_slice()),
                "{id}: decrypt"
            );
        } else {
            assert!(opened.is_none(), "{id}: an invalid vector opened");
        }
        checked += 1;
    }
    assert_eq!(checked + skipped, vectors.len());
    assert!(
        skipped <= 2,
        "{skipped} vectors skipped for their nonce length"
    );
    assert!(checked >= 50, "only {checked} vectors checked");
    assert!(keys_checked >= 1, "no vector has a 32-byte plaintext");
}

#[test]
fn hkdf_vectors() {
    let Some(text) = keyward_testkit::read_shared("vectors/hkdf-sha256.json") else {
        return;
    };
    let doc: Value = serde_json::from_str(&text).unwrap();
    for vector in doc["vectors"].as_array().unwrap() {
        let id = vector["id"].as_str().unwrap();
        let salt = bytes(vector, "salt");
        let salt = (!salt.is_empty()).then_some(salt.as_slice());
        let length = vector["length"].as_u64().unwrap() as usize;
        let mut okm = vec![0u8; length];
        let result = hkdf_sha256(
            salt,
            &bytes(vector, "ikm"),
            &bytes(vector, "info"),
            &mut okm,
        );
        if vector["result"] == "valid" {
            result.unwrap();
            assert_eq!(hex::encode(&okm), vector["okm"].as_str().unwrap(), "{id}");
        } else {
            assert!(result.is_err(), "{id}: an invalid length was accepted");
        }
    }
}
