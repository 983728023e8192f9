//! The one error body every route uses: `{"error": code, "message", "hint"?}`.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub hint: Option<String>,
    /// Seconds to send in `Retry-After` (429 and 423 answers).
    pub retry_after_secs: Option<u64>,
}

/// The body of every error response.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorBody<'a> {
    /// A stable code such as `invalid_request`, `unauthorized`, `not_found` or `conflict`.
    error: &'a str,
    /// What failed, naming the value.
    message: &'a str,
    /// What to do next.
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<&'a str>,
}

impl ApiError {
    /// 400 `invalid_request`.
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_request",
            message: message.into(),
            hint: None,
            retry_after_secs: None,
        }
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: message.into(),
            hint: None,
            retry_after_secs: None,
        }
    }

    /// 409 `conflict`.
    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::CONFLICT,
            code: "conflict",
            message: message.into(),
            hint: None,
            retry_after_secs: None,
        }
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::with_code(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::with_code(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 403 `reauth_required`: a sensitive action needs a recent login.
    pub fn reauth_required(message: impl Into<String>) -> Self {
        ApiError::with_code(StatusCode::FORBIDDEN, "reauth_required", message)
    }

    /// 403 `csrf_failed`: a cookie-authenticated change without a valid CSRF token.
    pub fn csrf_failed(message: impl Into<String>) -> Self {
        ApiError::with_code(StatusCode::FORBIDDEN, "csrf_failed", message)
    }

    /// An error with any status and code.
    pub fn with_code(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            hint: None,
            retry_after_secs: None,
        }
    }

    /// Adds a `Retry-After` header.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// 500 `internal`; the message is logged, the client sees a generic one.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "request failed");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: "the server failed to handle the request; see its log".into(),
            hint: None,
            retry_after_secs: None,
        }
    }

    /// Adds a hint the user can act on.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code,
            message: &self.message,
            hint: self.hint.as_deref(),
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let error = ApiError::invalid(format!("invalid JSON body: {}", rejection.body_text()))
            .with_hint("send a JSON object with Content-Type: application/json");
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError {
                status,
                code: "payload_too_large",
                ..error
            };
        }
        error
    }
}
