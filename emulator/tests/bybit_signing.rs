//! The emulator's own Bybit signature check against the signing vectors.

use keyward_emulator::bybit::signing::{expected_signature, signed_text, verify, websocket_text};
use serde_json::Value;

fn vectors() -> Option<Vec<Value>> {
    let text = keyward_testkit::read_shared("exchanges/fixtures/bybit/signing-vectors.json")?;
    let file: Value = serde_json::from_str(&text).expect("signing vectors are JSON");
    Some(file["vectors"].as_array().expect("vectors array").clone())
}

fn text<'a>(vector: &'a Value, field: &str) -> &'a str {
    vector[field]
        .as_str()
        .unwrap_or_else(|| panic!("vector field {field} is a string"))
}

/// Builds the signed text of a vector as the emulator does from headers and the raw request.
fn emulator_text(vector: &Value) -> Vec<u8> {
    if text(vector, "method") == "WS auth" {
        return websocket_text(&vector["expires"].to_string());
    }
    let payload = match text(vector, "method") {
        "GET" => text(vector, "query"),
        _ => text(vector, "body"),
    };
    signed_text(
        &vector["timestamp"].to_string(),
        text(vector, "key"),
        &vector["recv_window"].to_string(),
        payload.as_bytes(),
    )
}

#[test]
fn emulator_assembles_every_vector() {
    let Some(vectors) = vectors() else { return };
    assert_eq!(vectors.len(), 7, "expected the full vector set");
    for vector in &vectors {
        let assembled = emulator_text(vector);
        assert_eq!(
            assembled,
            text(vector, "payload_signed").as_bytes(),
            "{}",
            vector["id"]
        );
    }
}

#[test]
fn emulator_verifies_every_vector_with_a_secret() {
    let Some(vectors) = vectors() else { return };
    let mut checked = 0;
    for vector in &vectors {
        let Some(secret) = vector["secret"].as_str() else {
            continue;
        };
        let id = &vector["id"];
        let payload = emulator_text(vector);
        let expected = text(vector, "expected_signature");
        assert_eq!(
            expected_signature(secret.as_bytes(), &payload),
            expected,
            "{id}"
        );
        assert!(verify(secret.as_bytes(), &payload, expected), "{id}");
        assert!(
            verify(secret.as_bytes(), &payload, &expected.to_uppercase()),
            "{id}: upper case"
        );
        let mut altered = payload.clone();
        altered.push(b'0');
        assert!(
            !verify(secret.as_bytes(), &altered, expected),
            "{id}: payload"
        );
        let wrong = format!("{secret}x");
        assert!(
            !verify(wrong.as_bytes(), &payload, expected),
            "{id}: secret"
        );
        checked += 1;
    }
    assert_eq!(checked, 5, "expected five vectors with a secret");
}
