//! No password, TOTP seed, session token, API token or recovery code reaches the data dir
//! (event log, keyring, account store) or the server's log, in any common encoding.

mod common;

use common::{
    Server, enable_two_factor, fresh_totp_step, scan_for_secret_bytes, scan_for_secrets, totp_code,
};
use serde_json::json;

const PASSWORD: &str = "LeakMarkerPassword-5fe1c0";
const NEW_PASSWORD: &str = "LeakMarkerNewPassword-93ab7d";
const USERNAME: &str = "leaky";

#[tokio::test]
async fn account_secrets_stay_out_of_storage_and_logs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("serve.log");
    let server = Server::start(&data, &log, &["--sandbox"]).await;
    let mut secrets: Vec<String> = vec![PASSWORD.into(), NEW_PASSWORD.into()];

    let first = server.register_and_login(USERNAME, PASSWORD).await;
    server.use_token(Some(&first.token));
    secrets.push(first.token.clone());
    let step = fresh_totp_step().await;
    let (seed, recovery) = enable_two_factor(&server, step).await;
    secrets.extend(recovery.iter().cloned());

    let login = json!({"username": USERNAME, "password": PASSWORD,
                       "totp_code": totp_code(&seed, step)});
    let (status, second) = server
        .send("POST", "/api/v1/sessions", Some(&login), None)
        .await;
    assert_eq!(status, 201, "{second}");
    secrets.push(second["token"].as_str().unwrap().to_owned());

    let reauth = json!({"password": PASSWORD, "recovery_code": recovery[0]});
    let (status, renewed) = server.post("/api/v1/reauth", &reauth).await;
    assert_eq!(status, 200, "{renewed}");
    let renewed_token = renewed["token"].as_str().unwrap().to_owned();
    server.use_token(Some(&renewed_token));
    secrets.push(renewed_token);

    let (status, token) = server
        .post("/api/v1/tokens", &json!({"name": "ci", "scope": "read"}))
        .await;
    assert_eq!(status, 201, "{token}");
    secrets.push(token["token"].as_str().unwrap().to_owned());

    let change = json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD});
    let (status, changed) = server.put("/api/v1/account/password", &change).await;
    assert_eq!(status, 200, "{changed}");
    let wrong = json!({"username": USERNAME, "password": "LeakMarkerWrongGuess-11"});
    let (status, _) = server
        .send("POST", "/api/v1/sessions", Some(&wrong), None)
        .await;
    assert_eq!(status, 401);
    secrets.push("LeakMarkerWrongGuess-11".into());
    server.stop();

    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let mut hits = scan_for_secrets(&data, &refs);
    hits.extend(scan_for_secrets(&log, &refs));
    assert!(
        hits.is_empty(),
        "account secrets found at rest or in logs: {hits:?}"
    );
    let mut seed_hits = scan_for_secret_bytes(&data, &[&seed]);
    seed_hits.extend(scan_for_secret_bytes(&log, &[&seed]));
    assert!(
        seed_hits.is_empty(),
        "the TOTP seed was found: {seed_hits:?}"
    );
    let planted = scan_for_secrets(&log, &["keyward serving"]);
    assert_eq!(planted.len(), 1, "the scan reads the server log");
}
