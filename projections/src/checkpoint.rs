//! Projection checkpoints: a projection's state and the position it reached, saved to a file
//! so that a restart resumes from there instead of replaying the whole log.
//!
//! Each projection has one file, `<dir>/<name>.json`, replaced atomically (written to a
//! temporary file, synced, then renamed). The file also stores the hash of the event at its
//! position; a checkpoint whose hash no longer matches the log (the log was replaced or
//! restored from an older copy) is ignored and the projection is rebuilt from the start.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Version of the checkpoint file layout; a file of another version is ignored.
pub const CHECKPOINT_FORMAT: u32 = 2;

/// An error reading or writing a checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot access the projection checkpoint {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the projection checkpoint {path} is not valid: {source}")]
    Invalid {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// A saved projection: its state, the position it reached and that event's hash.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Saved<P> {
    pub format: u32,
    pub name: String,
    pub position: u64,
    /// Hex SHA-256 chain hash of the event at `position`; empty at position 0.
    pub hash: String,
    pub state: P,
}

/// The folder of every projection's checkpoint.
#[derive(Clone, Debug)]
pub struct CheckpointDir {
    dir: PathBuf,
}

impl CheckpointDir {
    /// Checkpoints under `<data_dir>/projections`.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        CheckpointDir {
            dir: data_dir.join("projections"),
        }
    }

    /// The file of projection `name`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// Loads the checkpoint of `name`, or `Ok(None)` when there is none or it has another format.
    ///
    /// # Errors
    /// Fails when the file cannot be read or does not parse.
    pub fn load<P: DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<Option<Saved<P>>, CheckpointError> {
        let path = self.path(name);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CheckpointError::Io { path, source }),
        };
        let format: FormatOnly =
            serde_json::from_slice(&bytes).map_err(|source| CheckpointError::Invalid {
                path: path.clone(),
                source,
            })?;
        if format.format != CHECKPOINT_FORMAT {
            return Ok(None);
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| CheckpointError::Invalid { path, source })
    }

    /// Saves a checkpoint of `name`, replacing the previous one atomically.
    ///
    /// # Errors
    /// Fails when the folder or file cannot be written.
    pub fn save<P: Serialize>(
        &self,
        name: &str,
        position: u64,
        hash: &[u8; 32],
        state: &P,
    ) -> Result<(), CheckpointError> {
        let saved = Saved {
            format: CHECKPOINT_FORMAT,
            name: name.to_owned(),
            position,
            hash: hash_text(position, hash),
            state,
        };
        let path = self.path(name);
        let bytes = serde_json::to_vec(&saved).map_err(|source| CheckpointError::Invalid {
            path: path.clone(),
            source,
        })?;
        write_atomically(&self.dir, &path, &bytes)
            .map_err(|source| CheckpointError::Io { path, source })
    }

    /// Deletes the checkpoint of `name`, if any.
    ///
    /// # Errors
    /// Fails when the file exists and cannot be removed.
    pub fn remove(&self, name: &str) -> Result<(), CheckpointError> {
        let path = self.path(name);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(CheckpointError::Io { path, source }),
        }
    }
}

/// The hex text stored for a chain hash; position 0 has no event and so no hash.
pub fn hash_text(position: u64, hash: &[u8; 32]) -> String {
    if position == 0 {
        String::new()
    } else {
        hex::encode(hash)
    }
}

#[derive(serde::Deserialize)]
struct FormatOnly {
    format: u32,
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let temporary = path.with_extension("json.tmp");
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointDir::in_data_dir(dir.path());
        let state = vec![1u64, 2, 3];
        store.save("numbers", 3, &[7u8; 32], &state).unwrap();
        let saved: Saved<Vec<u64>> = store.load("numbers").unwrap().unwrap();
        assert_eq!(saved.position, 3);
        assert_eq!(saved.hash, hex::encode([7u8; 32]));
        assert_eq!(saved.state, state);
    }

    #[test]
    fn missing_checkpoint_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointDir::in_data_dir(dir.path());
        let loaded: Option<Saved<Vec<u64>>> = store.load("numbers").unwrap();
        assert!(loaded.is_none());
    }

    #[test]
    fn damaged_checkpoint_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointDir::in_data_dir(dir.path());
        std::fs::create_dir_all(dir.path().join("projections")).unwrap();
        std::fs::write(store.path("numbers"), b"{not json").unwrap();
        let loaded = store.load::<Vec<u64>>("numbers");
        assert!(matches!(loaded, Err(CheckpointError::Invalid { .. })));
    }
}
