//! The key actor: the one writer of a `key-<uuid>` stream.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use keyward_adapters::{AdapterError, Credentials, ExchangeClient};
use keyward_eventlog::{Appended, ExpectedVersion, read_whole_stream};
use keyward_events::codec::derive_event_id;
use keyward_events::key::{KeyAdded, KeyDeleted, KeyEvent, VaultRef};
use keyward_events::{Category, DomainEvent, Metadata, StreamName};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use uuid::Uuid;

use super::service::{KeyCommandError, KeyContext};
use super::signer::vault_credentials;
use super::state::{KeyState, KeyStatus, probe_outcome, start_probe};

/// Messages a key actor handles.
pub enum KeyMsg {
    /// Record a new key; only valid on an empty stream.
    Add(
        Box<KeyAdded>,
        Metadata,
        RpcReplyPort<Result<Appended, KeyCommandError>>,
    ),
    /// Probe the key's permissions now if it is pending.
    Probe,
    /// Probe the key again if it is unreachable, as scheduled after the retry budget ran out.
    Reprobe,
    /// Return the current state.
    State(RpcReplyPort<Option<KeyState>>),
    /// Probe the key now, whatever its status, as before a bot goes live.
    ProbeNow(RpcReplyPort<Result<ProbeCheck, KeyCommandError>>),
    /// Record `KeyDeleted`, then shred the key's secrets in the vault.
    Delete(Metadata, RpcReplyPort<Result<Appended, KeyCommandError>>),
}

/// The outcome of one probe run.
#[derive(Debug, Default)]
struct ProbeRun {
    /// Whether a probe ran at all (the key was due for one).
    ran: bool,
    /// Delay before the next attempt, when the probe failed and the budget allows a retry.
    retry_in_ms: Option<u64>,
    /// The error of a probe that could not complete (timeout, 5xx, rate limit).
    failure: Option<String>,
}

/// The outcome of a probe run on request: the key's state after it, and the error when the
/// probe could not complete.
#[derive(Clone, Debug)]
pub struct ProbeCheck {
    pub key: KeyState,
    pub failure: Option<String>,
}

/// The actor type; its state is the key's state, `None` until `KeyAdded`.
#[derive(Default)]
pub struct KeyActor;

/// What a key actor starts with.
pub struct KeyActorArgs {
    pub key_id: Uuid,
    pub context: Arc<KeyContext>,
}

/// The running actor's state.
pub struct KeyActorState {
    stream: StreamName,
    context: Arc<KeyContext>,
    key: Option<KeyState>,
}

impl Actor for KeyActor {
    type Msg = KeyMsg;
    type State = KeyActorState;
    type Arguments = KeyActorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<KeyMsg>,
        args: KeyActorArgs,
    ) -> Result<KeyActorState, ActorProcessingErr> {
        let stream = StreamName::new(Category::Key, args.key_id);
        let key = rebuild(&args.context, &stream).await?;
        let moved = key.as_ref().is_some_and(|key| {
            let host = args
                .context
                .exchanges
                .get(key.exchange)
                .map(|c| c.host().to_owned());
            host.is_some_and(|host| key.verified_elsewhere(&host))
        });
        if moved || key.as_ref().is_some_and(KeyState::needs_probe) {
            myself.cast(KeyMsg::Probe)?;
        }
        if key.as_ref().is_some_and(KeyState::needs_reprobe) {
            let wait = Duration::from_millis(args.context.retry.reprobe_unreachable_after_ms);
            myself.send_after(wait, || KeyMsg::Reprobe);
        }
        Ok(KeyActorState {
            stream,
            context: args.context,
            key,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<KeyMsg>,
        message: KeyMsg,
        state: &mut KeyActorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            KeyMsg::Add(added, metadata, reply) => {
                let result = state.add(*added, metadata).await;
                let accepted = result.is_ok();
                let _ = reply.send(result);
                if accepted {
                    myself.cast(KeyMsg::Probe)?;
                }
            }
            KeyMsg::Probe | KeyMsg::Reprobe => {
                let reprobe = matches!(message, KeyMsg::Reprobe);
                let run = state.probe(reprobe).await?;
                if let Some(delay) = run.retry_in_ms {
                    myself.send_after(Duration::from_millis(delay), || KeyMsg::Probe);
                }
                if run.ran && state.key.as_ref().is_some_and(KeyState::needs_reprobe) {
                    let wait = state.context.retry.reprobe_unreachable_after_ms;
                    tracing::warn!(key_id = %state.stream.id(), reprobe_in_ms = wait, "key unreachable; probing again later");
                    myself.send_after(Duration::from_millis(wait), || KeyMsg::Reprobe);
                }
            }
            KeyMsg::State(reply) => {
                let _ = reply.send(state.key.clone());
            }
            KeyMsg::ProbeNow(reply) => {
                let checked = state.probe_now().await;
                let retry_in_ms = checked.as_ref().ok().and_then(|(run, _)| run.retry_in_ms);
                let _ = reply.send(checked.map(|(_, check)| check));
                if let Some(delay) = retry_in_ms {
                    myself.send_after(Duration::from_millis(delay), || KeyMsg::Probe);
                }
            }
            KeyMsg::Delete(metadata, reply) => {
                let _ = reply.send(state.delete(metadata).await);
            }
        }
        Ok(())
    }
}

/// Rebuilds a key's state from its stream; `None` for an empty stream.
async fn rebuild(
    context: &KeyContext,
    stream: &StreamName,
) -> Result<Option<KeyState>, ActorProcessingErr> {
    let records = read_whole_stream(context.log.as_ref(), stream).await?;
    let mut key: Option<KeyState> = None;
    for record in &records {
        let event = KeyEvent::from_recorded(record)?;
        match (&mut key, &event) {
            (None, KeyEvent::KeyAdded(added)) => key = Some(KeyState::from_added(added)),
            (Some(state), _) => state.apply(&event, record.version),
            (None, _) => {
                return Err(format!("stream {stream} does not start with KeyAdded").into());
            }
        }
    }
    Ok(key)
}

impl KeyActorState {
    async fn add(
        &mut self,
        added: KeyAdded,
        metadata: Metadata,
    ) -> Result<Appended, KeyCommandError> {
        if self.key.is_some() {
            return Err(KeyCommandError::AlreadyExists(added.key_id));
        }
        let command_id = metadata.correlation_id.unwrap_or_else(Uuid::now_v7);
        let event = KeyEvent::KeyAdded(added.clone());
        let new_event = event.to_new_event(derive_event_id(command_id, 0), metadata);
        let appended = self
            .context
            .log
            .append(&self.stream, ExpectedVersion::NoStream, vec![new_event])
            .await?;
        self.key = Some(KeyState::from_added(&added));
        Ok(appended)
    }

    /// Appends `KeyDeleted`, then shreds the key's sealed secrets and data keys. A failed
    /// shred is logged and left to the sweep at the next start, because the event is durable.
    async fn delete(&mut self, metadata: Metadata) -> Result<Appended, KeyCommandError> {
        let key = match &self.key {
            Some(key) if key.status != KeyStatus::Deleted => key.clone(),
            _ => return Err(KeyCommandError::NotFound(self.stream.id())),
        };
        let command_id = metadata.correlation_id.unwrap_or_else(Uuid::now_v7);
        let deleted = KeyEvent::KeyDeleted(KeyDeleted {
            vault_ref: key.vault_ref.clone(),
            deleted_at: Utc::now(),
        });
        let appended = self.record(vec![deleted], &metadata, command_id).await?;
        match self.context.vault.shred(&secret_ids(&key.vault_ref)) {
            Ok(shredded) => tracing::info!(key_id = %key.key_id, shredded, "key deleted"),
            Err(err) => tracing::error!(
                key_id = %key.key_id,
                error = %err,
                "key deleted, but its secrets could not be shredded yet; the sweep at the next \
                 start retries"
            ),
        }
        Ok(appended)
    }

    /// Runs one probe if the key is pending (or, for a scheduled re-probe, unreachable).
    async fn probe(&mut self, reprobe: bool) -> Result<ProbeRun, KeyCommandError> {
        let Some(key) = self.key.clone() else {
            return Ok(ProbeRun::default());
        };
        let client = self.context.exchanges.get(key.exchange);
        let host = client
            .as_ref()
            .map_or_else(|| "none".to_owned(), |c| c.host().to_owned());
        let wanted = key.needs_probe()
            || (client.is_some() && key.verified_elsewhere(&host))
            || (reprobe && key.needs_reprobe());
        if !wanted {
            return Ok(ProbeRun::default());
        }
        self.run_probe(key, client, host).await
    }

    /// Probes the key now, whatever its status; a deleted key is not found.
    async fn probe_now(&mut self) -> Result<(ProbeRun, ProbeCheck), KeyCommandError> {
        let key = match &self.key {
            Some(key) if key.status != KeyStatus::Deleted => key.clone(),
            _ => return Err(KeyCommandError::NotFound(self.stream.id())),
        };
        let client = self.context.exchanges.get(key.exchange);
        let host = client
            .as_ref()
            .map_or_else(|| "none".to_owned(), |c| c.host().to_owned());
        let run = self.run_probe(key.clone(), client, host).await?;
        let check = ProbeCheck {
            key: self.key.clone().unwrap_or(key),
            failure: run.failure.clone(),
        };
        Ok((run, check))
    }

    /// Records `KeyProbeStarted`, calls the exchange's key-permission endpoint, and records
    /// the outcome.
    async fn run_probe(
        &mut self,
        key: KeyState,
        client: Option<Arc<dyn ExchangeClient>>,
        host: String,
    ) -> Result<ProbeRun, KeyCommandError> {
        let metadata = Metadata {
            account_id: key.account_id,
            exchange_host: Some(host.clone()),
            correlation_id: Some(Uuid::now_v7()),
            ..Metadata::default()
        };
        let started = vec![start_probe(&key, &host, Utc::now())];
        self.record(started, &metadata, Uuid::now_v7()).await?;

        let outcome = match client {
            Some(client) => {
                let credentials = self.credentials(&key)?;
                client.probe(&credentials).await
            }
            None => Err(AdapterError::Unsupported {
                exchange: key.exchange,
            }),
        };
        if let Err(err) = &outcome {
            tracing::info!(key_id = %key.key_id, code = err.code(), error = %err, "key probe failed");
        }
        let failure = match &outcome {
            Err(err) if err.is_transient() => Some(err.to_string()),
            _ => None,
        };
        let key = self.key.clone().unwrap_or(key);
        let events = probe_outcome(&key, outcome, &host, &self.context.retry, Utc::now());
        let retry_in_ms = events.iter().find_map(|event| match event {
            KeyEvent::KeyProbeFailed(failed) => failed.retry_in_ms,
            _ => None,
        });
        self.record(events, &metadata, Uuid::now_v7()).await?;
        let pending = self.key.as_ref().is_some_and(KeyState::needs_probe);
        Ok(ProbeRun {
            ran: true,
            retry_in_ms: retry_in_ms.filter(|_| pending),
            failure,
        })
    }

    fn credentials(&self, key: &KeyState) -> Result<Credentials, KeyCommandError> {
        Ok(vault_credentials(&self.context.vault, &key.vault_ref)?)
    }

    /// Appends events after the key's current version and applies them; event ids derive from
    /// `command_id`.
    async fn record(
        &mut self,
        events: Vec<KeyEvent>,
        metadata: &Metadata,
        command_id: Uuid,
    ) -> Result<Appended, KeyCommandError> {
        let Some(key) = self.key.as_mut() else {
            return Err(KeyCommandError::NotFound(self.stream.id()));
        };
        let new_events = events
            .iter()
            .enumerate()
            .map(|(i, e)| e.to_new_event(derive_event_id(command_id, i as u32), metadata.clone()))
            .collect();
        let appended = self
            .context
            .log
            .append(
                &self.stream,
                ExpectedVersion::Exact(key.version),
                new_events,
            )
            .await?;
        let first_version = appended.last_version + 1 - events.len() as u64;
        for (i, event) in events.iter().enumerate() {
            key.apply(event, first_version + i as u64);
        }
        Ok(appended)
    }
}

/// Lists the vault ids of every secret a key reference points at.
pub(crate) fn secret_ids(vault_ref: &VaultRef) -> Vec<Uuid> {
    let mut ids = vec![vault_ref.api_key_id, vault_ref.secret_id];
    ids.extend(vault_ref.passphrase_id);
    ids
}
