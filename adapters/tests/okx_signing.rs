//! OKX request signing through `Signer`, against the signing vectors.

use keyward_adapters::PlainSigner;
use keyward_adapters::okx::signing::{signature, timestamp_text, websocket_signature};
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

fn request_path(vector: &Value) -> String {
    match text(vector, "query") {
        "" => text(vector, "path").to_owned(),
        query => format!("{}?{query}", text(vector, "path")),
    }
}

#[test]
fn signer_reproduces_every_rest_vector() {
    let Some(vectors) = vectors() else { return };
    let rest: Vec<_> = vectors
        .iter()
        .filter(|vector| text(vector, "path").starts_with("/api/"))
        .collect();
    assert_eq!(rest.len(), 4, "expected four REST vectors");
    for vector in rest {
        let signer = PlainSigner::new(text(vector, "secret"));
        let signed = signature(
            &signer,
            text(vector, "timestamp"),
            text(vector, "method"),
            &request_path(vector),
            text(vector, "body"),
        )
        .unwrap();
        assert_eq!(
            signed,
            text(vector, "expected_signature"),
            "{}",
            vector["id"]
        );
    }
}

#[test]
fn timestamp_text_matches_vector_format() {
    let Some(vectors) = vectors() else { return };
    let vector = &vectors[0];
    let parsed = chrono::DateTime::parse_from_rfc3339(text(vector, "timestamp")).unwrap();
    let written = timestamp_text(parsed.timestamp_millis()).unwrap();
    assert_eq!(written, text(vector, "timestamp"));
}

#[test]
fn websocket_login_matches_vector() {
    let Some(vectors) = vectors() else { return };
    let vector = vectors
        .iter()
        .find(|vector| vector.get("login_message").is_some())
        .expect("a websocket login vector");
    let signer = PlainSigner::new(text(vector, "secret"));
    let signed = websocket_signature(&signer, text(vector, "timestamp")).unwrap();
    assert_eq!(signed, text(vector, "expected_signature"));
    let args = &vector["login_message"]["args"][0];
    assert_eq!(args["sign"].as_str(), Some(signed.as_str()));
    assert_eq!(args["timestamp"], vector["timestamp"]);
}
