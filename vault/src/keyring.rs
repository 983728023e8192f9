//! The keyring: sealed secrets and wrapped data keys in `keyring.db`, beside the event log.
//!
//! Rows are cached in memory as ciphertext, so opening a secret costs a derivation, an unwrap
//! and a decryption but no disk read; no data key or plaintext is ever cached.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, RwLock};

use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use crate::VaultError;
use crate::envelope::{self, Sealed, SecretKind, SecretOwner, WrappedKey};
use crate::master::MasterKey;
use crate::secret::SecretBytes;

/// File name of the keyring inside a data dir.
pub const KEYRING_FILE: &str = "keyring.db";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS master_key_versions (
    version       INTEGER PRIMARY KEY,
    key_check     BLOB    NOT NULL,
    created_at_us INTEGER NOT NULL,
    retired_at_us INTEGER
);
CREATE TABLE IF NOT EXISTS vault_info (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS data_keys (
    dek_id      BLOB    PRIMARY KEY,
    kek_version INTEGER NOT NULL,
    salt        BLOB    NOT NULL,
    nonce       BLOB    NOT NULL,
    wrapped     BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS secrets (
    secret_id  BLOB PRIMARY KEY,
    dek_id     BLOB NOT NULL,
    account_id BLOB,
    record_id  BLOB NOT NULL,
    kind       TEXT NOT NULL,
    context    TEXT NOT NULL,
    nonce      BLOB NOT NULL,
    ciphertext BLOB NOT NULL
);
";

/// One stored secret with its wrapped data key.
#[derive(Clone)]
pub(crate) struct Entry {
    owner: SecretOwner,
    dek_id: Uuid,
    wrapped: WrappedKey,
    sealed: Sealed,
}

/// Envelope encryption over the keyring.
pub struct Vault {
    conn: Mutex<Connection>,
    pub(crate) entries: RwLock<HashMap<Uuid, Entry>>,
    pub(crate) master: MasterKey,
    pub(crate) kek_version: u32,
    vault_id: Uuid,
    path: PathBuf,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("path", &self.path)
            .field("kek_version", &self.kek_version)
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// Opens the keyring in `data_dir`, creating it on first use, and checks that `master` is
    /// the master key the data dir was created with.
    ///
    /// # Errors
    /// [`VaultError::WrongMasterKey`] for another master key; storage errors otherwise.
    pub fn open(data_dir: &Path, master: MasterKey) -> Result<Self, VaultError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            VaultError::Storage(format!(
                "cannot create data dir {}: {e}",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join(KEYRING_FILE);
        let conn = Connection::open(&path)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA secure_delete=ON;",
        )?;
        conn.execute_batch(SCHEMA)?;
        add_retired_column(&conn)?;
        let kek_version = check_master_key(&conn, &master)?;
        let vault_id = vault_id(&conn)?;
        let entries = load_entries(&conn)?;
        Ok(Vault {
            conn: Mutex::new(conn),
            entries: RwLock::new(entries),
            master,
            kek_version,
            vault_id,
            path,
        })
    }

    /// Returns the id of this keyring, created with it; the vault's events go to `vault-<id>`.
    pub fn id(&self) -> Uuid {
        self.vault_id
    }

    /// The master key version new wraps are made under.
    pub fn current_version(&self) -> u32 {
        self.kek_version
    }

    /// Seals a secret under a new data key and stores both; returns the secret's id.
    ///
    /// # Errors
    /// Fails when randomness or storage fails; nothing is stored then.
    pub fn seal(&self, owner: &SecretOwner, plaintext: &[u8]) -> Result<Uuid, VaultError> {
        let secret_id = Uuid::now_v7();
        let dek_id = Uuid::now_v7();
        let (wrapped, sealed) = envelope::seal_new(
            &self.master,
            self.kek_version,
            dek_id,
            secret_id,
            owner,
            plaintext,
        )?;
        let entry = Entry {
            owner: owner.clone(),
            dek_id,
            wrapped,
            sealed,
        };
        self.store(secret_id, &entry)?;
        self.entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(secret_id, entry);
        Ok(secret_id)
    }

    /// Opens a secret for immediate use; the plaintext is wiped when the result drops.
    ///
    /// # Errors
    /// [`VaultError::NotFound`] for an unknown id, [`VaultError::Tampered`] when anything of it
    /// was altered.
    pub fn open_secret(&self, secret_id: Uuid) -> Result<SecretBytes, VaultError> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let entry = entries
            .get(&secret_id)
            .ok_or(VaultError::NotFound(secret_id))?;
        let dek = envelope::unwrap_data_key(&self.master, entry.dek_id, &entry.wrapped)?;
        envelope::open(&dek, secret_id, &entry.owner, &entry.sealed)
    }

    /// The owner a secret was sealed for.
    pub fn owner(&self, secret_id: Uuid) -> Option<SecretOwner> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries.get(&secret_id).map(|e| e.owner.clone())
    }

    /// Number of stored secrets.
    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keyring's connection.
    pub(crate) fn connection(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The master key and the version new wraps are made under.
    pub(crate) fn master_key(&self) -> &MasterKey {
        &self.master
    }

    pub(crate) fn current_kek_version(&self) -> u32 {
        self.kek_version
    }

    fn store(&self, secret_id: Uuid, entry: &Entry) -> Result<(), VaultError> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO data_keys (dek_id, kek_version, salt, nonce, wrapped) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                entry.dek_id.as_bytes().as_slice(),
                entry.wrapped.kek_version,
                entry.wrapped.salt.as_slice(),
                entry.wrapped.nonce.as_slice(),
                entry.wrapped.ciphertext,
            ],
        )?;
        tx.execute(
            "INSERT INTO secrets (secret_id, dek_id, account_id, record_id, kind, context, nonce, \
             ciphertext) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                secret_id.as_bytes().as_slice(),
                entry.dek_id.as_bytes().as_slice(),
                entry.owner.account_id.map(|id| id.as_bytes().to_vec()),
                entry.owner.record_id.as_bytes().as_slice(),
                entry.owner.kind.as_str(),
                entry.owner.context,
                entry.sealed.nonce.as_slice(),
                entry.sealed.ciphertext,
            ],
        )?;
        tx.commit()?;
        Ok(())
    }
}

/// Registers the master key on first use, or checks it against the stored key check; returns
/// the current master key version.
fn check_master_key(conn: &Connection, master: &MasterKey) -> Result<u32, VaultError> {
    let current: Option<(u32, Vec<u8>)> = conn
        .query_row(
            "SELECT version, key_check FROM master_key_versions ORDER BY version DESC LIMIT 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    match current {
        Some((version, check)) if check == master.key_check() => Ok(version),
        Some((version, _)) => match version_of_key(conn, master)? {
            Some(old) => Err(VaultError::RotatedMasterKey {
                version: old,
                current: version,
            }),
            None => Err(VaultError::WrongMasterKey { version }),
        },
        None => {
            conn.execute(
                "INSERT INTO master_key_versions (version, key_check, created_at_us) \
                 VALUES (1, ?1, ?2)",
                params![master.key_check().as_slice(), now_us()],
            )?;
            Ok(1)
        }
    }
}

/// The stored master key version whose key check matches `master`, if any.
pub(crate) fn version_of_key(
    conn: &Connection,
    master: &MasterKey,
) -> Result<Option<u32>, VaultError> {
    let version = conn
        .query_row(
            "SELECT version FROM master_key_versions WHERE key_check = ?1",
            [master.key_check().as_slice()],
            |row| row.get(0),
        )
        .optional()?;
    Ok(version)
}

/// Adds the retirement column to a keyring created before master keys could be retired.
fn add_retired_column(conn: &Connection) -> Result<(), VaultError> {
    let mut statement =
        conn.prepare("SELECT name FROM pragma_table_info('master_key_versions')")?;
    let names = statement.query_map([], |row| row.get::<_, String>(0))?;
    for name in names {
        if name? == "retired_at_us" {
            return Ok(());
        }
    }
    conn.execute_batch("ALTER TABLE master_key_versions ADD COLUMN retired_at_us INTEGER")?;
    Ok(())
}

/// Reads the keyring's id, creating it on first use.
fn vault_id(conn: &Connection) -> Result<Uuid, VaultError> {
    let stored: Option<Vec<u8>> = conn
        .query_row(
            "SELECT value FROM vault_info WHERE name = 'vault_id'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    if let Some(bytes) = stored {
        return Uuid::from_slice(&bytes)
            .map_err(|_| VaultError::Storage("the keyring's vault_id is not a UUID".into()));
    }
    let id = Uuid::now_v7();
    conn.execute(
        "INSERT INTO vault_info (name, value) VALUES ('vault_id', ?1)",
        [id.as_bytes().as_slice()],
    )?;
    Ok(id)
}

/// Microseconds since the Unix epoch, for the keyring's timestamps.
pub(crate) fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

pub(crate) fn load_entries(conn: &Connection) -> Result<HashMap<Uuid, Entry>, VaultError> {
    let mut statement = conn.prepare(
        "SELECT s.secret_id, s.dek_id, s.account_id, s.record_id, s.kind, s.context, s.nonce, \
         s.ciphertext, d.kek_version, d.salt, d.nonce, d.wrapped \
         FROM secrets s JOIN data_keys d ON d.dek_id = s.dek_id",
    )?;
    let rows = statement.query_map([], |row| {
        let columns: OwnerColumns = (
            row.get(0)?,
            row.get(1)?,
            row.get(2)?,
            row.get(3)?,
            row.get(4)?,
            row.get(5)?,
        );
        let crypto: CryptoColumns = (
            row.get(6)?,
            row.get(7)?,
            row.get(8)?,
            row.get(9)?,
            row.get(10)?,
            row.get(11)?,
        );
        Ok((columns, crypto))
    })?;
    let mut entries = HashMap::new();
    for row in rows {
        let (columns, crypto) = row?;
        let (secret_id, entry) = decode_entry(columns, crypto)?;
        entries.insert(secret_id, entry);
    }
    Ok(entries)
}

type OwnerColumns = (Vec<u8>, Vec<u8>, Option<Vec<u8>>, Vec<u8>, String, String);
type CryptoColumns = (Vec<u8>, Vec<u8>, u32, Vec<u8>, Vec<u8>, Vec<u8>);

fn decode_entry(columns: OwnerColumns, crypto: CryptoColumns) -> Result<(Uuid, Entry), VaultError> {
    let (secret_id, dek_id, account_id, record_id, kind, context) = columns;
    let (nonce, ciphertext, kek_version, salt, wrap_nonce, wrapped) = crypto;
    let bad = || VaultError::Storage("a keyring row has a malformed column".into());
    let uuid = |bytes: &[u8]| Uuid::from_slice(bytes).map_err(|_| bad());
    let secret_id = uuid(&secret_id)?;
    let account_id = account_id.map(|bytes| uuid(&bytes)).transpose()?;
    let entry = Entry {
        owner: SecretOwner {
            account_id,
            record_id: uuid(&record_id)?,
            kind: SecretKind::parse(&kind).ok_or_else(bad)?,
            context,
        },
        dek_id: uuid(&dek_id)?,
        wrapped: WrappedKey {
            kek_version,
            salt: salt.as_slice().try_into().map_err(|_| bad())?,
            nonce: wrap_nonce.as_slice().try_into().map_err(|_| bad())?,
            ciphertext: wrapped,
        },
        sealed: Sealed {
            nonce: nonce.as_slice().try_into().map_err(|_| bad())?,
            ciphertext,
        },
    };
    Ok((secret_id, entry))
}
