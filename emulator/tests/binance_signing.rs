//! The emulator's own Binance signature check against the published signing vectors.

use keyward_emulator::binance::signing::{expected_signature, split_signature, verify};
use serde_json::Value;

fn vectors() -> Option<Vec<Value>> {
    let text = keyward_testkit::read_shared("exchanges/fixtures/binance/signing-vectors.json")?;
    let file: Value = serde_json::from_str(&text).expect("signing vectors are JSON");
    Some(file["vectors"].as_array().expect("vectors array").clone())
}

fn text<'a>(vector: &'a Value, field: &str) -> &'a str {
    vector[field]
        .as_str()
        .unwrap_or_else(|| panic!("vector field {field} is a string"))
}

#[test]
fn emulator_reproduces_every_vector() {
    let Some(vectors) = vectors() else { return };
    assert!(
        vectors.len() >= 6,
        "expected the full vector set, got {}",
        vectors.len()
    );
    for vector in &vectors {
        let id = text(vector, "id");
        let secret = text(vector, "secret").as_bytes();
        let payload = format!("{}{}", text(vector, "query"), text(vector, "body"));
        assert_eq!(payload, text(vector, "payload_signed"), "{id}: payload");
        let expected = text(vector, "expected_signature");
        assert_eq!(
            expected_signature(secret, payload.as_bytes()),
            expected,
            "{id}"
        );
        assert!(verify(secret, payload.as_bytes(), expected), "{id}: verify");
        assert!(
            verify(secret, payload.as_bytes(), &expected.to_uppercase()),
            "{id}: uppercase"
        );
    }
}

#[test]
fn emulator_rejects_altered_payloads_and_secrets() {
    let Some(vectors) = vectors() else { return };
    for vector in &vectors {
        let id = text(vector, "id");
        let secret = text(vector, "secret");
        let payload = text(vector, "payload_signed");
        let expected = text(vector, "expected_signature");
        let altered = format!("{payload}0");
        assert!(
            !verify(secret.as_bytes(), altered.as_bytes(), expected),
            "{id}: payload"
        );
        let wrong_secret = format!("{secret}x");
        assert!(
            !verify(wrong_secret.as_bytes(), payload.as_bytes(), expected),
            "{id}: secret"
        );
    }
}

#[test]
fn emulator_splits_signature_as_sent() {
    let Some(vectors) = vectors() else { return };
    for vector in &vectors {
        let id = text(vector, "id");
        let expected = text(vector, "expected_signature");
        let (query, body) = (text(vector, "query"), text(vector, "body"));
        let (query, body) = if body.is_empty() {
            (format!("{query}&signature={expected}"), String::new())
        } else {
            (query.to_owned(), format!("{body}&signature={expected}"))
        };
        let parts = split_signature(&query, &body).expect("signature is last");
        assert_eq!(
            parts.payload,
            text(vector, "payload_signed").as_bytes(),
            "{id}"
        );
        assert_eq!(parts.signature, expected, "{id}");
    }
}
