//! Bybit request signing through `Signer`, against the signing vectors.

use keyward_adapters::PlainSigner;
use keyward_adapters::bybit::signing::{prehash, signature, websocket_signature};
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

fn number(vector: &Value, field: &str) -> i64 {
    vector[field]
        .as_i64()
        .unwrap_or_else(|| panic!("vector field {field} is an integer"))
}

/// Returns the payload of a REST vector: the query of a GET, the body of a POST.
fn payload(vector: &Value) -> &str {
    match text(vector, "method") {
        "GET" => text(vector, "query"),
        _ => text(vector, "body"),
    }
}

fn is_rest(vector: &Value) -> bool {
    matches!(text(vector, "method"), "GET" | "POST")
}

#[test]
fn prehash_matches_every_rest_vector() {
    let Some(vectors) = vectors() else { return };
    let rest: Vec<_> = vectors.iter().filter(|vector| is_rest(vector)).collect();
    assert_eq!(rest.len(), 6, "expected six REST vectors");
    for vector in rest {
        let assembled = prehash(
            number(vector, "timestamp"),
            text(vector, "key"),
            u64::try_from(number(vector, "recv_window")).expect("positive window"),
            payload(vector),
        );
        assert_eq!(
            assembled,
            text(vector, "payload_signed"),
            "{}",
            vector["id"]
        );
    }
}

#[test]
fn signer_reproduces_every_vector_with_a_secret() {
    let Some(vectors) = vectors() else { return };
    let mut checked = 0;
    for vector in vectors.iter().filter(|vector| is_rest(vector)) {
        // The published examples omit the secret, so only their assembly can be checked.
        let Some(secret) = vector["secret"].as_str() else {
            continue;
        };
        let signer = PlainSigner::new(secret);
        let signed = signature(
            &signer,
            number(vector, "timestamp"),
            text(vector, "key"),
            u64::try_from(number(vector, "recv_window")).expect("positive window"),
            payload(vector),
        )
        .unwrap();
        assert_eq!(
            signed,
            text(vector, "expected_signature"),
            "{}",
            vector["id"]
        );
        checked += 1;
    }
    assert_eq!(checked, 4, "expected four REST vectors with a secret");
}

#[test]
fn websocket_auth_matches_vector() {
    let Some(vectors) = vectors() else { return };
    let vector = vectors
        .iter()
        .find(|vector| text(vector, "method") == "WS auth")
        .expect("a websocket vector");
    let signer = PlainSigner::new(text(vector, "secret"));
    let expires = number(vector, "expires");
    let signed = websocket_signature(&signer, expires).unwrap();
    assert_eq!(signed, text(vector, "expected_signature"));
    let args = &vector["auth_message"]["args"];
    assert_eq!(args[0], vector["key"]);
    assert_eq!(args[1].as_i64(), Some(expires));
    assert_eq!(args[2].as_str(), Some(signed.as_str()));
}
