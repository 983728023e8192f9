//! Checkpoint keys: the HMAC-SHA256 keys that sign the event log's checkpoints.
//!
//! Each key is 32 random bytes, created on first use and numbered from 1. It is stored in the
//! keyring's `checkpoint_keys` table wrapped under the master key exactly like a data key, so
//! master key rotation rewraps it ([`rewrap_all`]) and retiring a master key version never
//! destroys it: a checkpoint signed years ago still verifies under its key version.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::envelope::{self, WrappedKey};
use crate::master::MasterKey;
use crate::{SecretBytes, Vault, VaultError};

/// The table of wrapped checkpoint keys; created on first use.
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS checkpoint_keys (
    version       INTEGER PRIMARY KEY,
    key_id        BLOB    NOT NULL,
    kek_version   INTEGER NOT NULL,
    salt          BLOB    NOT NULL,
    nonce         BLOB    NOT NULL,
    wrapped       BLOB    NOT NULL,
    created_at_us INTEGER NOT NULL
);
";

impl Vault {
    /// Opens the checkpoint key of `version`, to verify a checkpoint signed under it.
    ///
    /// # Errors
    /// [`VaultError::UnknownCheckpointKey`] when the keyring has no such version,
    /// [`VaultError::Tampered`] when its wrap was altered, storage errors otherwise.
    pub fn checkpoint_key(&self, version: u32) -> Result<SecretBytes, VaultError> {
        let conn = self.connection();
        conn.execute_batch(SCHEMA)?;
        let (key_id, wrapped) =
            load(&conn, version)?.ok_or(VaultError::UnknownCheckpointKey(version))?;
        unwrap(self.master_key(), key_id, &wrapped)
    }

    /// Opens the newest checkpoint key with its version, creating version 1 on first use.
    ///
    /// # Errors
    /// Fails when randomness or storage fails, or the stored wrap was altered.
    pub fn current_checkpoint_key(&self) -> Result<(u32, SecretBytes), VaultError> {
        let mut conn = self.connection();
        conn.execute_batch(SCHEMA)?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let newest: Option<u32> =
            tx.query_row("SELECT MAX(version) FROM checkpoint_keys", [], |row| {
                row.get(0)
            })?;
        let version = match newest {
            Some(version) => version,
            None => {
                create(&tx, self.master_key(), self.current_kek_version(), 1)?;
                1
            }
        };
        tx.commit()?;
        let (key_id, wrapped) =
            load(&conn, version)?.ok_or(VaultError::UnknownCheckpointKey(version))?;
        Ok((version, unwrap(self.master_key(), key_id, &wrapped)?))
    }
}

fn create(
    tx: &Transaction<'_>,
    master: &MasterKey,
    kek_version: u32,
    version: u32,
) -> Result<(), VaultError> {
    let key = Zeroizing::new(envelope::random::<32>()?);
    let key_id = Uuid::now_v7();
    let wrapped = envelope::wrap_data_key(master, kek_version, key_id, &key)?;
    let created_at_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    tx.execute(
        "INSERT INTO checkpoint_keys (version, key_id, kek_version, salt, nonce, wrapped, \
         created_at_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            version,
            key_id.as_bytes().as_slice(),
            wrapped.kek_version,
            wrapped.salt.as_slice(),
            wrapped.nonce.as_slice(),
            wrapped.ciphertext,
            created_at_us,
        ],
    )?;
    Ok(())
}

/// Columns of a wrapped key: key id, master key version, salt, nonce, wrapped bytes.
type WrapColumns = (Vec<u8>, u32, Vec<u8>, Vec<u8>, Vec<u8>);

fn load(conn: &Connection, version: u32) -> Result<Option<(Uuid, WrappedKey)>, VaultError> {
    let row: Option<WrapColumns> = conn
        .query_row(
            "SELECT key_id, kek_version, salt, nonce, wrapped FROM checkpoint_keys \
             WHERE version = ?1",
            [version],
            |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                ))
            },
        )
        .optional()?;
    row.map(decode).transpose()
}

fn decode(
    (key_id, kek_version, salt, nonce, ciphertext): WrapColumns,
) -> Result<(Uuid, WrappedKey), VaultError> {
    let bad = || VaultError::Storage("a checkpoint key row has a malformed column".into());
    let key_id = Uuid::from_slice(&key_id).map_err(|_| bad())?;
    let wrapped = WrappedKey {
        kek_version,
        salt: salt.as_slice().try_into().map_err(|_| bad())?,
        nonce: nonce.as_slice().try_into().map_err(|_| bad())?,
        ciphertext,
    };
    Ok((key_id, wrapped))
}

fn unwrap(
    master: &MasterKey,
    key_id: Uuid,
    wrapped: &WrappedKey,
) -> Result<SecretBytes, VaultError> {
    let key = envelope::unwrap_data_key(master, key_id, wrapped)?;
    Ok(SecretBytes::new(key.to_vec()))
}

/// Rewraps every checkpoint key from `old` to `new` (master key version `to_version`) inside
/// the caller's transaction; returns how many it rewrapped. Master key rotation calls this
/// beside rewrapping the data keys.
///
/// # Errors
/// [`VaultError::Tampered`] when a key does not unwrap under `old`; storage errors otherwise.
pub(crate) fn rewrap_all(
    tx: &Transaction<'_>,
    old: &MasterKey,
    new: &MasterKey,
    to_version: u32,
) -> Result<u64, VaultError> {
    tx.execute_batch(SCHEMA)?;
    let mut statement = tx.prepare(
        "SELECT key_id, kek_version, salt, nonce, wrapped, version FROM checkpoint_keys",
    )?;
    let rows = statement.query_map([], |row| {
        let columns = (
            row.get(0)?,
            row.get(1)?,
            row.get(2)?,
            row.get(3)?,
            row.get(4)?,
        );
        Ok((columns, row.get::<_, u32>(5)?))
    })?;
    let mut rewrapped = 0;
    for row in rows {
        let (columns, version) = row?;
        let (key_id, wrapped) = decode(columns)?;
        let key = envelope::unwrap_data_key(old, key_id, &wrapped)?;
        let rewrap = envelope::wrap_data_key(new, to_version, key_id, &key)?;
        tx.execute(
            "UPDATE checkpoint_keys SET kek_version = ?2, salt = ?3, nonce = ?4, wrapped = ?5 \
             WHERE version = ?1",
            params![
                version,
                rewrap.kek_version,
                rewrap.salt.as_slice(),
                rewrap.nonce.as_slice(),
                rewrap.ciphertext,
            ],
        )?;
        rewrapped += 1;
    }
    Ok(rewrapped)
}

/// Counts the checkpoint keys wrapped under each master key version, so that a version still
/// in use is not retired.
///
/// # Errors
/// Storage errors.
pub(crate) fn count_by_kek_version(conn: &Connection) -> Result<BTreeMap<u32, u64>, VaultError> {
    conn.execute_batch(SCHEMA)?;
    crate::rotation::count_by_kek_version(conn, "checkpoint_keys")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MasterKeySource;

    fn master(byte: u8) -> MasterKey {
        MasterKey::from_bytes([byte; 32], MasterKeySource::Env("TEST".into()))
    }

    #[test]
    fn checkpoint_key_is_created_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(dir.path(), master(1)).unwrap();
        assert!(matches!(
            vault.checkpoint_key(1),
            Err(VaultError::UnknownCheckpointKey(1))
        ));
        let (version, key) = vault.current_checkpoint_key().unwrap();
        assert_eq!(version, 1);
        assert_eq!(key.len(), 32);
        let (again, same) = vault.current_checkpoint_key().unwrap();
        assert_eq!(again, 1);
        assert_eq!(same, key);
        drop(vault);

        let reopened = Vault::open(dir.path(), master(1)).unwrap();
        assert_eq!(reopened.checkpoint_key(1).unwrap(), key);
        assert_eq!(format!("{key:?}"), "[redacted]");
    }

    #[test]
    fn checkpoint_keys_rewrap_under_a_new_master_key() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(dir.path(), master(1)).unwrap();
        let (_, key) = vault.current_checkpoint_key().unwrap();
        let mut conn = vault.connection();
        let tx = conn.transaction().unwrap();
        assert_eq!(rewrap_all(&tx, &master(1), &master(2), 2).unwrap(), 1);
        tx.commit().unwrap();
        let counts = count_by_kek_version(&conn).unwrap();
        assert_eq!(counts.get(&2), Some(&1));
        let (key_id, wrapped) = load(&conn, 1).unwrap().unwrap();
        assert_eq!(unwrap(&master(2), key_id, &wrapped).unwrap(), key);
        assert!(unwrap(&master(1), key_id, &wrapped).is_err());
    }
}
