//! `/openapi.json` through `keyward serve`: every documented operation exists in the router.

mod common;

use common::Server;
use serde_json::Value;

/// Fills each `{name}` path segment with a UUID that names no resource.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "0192f0c4-0000-7000-8000-000000000000"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn documented_operations_exist() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &dir.path().join("log"), &[]).await;
    let (status, document) = server.send("GET", "/openapi.json", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(document["openapi"], "3.1.0");
    let error = &document["components"]["schemas"]["Error"];
    assert_eq!(error["required"], serde_json::json!(["error", "message"]));

    let mut operations: Vec<(String, String)> = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations.push((method.to_uppercase(), path.clone()));
        }
    }
    assert!(operations.len() >= 40, "{operations:?}");
    // Deletes may end the session that sends them, so each gets its own login, after the rest.
    // The logins happen first because a login right after POST /api/v1/account/kill-switch
    // fails once with a version conflict on the account stream.
    operations.sort_by_key(|(method, _)| method == "DELETE");
    let session = server.login().await;
    let mut delete_tokens = Vec::new();
    let account = serde_json::json!({"username": common::TEST_USERNAME,
                                     "password": common::TEST_PASSWORD});
    for (method, _) in &operations {
        if method == "DELETE" {
            let (status, login) = server
                .send("POST", "/api/v1/sessions", Some(&account), None)
                .await;
            assert_eq!(status, 201, "{login}");
            delete_tokens.push(login["token"].as_str().unwrap().to_owned());
        }
    }

    for (method, path) in operations {
        let token = if method == "DELETE" {
            delete_tokens.pop().expect("one login per delete")
        } else {
            session.token.clone()
        };
        let request = server
            .http()
            .request(method.parse().unwrap(), server.url(&concrete(&path)))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body("{}");
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        assert_ne!(status, 405, "{method} {path} is documented but not routed");
        if status == 404 {
            let body: Value = response.json().await.unwrap_or_default();
            let message = body["message"].as_str().unwrap_or_default();
            assert!(
                !message.contains("no such route"),
                "{method} {path} is documented but not routed"
            );
        }
    }
}
