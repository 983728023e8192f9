//! Signed checkpoints: HMAC-SHA256 statements that the log held a given hash at a position.
//!
//! The hash chain shows that no stored record was altered, but not that records after the end
//! were cut off. A checkpoint does: it is signed with a versioned key from the vault, written
//! to `events/checkpoints.jsonl` every [`CheckpointPolicy::every_events`] events or
//! [`CheckpointPolicy::every`], and can be exported and kept elsewhere. A log that ends before an
//! exported checkpoint's position, or has another hash there, was cut or rewritten.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use crate::EventLog;
use crate::segment::EVENTS_DIR;

/// File of the local checkpoints inside the events directory, one JSON object a line.
pub const CHECKPOINTS_FILE: &str = "checkpoints.jsonl";

const DOMAIN: &[u8] = b"keyward checkpoint v1";

/// A signed statement that the log's record at `position` has chain hash `hash`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub position: u64,
    /// Chain hash of the record at `position`, as hex.
    pub hash: String,
    /// When the checkpoint was signed, in microseconds since the Unix epoch.
    pub created_at_us: i64,
    /// Version of the checkpoint key that signed it.
    pub key_version: u32,
    /// HMAC-SHA256 over the fields above, as hex.
    pub mac: String,
}

impl Checkpoint {
    /// Signs a checkpoint of `hash` at `position` with checkpoint key `key_version`.
    pub fn sign(position: u64, hash: &[u8; 32], key_version: u32, key: &[u8]) -> Self {
        let mut checkpoint = Checkpoint {
            position,
            hash: hex::encode(hash),
            created_at_us: chrono::Utc::now().timestamp_micros(),
            key_version,
            mac: String::new(),
        };
        checkpoint.mac = hex::encode(checkpoint.mac_with(key).finalize().into_bytes());
        checkpoint
    }

    /// Checks the signature under `key`, comparing in constant time.
    pub fn signature_valid(&self, key: &[u8]) -> bool {
        let Ok(mac) = hex::decode(&self.mac) else {
            return false;
        };
        self.mac_with(key).verify_slice(&mac).is_ok()
    }

    /// Decodes the chain hash, `None` when the stored hex is malformed.
    pub fn hash_bytes(&self) -> Option<[u8; 32]> {
        hex::decode(&self.hash).ok()?.try_into().ok()
    }

    fn mac_with(&self, key: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(DOMAIN);
        mac.update(&self.position.to_be_bytes());
        mac.update(self.hash.as_bytes());
        mac.update(&self.created_at_us.to_be_bytes());
        mac.update(&self.key_version.to_be_bytes());
        mac
    }
}

/// Errors of reading, writing and signing checkpoints.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} line {line} is not a checkpoint: {reason}")]
    Malformed {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("no checkpoint signing key: {0}")]
    Key(String),
    #[error("cannot read the log to sign a checkpoint: {0}")]
    Read(#[from] crate::ReadError),
}

/// A source of checkpoint signing keys (the vault, in the service).
pub trait CheckpointKeys: Send + Sync + 'static {
    /// The newest key with its version.
    ///
    /// # Errors
    /// Fails when the key store cannot be read.
    fn current(&self) -> Result<(u32, Zeroizing<Vec<u8>>), CheckpointError>;
}

/// The local checkpoint file of a data dir.
#[derive(Clone, Debug)]
pub struct CheckpointStore {
    path: PathBuf,
}

impl CheckpointStore {
    /// Returns the checkpoint file of the log in `data_dir`.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        CheckpointStore {
            path: data_dir.join(EVENTS_DIR).join(CHECKPOINTS_FILE),
        }
    }

    /// Path of the checkpoint file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends a checkpoint and makes it durable.
    ///
    /// # Errors
    /// Fails when the file cannot be written or synced.
    pub fn append(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        let io = |source| CheckpointError::Io {
            path: self.path.clone(),
            source,
        };
        let mut line = serde_json::to_vec(checkpoint).map_err(|e| io(std::io::Error::other(e)))?;
        line.push(b'\n');
        self.cut_torn_line().map_err(io)?;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        file.write_all(&line).map_err(io)?;
        file.sync_data().map_err(io)
    }

    /// Removes a last line that a crash left without its line end, so that the next line
    /// starts on a line of its own.
    fn cut_torn_line(&self) -> std::io::Result<()> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if bytes.is_empty() || bytes.ends_with(b"\n") {
            return Ok(());
        }
        let keep = bytes
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |at| at + 1);
        tracing::warn!(
            path = %self.path.display(),
            bytes = bytes.len() - keep,
            "removed a checkpoint line cut short by a crash"
        );
        let file = std::fs::OpenOptions::new().write(true).open(&self.path)?;
        file.set_len(keep as u64)?;
        file.sync_data()
    }

    /// Loads every stored checkpoint, oldest first, and none when the file does not exist. A
    /// last line without its line end that does not parse is a write cut short and is skipped.
    ///
    /// # Errors
    /// Fails when the file cannot be read or a line is not a checkpoint.
    pub fn load(&self) -> Result<Vec<Checkpoint>, CheckpointError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(CheckpointError::Io {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let mut checkpoints = Vec::new();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let torn = i + 1 == lines.len() && !text.ends_with('\n');
            if torn && parse(line).is_err() {
                // The write of this line was cut short, so it never counted as stored.
                continue;
            }
            let checkpoint = parse(line).map_err(|reason| CheckpointError::Malformed {
                path: self.path.clone(),
                line: i + 1,
                reason,
            })?;
            checkpoints.push(checkpoint);
        }
        Ok(checkpoints)
    }

    /// Loads the newest stored checkpoint.
    ///
    /// # Errors
    /// As [`CheckpointStore::load`].
    pub fn latest(&self) -> Result<Option<Checkpoint>, CheckpointError> {
        Ok(self.load()?.into_iter().max_by_key(|c| c.position))
    }
}

/// Parses one checkpoint from JSON.
///
/// # Errors
/// Returns the reason when the text is not a checkpoint.
pub fn parse(text: &str) -> Result<Checkpoint, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// Signs a checkpoint of the log's current head and stores it; returns `None` for an empty log.
///
/// # Errors
/// Fails when the head cannot be read, no key is available, or the store cannot be written.
pub async fn checkpoint_head(
    log: &dyn EventLog,
    store: &CheckpointStore,
    keys: &dyn CheckpointKeys,
) -> Result<Option<Checkpoint>, CheckpointError> {
    let head = *log.head().borrow();
    if head == 0 {
        return Ok(None);
    }
    let record = log.read_all(head - 1, 1).await?;
    let Some(record) = record.first() else {
        return Ok(None);
    };
    let (version, key) = keys.current()?;
    let checkpoint = Checkpoint::sign(record.position, &record.hash, version, &key);
    store.append(&checkpoint)?;
    Ok(Some(checkpoint))
}

/// When the service signs a checkpoint.
#[derive(Clone, Copy, Debug)]
pub struct CheckpointPolicy {
    /// Sign once this many events were appended since the last checkpoint.
    pub every_events: u64,
    /// Sign at least this often while events arrive.
    pub every: Duration,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        CheckpointPolicy {
            every_events: 1000,
            every: Duration::from_secs(30),
        }
    }
}

/// Starts the task that signs checkpoints by `policy` for as long as the runtime runs.
pub fn spawn_checkpointer(
    log: Arc<dyn EventLog>,
    store: CheckpointStore,
    keys: Arc<dyn CheckpointKeys>,
    policy: CheckpointPolicy,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut signed = match store.latest() {
            Ok(latest) => latest.map_or(0, |c| c.position),
            Err(err) => {
                tracing::error!(error = %err, "cannot read the checkpoints; none will be signed");
                return;
            }
        };
        let mut head = log.head();
        let mut deadline = tokio::time::Instant::now() + policy.every;
        loop {
            let current = *head.borrow_and_update();
            let elapsed = tokio::time::Instant::now() >= deadline;
            if current > signed && (current - signed >= policy.every_events || elapsed) {
                match checkpoint_head(log.as_ref(), &store, keys.as_ref()).await {
                    Ok(Some(checkpoint)) => {
                        tracing::debug!(position = checkpoint.position, "checkpoint signed");
                        signed = checkpoint.position;
                    }
                    Ok(None) => {}
                    Err(err) => tracing::error!(error = %err, "cannot sign a checkpoint"),
                }
                deadline = tokio::time::Instant::now() + policy.every;
                continue;
            }
            if elapsed {
                deadline = tokio::time::Instant::now() + policy.every;
            }
            tokio::select! {
                changed = head.changed() => if changed.is_err() { return },
                () = tokio::time::sleep_until(deadline) => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_covers_every_field() {
        let key = [5u8; 32];
        let checkpoint = Checkpoint::sign(42, &[7u8; 32], 3, &key);
        assert!(checkpoint.signature_valid(&key));
        assert!(!checkpoint.signature_valid(&[6u8; 32]));
        let mut moved = checkpoint.clone();
        moved.position = 41;
        assert!(!moved.signature_valid(&key));
        let mut rehashed = checkpoint.clone();
        rehashed.hash = hex::encode([8u8; 32]);
        assert!(!rehashed.signature_valid(&key));
        let mut rekeyed = checkpoint.clone();
        rekeyed.key_version = 2;
        assert!(!rekeyed.signature_valid(&key));
        let mut garbled = checkpoint;
        garbled.mac = "zz".into();
        assert!(!garbled.signature_valid(&key));
    }

    #[test]
    fn store_round_trips_and_reports_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(EVENTS_DIR)).unwrap();
        let store = CheckpointStore::in_data_dir(dir.path());
        assert!(store.latest().unwrap().is_none());
        let first = Checkpoint::sign(10, &[1u8; 32], 1, b"key");
        let second = Checkpoint::sign(20, &[2u8; 32], 1, b"key");
        store.append(&first).unwrap();
        store.append(&second).unwrap();
        assert_eq!(store.load().unwrap(), vec![first, second.clone()]);
        assert_eq!(store.latest().unwrap(), Some(second));
        std::fs::OpenOptions::new()
            .append(true)
            .open(store.path())
            .unwrap()
            .write_all(b"{not json\n")
            .unwrap();
        let err = store.load().unwrap_err();
        assert!(err.to_string().contains("line 3"), "{err}");
    }

    #[test]
    fn line_cut_short_is_skipped_then_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(EVENTS_DIR)).unwrap();
        let store = CheckpointStore::in_data_dir(dir.path());
        let first = Checkpoint::sign(10, &[1u8; 32], 1, b"key");
        store.append(&first).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(store.path())
            .unwrap()
            .write_all(b"{\"position\":2")
            .unwrap();
        assert_eq!(store.load().unwrap(), vec![first.clone()]);

        let second = Checkpoint::sign(20, &[2u8; 32], 1, b"key");
        store.append(&second).unwrap();
        assert_eq!(store.load().unwrap(), vec![first, second]);
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
    }
}
