//! The face of the key actors for the API and the binary.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use keyward_adapters::{Credentials, ExchangeClient};
use keyward_eventlog::{AppendError, Appended, EventLog, ReadError};
use keyward_events::key::{KeyAdded, KeyEvent, VaultRef, mask_api_key};
use keyward_events::{Category, DomainEvent, Exchange, Metadata};
use keyward_vault::{SecretBytes, SecretKind, SecretOwner, Vault, VaultError};
use ractor::ActorRef;
use uuid::Uuid;

use super::actor::{KeyActor, KeyActorArgs, KeyMsg, ProbeCheck, secret_ids};
use super::signer::vault_credentials;
use super::state::{KeyState, RetryPolicy};
use crate::supervisor::Supervised;

/// How long a caller waits for a key actor to answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The configured client of each exchange.
#[derive(Default)]
pub struct ExchangeClients {
    clients: HashMap<Exchange, Arc<dyn ExchangeClient>>,
}

impl ExchangeClients {
    /// Registers the client of one exchange.
    pub fn insert(&mut self, client: Arc<dyn ExchangeClient>) {
        self.clients.insert(client.exchange(), client);
    }

    /// The client of an exchange, if one is configured.
    pub fn get(&self, exchange: Exchange) -> Option<Arc<dyn ExchangeClient>> {
        self.clients.get(&exchange).cloned()
    }
}

/// What key actors share.
pub struct KeyContext {
    pub log: Arc<dyn EventLog>,
    pub vault: Arc<Vault>,
    pub exchanges: ExchangeClients,
    pub retry: RetryPolicy,
}

/// A key as the user hands it over; the secrets go straight into the vault.
pub struct NewKey {
    pub account_id: Option<Uuid>,
    pub exchange: Exchange,
    pub label: String,
    pub api_key: String,
    pub api_secret: SecretBytes,
    pub passphrase: Option<SecretBytes>,
}

/// Why a key command failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyCommandError {
    #[error("key {0} already exists")]
    AlreadyExists(Uuid),
    #[error("key {0} not found")]
    NotFound(Uuid),
    #[error("key {key_id} cannot trade: {reason}")]
    NotUsable { key_id: Uuid, reason: String },
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Append(#[from] AppendError),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("the key actor is unavailable: {0}")]
    Actor(String),
}

/// Starts key actors and routes commands to them.
#[derive(Clone)]
pub struct KeyService {
    supervisor: Supervised<KeyActor>,
    context: Arc<KeyContext>,
}

impl KeyService {
    /// Starts the key supervisor.
    ///
    /// # Errors
    /// Fails when the supervisor actor cannot start.
    pub async fn start(context: KeyContext) -> Result<Self, KeyCommandError> {
        let context = Arc::new(context);
        let args_context = Arc::clone(&context);
        let args = Arc::new(move |key_id| KeyActorArgs {
            key_id,
            context: Arc::clone(&args_context),
        });
        let supervisor = Supervised::start("key actor", args)
            .await
            .map_err(KeyCommandError::Actor)?;
        Ok(KeyService {
            supervisor,
            context,
        })
    }

    /// Seals a new key's secrets, records `KeyAdded`, and starts its probe. Returns the key id
    /// and where `KeyAdded` landed.
    ///
    /// # Errors
    /// Fails when the vault or the log cannot store the key.
    pub async fn add_key(
        &self,
        key: NewKey,
        metadata: Metadata,
    ) -> Result<(Uuid, Appended), KeyCommandError> {
        let key_id = Uuid::now_v7();
        let vault_ref = self.seal(key_id, &key)?;
        let added = KeyAdded {
            key_id,
            account_id: key.account_id,
            exchange: key.exchange,
            label: key.label,
            masked_api_key: mask_api_key(&key.api_key),
            vault_ref,
            added_at: Utc::now(),
        };
        let actor = self.actor(key_id).await?;
        let reply = actor
            .call(
                |port| KeyMsg::Add(Box::new(added), metadata, port),
                Some(CALL_TIMEOUT),
            )
            .await;
        let appended = unwrap_call(reply)??;
        Ok((key_id, appended))
    }

    /// The current state of a key, from its actor.
    ///
    /// # Errors
    /// Fails when the actor cannot start or answer.
    pub async fn state(&self, key_id: Uuid) -> Result<Option<KeyState>, KeyCommandError> {
        let actor = self.actor(key_id).await?;
        unwrap_call(actor.call(KeyMsg::State, Some(CALL_TIMEOUT)).await)
    }

    /// Probes a key now, whatever its status, as before a bot goes live, and returns its state
    /// after the probe with the error of a probe that could not complete.
    ///
    /// # Errors
    /// [`KeyCommandError::NotFound`] for an unknown or deleted key; append errors.
    pub async fn probe_now(&self, key_id: Uuid) -> Result<ProbeCheck, KeyCommandError> {
        let actor = self.actor(key_id).await?;
        // A probe waits for the exchange, whose requests time out well within this.
        let reply = actor.call(KeyMsg::ProbeNow, Some(CALL_TIMEOUT * 3)).await;
        unwrap_call(reply)?
    }

    /// Returns the client of a verified key's exchange and the key's credentials, whose
    /// signer opens the secret from the vault for each signature.
    ///
    /// # Errors
    /// [`KeyCommandError::NotFound`] for an unknown key, [`KeyCommandError::NotUsable`] for one
    /// that is not verified or whose exchange has no client; vault errors.
    pub async fn trading_access(
        &self,
        key_id: Uuid,
    ) -> Result<(Arc<dyn ExchangeClient>, Credentials), KeyCommandError> {
        let key = self
            .state(key_id)
            .await?
            .ok_or(KeyCommandError::NotFound(key_id))?;
        if key.status != super::KeyStatus::Verified {
            return Err(KeyCommandError::NotUsable {
                key_id,
                reason: format!("its status is {:?}", key.status).to_lowercase(),
            });
        }
        let Some(client) = self.context.exchanges.get(key.exchange) else {
            return Err(KeyCommandError::NotUsable {
                key_id,
                reason: format!("no {} client is configured", key.exchange),
            });
        };
        let credentials = vault_credentials(&self.context.vault, &key.vault_ref)?;
        Ok((client, credentials))
    }

    /// Records `KeyDeleted` for a key, then shreds its secrets. Returns where the event landed.
    ///
    /// # Errors
    /// [`KeyCommandError::NotFound`] for an unknown or already deleted key; append errors.
    pub async fn delete_key(
        &self,
        key_id: Uuid,
        metadata: Metadata,
    ) -> Result<Appended, KeyCommandError> {
        let actor = self.actor(key_id).await?;
        let reply = actor
            .call(|port| KeyMsg::Delete(metadata, port), Some(CALL_TIMEOUT))
            .await;
        unwrap_call(reply)?
    }

    /// Shreds the secrets of every key the log records as deleted, finishing deletions that a
    /// crash interrupted between `KeyDeleted` and the shred. Returns how many secrets were
    /// still stored.
    ///
    /// # Errors
    /// Fails when the log cannot be read or the vault cannot delete.
    pub async fn sweep_deleted(&self) -> Result<usize, KeyCommandError> {
        let mut after = 0;
        let mut refs: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        let mut deleted = HashSet::new();
        loop {
            let page = self.context.log.read_all(after, 1000).await?;
            let Some(last) = page.last() else {
                break;
            };
            after = last.position;
            for record in page.iter().filter(|r| r.stream.category() == Category::Key) {
                let event = match KeyEvent::from_recorded(record) {
                    Ok(event) => event,
                    Err(err) => {
                        tracing::warn!(
                            position = record.position,
                            error = %err,
                            "sweep skipped an undecodable key event"
                        );
                        continue;
                    }
                };
                let key_refs = refs.entry(record.stream.id()).or_default();
                match event {
                    KeyEvent::KeyAdded(added) => key_refs.extend(secret_ids(&added.vault_ref)),
                    KeyEvent::KeyRotated(rotated) => {
                        key_refs.extend(secret_ids(&rotated.vault_ref));
                    }
                    KeyEvent::KeyDeleted(gone) => {
                        key_refs.extend(secret_ids(&gone.vault_ref));
                        deleted.insert(record.stream.id());
                    }
                    _ => {}
                }
            }
        }
        let ids: Vec<Uuid> = deleted
            .iter()
            .filter_map(|key_id| refs.get(key_id))
            .flatten()
            .copied()
            .collect();
        let shredded = self.context.vault.shred(&ids)?;
        if shredded > 0 {
            tracing::warn!(
                shredded,
                "shredded secrets of deleted keys that an interrupted deletion left behind"
            );
        }
        Ok(shredded)
    }

    /// Returns the host the adapter of `exchange` sends to, which a key's verification must
    /// match; `None` when no adapter is configured for it.
    pub fn exchange_host(&self, exchange: Exchange) -> Option<String> {
        let client = self.context.exchanges.get(exchange)?;
        Some(client.host().to_owned())
    }

    /// Starts the actor of every key in the log, so that probes interrupted by a restart
    /// resume. Returns how many keys were found.
    ///
    /// # Errors
    /// Fails when the log cannot be read or an actor cannot start.
    pub async fn recover(&self) -> Result<usize, KeyCommandError> {
        let mut after = 0;
        let mut keys = Vec::new();
        loop {
            let page = self.context.log.read_all(after, 1000).await?;
            let Some(last) = page.last() else {
                break;
            };
            after = last.position;
            for record in &page {
                if record.stream.category() == Category::Key && record.version == 0 {
                    keys.push(record.stream.id());
                }
            }
        }
        for key_id in &keys {
            self.actor(*key_id).await?;
        }
        Ok(keys.len())
    }

    async fn actor(&self, key_id: Uuid) -> Result<ActorRef<KeyMsg>, KeyCommandError> {
        self.supervisor
            .child(key_id)
            .await
            .map_err(KeyCommandError::Actor)
    }

    fn seal(&self, key_id: Uuid, key: &NewKey) -> Result<VaultRef, KeyCommandError> {
        let owner = |kind| SecretOwner {
            account_id: key.account_id,
            record_id: key_id,
            kind,
            context: key.exchange.as_str().to_owned(),
        };
        let vault = &self.context.vault;
        let api_key_id = vault.seal(&owner(SecretKind::ApiKey), key.api_key.as_bytes())?;
        let secret_id = vault.seal(&owner(SecretKind::ApiSecret), key.api_secret.expose())?;
        let passphrase_id = match &key.passphrase {
            Some(passphrase) => {
                Some(vault.seal(&owner(SecretKind::Passphrase), passphrase.expose())?)
            }
            None => None,
        };
        Ok(VaultRef {
            api_key_id,
            secret_id,
            passphrase_id,
        })
    }
}

fn unwrap_call<T, M>(
    reply: Result<ractor::rpc::CallResult<T>, ractor::MessagingErr<M>>,
) -> Result<T, KeyCommandError> {
    match reply {
        Ok(ractor::rpc::CallResult::Success(value)) => Ok(value),
        Ok(ractor::rpc::CallResult::Timeout) => Err(KeyCommandError::Actor(
            "the key actor did not answer in time".into(),
        )),
        Ok(ractor::rpc::CallResult::SenderError) => Err(KeyCommandError::Actor(
            "the key actor stopped before answering".into(),
        )),
        Err(err) => Err(KeyCommandError::Actor(err.to_string())),
    }
}
