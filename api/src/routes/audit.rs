//! `GET /api/v1/audit`: the caller's audit trail, one line per event, in pages.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use keyward_events::{Category, StreamName};
use keyward_projections::AuditLine;
use serde::Deserialize;
use serde_json::json;

use crate::auth::Authenticated;
use crate::{ApiError, AppState};

/// Lines per page when `limit` is absent.
pub const DEFAULT_PAGE: usize = 100;

/// Maximum lines per page.
pub const MAX_PAGE: usize = 1000;

/// Query of `GET /api/v1/audit`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only events of this stream, such as `key-0192…`.
    stream: Option<String>,
    /// Only events recorded at or after this time.
    from: Option<DateTime<Utc>>,
    /// Only events recorded at or before this time.
    to: Option<DateTime<Utc>>,
    /// Only events after this global position: the `next` of the previous page.
    after: Option<u64>,
    /// Lines per page, 1 to 1000; 100 when absent.
    limit: Option<usize>,
    /// Wait (at most 2 s) until the audit trail has reached this global position.
    min_position: Option<u64>,
}

/// `GET /api/v1/audit?stream=&from=&to=&after=&limit=`: the caller's audit lines, oldest first,
/// with `next` set to the `after` of the following page when there is one.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "reads",
    summary = "The account's audit trail, one line per event, in pages",
    params(AuditQuery),
    responses((status = 200, description = "`{items, next, position}`: lines oldest first, the `after` of the following page (`null` on the last)", body = Object))
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(query) = query.map_err(|e| {
        ApiError::invalid(e.body_text()).with_hint(
            "from and to are RFC 3339 times; after, limit and min_position are whole numbers",
        )
    })?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::invalid(format!(
            "limit {limit} is out of range; use 1 to {MAX_PAGE}"
        )));
    }
    if let Some(stream) = &query.stream {
        require_own_stream(&state, &auth, stream).await?;
    }
    state
        .audit_at(auth.credential_id(), query.min_position)
        .await;
    let (lines, more, position) = state.audit.read(|trail| {
        let mut matching = trail
            .lines_of(auth.account_id)
            .iter()
            .filter(|line| matches(&query, line));
        let lines: Vec<AuditLine> = matching.by_ref().take(limit).cloned().collect();
        (lines, matching.next().is_some(), trail.position)
    });
    let next = if more {
        lines.last().map(|line| line.position)
    } else {
        None
    };
    let items: Vec<serde_json::Value> = lines
        .iter()
        .map(|line| {
            let mut item = json!(line);
            item["text"] = json!(line.to_text());
            item
        })
        .collect();
    Ok(Json(
        json!({"items": items, "next": next, "position": position}),
    ))
}

/// Rejects a stream the caller does not own with 404, as if it did not exist.
async fn require_own_stream(
    state: &AppState,
    auth: &Authenticated,
    stream: &str,
) -> Result<(), ApiError> {
    let name: StreamName = stream
        .parse()
        .map_err(|e: keyward_events::StreamNameError| {
            ApiError::invalid(e.to_string()).with_hint("pass a stream name such as key-<uuid>")
        })?;
    state.dashboard_at(auth.credential_id(), None).await;
    let id = name.id();
    let owned = match name.category() {
        Category::Account => id == auth.account_id,
        Category::Key => state
            .dashboard
            .read(|d| d.key_of(auth.account_id, id).is_some()),
        Category::Bot => state
            .dashboard
            .read(|d| d.bot_of(auth.account_id, id).is_some()),
        Category::Vault | Category::Stress => false,
    };
    if owned {
        Ok(())
    } else {
        Err(ApiError::not_found(format!("no stream {stream}")))
    }
}

fn matches(query: &AuditQuery, line: &AuditLine) -> bool {
    query.after.is_none_or(|after| line.position > after)
        && query
            .stream
            .as_deref()
            .is_none_or(|stream| line.stream == stream)
        && query.from.is_none_or(|from| line.recorded_at >= from)
        && query.to.is_none_or(|to| line.recorded_at <= to)
}
