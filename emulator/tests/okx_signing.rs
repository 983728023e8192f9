//! The emulator's own OKX signature check against the signing vectors.

use keyward_emulator::okx::signing::{
    expected_signature, parse_timestamp, signed_text, verify, websocket_text,
};
use serde_json::Value;

fn vectors() -> Option<Vec<Value>> {
    let text = keyward_testkit::read_shared("exchanges/fixtures/okx/signing-vectors.json")?;
    let file: Value = serde_json::from_str(&text).expect("signing vectors are JSON");
    Some(file["vectors"].as_array().expect("vectors array").clone())
}

fn text<'a>(vector: &'a Value, field: &str) -> &'a str {
    vector[field]
        .as_str()
        .unwrap_or_else(|| panic!("vector field {field} is a string"))
}

fn emulator_text(vector: &Value) -> Vec<u8> {
    if vector.get("login_message").is_some() {
        return websocket_text(text(vector, "timestamp"));
    }
    let path = match text(vector, "query") {
        "" => text(vector, "path").to_owned(),
        query => format!("{}?{query}", text(vector, "path")),
    };
    signed_text(
        text(vector, "timestamp"),
        text(vector, "method"),
        &path,
        text(vector, "body").as_bytes(),
    )
}

#[test]
fn emulator_verifies_every_vector() {
    let Some(vectors) = vectors() else { return };
    assert_eq!(vectors.len(), 5, "expected the full vector set");
    for vector in &vectors {
        let id = &vector["id"];
        let secret = text(vector, "secret").as_bytes();
        let payload = emulator_text(vector);
        assert_eq!(payload, text(vector, "payload_signed").as_bytes(), "{id}");
        let expected = text(vector, "expected_signature");
        assert_eq!(expected_signature(secret, &payload), expected, "{id}");
        assert!(verify(secret, &payload, expected), "{id}");
        let mut altered = payload.clone();
        altered.push(b'0');
        assert!(!verify(secret, &altered, expected), "{id}: payload");
        assert!(!verify(b"wrong", &payload, expected), "{id}: secret");
        assert!(!verify(secret, &payload, "not base64!"), "{id}: encoding");
    }
}

#[test]
fn emulator_reads_vector_timestamps() {
    let Some(vectors) = vectors() else { return };
    for vector in vectors
        .iter()
        .filter(|vector| vector.get("login_message").is_none())
    {
        let parsed = parse_timestamp(text(vector, "timestamp"));
        assert_eq!(parsed, Some(1_607_418_537_715), "{}", vector["id"]);
    }
}
