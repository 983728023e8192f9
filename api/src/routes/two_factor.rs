//! `/api/v1/2fa`: TOTP enrollment, confirmation with a first code, and disabling.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use qrcode::QrCode;
use qrcode::render::svg;
use serde::Deserialize;
use serde_json::json;

use super::input::SecretInput;
use super::sessions::second_factor;
use crate::auth::Authenticated;
use crate::{ApiError, AppState};

/// Body of `POST /api/v1/2fa/confirm`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    #[schema(value_type = String, write_only)]
    totp_code: SecretInput,
}

/// Body of `POST /api/v1/2fa/disable`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisableBody {
    #[serde(default)]
    #[schema(value_type = Option<String>, write_only)]
    totp_code: Option<SecretInput>,
    #[serde(default)]
    #[schema(value_type = Option<String>, write_only)]
    recovery_code: Option<SecretInput>,
}

/// `POST /api/v1/2fa/enroll`: a new TOTP seed as an `otpauth://` URI and a QR code picture.
/// The seed takes effect once `POST /api/v1/2fa/confirm` proves a first code.
#[utoipa::path(
    post,
    path = "/api/v1/2fa/enroll",
    tag = "two-factor",
    summary = "Start TOTP enrollment",
    responses((status = 200, description = "`{otpauth_uri, qr_svg}`", body = Object))
)]
pub async fn enroll(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<serde_json::Value>, ApiError> {
    auth.require_recent_login()?;
    let enrollment = state
        .accounts
        .start_enrollment(auth.account_id, auth.metadata())
        .await?;
    state
        .consistency
        .wrote(auth.credential_id(), enrollment.position);
    let qr_svg = qr_svg(&enrollment.otpauth_uri)?;
    Ok(Json(json!({
        "otpauth_uri": enrollment.otpauth_uri.as_str(),
        "qr_svg": qr_svg,
        "position": enrollment.position,
    })))
}

/// The QR code of a text as an SVG document.
fn qr_svg(text: &str) -> Result<String, ApiError> {
    let code = QrCode::new(text.as_bytes()).map_err(ApiError::internal)?;
    Ok(code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

/// `POST /api/v1/2fa/confirm`: turns two-factor authentication on with a first code and
/// returns ten single-use recovery codes, shown only this once.
#[utoipa::path(
    post,
    path = "/api/v1/2fa/confirm",
    tag = "two-factor",
    summary = "Confirm TOTP with a first code; returns recovery codes",
    request_body = ConfirmBody,
    responses((status = 200, description = "Ten single-use recovery codes, shown only this once", body = Object))
)]
pub async fn confirm(
    State(state): State<AppState>,
    auth: Authenticated,
    body: Result<Json<ConfirmBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    auth.require_session()?;
    let Json(body) = body?;
    let (codes, position) = state
        .accounts
        .confirm_two_factor(auth.account_id, body.totp_code.0, auth.metadata())
        .await?;
    state.consistency.wrote(auth.credential_id(), position);
    tracing::info!(account_id = %auth.account_id, "two-factor authentication enabled");
    let codes: Vec<&str> = codes.iter().map(|code| code.as_str()).collect();
    Ok(Json(json!({"recovery_codes": codes, "position": position})))
}

/// `POST /api/v1/2fa/disable`: turns two-factor authentication off; needs a recent login and a
/// fresh TOTP code (or a recovery code).
#[utoipa::path(
    post,
    path = "/api/v1/2fa/disable",
    tag = "two-factor",
    summary = "Disable TOTP",
    request_body = DisableBody,
    responses((status = 200, description = "Done", body = Object))
)]
pub async fn disable(
    State(state): State<AppState>,
    auth: Authenticated,
    body: Result<Json<DisableBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    auth.require_recent_login()?;
    let Json(body) = body?;
    let input = second_factor(body.totp_code, body.recovery_code)?;
    let position = state
        .accounts
        .disable_two_factor(auth.account_id, input, auth.metadata())
        .await?;
    state.consistency.wrote(auth.credential_id(), position);
    tracing::info!(account_id = %auth.account_id, "two-factor authentication disabled");
    Ok(Json(json!({"two_factor": "off", "position": position})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_svg_is_an_svg_document() {
        let svg = qr_svg("otpauth://totp/keyward:alice?secret=GEZDGNBV").unwrap();
        assert!(svg.starts_with("<?xml"), "{}", &svg[..40]);
        assert!(svg.contains("<svg"));
        assert!(svg.contains("<path") || svg.contains("<rect"));
    }
}
