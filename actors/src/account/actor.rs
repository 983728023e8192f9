//! The account actor: the one writer of an `account-<uuid>` stream.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use keyward_eventlog::{AppendError, Appended, Direction, ExpectedVersion, read_whole_stream};
use keyward_events::account::{AccountEvent, AccountLocked, SessionEnd, SessionTerminated};
use keyward_events::codec::derive_event_id;
use keyward_events::{Category, DomainEvent, Metadata, StreamName};
use keyward_vault::SecretBytes;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::error::AccountError;
use super::secrets::Token;
use super::service::{
    AccountContext, Enrollment, IssuedApiToken, IssuedSession, LoginRequest, NewApiToken,
    PasswordChange, SecondFactorInput,
};
use super::state::AccountState;
use super::store::CredentialKind;
use super::verify::Judged;

/// Reply port of a command.
pub type Reply<T> = RpcReplyPort<Result<T, AccountError>>;

/// Messages an account actor handles.
pub enum AccountMsg {
    /// Record the registration; only valid on an empty stream.
    Register(
        Box<keyward_events::account::AccountRegistered>,
        Reply<Appended>,
    ),
    Login(Box<LoginRequest>, Metadata, Reply<IssuedSession>),
    /// Check the password (and second factor) again for a session and give it a new token.
    ReAuthenticate(Box<ReAuthRequest>, Metadata, Reply<IssuedSession>),
    StartEnrollment(Metadata, Reply<Enrollment>),
    /// Confirm the pending seed with a first code; replies with the recovery codes.
    ConfirmTwoFactor(Zeroizing<String>, Metadata, Reply<(Vec<Token>, u64)>),
    DisableTwoFactor(SecondFactorInput, Metadata, Reply<u64>),
    /// Replies with how many other sessions ended.
    ChangePassword(Box<PasswordChange>, Metadata, Reply<(u32, u64)>),
    CreateApiToken(NewApiToken, Metadata, Reply<IssuedApiToken>),
    /// End credentials; replies with how many ended.
    End(EndRequest, Metadata, Reply<(usize, u64)>),
    /// Record that a session was found timed out (the store already ended it).
    RecordTimeout(Uuid, SessionEnd),
    /// Record that failed attempts locked the account until the given time.
    RecordLock(u32, DateTime<Utc>, Metadata),
    State(RpcReplyPort<Option<AccountState>>),
}

/// A re-authentication of one session.
pub struct ReAuthRequest {
    pub session_id: Uuid,
    pub password: SecretBytes,
    pub second_factor: SecondFactorInput,
}

/// Which credentials to end.
#[derive(Clone, Copy, Debug)]
pub enum EndRequest {
    /// One session or API token, ended by the session `by` (`None` when it ends itself).
    One {
        credential_id: Uuid,
        kind: CredentialKind,
        by: Option<Uuid>,
    },
    /// Every login session except `keep`.
    OtherSessions { keep: Uuid },
}

/// The actor type; its state is the account's state, `None` until `AccountRegistered`.
pub struct AccountActor;

/// The running actor's state.
pub struct AccountActorState {
    pub(super) stream: StreamName,
    pub(super) context: Arc<AccountContext>,
    pub(super) account: Option<AccountState>,
}

impl Actor for AccountActor {
    type Msg = AccountMsg;
    type State = AccountActorState;
    type Arguments = (Uuid, Arc<AccountContext>);

    async fn pre_start(
        &self,
        _myself: ActorRef<AccountMsg>,
        (account_id, context): (Uuid, Arc<AccountContext>),
    ) -> Result<AccountActorState, ActorProcessingErr> {
        let stream = StreamName::new(Category::Account, account_id);
        let account = rebuild(&context, &stream).await?;
        Ok(AccountActorState {
            stream,
            context,
            account,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<AccountMsg>,
        message: AccountMsg,
        state: &mut AccountActorState,
    ) -> Result<(), ActorProcessingErr> {
        state.handle(message).await;
        Ok(())
    }
}

impl AccountActorState {
    async fn handle(&mut self, message: AccountMsg) {
        match message {
            AccountMsg::Register(registered, reply) => {
                let _ = reply.send(self.register(*registered).await);
            }
            AccountMsg::Login(request, metadata, reply) => {
                let judged = self.login(*request, &metadata).await;
                self.reply_then_record(judged, reply, &metadata).await;
            }
            AccountMsg::ReAuthenticate(request, metadata, reply) => {
                let judged = self.reauthenticate(*request, &metadata).await;
                self.reply_then_record(judged, reply, &metadata).await;
            }
            AccountMsg::StartEnrollment(metadata, reply) => {
                let _ = reply.send(self.start_enrollment(&metadata).await);
            }
            AccountMsg::ConfirmTwoFactor(code, metadata, reply) => {
                let judged = self.confirm_two_factor(&code, &metadata).await;
                self.reply_then_record(judged, reply, &metadata).await;
            }
            AccountMsg::DisableTwoFactor(code, metadata, reply) => {
                let judged = self.disable_two_factor(&code, &metadata).await;
                self.reply_then_record(judged, reply, &metadata).await;
            }
            AccountMsg::ChangePassword(change, metadata, reply) => {
                let judged = self.change_password(*change, &metadata).await;
                self.reply_then_record(judged, reply, &metadata).await;
            }
            AccountMsg::CreateApiToken(token, metadata, reply) => {
                let _ = reply.send(self.create_api_token(token, &metadata).await);
            }
            AccountMsg::End(request, metadata, reply) => {
                let _ = reply.send(self.end(request, &metadata).await);
            }
            AccountMsg::RecordTimeout(session_id, reason) => {
                self.record_timeout(session_id, reason).await;
            }
            AccountMsg::RecordLock(failures, until, metadata) => {
                self.record_lock(failures, until, &metadata).await;
            }
            AccountMsg::State(reply) => {
                let _ = reply.send(self.account.clone());
            }
        }
    }

    /// Replies first, then records the failure event, so that the response to a refused
    /// credential takes no longer than the check itself.
    async fn reply_then_record<T>(
        &mut self,
        judged: Judged<T>,
        reply: Reply<T>,
        metadata: &Metadata,
    ) {
        let (result, failure) = judged;
        let _ = reply.send(result);
        self.record_after_reply(failure, metadata).await;
    }

    async fn record_lock(&mut self, failures: u32, until: DateTime<Utc>, metadata: &Metadata) {
        let locked = AccountEvent::AccountLocked(AccountLocked {
            failures,
            locked_until: until,
            locked_at: Utc::now(),
        });
        self.record_after_reply(Some(locked), metadata).await;
    }

    /// The account, or `NotFound` when the stream is empty.
    pub(super) fn account(&self) -> Result<&AccountState, AccountError> {
        self.account
            .as_ref()
            .ok_or_else(|| AccountError::NotFound(format!("account {}", self.stream.id())))
    }

    /// Appends events after the account's current version and applies them.
    ///
    /// The account-wide risk commands (limits and the kill switch) append to this stream
    /// without this actor. When an append conflicts only because of such events, the state is
    /// reloaded and the append retried: none of them changes what a command here decides.
    pub(super) async fn record(
        &mut self,
        events: Vec<AccountEvent>,
        metadata: &Metadata,
    ) -> Result<Appended, AccountError> {
        let mut retried = false;
        loop {
            let account = self.account()?;
            let version = account.version;
            let expected = ExpectedVersion::Exact(version);
            let metadata = Metadata {
                account_id: Some(account.account_id),
                ..metadata.clone()
            };
            let command_id = Uuid::now_v7();
            let new_events = events
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    e.to_new_event(derive_event_id(command_id, i as u32), metadata.clone())
                })
                .collect();
            let appended = self
                .context
                .log
                .append(&self.stream, expected, new_events)
                .await;
            let appended = match appended {
                Ok(appended) => appended,
                Err(AppendError::WrongExpectedVersion { .. })
                    if !retried && self.only_risk_events_after(version).await =>
                {
                    retried = true;
                    self.reload().await;
                    continue;
                }
                Err(err) => {
                    self.reload().await;
                    return Err(err.into());
                }
            };
            let first_version = appended.last_version + 1 - events.len() as u64;
            for (i, event) in events.iter().enumerate() {
                self.account =
                    AccountState::evolve(self.account.take(), event, first_version + i as u64);
            }
            return Ok(appended);
        }
    }

    /// Whether every event after stream version `version` is an account risk setting or a
    /// kill switch change, which other writers append.
    async fn only_risk_events_after(&self, version: u64) -> bool {
        let newer = self
            .context
            .log
            .read_stream(&self.stream, version + 1, Direction::Forward, 64)
            .await;
        newer.is_ok_and(|newer| {
            !newer.is_empty()
                && newer.iter().all(|record| {
                    matches!(
                        record.event_type.as_str(),
                        "AccountRiskLimitsSet" | "KillSwitchEngaged" | "KillSwitchReleased"
                    )
                })
        })
    }

    /// Records an event whose command already replied; a failure is logged, not returned.
    async fn record_after_reply(&mut self, event: Option<AccountEvent>, metadata: &Metadata) {
        let Some(event) = event else {
            return;
        };
        let event_type = event.event_type();
        if let Err(err) = self.record(vec![event], metadata).await {
            tracing::error!(account_id = %self.stream.id(), event_type, error = %err,
                "cannot record an account event");
        }
    }

    async fn record_timeout(&mut self, session_id: Uuid, reason: SessionEnd) {
        let ended = AccountEvent::SessionTerminated(SessionTerminated {
            session_id,
            reason,
            by_session: None,
            terminated_at: Utc::now(),
        });
        self.record_after_reply(Some(ended), &Metadata::default())
            .await;
    }

    /// Rebuilds the state after a failed append, which may mean another writer moved on.
    async fn reload(&mut self) {
        match rebuild(&self.context, &self.stream).await {
            Ok(account) => self.account = account,
            Err(err) => {
                tracing::error!(stream = %self.stream, error = %err, "cannot reload an account");
            }
        }
    }
}

/// Rebuilds an account's state from its stream; `None` for an empty stream.
async fn rebuild(
    context: &AccountContext,
    stream: &StreamName,
) -> Result<Option<AccountState>, AccountError> {
    let records = read_whole_stream(context.log.as_ref(), stream).await?;
    let mut account = None;
    for record in &records {
        let event = AccountEvent::from_recorded(record)?;
        account = AccountState::evolve(account, &event, record.version);
    }
    Ok(account)
}
