//! Master key versions: rotation to a new master key, retirement of old versions, and status.
//!
//! Rotation rewraps every data key and checkpoint key under the new master key in one
//! transaction. Sealed secrets are not touched, because their data keys stay the same. An old
//! version can be retired once nothing is wrapped under it, so retiring never makes a secret or
//! an old checkpoint unreadable.

use std::collections::BTreeMap;

use rusqlite::{Transaction, TransactionBehavior, params};
use uuid::Uuid;

use crate::envelope::{self, WrappedKey};
use crate::keyring::{load_entries, now_us, version_of_key};
use crate::master::MasterKey;
use crate::{Vault, VaultError, checkpoint};

/// The outcome of one master key rotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotation {
    pub from_version: u32,
    pub to_version: u32,
    pub data_keys_rewrapped: u64,
    pub checkpoint_keys_rewrapped: u64,
}

/// One master key version and what is wrapped under it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionStatus {
    pub version: u32,
    /// Whether new wraps are made under this version.
    pub current: bool,
    pub created_at_us: i64,
    pub retired_at_us: Option<i64>,
    pub data_keys: u64,
    pub checkpoint_keys: u64,
}

impl Vault {
    /// Rewraps every data key and checkpoint key under `new`, which becomes the next master key
    /// version. Sealed secrets stay as they are. The old key's wraps are overwritten on disk
    /// (secure delete and a truncating WAL checkpoint) unless another process reads the keyring
    /// at that moment, which is logged.
    ///
    /// # Errors
    /// [`VaultError::MasterKeyReused`] when the keyring stores `new` as a version already,
    /// [`VaultError::Tampered`] when a stored wrap does not open under the current key, storage
    /// errors otherwise. Nothing changes when it fails.
    pub fn rotate_master(&mut self, new: MasterKey) -> Result<Rotation, VaultError> {
        let from_version = self.kek_version;
        let (to_version, data_keys_rewrapped, checkpoint_keys_rewrapped) = {
            let mut conn = self.connection();
            if let Some(version) = version_of_key(&conn, &new)? {
                return Err(VaultError::MasterKeyReused { version });
            }
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let to_version = insert_version(&tx, &new)?;
            let data_keys = rewrap_data_keys(&tx, &self.master, &new, to_version)?;
            let checkpoint_keys = checkpoint::rewrap_all(&tx, &self.master, &new, to_version)?;
            tx.commit()?;
            if let Err(err) = checkpoint_truncate(&conn) {
                tracing::warn!(error = %err, "old wraps may remain in the keyring's WAL file");
            }
            let entries = load_entries(&conn)?;
            *self.entries.write().unwrap_or_else(|p| p.into_inner()) = entries;
            (to_version, data_keys, checkpoint_keys)
        };
        self.master = new;
        self.kek_version = to_version;
        tracing::info!(
            from_version,
            to_version,
            data_keys_rewrapped,
            checkpoint_keys_rewrapped,
            "master key rotated"
        );
        Ok(Rotation {
            from_version,
            to_version,
            data_keys_rewrapped,
            checkpoint_keys_rewrapped,
        })
    }

    /// Marks an old master key version as retired once nothing is wrapped under it. Its key has
    /// not opened this keyring since the rotation that replaced it.
    ///
    /// # Errors
    /// [`VaultError::MasterKeyVersionInUse`] while a data key or checkpoint key is wrapped under
    /// it, [`VaultError::CurrentMasterKeyVersion`] for the current version,
    /// [`VaultError::UnknownMasterKeyVersion`] and [`VaultError::MasterKeyVersionRetired`] for a
    /// version that is not there or retired already.
    pub fn retire_master_version(&self, version: u32) -> Result<(), VaultError> {
        let status = self.status()?;
        let Some(entry) = status.iter().find(|s| s.version == version) else {
            return Err(VaultError::UnknownMasterKeyVersion(version));
        };
        if entry.data_keys > 0 || entry.checkpoint_keys > 0 {
            return Err(VaultError::MasterKeyVersionInUse {
                version,
                data_keys: entry.data_keys,
                checkpoint_keys: entry.checkpoint_keys,
            });
        }
        if entry.current {
            return Err(VaultError::CurrentMasterKeyVersion(version));
        }
        if entry.retired_at_us.is_some() {
            return Err(VaultError::MasterKeyVersionRetired(version));
        }
        let conn = self.connection();
        conn.execute(
            "UPDATE master_key_versions SET retired_at_us = ?2 WHERE version = ?1",
            params![version, now_us()],
        )?;
        tracing::info!(version, "master key version retired");
        Ok(())
    }

    /// Every master key version with the number of data keys and checkpoint keys wrapped
    /// under it, oldest first.
    ///
    /// # Errors
    /// Storage errors.
    pub fn status(&self) -> Result<Vec<VersionStatus>, VaultError> {
        let conn = self.connection();
        let data_keys = count_by_kek_version(&conn, "data_keys")?;
        let checkpoint_keys = checkpoint::count_by_kek_version(&conn)?;
        let mut statement = conn.prepare(
            "SELECT version, created_at_us, retired_at_us FROM master_key_versions \
             ORDER BY version",
        )?;
        let rows = statement.query_map([], |row| {
            Ok((
                row.get::<_, u32>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, Option<i64>>(2)?,
            ))
        })?;
        let mut versions = Vec::new();
        for row in rows {
            let (version, created_at_us, retired_at_us) = row?;
            versions.push(VersionStatus {
                version,
                current: version == self.kek_version,
                created_at_us,
                retired_at_us,
                data_keys: data_keys.get(&version).copied().unwrap_or(0),
                checkpoint_keys: checkpoint_keys.get(&version).copied().unwrap_or(0),
            });
        }
        Ok(versions)
    }
}

fn insert_version(tx: &Transaction<'_>, new: &MasterKey) -> Result<u32, VaultError> {
    let newest: u32 = tx.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM master_key_versions",
        [],
        |row| row.get(0),
    )?;
    let version = newest + 1;
    tx.execute(
        "INSERT INTO master_key_versions (version, key_check, created_at_us) VALUES (?1, ?2, ?3)",
        params![version, new.key_check().as_slice(), now_us()],
    )?;
    Ok(version)
}

/// Columns of a data key row: id, master key version, salt, nonce, wrapped bytes.
type DataKeyColumns = (Vec<u8>, u32, Vec<u8>, Vec<u8>, Vec<u8>);

fn rewrap_data_keys(
    tx: &Transaction<'_>,
    old: &MasterKey,
    new: &MasterKey,
    to_version: u32,
) -> Result<u64, VaultError> {
    let rows: Vec<DataKeyColumns> = {
        let mut statement =
            tx.prepare("SELECT dek_id, kek_version, salt, nonce, wrapped FROM data_keys")?;
        let rows = statement.query_map([], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })?;
        rows.collect::<Result<_, _>>()?
    };
    let mut rewrapped = 0;
    for (dek_id, kek_version, salt, nonce, ciphertext) in rows {
        let bad = || VaultError::Storage("a data key row has a malformed column".into());
        let dek_id = Uuid::from_slice(&dek_id).map_err(|_| bad())?;
        let wrapped = WrappedKey {
            kek_version,
            salt: salt.as_slice().try_into().map_err(|_| bad())?,
            nonce: nonce.as_slice().try_into().map_err(|_| bad())?,
            ciphertext,
        };
        let dek = envelope::unwrap_data_key(old, dek_id, &wrapped)?;
        let rewrap = envelope::wrap_data_key(new, to_version, dek_id, &dek)?;
        tx.execute(
            "UPDATE data_keys SET kek_version = ?2, salt = ?3, nonce = ?4, wrapped = ?5 \
             WHERE dek_id = ?1",
            params![
                dek_id.as_bytes().as_slice(),
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

/// Counts the rows of `table` (a table of wraps) per master key version.
pub(crate) fn count_by_kek_version(
    conn: &rusqlite::Connection,
    table: &str,
) -> Result<BTreeMap<u32, u64>, VaultError> {
    let query = format!("SELECT kek_version, COUNT(*) FROM {table} GROUP BY kek_version");
    let mut statement = conn.prepare(&query)?;
    let rows = statement.query_map([], |row| Ok((row.get::<_, u32>(0)?, row.get::<_, i64>(1)?)))?;
    let mut counts = BTreeMap::new();
    for row in rows {
        let (version, count) = row?;
        counts.insert(version, u64::try_from(count).unwrap_or(0));
    }
    Ok(counts)
}

/// Copies the WAL into the database and truncates it to zero bytes, so that page images with
/// overwritten content do not linger in the WAL file.
///
/// # Errors
/// [`VaultError::Storage`] when another connection's read kept the checkpoint from finishing.
pub(crate) fn checkpoint_truncate(conn: &rusqlite::Connection) -> Result<(), VaultError> {
    let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))?;
    if busy != 0 {
        return Err(VaultError::Storage(
            "the keyring's WAL could not be truncated because another process is reading the \
             keyring; stop it and run the command again"
                .into(),
        ));
    }
    Ok(())
}
