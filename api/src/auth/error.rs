//! Account errors as HTTP answers.

use axum::http::StatusCode;
use keyward_actors::account::AccountError;

use crate::ApiError;

impl From<AccountError> for ApiError {
    fn from(err: AccountError) -> Self {
        match err {
            AccountError::InvalidUsername(_) | AccountError::InvalidPassword(_) => {
                ApiError::invalid(err.to_string())
            }
            AccountError::UsernameTaken => ApiError::conflict("the username is taken")
                .with_hint("choose another username, or log in if it is yours"),
            AccountError::InvalidCredentials | AccountError::InvalidSecondFactor => {
                ApiError::unauthorized(err.to_string())
            }
            AccountError::SecondFactorRequired => ApiError::with_code(
                StatusCode::UNAUTHORIZED,
                "totp_required",
                "this account has two-factor authentication on",
            )
            .with_hint("send totp_code from your authenticator app, or a recovery_code"),
            AccountError::Throttled { retry_after } => ApiError::with_code(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                err.to_string(),
            )
            .with_retry_after(retry_after.as_secs().max(1)),
            AccountError::Locked { retry_after } => {
                ApiError::with_code(StatusCode::LOCKED, "locked", err.to_string())
                    .with_retry_after(retry_after.as_secs().max(1))
            }
            AccountError::NotFound(_) => ApiError::not_found(err.to_string()),
            AccountError::Conflict(_) => ApiError::conflict(err.to_string()),
            other => ApiError::internal(other),
        }
    }
}
