//! `GET /openapi.json`: an OpenAPI 3.1 document of the HTTP API, built from [`OPERATIONS`].
//!
//! Each operation names its method, path, summary, whether it needs a credential and which
//! query parameters it reads. Path parameters come from the `{name}` segments of the path.
//! Every error response shares the one error body, `{"error", "message", "hint"?}`.
// NOTE: request and response bodies are described in words only; schemas of the bodies need
// the request and response types to derive a JSON Schema.

use axum::Json;
use serde_json::{Map, Value, json};

/// One documented operation.
#[derive(Clone, Copy, Debug)]
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    /// Whether the operation needs a session or API token.
    pub auth: bool,
    /// Query parameters the operation reads, each with its description.
    pub query: &'static [(&'static str, &'static str)],
    /// Whether the operation takes a JSON body.
    pub body: bool,
    /// Status of a successful response.
    pub success: u16,
}

const MIN_POSITION: (&str, &str) = (
    "min_position",
    "Wait (at most 2 s) until the read model has reached this global position.",
);
const FROM: (&str, &str) = (
    "from",
    "Deliver events after this global position; 0 streams everything.",
);

const fn op(
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
) -> Operation {
    Operation {
        method,
        path,
        tag,
        summary,
        auth: true,
        query: &[],
        body: false,
        success: 200,
    }
}

const fn with_body(mut operation: Operation, success: u16) -> Operation {
    operation.body = true;
    operation.success = success;
    operation
}

const fn public(mut operation: Operation) -> Operation {
    operation.auth = false;
    operation
}

const fn reads(
    mut operation: Operation,
    query: &'static [(&'static str, &'static str)],
) -> Operation {
    operation.query = query;
    operation
}

/// Every documented operation of the API.
pub const OPERATIONS: &[Operation] = &[
    public(op("get", "/healthz", "service", "Liveness check")),
    public(op(
        "get",
        "/metrics",
        "service",
        "Metrics in the Prometheus text format",
    )),
    public(op("get", "/openapi.json", "service", "This document")),
    public(op(
        "get",
        "/api/v1/schemas/events",
        "events",
        "JSON Schema of every event payload",
    )),
    public(with_body(
        op(
            "post",
            "/api/v1/accounts",
            "accounts",
            "Register an account",
        ),
        201,
    )),
    op("get", "/api/v1/account", "accounts", "The caller's account"),
    with_body(
        op(
            "put",
            "/api/v1/account/password",
            "accounts",
            "Change the password",
        ),
        200,
    ),
    op(
        "get",
        "/api/v1/sessions",
        "sessions",
        "The account's sessions with device, address and last use",
    ),
    public(with_body(
        op(
            "post",
            "/api/v1/sessions",
            "sessions",
            "Log in; returns a token and session id",
        ),
        201,
    )),
    op("delete", "/api/v1/sessions/current", "sessions", "Log out"),
    op(
        "delete",
        "/api/v1/sessions/others",
        "sessions",
        "End every other session",
    ),
    op(
        "delete",
        "/api/v1/sessions/{session_id}",
        "sessions",
        "End one session",
    ),
    with_body(
        op(
            "post",
            "/api/v1/reauth",
            "sessions",
            "Re-authenticate before a sensitive action",
        ),
        200,
    ),
    op(
        "post",
        "/api/v1/2fa/enroll",
        "two-factor",
        "Start TOTP enrollment; returns the otpauth URI and a QR code",
    ),
    with_body(
        op(
            "post",
            "/api/v1/2fa/confirm",
            "two-factor",
            "Confirm TOTP; returns recovery codes",
        ),
        200,
    ),
    with_body(
        op("post", "/api/v1/2fa/disable", "two-factor", "Disable TOTP"),
        200,
    ),
    op(
        "get",
        "/api/v1/tokens",
        "tokens",
        "The account's API tokens",
    ),
    with_body(
        op("post", "/api/v1/tokens", "tokens", "Create an API token"),
        201,
    ),
    op(
        "delete",
        "/api/v1/tokens/{token_id}",
        "tokens",
        "Revoke an API token",
    ),
    reads(
        op("get", "/api/v1/keys", "keys", "The account's exchange keys"),
        &[MIN_POSITION],
    ),
    with_body(
        op(
            "post",
            "/api/v1/keys",
            "keys",
            "Add an exchange key and start its probe; honours Idempotency-Key",
        ),
        202,
    ),
    reads(
        op(
            "get",
            "/api/v1/keys/{key_id}",
            "keys",
            "One exchange key with status and permissions",
        ),
        &[MIN_POSITION],
    ),
    reads(
        op("get", "/api/v1/bots", "bots", "The account's bots"),
        &[MIN_POSITION],
    ),
    with_body(
        op(
            "post",
            "/api/v1/bots",
            "bots",
            "Create a bot; honours Idempotency-Key",
        ),
        201,
    ),
    reads(
        op("get", "/api/v1/bots/{bot_id}", "bots", "One bot"),
        &[MIN_POSITION],
    ),
    with_body(
        op(
            "post",
            "/api/v1/bots/{bot_id}/backtests",
            "bots",
            "Run a backtest of the bot's configuration; honours Idempotency-Key",
        ),
        201,
    ),
    reads(
        op(
            "get",
            "/api/v1/dashboard",
            "reads",
            "Keys, bots and sessions of the account",
        ),
        &[MIN_POSITION],
    ),
    reads(
        op(
            "get",
            "/api/v1/audit",
            "reads",
            "The account's audit trail, one line per event, in pages",
        ),
        &[
            ("stream", "Only events of this stream."),
            (
                "from",
                "Only events recorded at or after this RFC 3339 time.",
            ),
            (
                "to",
                "Only events recorded at or before this RFC 3339 time.",
            ),
            (
                "after",
                "Only events after this position: the previous page's `next`.",
            ),
            ("limit", "Lines per page, 1 to 1000 (default 100)."),
            MIN_POSITION,
        ],
    ),
    reads(
        op(
            "get",
            "/api/v1/events",
            "events",
            "The account's events as server-sent events; honours Last-Event-ID",
        ),
        &[FROM],
    ),
    reads(
        op(
            "get",
            "/api/v1/events/ws",
            "events",
            "The account's events over a websocket",
        ),
        &[FROM],
    ),
    reads(
        op(
            "get",
            "/api/v1/feed",
            "events",
            "Live feed of every bot of the account over a websocket; a slow client is closed with 4008",
        ),
        &[FROM],
    ),
    reads(
        op(
            "get",
            "/api/v1/bots/{bot_id}/feed",
            "events",
            "Live feed of one bot over a websocket; a slow client is closed with 4008",
        ),
        &[FROM],
    ),
];

/// `GET /openapi.json`.
pub async fn serve() -> Json<Value> {
    Json(document())
}

/// Builds the OpenAPI 3.1 document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for operation in OPERATIONS {
        let item = paths.entry(operation.path).or_insert_with(|| json!({}));
        item[operation.method] = operation_json(operation);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "keyward",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Control plane for crypto trading bots. Commands answer with the \
                            global position of their last event; reads accept min_position.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": crate::auth::cookie::SESSION_COOKIE},
            },
            "schemas": {"Error": error_schema()},
            "responses": {"Error": {
                "description": "An error, with the same body on every route",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }},
        },
    })
}

fn operation_json(operation: &Operation) -> Value {
    let mut parameters: Vec<Value> = path_parameters(operation.path)
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}))
        .collect();
    for (name, description) in operation.query {
        parameters.push(json!({"name": name, "in": "query", "required": false, "description": description, "schema": {"type": "string"}}));
    }
    let method = operation.method.to_ascii_uppercase();
    let method = axum::http::Method::from_bytes(method.as_bytes()).unwrap_or_default();
    if crate::idempotency::is_command(&method, operation.path) {
        parameters.push(
            json!({"name": "Idempotency-Key", "in": "header", "required": false,
            "description": "Retries with the same key and body get the first answer again.",
            "schema": {"type": "string", "maxLength": crate::idempotency::MAX_KEY_BYTES}}),
        );
    }
    let mut value = json!({
        "summary": operation.summary,
        "tags": [operation.tag],
        "operationId": operation_id(operation),
        "parameters": parameters,
        "responses": {
            operation.success.to_string(): {"description": "Success"},
            "default": {"$ref": "#/components/responses/Error"},
        },
    });
    if operation.body {
        value["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"type": "object"}}}});
    }
    value["security"] = if operation.auth {
        json!([{"bearer": []}, {"cookie": []}])
    } else {
        json!([])
    };
    value
}

fn path_parameters(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
}

fn operation_id(operation: &Operation) -> String {
    let words: Vec<&str> = operation
        .path
        .split('/')
        .filter(|s| !s.is_empty() && *s != "api" && *s != "v1")
        .map(|s| s.trim_matches(|c| c == '{' || c == '}'))
        .collect();
    format!("{}_{}", operation.method, words.join("_")).replace(['.', '-'], "_")
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "A stable code such as invalid_request, unauthorized, not_found or conflict."},
            "message": {"type": "string", "description": "What failed, naming the value."},
            "hint": {"type": "string", "description": "What to do next."},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_is_openapi_3_1() {
        let document = document();
        assert_eq!(document["openapi"], "3.1.0");
        let feed = &document["paths"]["/api/v1/bots/{bot_id}/feed"]["get"];
        assert_eq!(feed["parameters"][0]["name"], "bot_id");
        assert_eq!(feed["parameters"][1]["name"], "from");
        assert_eq!(document["paths"]["/healthz"]["get"]["security"], json!([]));
    }

    #[test]
    fn operation_ids_are_unique() {
        let mut ids: Vec<String> = OPERATIONS.iter().map(operation_id).collect();
        ids.sort();
        let count = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), count);
    }
}
