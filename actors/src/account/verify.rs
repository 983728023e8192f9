//! Checking an account's password and second factor, inside its actor.

use chrono::{DateTime, Utc};
use keyward_events::account::{
    AccountEvent, CredentialFailure, LoginFailed, ReAuthenticationFailed, SecondFactor,
    TwoFactorCodeRejected,
};
use keyward_vault::SecretBytes;
use uuid::Uuid;

use super::actor::AccountActorState;
use super::error::AccountError;
use super::secrets::recovery_code_hash;
use super::service::SecondFactorInput;
use super::state::TwoFactor;
use super::totp::{matching_steps, time_step};

/// Why a credential check did not pass.
pub(super) enum Denial {
    /// A credential was checked and did not match.
    Refused(CredentialFailure),
    /// The password matched but the account needs a second factor and none was given.
    SecondFactorRequired,
    /// The check itself failed.
    Failed(AccountError),
}

impl From<AccountError> for Denial {
    fn from(err: AccountError) -> Self {
        Denial::Failed(err)
    }
}

impl From<keyward_vault::VaultError> for Denial {
    fn from(err: keyward_vault::VaultError) -> Self {
        Denial::Failed(err.into())
    }
}

/// A command's result, and the failure event to record after replying.
pub(super) type Judged<T> = (Result<T, AccountError>, Option<AccountEvent>);

impl Denial {
    /// Converts into the error for the caller and the event recording a refused credential.
    pub(super) fn judge<T>(
        self,
        event: impl FnOnce(CredentialFailure) -> AccountEvent,
    ) -> Judged<T> {
        match self {
            Denial::Refused(reason) => {
                let error = match reason {
                    CredentialFailure::WrongPassword => AccountError::InvalidCredentials,
                    _ => AccountError::InvalidSecondFactor,
                };
                (Err(error), Some(event(reason)))
            }
            Denial::SecondFactorRequired => (Err(AccountError::SecondFactorRequired), None),
            Denial::Failed(err) => (Err(err), None),
        }
    }
}

/// The event of a refused login.
pub(super) fn login_failed(
    address: Option<String>,
) -> impl FnOnce(CredentialFailure) -> AccountEvent {
    move |reason| {
        AccountEvent::LoginFailed(LoginFailed {
            reason,
            address,
            failed_at: Utc::now(),
        })
    }
}

/// The event of a refused re-authentication.
pub(super) fn reauth_failed(session_id: Uuid) -> impl FnOnce(CredentialFailure) -> AccountEvent {
    move |reason| {
        AccountEvent::ReAuthenticationFailed(ReAuthenticationFailed {
            session_id,
            reason,
            failed_at: Utc::now(),
        })
    }
}

/// The event of a refused code when confirming or disabling two-factor authentication.
pub(super) fn code_rejected(purpose: &str) -> impl FnOnce(CredentialFailure) -> AccountEvent {
    let purpose = purpose.to_owned();
    move |reason| {
        AccountEvent::TwoFactorCodeRejected(TwoFactorCodeRejected {
            purpose,
            reason,
            rejected_at: Utc::now(),
        })
    }
}

/// A second factor that passed.
pub(super) struct Verified {
    pub second_factor: SecondFactor,
    /// Unused recovery codes left, when a recovery code was used.
    pub recovery_remaining: Option<u32>,
}

impl AccountActorState {
    /// Checks the password, then the second factor if the account has one on.
    pub(super) async fn verify_login(
        &self,
        password: &SecretBytes,
        second_factor: &SecondFactorInput,
        now: DateTime<Utc>,
    ) -> Result<Verified, Denial> {
        self.verify_password(password).await?;
        if !self.account()?.two_factor_on() {
            return Ok(Verified {
                second_factor: SecondFactor::None,
                recovery_remaining: None,
            });
        }
        self.verify_second_factor(second_factor, now).await
    }

    /// Checks a password against the sealed hash.
    pub(super) async fn verify_password(&self, password: &SecretBytes) -> Result<(), Denial> {
        let password_ref = self.account()?.password_ref;
        let stored = self.context.vault.open_secret(password_ref)?;
        if self.context.passwords.verify(password, stored).await {
            Ok(())
        } else {
            Err(Denial::Refused(CredentialFailure::WrongPassword))
        }
    }

    /// Checks a TOTP or recovery code against the enabled second factor.
    pub(super) async fn verify_second_factor(
        &self,
        input: &SecondFactorInput,
        now: DateTime<Utc>,
    ) -> Result<Verified, Denial> {
        let account = self.account()?;
        let TwoFactor::On { seed_ref } = account.two_factor else {
            return Err(AccountError::Conflict("two-factor authentication is off".into()).into());
        };
        match input {
            SecondFactorInput::Missing => Err(Denial::SecondFactorRequired),
            SecondFactorInput::Totp(code) => {
                self.verify_totp(seed_ref, code, now).await?;
                Ok(Verified {
                    second_factor: SecondFactor::Totp,
                    recovery_remaining: None,
                })
            }
            SecondFactorInput::RecoveryCode(code) => {
                let remaining = self.use_recovery_code(code, now).await?;
                Ok(Verified {
                    second_factor: SecondFactor::RecoveryCode,
                    recovery_remaining: Some(remaining),
                })
            }
        }
    }

    /// Accepts a TOTP code of the seed `seed_ref` if it matches a step within the skew that is
    /// later than every step used before, marking that step used.
    pub(super) async fn verify_totp(
        &self,
        seed_ref: Uuid,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Denial> {
        let seed = self.context.vault.open_secret(seed_ref)?;
        let steps = matching_steps(seed.expose(), code, time_step(now.timestamp()));
        if steps.is_empty() {
            return Err(Denial::Refused(CredentialFailure::WrongSecondFactor));
        }
        let account_id = self.account()?.account_id;
        for step in steps {
            if self
                .context
                .store_call(move |s| s.use_totp_step(account_id, step))
                .await?
            {
                return Ok(());
            }
        }
        Err(Denial::Refused(CredentialFailure::ReplayedCode))
    }

    async fn use_recovery_code(&self, code: &str, now: DateTime<Utc>) -> Result<u32, Denial> {
        let account_id = self.account()?.account_id;
        let hash = recovery_code_hash(code);
        let remaining = self
            .context
            .store_call(move |s| s.use_recovery_code(account_id, &hash, now))
            .await?;
        remaining.ok_or(Denial::Refused(CredentialFailure::WrongSecondFactor))
    }
}
