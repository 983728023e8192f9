//! End to end through the binary: credentials pasted with surrounding spaces or quotes are
//! cleaned with a warning, and the key still verifies against the sandbox exchange.

mod common;

use std::time::Duration;

use common::{Server, key_entry, write_key_file};
use serde_json::json;

const SECRET: &str = "PastedGoodSecret74";

#[tokio::test]
async fn quoted_and_spaced_credentials_are_cleaned_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let keys = write_key_file(
        dir.path(),
        &[key_entry("pastedGoodKey", SECRET, true, false)],
    );
    let keys_arg = keys.to_str().unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &dir.path().join("serve.log"),
        &["--sandbox", "--sandbox-keys", keys_arg],
    )
    .await;
    server.login().await;

    let body = json!({"exchange": "binance", "label": "pasted",
                      "api_key": "  \"pastedGoodKey\"\n", "api_secret": format!("'{SECRET}' ")});
    let (status, answer) = server.post("/api/v1/keys", &body).await;
    assert_eq!(status, 202, "{answer}");
    let warnings: Vec<&str> = answer["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .map(|warning| warning.as_str().expect("text"))
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("api_key"), "{warnings:?}");
    assert!(warnings[1].contains("api_secret"), "{warnings:?}");
    assert!(!answer.to_string().contains(SECRET), "{answer}");

    let key = server
        .wait_key(answer["key_id"].as_str().unwrap(), Duration::from_secs(3))
        .await;
    assert_eq!(key["status"], "verified", "{key}");

    let clean = json!({"exchange": "binance", "label": "clean",
                       "api_key": "pastedGoodKey", "api_secret": SECRET});
    let (status, answer) = server.post("/api/v1/keys", &clean).await;
    assert_eq!(status, 202, "{answer}");
    assert!(answer.get("warnings").is_none(), "{answer}");
    server.stop();
}
