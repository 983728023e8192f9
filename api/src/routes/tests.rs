//! The served router and the OpenAPI document list the same operations.

use std::collections::{BTreeSet, HashMap};

use axum::routing::{get, patch};

use super::*;

/// Methods compared between the router and the document; axum also routes HEAD to GET handlers.
const METHODS: &[&str] = &["get", "post", "put", "delete", "patch"];

/// Returns every `(method, path)` a router serves, read from its `Debug` output, which lists
/// each route's id with its path and with its method router. The fallback is left out.
fn routed_operations(router: &Router<AppState>) -> BTreeSet<(String, String)> {
    let debug = format!("{router:?}");
    let routes = debug
        .split("fallback_router:")
        .next()
        .expect("split returns at least one part");
    let mut paths: HashMap<&str, &str> = HashMap::new();
    let mut method_routers: HashMap<&str, &str> = HashMap::new();
    for chunk in routes.split("RouteId(").skip(1) {
        let Some((id, rest)) = chunk.split_once("): ") else {
            continue;
        };
        if let Some(quoted) = rest.strip_prefix('"') {
            let path = quoted.split('"').next().unwrap_or_default();
            paths.insert(id, path);
        } else if rest.starts_with("MethodRouter") {
            let fields = rest.split("allow_header").next().unwrap_or_default();
            method_routers.insert(id, fields);
        }
    }
    let mut operations = BTreeSet::new();
    for (id, path) in paths {
        let fields = method_routers
            .get(id)
            .unwrap_or_else(|| panic!("route {id} ({path}) has no method router in:\n{debug}"));
        for method in METHODS {
            let field = format!("{method}: ");
            let unrouted = format!("{method}: None");
            if fields.contains(&field) && !fields.contains(&unrouted) {
                operations.insert(((*method).to_owned(), path.to_owned()));
            }
        }
    }
    assert!(
        !operations.is_empty(),
        "no routes found in the router's Debug output:\n{debug}"
    );
    operations
}

fn documented_operations() -> BTreeSet<(String, String)> {
    let document = crate::openapi::document();
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths is an object") {
        for method in item.as_object().expect("a path item is an object").keys() {
            if METHODS.contains(&method.as_str()) {
                operations.insert((method.clone(), path.clone()));
            }
        }
    }
    operations
}

#[test]
fn every_route_is_documented() {
    let routed = routed_operations(&served_routes(Arc::default()));
    let documented = documented_operations();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "served but not documented: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "documented but not served: {unrouted:?}"
    );
}

#[test]
fn undocumented_route_is_detected() {
    let router = served_routes(Arc::default())
        .route("/api/v1/undocumented", get(healthz))
        .route("/api/v1/keys/{key_id}", patch(healthz));
    let routed = routed_operations(&router);
    let documented = documented_operations();
    for operation in [
        ("get", "/api/v1/undocumented"),
        ("patch", "/api/v1/keys/{key_id}"),
    ] {
        let operation = (operation.0.to_owned(), operation.1.to_owned());
        assert!(routed.contains(&operation), "{operation:?} not found");
        assert!(
            !documented.contains(&operation),
            "{operation:?} is documented"
        );
    }
}

#[test]
fn document_is_openapi_3_1() {
    let document = crate::openapi::document();
    assert_eq!(document["openapi"], "3.1.0");
    let error = &document["components"]["schemas"]["Error"];
    assert_eq!(error["required"], json!(["error", "message"]));
    assert_eq!(
        document["paths"]["/healthz"]["get"]["security"],
        json!([{}])
    );
    let keys = &document["paths"]["/api/v1/keys"]["get"];
    assert_eq!(keys["security"], json!([{"bearer": []}, {"cookie": []}]));
    assert_eq!(
        keys["responses"]["default"]["$ref"],
        "#/components/responses/Error"
    );
}

#[test]
fn operation_ids_are_unique() {
    let document = crate::openapi::document();
    let mut ids = Vec::new();
    for item in document["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            ids.push(operation["operationId"].as_str().unwrap().to_owned());
        }
    }
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), count, "{ids:?}");
}

#[test]
fn commands_take_idempotency_key() {
    let document = crate::openapi::document();
    let names = |operation: &serde_json::Value| -> Vec<String> {
        operation["parameters"]
            .as_array()
            .map(|parameters| {
                parameters
                    .iter()
                    .filter_map(|p| p["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let add_key = &document["paths"]["/api/v1/keys"]["post"];
    assert!(names(add_key).contains(&"Idempotency-Key".to_owned()));
    let list_keys = &document["paths"]["/api/v1/keys"]["get"];
    assert!(!names(list_keys).contains(&"Idempotency-Key".to_owned()));
    for parameter in ["limit", "after", "min_position"] {
        assert!(
            names(list_keys).contains(&parameter.to_owned()),
            "GET /api/v1/keys lacks {parameter}"
        );
    }
}

#[test]
fn domain_types_keep_their_schemas() {
    let document = crate::openapi::document();
    let schemas = &document["components"]["schemas"];
    for name in ["Exchange", "KeyPermissions", "StrategySpec", "BotMode"] {
        assert!(schemas[name].is_object(), "{name} missing");
        assert_ne!(schemas[name], json!({}), "{name} has no schema");
    }
    let text = document.to_string();
    for reference in text.split("\"$ref\":\"").skip(1) {
        let target = reference.split('"').next().unwrap_or_default();
        let Some(name) = target.strip_prefix("#/components/schemas/") else {
            continue;
        };
        assert!(schemas[name].is_object(), "{target} points nowhere");
    }
}
