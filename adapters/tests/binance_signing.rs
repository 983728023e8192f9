//! Binance request signing through `Signer`, against the published signing vectors.

use keyward_adapters::PlainSigner;
use keyward_adapters::binance::signing::{encode_query, signature, signed_query};
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
fn signer_reproduces_every_vector() {
    let Some(vectors) = vectors() else { return };
    assert!(
        vectors.len() >= 6,
        "expected the full vector set, got {}",
        vectors.len()
    );
    for vector in &vectors {
        let id = text(vector, "id");
        let signer = PlainSigner::new(text(vector, "secret"));
        let signed = signature(&signer, text(vector, "query"), text(vector, "body")).unwrap();
        assert_eq!(signed, text(vector, "expected_signature"), "{id}");
    }
}

#[test]
fn non_ascii_parameters_are_encoded_before_signing() {
    let Some(vectors) = vectors() else { return };
    let vector = vectors
        .iter()
        .find(|vector| vector.get("unencoded_parameters").is_some())
        .expect("a vector with non-ASCII parameters");
    let params: Vec<(&str, &str)> = text(vector, "unencoded_parameters")
        .split('&')
        .map(|pair| pair.split_once('=').expect("name=value"))
        .collect();
    let query = encode_query(&params);
    assert_eq!(query, text(vector, "query"));

    let signer = PlainSigner::new(text(vector, "secret"));
    let signed = signature(&signer, &query, "").unwrap();
    assert_eq!(signed, text(vector, "expected_signature"));
}

#[test]
fn signed_query_matches_final_url() {
    let Some(vectors) = vectors() else { return };
    let vector = vectors
        .iter()
        .find(|vector| vector.get("final_url").is_some())
        .expect("a vector with a final URL");
    let signer = PlainSigner::new(text(vector, "secret"));
    let query = signed_query(&signer, text(vector, "query")).unwrap();
    let (_, expected_query) = text(vector, "final_url")
        .split_once('?')
        .expect("URL has a query");
    assert_eq!(query, expected_query);
}
