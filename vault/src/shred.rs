//! Crypto-shredding: deleting sealed secrets together with their data keys.
//!
//! The keyring runs with `secure_delete`, so SQLite overwrites deleted rows and freed pages
//! with zeros, and a truncating WAL checkpoint then removes the WAL frames that still held the
//! old page images. A copy of the data dir taken afterwards contains neither the wrapped data key
//! nor the ciphertext. A copy taken before the deletion still contains both.

use rusqlite::{OptionalExtension, TransactionBehavior};
use uuid::Uuid;

use crate::rotation::checkpoint_truncate;
use crate::{Vault, VaultError};

impl Vault {
    /// Deletes the given secrets and their data keys, overwriting their bytes on disk, and
    /// returns how many were still stored. Ids that are not stored are skipped, so that a
    /// deletion interrupted by a crash can simply run again.
    ///
    /// # Errors
    /// Storage errors. When the rows were deleted but the WAL could not be truncated (another
    /// process was reading the keyring), the error reports it and a later call finishes the job.
    pub fn shred(&self, secret_ids: &[Uuid]) -> Result<usize, VaultError> {
        let deleted = {
            let mut conn = self.connection();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut deleted = 0;
            for id in secret_ids {
                let dek_id: Option<Vec<u8>> = tx
                    .query_row(
                        "SELECT dek_id FROM secrets WHERE secret_id = ?1",
                        [id.as_bytes().as_slice()],
                        |row| row.get(0),
                    )
                    .optional()?;
                let Some(dek_id) = dek_id else {
                    continue;
                };
                tx.execute(
                    "DELETE FROM secrets WHERE secret_id = ?1",
                    [id.as_bytes().as_slice()],
                )?;
                tx.execute("DELETE FROM data_keys WHERE dek_id = ?1", [dek_id])?;
                deleted += 1;
            }
            tx.commit()?;
            checkpoint_truncate(&conn)?;
            deleted
        };
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        for id in secret_ids {
            entries.remove(id);
        }
        Ok(deleted)
    }

    /// Returns whether a secret is stored.
    pub fn contains(&self, secret_id: Uuid) -> bool {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries.contains_key(&secret_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MasterKey, MasterKeySource, SecretKind, SecretOwner};

    fn vault(dir: &std::path::Path) -> Vault {
        let master = MasterKey::from_bytes([5; 32], MasterKeySource::Env("TEST".into()));
        Vault::open(dir, master).unwrap()
    }

    fn owner() -> SecretOwner {
        SecretOwner {
            account_id: None,
            record_id: Uuid::now_v7(),
            kind: SecretKind::ApiSecret,
            context: "bybit".into(),
        }
    }

    #[test]
    fn shred_removes_secret_and_data_key() {
        let dir = tempfile::tempdir().unwrap();
        let vault = vault(dir.path());
        let gone = vault.seal(&owner(), b"ShredMe").unwrap();
        let kept = vault.seal(&owner(), b"KeepMe").unwrap();

        assert_eq!(vault.shred(&[gone]).unwrap(), 1);

        assert!(!vault.contains(gone));
        assert!(matches!(
            vault.open_secret(gone),
            Err(VaultError::NotFound(_))
        ));
        assert_eq!(vault.open_secret(kept).unwrap().expose(), b"KeepMe");
        let data_keys: i64 = vault
            .connection()
            .query_row("SELECT COUNT(*) FROM data_keys", [], |row| row.get(0))
            .unwrap();
        assert_eq!(data_keys, 1);
        let wal = dir.path().join(format!("{}-wal", crate::KEYRING_FILE));
        assert_eq!(std::fs::metadata(wal).map_or(0, |m| m.len()), 0);
    }

    #[test]
    fn shred_twice_deletes_once() {
        let dir = tempfile::tempdir().unwrap();
        let vault = vault(dir.path());
        let id = vault.seal(&owner(), b"Twice").unwrap();
        assert_eq!(vault.shred(&[id, Uuid::now_v7()]).unwrap(), 1);
        assert_eq!(vault.shred(&[id]).unwrap(), 0);
        drop(vault);
        assert!(!self::vault(dir.path()).contains(id));
    }
}
