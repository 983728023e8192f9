//! What the account actor does for each command: check, append the events, then change the
//! account store.
//!
//! New sessions and tokens are appended before they are stored, so no credential works without
//! its event; ended ones are ended in the store before the event is appended, so a failed
//! append never leaves a credential working.

use chrono::{DateTime, TimeDelta, Utc};
use keyward_eventlog::{Appended, ExpectedVersion};
use keyward_events::account::{
    AccountEvent, AccountRegistered, ApiTokenCreated, ApiTokenRevoked, LoginSucceeded,
    PasswordChanged, ReAuthenticated, RecoveryCodeUsed, RecoveryCodesIssued, SessionEnd,
    SessionStarted, SessionTerminated, SessionTransport, TwoFactorDisabled, TwoFactorEnabled,
    TwoFactorEnrollmentStarted,
};
use keyward_events::codec::derive_event_id;
use keyward_events::{DomainEvent, Metadata};
use keyward_vault::{SecretKind, SecretOwner};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::actor::{AccountActorState, EndRequest, ReAuthRequest};
use super::error::AccountError;
use super::secrets::{
    API_TOKEN_PREFIX, RECOVERY_CODE_COUNT, SESSION_TOKEN_PREFIX, Token, new_recovery_codes,
    new_seed, new_token, recovery_code_hash,
};
use super::service::{
    ClientInfo, Enrollment, IssuedApiToken, IssuedSession, LoginRequest, NewApiToken,
    PasswordChange, SecondFactorInput,
};
use super::state::{AccountState, TwoFactor};
use super::store::{Credential, CredentialKind};
use super::totp::otpauth_uri;
use super::verify::{Judged, Verified, code_rejected, login_failed, reauth_failed};

/// Issuer name shown by authenticator apps.
const TOTP_ISSUER: &str = "keyward";

impl AccountActorState {
    pub(super) async fn register(
        &mut self,
        registered: AccountRegistered,
    ) -> Result<Appended, AccountError> {
        if self.account.is_some() {
            return Err(AccountError::UsernameTaken);
        }
        let metadata = Metadata {
            account_id: Some(registered.account_id),
            ..Metadata::default()
        };
        let event = AccountEvent::AccountRegistered(registered.clone());
        let new_event = event.to_new_event(derive_event_id(Uuid::now_v7(), 0), metadata);
        let appended = self
            .context
            .log
            .append(&self.stream, ExpectedVersion::NoStream, vec![new_event])
            .await?;
        self.account = Some(AccountState::from_registered(&registered));
        Ok(appended)
    }

    pub(super) async fn login(
        &mut self,
        request: LoginRequest,
        metadata: &Metadata,
    ) -> Judged<IssuedSession> {
        let now = Utc::now();
        let verified = self
            .verify_login(&request.password, &request.second_factor, now)
            .await;
        match verified {
            Ok(verified) => {
                let started = self
                    .start_session(request.transport, &request.client, &verified, metadata, now)
                    .await;
                (started, None)
            }
            Err(denial) => denial.judge(login_failed(request.client.address)),
        }
    }

    async fn start_session(
        &mut self,
        transport: SessionTransport,
        client: &ClientInfo,
        verified: &Verified,
        metadata: &Metadata,
        now: DateTime<Utc>,
    ) -> Result<IssuedSession, AccountError> {
        let account_id = self.account()?.account_id;
        let (token, hash) = new_token(SESSION_TOKEN_PREFIX)?;
        let credential = self.new_session(account_id, transport, client, now);
        let session_id = credential.credential_id;
        let mut events = vec![
            AccountEvent::LoginSucceeded(LoginSucceeded {
                session_id,
                second_factor: verified.second_factor,
                address: client.address.clone(),
                succeeded_at: now,
            }),
            AccountEvent::SessionStarted(SessionStarted {
                session_id,
                transport,
                device: client.device.clone(),
                address: client.address.clone(),
                idle_timeout_secs: self.context.config.idle_timeout.as_secs(),
                expires_at: credential.expires_at,
                started_at: now,
            }),
        ];
        events.extend(recovery_used(verified, now));
        let metadata = with_session(metadata, session_id);
        let appended = self.record(events, &metadata).await?;
        let expires_at = credential.expires_at;
        self.context
            .store_call(move |s| s.insert_credential(&credential, &hash))
            .await?;
        Ok(IssuedSession {
            account_id,
            session_id,
            token,
            expires_at,
            position: appended.last_position,
        })
    }

    fn new_session(
        &self,
        account_id: Uuid,
        transport: SessionTransport,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Credential {
        let config = &self.context.config;
        let lifetime = TimeDelta::from_std(config.session_lifetime).unwrap_or(TimeDelta::MAX);
        Credential {
            credential_id: Uuid::now_v7(),
            account_id,
            kind: CredentialKind::Session,
            transport,
            scope: None,
            name: String::new(),
            device: client.device.clone(),
            address: client.address.clone(),
            created_at: now,
            last_used_at: now,
            authenticated_at: now,
            idle_timeout: Some(config.idle_timeout),
            expires_at: now.checked_add_signed(lifetime).unwrap_or(now),
        }
    }

    pub(super) async fn reauthenticate(
        &mut self,
        request: ReAuthRequest,
        metadata: &Metadata,
    ) -> Judged<IssuedSession> {
        let now = Utc::now();
        let verified = self
            .verify_login(&request.password, &request.second_factor, now)
            .await;
        match verified {
            Ok(verified) => (
                self.renew_session(request.session_id, &verified, metadata, now)
                    .await,
                None,
            ),
            Err(denial) => denial.judge(reauth_failed(request.session_id)),
        }
    }

    async fn renew_session(
        &mut self,
        session_id: Uuid,
        verified: &Verified,
        metadata: &Metadata,
        now: DateTime<Utc>,
    ) -> Result<IssuedSession, AccountError> {
        let account_id = self.account()?.account_id;
        let (token, hash) = new_token(SESSION_TOKEN_PREFIX)?;
        let mut events = vec![AccountEvent::ReAuthenticated(ReAuthenticated {
            session_id,
            second_factor: verified.second_factor,
            reauthenticated_at: now,
        })];
        events.extend(recovery_used(verified, now));
        let appended = self.record(events, metadata).await?;
        let renewed = self
            .context
            .store_call(move |s| s.rotate_token(session_id, &hash, now))
            .await?;
        let session = self
            .context
            .store_call(move |s| s.active_credentials(account_id, CredentialKind::Session, now))
            .await?
            .into_iter()
            .find(|c| c.credential_id == session_id);
        match (renewed, session) {
            (true, Some(session)) => Ok(IssuedSession {
                account_id,
                session_id,
                token,
                expires_at: session.expires_at,
                position: appended.last_position,
            }),
            _ => Err(AccountError::NotFound(format!("session {session_id}"))),
        }
    }

    pub(super) async fn start_enrollment(
        &mut self,
        metadata: &Metadata,
    ) -> Result<Enrollment, AccountError> {
        let account = self.account()?.clone();
        if account.two_factor_on() {
            return Err(AccountError::Conflict(
                "two-factor authentication is already on; disable it before enrolling again".into(),
            ));
        }
        let seed = new_seed()?;
        let owner = SecretOwner {
            account_id: Some(account.account_id),
            record_id: account.account_id,
            kind: SecretKind::TotpSeed,
            context: String::new(),
        };
        let seed_ref = self.context.vault.seal(&owner, seed.expose())?;
        let started = AccountEvent::TwoFactorEnrollmentStarted(TwoFactorEnrollmentStarted {
            seed_ref,
            started_at: Utc::now(),
        });
        let appended = self.record(vec![started], metadata).await?;
        let uri = otpauth_uri(TOTP_ISSUER, &account.username, seed.expose());
        Ok(Enrollment {
            otpauth_uri: Zeroizing::new(uri),
            position: appended.last_position,
        })
    }

    pub(super) async fn confirm_two_factor(
        &mut self,
        code: &str,
        metadata: &Metadata,
    ) -> Judged<(Vec<Token>, u64)> {
        let now = Utc::now();
        let seed_ref = match self.account().map(|a| a.two_factor) {
            Ok(TwoFactor::Pending { seed_ref }) => seed_ref,
            Ok(_) => {
                let conflict = "no enrollment is pending; POST /api/v1/2fa/enroll first";
                return (Err(AccountError::Conflict(conflict.into())), None);
            }
            Err(err) => return (Err(err), None),
        };
        if let Err(denial) = self.verify_totp(seed_ref, code, now).await {
            return denial.judge(code_rejected("confirm"));
        }
        (self.enable_two_factor(seed_ref, metadata, now).await, None)
    }

    async fn enable_two_factor(
        &mut self,
        seed_ref: Uuid,
        metadata: &Metadata,
        now: DateTime<Utc>,
    ) -> Result<(Vec<Token>, u64), AccountError> {
        let account_id = self.account()?.account_id;
        let codes = new_recovery_codes()?;
        let hashes: Vec<[u8; 32]> = codes.iter().map(|c| recovery_code_hash(c)).collect();
        self.context
            .store_call(move |s| s.replace_recovery_codes(account_id, &hashes))
            .await?;
        let events = vec![
            AccountEvent::TwoFactorEnabled(TwoFactorEnabled {
                seed_ref,
                enabled_at: now,
            }),
            AccountEvent::RecoveryCodesIssued(RecoveryCodesIssued {
                count: RECOVERY_CODE_COUNT as u32,
                issued_at: now,
            }),
        ];
        let appended = self.record(events, metadata).await?;
        Ok((codes, appended.last_position))
    }

    pub(super) async fn disable_two_factor(
        &mut self,
        input: &SecondFactorInput,
        metadata: &Metadata,
    ) -> Judged<u64> {
        let now = Utc::now();
        let verified = match self.verify_second_factor(input, now).await {
            Ok(verified) => verified,
            Err(denial) => return denial.judge(code_rejected("disable")),
        };
        (
            self.turn_off_two_factor(&verified, metadata, now).await,
            None,
        )
    }

    async fn turn_off_two_factor(
        &mut self,
        verified: &Verified,
        metadata: &Metadata,
        now: DateTime<Utc>,
    ) -> Result<u64, AccountError> {
        let account_id = self.account()?.account_id;
        self.context
            .store_call(move |s| s.replace_recovery_codes(account_id, &[]))
            .await?;
        let disabled = AccountEvent::TwoFactorDisabled(TwoFactorDisabled {
            second_factor: verified.second_factor,
            disabled_at: now,
        });
        let appended = self.record(vec![disabled], metadata).await?;
        Ok(appended.last_position)
    }

    pub(super) async fn change_password(
        &mut self,
        change: PasswordChange,
        metadata: &Metadata,
    ) -> Judged<(u32, u64)> {
        if let Err(denial) = self.verify_password(&change.current).await {
            return denial.judge(reauth_failed(change.session_id));
        }
        (self.replace_password(change, metadata).await, None)
    }

    async fn replace_password(
        &mut self,
        change: PasswordChange,
        metadata: &Metadata,
    ) -> Result<(u32, u64), AccountError> {
        let account_id = self.account()?.account_id;
        // NOTE: the previous hash stays sealed in the keyring because the vault has no delete
        // operation for single secrets yet; no event refers to it any more.
        let password_ref = self.context.seal_password(account_id, &change.new).await?;
        let now = Utc::now();
        let keep = Some(change.session_id);
        let ended = self
            .context
            .store_call(move |s| {
                s.end_sessions_except(account_id, keep, SessionEnd::PasswordChanged, now)
            })
            .await?;
        let count = u32::try_from(ended.len()).unwrap_or(u32::MAX);
        let mut events = vec![AccountEvent::PasswordChanged(PasswordChanged {
            password_ref,
            sessions_ended: count,
            changed_at: now,
        })];
        events.extend(terminated(&ended, SessionEnd::PasswordChanged, keep, now));
        let appended = self.record(events, metadata).await?;
        Ok((count, appended.last_position))
    }

    pub(super) async fn create_api_token(
        &mut self,
        request: NewApiToken,
        metadata: &Metadata,
    ) -> Result<IssuedApiToken, AccountError> {
        let account_id = self.account()?.account_id;
        let (token, hash) = new_token(API_TOKEN_PREFIX)?;
        let now = Utc::now();
        let credential = Credential {
            credential_id: Uuid::now_v7(),
            account_id,
            kind: CredentialKind::ApiToken,
            transport: SessionTransport::Bearer,
            scope: Some(request.scope),
            name: request.name.clone(),
            device: String::new(),
            address: None,
            created_at: now,
            last_used_at: now,
            authenticated_at: now,
            idle_timeout: None,
            expires_at: request.expires_at,
        };
        let token_id = credential.credential_id;
        let created = AccountEvent::ApiTokenCreated(ApiTokenCreated {
            token_id,
            name: request.name.clone(),
            scope: request.scope,
            expires_at: request.expires_at,
            created_at: now,
        });
        let appended = self.record(vec![created], metadata).await?;
        self.context
            .store_call(move |s| s.insert_credential(&credential, &hash))
            .await?;
        Ok(IssuedApiToken {
            token_id,
            token,
            name: request.name,
            scope: request.scope,
            expires_at: request.expires_at,
            position: appended.last_position,
        })
    }

    pub(super) async fn end(
        &mut self,
        request: EndRequest,
        metadata: &Metadata,
    ) -> Result<(usize, u64), AccountError> {
        let account_id = self.account()?.account_id;
        let now = Utc::now();
        let events = match request {
            EndRequest::One {
                credential_id,
                kind,
                by,
            } => {
                self.end_one(account_id, credential_id, kind, by, now)
                    .await?
            }
            EndRequest::OtherSessions { keep } => {
                let ended = self
                    .context
                    .store_call(move |s| {
                        s.end_sessions_except(account_id, Some(keep), SessionEnd::Terminated, now)
                    })
                    .await?;
                terminated(&ended, SessionEnd::Terminated, Some(keep), now)
            }
        };
        if events.is_empty() {
            return Ok((0, 0));
        }
        let count = events.len();
        let appended = self.record(events, metadata).await?;
        Ok((count, appended.last_position))
    }

    /// Ends one credential in the store and returns the event to record.
    async fn end_one(
        &self,
        account_id: Uuid,
        credential_id: Uuid,
        kind: CredentialKind,
        by: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Result<Vec<AccountEvent>, AccountError> {
        let reason = if by == Some(credential_id) {
            SessionEnd::LoggedOut
        } else {
            SessionEnd::Terminated
        };
        let ended = self
            .context
            .store_call(move |s| s.end_credential(account_id, credential_id, kind, reason, now))
            .await?;
        let what = match kind {
            CredentialKind::Session => "session",
            CredentialKind::ApiToken => "API token",
        };
        if !ended {
            return Err(AccountError::NotFound(format!("{what} {credential_id}")));
        }
        Ok(match kind {
            CredentialKind::Session => terminated(&[credential_id], reason, by, now),
            CredentialKind::ApiToken => vec![AccountEvent::ApiTokenRevoked(ApiTokenRevoked {
                token_id: credential_id,
                revoked_at: now,
            })],
        })
    }
}

fn terminated(
    sessions: &[Uuid],
    reason: SessionEnd,
    by: Option<Uuid>,
    now: DateTime<Utc>,
) -> Vec<AccountEvent> {
    sessions
        .iter()
        .map(|session_id| {
            AccountEvent::SessionTerminated(SessionTerminated {
                session_id: *session_id,
                reason,
                by_session: by.filter(|by| by != session_id),
                terminated_at: now,
            })
        })
        .collect()
}

fn recovery_used(verified: &Verified, now: DateTime<Utc>) -> Option<AccountEvent> {
    verified.recovery_remaining.map(|remaining| {
        AccountEvent::RecoveryCodeUsed(RecoveryCodeUsed {
            remaining,
            used_at: now,
        })
    })
}

fn with_session(metadata: &Metadata, session_id: Uuid) -> Metadata {
    Metadata {
        session_id: Some(session_id),
        ..metadata.clone()
    }
}
