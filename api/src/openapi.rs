//! `GET /openapi.json`: the OpenAPI 3.1 document of the HTTP API, generated from the code.
//!
//! Every handler carries a `#[utoipa::path]` annotation and is registered through
//! [`crate::routes::api_routes`], which builds the router and the document's paths from the
//! same list, and a test compares the served router's paths with the document's. Request and
//! response bodies are the handlers' own types (`ToSchema`). Domain types of the events crate
//! keep the JSON Schema that schemars derives for them, as `/api/v1/schemas/events` serves it.
//! Once generated, every operation gets the one error body as its `default` response, the
//! credentials it accepts unless it is public, and on commands the `Idempotency-Key` header.

use std::borrow::Cow;
use std::sync::OnceLock;

use axum::Json;
use axum::http::Method;
use schemars::SchemaGenerator;
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};
use utoipa::OpenApi;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

use crate::error::ErrorBody;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "keyward",
        description = "Control plane for crypto trading bots. Commands answer with the global \
                       position of their last event; reads accept min_position and wait (at most \
                       2 s) until their read model has reached it."
    ),
    components(schemas(ErrorBody<'static>)),
    tags(
        (name = "service", description = "Health, metrics and this document"),
        (name = "accounts", description = "Registration, the account and its password"),
        (name = "sessions", description = "Login sessions and re-authentication"),
        (name = "two-factor", description = "TOTP enrollment"),
        (name = "tokens", description = "Personal API tokens"),
        (name = "keys", description = "Exchange keys and their probes"),
        (name = "bots", description = "Bots, their activation and backtests"),
        (name = "risk", description = "Account risk limits and the kill switch"),
        (name = "reads", description = "The dashboard and the audit trail"),
        (name = "events", description = "Event subscriptions, the live bot feed and event schemas"),
    )
)]
struct ApiDoc;

/// Returns the document's parts that belong to no route: info, tags and shared schemas.
pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// `GET /openapi.json`.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "service",
    security(()),
    responses((status = 200, description = "This document", body = Object))
)]
pub async fn serve() -> Json<Value> {
    Json(document().clone())
}

/// Returns the OpenAPI 3.1 document, generated on first use.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| finish(&crate::routes::api_routes().into_openapi()))
}

/// Adds what every operation shares to the generated document.
fn finish(generated: &utoipa::openapi::OpenApi) -> Value {
    let mut document = serde_json::to_value(generated).unwrap_or_else(|_| json!({}));
    let components = &mut document["components"];
    components["securitySchemes"] = json!({
        "bearer": {"type": "http", "scheme": "bearer",
                   "description": "A session token from POST /api/v1/sessions or an API token"},
        "cookie": {"type": "apiKey", "in": "cookie", "name": crate::auth::cookie::SESSION_COOKIE},
    });
    components["responses"]["Error"] = json!({
        "description": "An error, with the same body on every route",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    });
    let schemas = &mut components["schemas"];
    for (name, schema) in domain_schemas() {
        schemas[name] = schema;
    }
    if let Some(paths) = document["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            let Some(operations) = item.as_object_mut() else {
                continue;
            };
            for (method, operation) in operations.iter_mut() {
                complete_operation(path, method, operation);
            }
        }
    }
    document
}

/// Adds a unique operation id, the error response, the credentials and the `Idempotency-Key`
/// header to one operation.
fn complete_operation(path: &str, method: &str, operation: &mut Value) {
    operation["operationId"] = json!(operation_id(method, path));
    operation["responses"]["default"] = json!({"$ref": "#/components/responses/Error"});
    if operation.get("security").is_none() {
        operation["security"] = json!([{"bearer": []}, {"cookie": []}]);
    }
    let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap_or_default();
    if crate::idempotency::is_command(&method, path) {
        let header = json!({"name": "Idempotency-Key", "in": "header", "required": false,
            "description": "Retries with the same key and body get the first response again, \
                            for 24 hours and across restarts.",
            "schema": {"type": "string", "maxLength": crate::idempotency::MAX_KEY_BYTES}});
        match operation["parameters"].as_array_mut() {
            Some(parameters) => parameters.push(header),
            None => operation["parameters"] = json!([header]),
        }
    }
}

/// Returns an operation id made of the method and the path's words, such as
/// `get_bots_bot_id_feed`; handler names alone repeat across resources (`list`, `create`).
fn operation_id(method: &str, path: &str) -> String {
    let words: Vec<&str> = path
        .split('/')
        .filter(|word| !word.is_empty() && *word != "api" && *word != "v1")
        .map(|word| word.trim_matches(|c| c == '{' || c == '}'))
        .collect();
    format!("{method}_{}", words.join("_")).replace(['.', '-'], "_")
}

/// Declares, for each domain type, a marker that handler types name in
/// `#[schema(value_type = …)]`, and lists the schemars JSON Schema of each, which replaces the
/// marker's placeholder in the finished document.
macro_rules! domain_schemas {
    ($($marker:ident => $domain:ty),* $(,)?) => {
        $(
            #[doc = concat!("Names `", stringify!($domain), "` in the OpenAPI document.")]
            pub struct $marker;

            impl utoipa::PartialSchema for $marker {
                fn schema() -> RefOr<Schema> {
                    Schema::default().into()
                }
            }

            impl utoipa::ToSchema for $marker {
                fn name() -> Cow<'static, str> {
                    <$domain as schemars::JsonSchema>::schema_name()
                }
            }
        )*

        /// Returns the schemars JSON Schema of every domain type the API uses, with their
        /// subschemas, keyed by component name.
        fn domain_schemas() -> serde_json::Map<String, Value> {
            let mut settings = SchemaSettings::draft2020_12();
            settings.definitions_path = "/components/schemas".into();
            settings.meta_schema = None;
            let mut generator = SchemaGenerator::new(settings);
            $( generator.subschema_for::<$domain>(); )*
            generator.take_definitions(true)
        }
    };
}

domain_schemas! {
    ExchangeSchema => keyward_events::Exchange,
    KeyPermissionsSchema => keyward_events::KeyPermissions,
    RejectionReasonSchema => keyward_events::key::RejectionReason,
    StrategySpecSchema => keyward_events::bot::StrategySpec,
    BotModeSchema => keyward_events::bot::BotMode,
    SessionTransportSchema => keyward_events::account::SessionTransport,
    TokenScopeSchema => keyward_events::account::TokenScope,
}
