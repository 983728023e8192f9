//! Events of a user account's stream (`account-<uuid>`): registration, logins, second factors,
//! sessions and API tokens.
//!
//! No payload carries a secret. Password hashes and TOTP seeds are sealed in the vault's keyring
//! and events hold only the vault's id for them; session tokens, API tokens and recovery codes
//! are stored only as hashes in the account store, never in the log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event_family;

event_family! {
    /// Everything that happens to one account.
    pub enum AccountEvent {
        AccountRegistered,
        PasswordChanged,
        TwoFactorEnrollmentStarted,
        TwoFactorEnabled,
        TwoFactorDisabled,
        TwoFactorCodeRejected,
        RecoveryCodesIssued,
        RecoveryCodeUsed,
        LoginSucceeded,
        LoginFailed,
        AccountLocked,
        ReAuthenticated,
        ReAuthenticationFailed,
        SessionStarted,
        SessionTerminated,
        ApiTokenCreated,
        ApiTokenRevoked,
        AccountRiskLimitsSet,
        KillSwitchEngaged,
        KillSwitchReleased,
    }
}

/// The second factor a login or re-authentication presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecondFactor {
    /// The account has no second factor enabled.
    None,
    Totp,
    RecoveryCode,
}

/// Why a credential check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CredentialFailure {
    WrongPassword,
    /// The TOTP code or recovery code did not match.
    WrongSecondFactor,
    /// The TOTP code matched a time step that was already used.
    ReplayedCode,
}

/// How a session's token travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionTransport {
    /// An HttpOnly cookie, for browsers.
    Cookie,
    /// An `Authorization: Bearer` header, for API clients.
    Bearer,
}

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionEnd {
    LoggedOut,
    /// Ended from another of the account's sessions.
    Terminated,
    IdleTimeout,
    /// The absolute lifetime passed.
    Expired,
    PasswordChanged,
}

/// What an API token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    /// `GET` requests only.
    Read,
    /// Reads and every change except account management and sensitive actions.
    ReadWrite,
}

/// An account was registered; its password hash is sealed in the vault's keyring.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AccountRegistered {
    pub account_id: Uuid,
    pub username: String,
    /// Vault id of the sealed password hash.
    #[serde(default)]
    pub password_ref: Uuid,
    pub registered_at: DateTime<Utc>,
}

/// The password changed; the new hash is sealed under `password_ref`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PasswordChanged {
    pub password_ref: Uuid,
    /// Other sessions ended by the change.
    pub sessions_ended: u32,
    pub changed_at: DateTime<Utc>,
}

/// A TOTP seed was generated and sealed; it takes effect once a first code confirms it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TwoFactorEnrollmentStarted {
    pub seed_ref: Uuid,
    pub started_at: DateTime<Utc>,
}

/// A first valid code confirmed the seed; logins now need a second factor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TwoFactorEnabled {
    pub seed_ref: Uuid,
    pub enabled_at: DateTime<Utc>,
}

/// Two-factor authentication was turned off with a fresh code.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TwoFactorDisabled {
    pub second_factor: SecondFactor,
    pub disabled_at: DateTime<Utc>,
}

/// A code given to confirm or disable two-factor authentication was refused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TwoFactorCodeRejected {
    /// `confirm` or `disable`.
    pub purpose: String,
    pub reason: CredentialFailure,
    pub rejected_at: DateTime<Utc>,
}

/// A new set of single-use recovery codes replaced any earlier set; only their hashes are kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RecoveryCodesIssued {
    pub count: u32,
    pub issued_at: DateTime<Utc>,
}

/// A recovery code stood in for a TOTP code and can never be used again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RecoveryCodeUsed {
    pub remaining: u32,
    pub used_at: DateTime<Utc>,
}

/// Password and second factor matched; `session_id` is the session it started.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LoginSucceeded {
    pub session_id: Uuid,
    pub second_factor: SecondFactor,
    #[serde(default)]
    pub address: Option<String>,
    pub succeeded_at: DateTime<Utc>,
}

/// A login was refused after checking its credentials. Never carries the password or code.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LoginFailed {
    pub reason: CredentialFailure,
    #[serde(default)]
    pub address: Option<String>,
    pub failed_at: DateTime<Utc>,
}

/// Too many failed credential checks: logins are refused until `locked_until`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AccountLocked {
    pub failures: u32,
    pub locked_until: DateTime<Utc>,
    pub locked_at: DateTime<Utc>,
}

/// The user of a session proved its password (and second factor) again; the session got a new
/// token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReAuthenticated {
    pub session_id: Uuid,
    pub second_factor: SecondFactor,
    pub reauthenticated_at: DateTime<Utc>,
}

/// A re-authentication was refused after checking its credentials.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReAuthenticationFailed {
    pub session_id: Uuid,
    pub reason: CredentialFailure,
    pub failed_at: DateTime<Utc>,
}

/// A login session began; its token exists only as a hash in the account store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SessionStarted {
    pub session_id: Uuid,
    pub transport: SessionTransport,
    /// Browser and system from the user agent, such as `Firefox on Linux`.
    pub device: String,
    #[serde(default)]
    pub address: Option<String>,
    pub idle_timeout_secs: u64,
    pub expires_at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
}

/// A session ended and its token stopped working.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SessionTerminated {
    pub session_id: Uuid,
    pub reason: SessionEnd,
    /// The session that ended it, when it was ended from one.
    #[serde(default)]
    pub by_session: Option<Uuid>,
    pub terminated_at: DateTime<Utc>,
}

/// A personal API token was created; its value exists only as a hash in the account store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ApiTokenCreated {
    pub token_id: Uuid,
    pub name: String,
    pub scope: TokenScope,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// A personal API token was revoked and stopped working.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ApiTokenRevoked {
    pub token_id: Uuid,
    pub revoked_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DomainEvent;

    #[test]
    fn account_event_round_trips() {
        let event = AccountEvent::LoginFailed(LoginFailed {
            reason: CredentialFailure::ReplayedCode,
            address: Some("127.0.0.1".into()),
            failed_at: Utc::now(),
        });
        let payload = event.encode_payload();
        let text = String::from_utf8(payload.clone()).unwrap();
        assert!(text.contains("\"replayed_code\""), "{text}");
        let decoded = AccountEvent::decode("LoginFailed", 1, &payload).unwrap();
        assert_eq!(decoded, event);
    }

    #[test]
    fn registered_without_password_ref_decodes() {
        let payload = br#"{"account_id":"0192e4a0-0000-7000-8000-000000000000",
            "username":"alice","registered_at":"2026-12-01T00:00:00Z"}"#;
        let decoded = AccountEvent::decode("AccountRegistered", 1, payload).unwrap();
        let AccountEvent::AccountRegistered(registered) = decoded else {
            panic!("decoded {decoded:?}");
        };
        assert_eq!(registered.username, "alice");
        assert!(registered.password_ref.is_nil());
    }
}

/// The account's own risk limits, applied to every bot on top of each bot's limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AccountRiskLimitsSet {
    /// Largest leverage any bot of the account may use.
    pub max_leverage: rust_decimal::Decimal,
    /// Loss since the start of the UTC day, in percent of that day's starting equity, at
    /// which every bot stops taking new risk.
    pub daily_loss_limit_pct: rust_decimal::Decimal,
    pub set_at: DateTime<Utc>,
}

/// The account's kill switch was engaged: every bot stops and its open orders are cancelled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KillSwitchEngaged {
    /// Bots stopped by it.
    pub bots: Vec<Uuid>,
    pub engaged_at: DateTime<Utc>,
}

/// The account's kill switch was released; stopped bots stay stopped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KillSwitchReleased {
    pub released_at: DateTime<Utc>,
}
