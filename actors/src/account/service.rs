//! The face of the account actors for the API and the binary.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use keyward_eventlog::EventLog;
use keyward_events::account::{AccountEvent, AccountRegistered, SessionTransport, TokenScope};
use keyward_events::{Category, DomainEvent, Metadata};
use keyward_vault::{SecretBytes, SecretKind, SecretOwner, Vault};
use ractor::{Actor, ActorRef, ActorStatus};
use tokio::sync::Mutex;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::actor::{AccountActor, AccountMsg, EndRequest, ReAuthRequest, Reply};
use super::error::AccountError;
use super::password::{MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS, PasswordHasher};
use super::secrets::{Token, token_hash};
use super::state::AccountState;
use super::store::{
    AccountStore, Credential, CredentialKind, StoreError, ThrottleSubject, TokenCheck,
};
use super::throttle::{AttemptEnd, Refusal, Reservation, ThrottlePolicy};

/// How long a caller waits for an account actor; password hashing may queue behind others.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Usernames are 3 to 64 characters.
const USERNAME_CHARS: std::ops::RangeInclusive<usize> = 3..=64;

/// Session timeouts and throttle limits.
#[derive(Clone, Debug)]
pub struct AccountConfig {
    /// A session unused this long ends.
    pub idle_timeout: Duration,
    /// A session ends this long after its login, however busy.
    pub session_lifetime: Duration,
    pub account_throttle: ThrottlePolicy,
    pub source_throttle: ThrottlePolicy,
    /// Registrations per source address.
    pub registration_throttle: ThrottlePolicy,
}

impl Default for AccountConfig {
    fn default() -> Self {
        AccountConfig {
            idle_timeout: Duration::from_secs(30 * 60),
            session_lifetime: Duration::from_secs(12 * 60 * 60),
            account_throttle: ThrottlePolicy::ACCOUNT,
            source_throttle: ThrottlePolicy::SOURCE,
            registration_throttle: ThrottlePolicy::REGISTRATION,
        }
    }
}

/// What account actors share.
pub struct AccountContext {
    pub log: Arc<dyn EventLog>,
    pub vault: Arc<Vault>,
    pub store: Arc<AccountStore>,
    pub passwords: PasswordHasher,
    pub config: AccountConfig,
}

impl AccountContext {
    /// Hashes a password and seals the hash in the vault; returns the vault id.
    pub(super) async fn seal_password(
        &self,
        account_id: Uuid,
        password: &SecretBytes,
    ) -> Result<Uuid, AccountError> {
        let hash = self.passwords.hash(password).await?;
        let owner = SecretOwner {
            account_id: Some(account_id),
            record_id: account_id,
            kind: SecretKind::PasswordHash,
            context: String::new(),
        };
        Ok(self.vault.seal(&owner, hash.expose())?)
    }

    /// Runs a store operation on the blocking pool, since SQLite commits wait for fsync.
    pub(super) async fn store_call<T: Send + 'static>(
        &self,
        operation: impl FnOnce(&AccountStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, AccountError> {
        let store = Arc::clone(&self.store);
        let joined = tokio::task::spawn_blocking(move || operation(&store)).await;
        Ok(joined.map_err(|e| AccountError::Task(e.to_string()))??)
    }
}

/// Where a request came from.
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    pub address: Option<String>,
    /// Browser and system, such as `Firefox on Linux`.
    pub device: String,
}

/// The second factor a request presents.
#[derive(Debug)]
pub enum SecondFactorInput {
    Missing,
    Totp(Zeroizing<String>),
    RecoveryCode(Zeroizing<String>),
}

/// A login attempt.
pub struct LoginRequest {
    pub username: String,
    pub password: SecretBytes,
    pub second_factor: SecondFactorInput,
    pub transport: SessionTransport,
    pub client: ClientInfo,
}

/// A session's new token; the token is shown once and stored only as a hash.
pub struct IssuedSession {
    pub account_id: Uuid,
    pub session_id: Uuid,
    pub token: Token,
    pub expires_at: DateTime<Utc>,
    /// Log position of the last event recorded.
    pub position: u64,
}

/// A started TOTP enrollment. The URI contains the seed and is shown once.
pub struct Enrollment {
    pub otpauth_uri: Zeroizing<String>,
    pub position: u64,
}

/// A personal API token to create.
pub struct NewApiToken {
    pub name: String,
    pub scope: TokenScope,
    pub expires_at: DateTime<Utc>,
}

/// A created API token; the token is shown once and stored only as a hash.
pub struct IssuedApiToken {
    pub token_id: Uuid,
    pub token: Token,
    pub name: String,
    pub scope: TokenScope,
    pub expires_at: DateTime<Utc>,
    pub position: u64,
}

/// A password change from one session, which stays; the account's other sessions end.
pub struct PasswordChange {
    pub session_id: Uuid,
    pub current: SecretBytes,
    pub new: SecretBytes,
}

/// Starts account actors and routes commands to them.
#[derive(Clone)]
pub struct AccountService {
    context: Arc<AccountContext>,
    actors: Arc<Mutex<HashMap<Uuid, ActorRef<AccountMsg>>>>,
}

impl AccountService {
    pub fn new(context: AccountContext) -> Self {
        AccountService {
            context: Arc::new(context),
            actors: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Session timeouts and throttle limits in force.
    pub fn config(&self) -> &AccountConfig {
        &self.context.config
    }

    /// Claims in the account store every username registered in the log, for a store that is
    /// new or older than the log. Returns how many accounts the log has.
    ///
    /// # Errors
    /// Fails when the log or the store cannot be read.
    pub async fn recover(&self) -> Result<usize, AccountError> {
        let mut after = 0;
        let mut registered = Vec::new();
        loop {
            let page = self.context.log.read_all(after, 1000).await?;
            let Some(last) = page.last() else {
                break;
            };
            after = last.position;
            for record in page
                .iter()
                .filter(|r| r.stream.category() == Category::Account)
            {
                if let AccountEvent::AccountRegistered(r) = AccountEvent::from_recorded(record)? {
                    registered.push((r.username, r.account_id));
                }
            }
        }
        let count = registered.len();
        for (username, account_id) in registered {
            let claimed = self
                .context
                .store_call(move |s| {
                    Ok(s.claim_username(&username, account_id)? || {
                        s.account_id(&username)? == Some(account_id)
                    })
                })
                .await?;
            if !claimed {
                tracing::error!(%account_id, "a username in the log belongs to another account in the store");
            }
        }
        Ok(count)
    }

    /// Registers an account: claims the username, seals the password hash, records
    /// `AccountRegistered`. Returns the account id and the event's position. Registrations
    /// from one source address are throttled.
    ///
    /// # Errors
    /// [`AccountError::InvalidUsername`], [`AccountError::InvalidPassword`],
    /// [`AccountError::UsernameTaken`], throttling errors, or a storage error.
    pub async fn register(
        &self,
        username: &str,
        password: &SecretBytes,
        address: Option<&str>,
    ) -> Result<(Uuid, u64), AccountError> {
        let username = normalize_username(username)?;
        validate_password(password)?;
        if let Some(address) = address {
            let policy = self.context.config.registration_throttle;
            let subject = [ThrottleSubject::registration(address, policy)];
            let now = Utc::now();
            let reserved = self
                .context
                .store_call(move |s| s.reserve_attempt(&subject, now))
                .await?;
            reserved.map_err(|refusal| refused(refusal, now, Some(address)))?;
        }
        let account_id = Uuid::now_v7();
        let claimed_name = username.clone();
        let claimed = self
            .context
            .store_call(move |s| s.claim_username(&claimed_name, account_id))
            .await?;
        if !claimed {
            return Err(AccountError::UsernameTaken);
        }
        let registered = self
            .record_registration(account_id, &username, password)
            .await;
        if registered.is_err() {
            let name = username.clone();
            self.context
                .store_call(move |s| s.release_username(&name, account_id))
                .await?;
        }
        Ok((account_id, registered?))
    }

    async fn record_registration(
        &self,
        account_id: Uuid,
        username: &str,
        password: &SecretBytes,
    ) -> Result<u64, AccountError> {
        let password_ref = self.context.seal_password(account_id, password).await?;
        let registered = AccountRegistered {
            account_id,
            username: username.to_owned(),
            password_ref,
            registered_at: Utc::now(),
        };
        let appended = self
            .call(account_id, |reply| {
                AccountMsg::Register(Box::new(registered), reply)
            })
            .await?;
        Ok(appended.last_position)
    }

    /// Logs in: throttled per username and source address, the same way whether or not the
    /// username exists (an unknown one is checked against a dummy hash).
    ///
    /// # Errors
    /// [`AccountError::InvalidCredentials`], [`AccountError::SecondFactorRequired`],
    /// [`AccountError::InvalidSecondFactor`], [`AccountError::Throttled`],
    /// [`AccountError::Locked`], or a storage error.
    pub async fn login(
        &self,
        mut request: LoginRequest,
        metadata: Metadata,
    ) -> Result<IssuedSession, AccountError> {
        let username = normalize_username(&request.username)
            .unwrap_or_else(|_| request.username.trim().to_lowercase());
        request.username.clone_from(&username);
        let lookup = username.clone();
        let account = self
            .context
            .store_call(move |s| s.account_id(&lookup))
            .await?;
        let address = request.client.address.clone();
        let attempt = async {
            match account {
                Some(account_id) => {
                    self.call(account_id, |reply| {
                        AccountMsg::Login(Box::new(request), metadata.clone(), reply)
                    })
                    .await
                }
                None => {
                    self.context.passwords.verify_dummy(&request.password).await;
                    Err(AccountError::InvalidCredentials)
                }
            }
        };
        let result = self
            .throttled(&username, address.as_deref(), account, &metadata, attempt)
            .await;
        // NOTE: an unknown username has no account stream, so its failed logins are counted by
        // the throttle and logged here but recorded as no event.
        if account.is_none() && result.is_err() {
            tracing::info!(
                address = address.as_deref().unwrap_or("unknown"),
                "login for an unknown username refused"
            );
        }
        result
    }

    /// Checks a session or API token; `None` when it is unknown, ended or timed out. A
    /// timeout found here ends the session and records it.
    ///
    /// # Errors
    /// Fails when the account store cannot be read.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Credential>, AccountError> {
        let hash = token_hash(token);
        let now = Utc::now();
        let check = self
            .context
            .store_call(move |s| s.check_token(&hash, now))
            .await?;
        match check {
            TokenCheck::Valid(credential) => Ok(Some(credential)),
            TokenCheck::TimedOut {
                account_id,
                credential_id,
                kind: CredentialKind::Session,
                reason,
            } => {
                if let Ok(actor) = self.actor(account_id).await {
                    let _ = actor.cast(AccountMsg::RecordTimeout(credential_id, reason));
                }
                Ok(None)
            }
            TokenCheck::TimedOut { .. } | TokenCheck::Unknown => Ok(None),
        }
    }

    /// Checks the password (and second factor) for a session again and gives it a new token.
    ///
    /// # Errors
    /// As [`AccountService::login`].
    pub async fn reauthenticate(
        &self,
        session: &Credential,
        password: SecretBytes,
        second_factor: SecondFactorInput,
        metadata: Metadata,
    ) -> Result<IssuedSession, AccountError> {
        let request = ReAuthRequest {
            session_id: session.credential_id,
            password,
            second_factor,
        };
        let account_id = session.account_id;
        let attempt = self.call(account_id, |reply| {
            AccountMsg::ReAuthenticate(Box::new(request), metadata.clone(), reply)
        });
        self.throttled_for(account_id, &metadata, attempt).await
    }

    /// Starts a TOTP enrollment: a new seed, sealed, and its `otpauth://` URI.
    ///
    /// # Errors
    /// [`AccountError::Conflict`] when two-factor authentication is already on.
    pub async fn start_enrollment(
        &self,
        account_id: Uuid,
        metadata: Metadata,
    ) -> Result<Enrollment, AccountError> {
        self.call(account_id, |reply| {
            AccountMsg::StartEnrollment(metadata, reply)
        })
        .await
    }

    /// Confirms the pending TOTP seed with a first code and returns the recovery codes and the
    /// position of the last event.
    ///
    /// # Errors
    /// [`AccountError::InvalidSecondFactor`], [`AccountError::Conflict`] without a pending
    /// enrollment, throttling errors.
    pub async fn confirm_two_factor(
        &self,
        account_id: Uuid,
        code: Zeroizing<String>,
        metadata: Metadata,
    ) -> Result<(Vec<Token>, u64), AccountError> {
        let attempt = self.call(account_id, |reply| {
            AccountMsg::ConfirmTwoFactor(code, metadata.clone(), reply)
        });
        self.throttled_for(account_id, &metadata, attempt).await
    }

    /// Turns two-factor authentication off with a fresh TOTP or recovery code.
    ///
    /// # Errors
    /// [`AccountError::InvalidSecondFactor`], [`AccountError::SecondFactorRequired`],
    /// [`AccountError::Conflict`] when it is off, throttling errors.
    pub async fn disable_two_factor(
        &self,
        account_id: Uuid,
        input: SecondFactorInput,
        metadata: Metadata,
    ) -> Result<u64, AccountError> {
        let attempt = self.call(account_id, |reply| {
            AccountMsg::DisableTwoFactor(input, metadata.clone(), reply)
        });
        self.throttled_for(account_id, &metadata, attempt).await
    }

    /// Changes the password and ends the account's other sessions; returns how many ended and
    /// the position of the last event.
    ///
    /// # Errors
    /// [`AccountError::InvalidCredentials`] for a wrong current password,
    /// [`AccountError::InvalidPassword`] for an unacceptable new one, throttling errors.
    pub async fn change_password(
        &self,
        account_id: Uuid,
        change: PasswordChange,
        metadata: Metadata,
    ) -> Result<(u32, u64), AccountError> {
        validate_password(&change.new)?;
        let attempt = self.call(account_id, |reply| {
            AccountMsg::ChangePassword(Box::new(change), metadata.clone(), reply)
        });
        self.throttled_for(account_id, &metadata, attempt).await
    }

    /// Creates a personal API token.
    ///
    /// # Errors
    /// Fails when the log or the store cannot record it.
    pub async fn create_api_token(
        &self,
        account_id: Uuid,
        token: NewApiToken,
        metadata: Metadata,
    ) -> Result<IssuedApiToken, AccountError> {
        self.call(account_id, |reply| {
            AccountMsg::CreateApiToken(token, metadata, reply)
        })
        .await
    }

    /// The account's active sessions or API tokens, oldest first.
    ///
    /// # Errors
    /// Fails when the account store cannot be read.
    pub async fn credentials(
        &self,
        account_id: Uuid,
        kind: CredentialKind,
    ) -> Result<Vec<Credential>, AccountError> {
        let now = Utc::now();
        self.context
            .store_call(move |s| s.active_credentials(account_id, kind, now))
            .await
    }

    /// Ends one of the account's sessions or API tokens, `by` the given session.
    ///
    /// # Errors
    /// [`AccountError::NotFound`] when the account has no such active credential.
    pub async fn end_credential(
        &self,
        account_id: Uuid,
        credential_id: Uuid,
        kind: CredentialKind,
        by: Option<Uuid>,
        metadata: Metadata,
    ) -> Result<u64, AccountError> {
        let request = EndRequest::One {
            credential_id,
            kind,
            by,
        };
        let (_, position) = self
            .call(account_id, |reply| {
                AccountMsg::End(request, metadata, reply)
            })
            .await?;
        Ok(position)
    }

    /// Ends every login session of the account except `keep`; returns how many ended and the
    /// position of the last event (0 when none ended).
    ///
    /// # Errors
    /// Fails when the store or the log cannot record it.
    pub async fn end_other_sessions(
        &self,
        account_id: Uuid,
        keep: Uuid,
        metadata: Metadata,
    ) -> Result<(usize, u64), AccountError> {
        let request = EndRequest::OtherSessions { keep };
        self.call(account_id, |reply| {
            AccountMsg::End(request, metadata, reply)
        })
        .await
    }

    /// The account's state from its actor.
    ///
    /// # Errors
    /// Fails when the actor cannot start or reply.
    pub async fn state(&self, account_id: Uuid) -> Result<Option<AccountState>, AccountError> {
        let actor = self.actor(account_id).await?;
        call_outcome(actor.call(AccountMsg::State, Some(CALL_TIMEOUT)).await)
    }

    async fn call<T: Send + 'static>(
        &self,
        account_id: Uuid,
        message: impl FnOnce(Reply<T>) -> AccountMsg,
    ) -> Result<T, AccountError> {
        let actor = self.actor(account_id).await?;
        call_outcome(actor.call(message, Some(CALL_TIMEOUT)).await)?
    }

    async fn actor(&self, account_id: Uuid) -> Result<ActorRef<AccountMsg>, AccountError> {
        let mut actors = self.actors.lock().await;
        if let Some(actor) = actors.get(&account_id) {
            let status = actor.get_status();
            if matches!(status, ActorStatus::Starting | ActorStatus::Running) {
                return Ok(actor.clone());
            }
        }
        let args = (account_id, Arc::clone(&self.context));
        let (actor, _) = Actor::spawn(None, AccountActor, args)
            .await
            .map_err(|e| AccountError::Actor(e.to_string()))?;
        actors.insert(account_id, actor.clone());
        Ok(actor)
    }

    /// Runs a credential check of an existing account under its username's and the request's
    /// address throttle.
    async fn throttled_for<T>(
        &self,
        account_id: Uuid,
        metadata: &Metadata,
        attempt: impl Future<Output = Result<T, AccountError>>,
    ) -> Result<T, AccountError> {
        let username = self
            .state(account_id)
            .await?
            .map(|account| account.username)
            .ok_or_else(|| AccountError::NotFound(format!("account {account_id}")))?;
        let address = metadata.source_address.clone();
        self.throttled(
            &username,
            address.as_deref(),
            Some(account_id),
            metadata,
            attempt,
        )
        .await
    }

    async fn throttled<T>(
        &self,
        username: &str,
        address: Option<&str>,
        account: Option<Uuid>,
        metadata: &Metadata,
        attempt: impl Future<Output = Result<T, AccountError>>,
    ) -> Result<T, AccountError> {
        let config = &self.context.config;
        let mut subjects = vec![ThrottleSubject::username(username, config.account_throttle)];
        if let Some(address) = address {
            subjects.push(ThrottleSubject::address(address, config.source_throttle));
        }
        let now = Utc::now();
        let reserve = subjects.clone();
        let reserved = self
            .context
            .store_call(move |s| s.reserve_attempt(&reserve, now))
            .await?;
        let reservations = reserved.map_err(|refusal| refused(refusal, now, address))?;
        let result = attempt.await;
        let end = match &result {
            Ok(_) => AttemptEnd::Succeeded,
            Err(err) if err.is_refused_credential() => {
                self.after_refusal(&reservations, account, metadata, address);
                return result;
            }
            Err(_) => AttemptEnd::NotJudged,
        };
        self.context
            .store_call(move |s| s.release_attempt(&subjects, end))
            .await?;
        result
    }

    /// Records a lock that a refused attempt caused.
    fn after_refusal(
        &self,
        reservations: &[Reservation],
        account: Option<Uuid>,
        metadata: &Metadata,
        address: Option<&str>,
    ) {
        if let Some(source) = reservations.get(1).filter(|r| r.locks) {
            tracing::warn!(
                address = address.unwrap_or("unknown"),
                failures = source.record.failures,
                "source address locked after failed credential checks"
            );
        }
        let Some(user) = reservations.first().filter(|r| r.locks) else {
            return;
        };
        let until = user
            .record
            .locked_until_ms
            .and_then(DateTime::from_timestamp_millis)
            .unwrap_or_default();
        tracing::warn!(account_id = ?account, failures = user.record.failures, %until,
            "username locked after failed credential checks");
        if let Some(account_id) = account {
            let (service, metadata) = (self.clone(), metadata.clone());
            let failures = user.record.failures;
            tokio::spawn(async move {
                if let Ok(actor) = service.actor(account_id).await {
                    let _ = actor.cast(AccountMsg::RecordLock(failures, until, metadata));
                }
            });
        }
    }
}

fn refused(refusal: Refusal, now: DateTime<Utc>, address: Option<&str>) -> AccountError {
    let wait_ms = refusal.retry_after_ms(now.timestamp_millis()).max(0);
    let retry_after = Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0));
    tracing::info!(
        address = address.unwrap_or("unknown"),
        retry_after_ms = wait_ms,
        "credential check refused by the throttle"
    );
    match refusal {
        Refusal::Locked { .. } => AccountError::Locked { retry_after },
        Refusal::SlowDown { .. } => AccountError::Throttled { retry_after },
    }
}

fn call_outcome<T, M>(
    reply: Result<ractor::rpc::CallResult<T>, ractor::MessagingErr<M>>,
) -> Result<T, AccountError> {
    match reply {
        Ok(ractor::rpc::CallResult::Success(value)) => Ok(value),
        Ok(ractor::rpc::CallResult::Timeout) => Err(AccountError::Actor(
            "the account actor did not reply in time".into(),
        )),
        Ok(ractor::rpc::CallResult::SenderError) => Err(AccountError::Actor(
            "the account actor stopped before replying".into(),
        )),
        Err(err) => Err(AccountError::Actor(err.to_string())),
    }
}

/// Lowercases and checks a username: 3 to 64 of `a-z 0-9 . _ -`, starting with a letter or
/// digit.
///
/// # Errors
/// [`AccountError::InvalidUsername`] saying what is wrong.
pub fn normalize_username(username: &str) -> Result<String, AccountError> {
    let name = username.trim().to_lowercase();
    let count = name.chars().count();
    if !USERNAME_CHARS.contains(&count) {
        return Err(AccountError::InvalidUsername(format!(
            "it has {count} characters; use 3 to 64"
        )));
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c);
    if !name.chars().all(allowed) || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(AccountError::InvalidUsername(
            "use letters, digits, '.', '_' and '-', starting with a letter or digit".into(),
        ));
    }
    Ok(name)
}

/// Checks a new password's length.
///
/// # Errors
/// [`AccountError::InvalidPassword`] saying what is wrong.
pub fn validate_password(password: &SecretBytes) -> Result<(), AccountError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AccountError::InvalidPassword(format!(
            "it is longer than {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    let chars = std::str::from_utf8(password.expose())
        .map(|text| text.chars().count())
        .unwrap_or(0);
    if chars < MIN_PASSWORD_CHARS {
        return Err(AccountError::InvalidPassword(format!(
            "use at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    Ok(())
}
