//! Master key rotation and retirement on a keyring in a temporary data dir.

use keyward_vault::{MasterKey, MasterKeySource, SecretKind, SecretOwner, Vault, VaultError};
use rusqlite::Connection;
use uuid::Uuid;

fn master(byte: u8) -> MasterKey {
    MasterKey::from_bytes([byte; 32], MasterKeySource::Env("TEST".into()))
}

fn owner(kind: SecretKind) -> SecretOwner {
    SecretOwner {
        account_id: Some(Uuid::now_v7()),
        record_id: Uuid::now_v7(),
        kind,
        context: "okx".into(),
    }
}

/// Reads every row of `table` as bytes of `columns`, ordered by the first column.
fn rows(dir: &std::path::Path, table: &str, columns: &str) -> Vec<Vec<u8>> {
    let conn = Connection::open(dir.join(keyward_vault::KEYRING_FILE)).unwrap();
    let query = format!("SELECT CAST({columns} AS BLOB) FROM {table} ORDER BY 1");
    let mut statement = conn.prepare(&query).unwrap();
    let rows = statement
        .query_map([], |row| row.get::<_, Vec<u8>>(0))
        .unwrap();
    rows.map(Result::unwrap).collect()
}

struct Stored {
    dir: tempfile::TempDir,
    vault: Vault,
    secrets: Vec<(Uuid, &'static [u8])>,
    checkpoint_key: Vec<u8>,
}

fn stored() -> Stored {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::open(dir.path(), master(1)).unwrap();
    let plaintexts: [(SecretKind, &'static [u8]); 3] = [
        (SecretKind::ApiSecret, b"RotationSecretOne"),
        (SecretKind::Passphrase, b"RotationPassphrase"),
        (SecretKind::TotpSeed, b"RotationTotpSeed"),
    ];
    let secrets = plaintexts
        .iter()
        .map(|(kind, text)| (vault.seal(&owner(*kind), text).unwrap(), *text))
        .collect();
    let (_, checkpoint_key) = vault.current_checkpoint_key().unwrap();
    Stored {
        dir,
        vault,
        secrets,
        checkpoint_key: checkpoint_key.expose().to_vec(),
    }
}

#[test]
fn rotation_rewraps_data_keys_only() {
    let mut stored = stored();
    let sealed_before = rows(stored.dir.path(), "secrets", "nonce || ciphertext");
    let wraps_before = rows(stored.dir.path(), "data_keys", "salt || nonce || wrapped");

    let rotation = stored.vault.rotate_master(master(2)).unwrap();

    assert_eq!(rotation.from_version, 1);
    assert_eq!(rotation.to_version, 2);
    assert_eq!(rotation.data_keys_rewrapped, 3);
    assert_eq!(rotation.checkpoint_keys_rewrapped, 1);
    let sealed_after = rows(stored.dir.path(), "secrets", "nonce || ciphertext");
    assert_eq!(sealed_after, sealed_before, "sealed secrets changed");
    let wraps_after = rows(stored.dir.path(), "data_keys", "salt || nonce || wrapped");
    for wrap in &wraps_after {
        assert!(!wraps_before.contains(wrap), "a data key kept its old wrap");
    }
    for (id, text) in &stored.secrets {
        assert_eq!(stored.vault.open_secret(*id).unwrap().expose(), *text);
    }
}

#[test]
fn rotated_keyring_opens_only_with_new_key() {
    let mut stored = stored();
    stored.vault.rotate_master(master(2)).unwrap();
    drop(stored.vault);

    let err = Vault::open(stored.dir.path(), master(1)).unwrap_err();
    assert!(
        matches!(
            err,
            VaultError::RotatedMasterKey {
                version: 1,
                current: 2
            }
        ),
        "{err}"
    );
    let err = Vault::open(stored.dir.path(), master(3)).unwrap_err();
    assert!(
        matches!(err, VaultError::WrongMasterKey { version: 2 }),
        "{err}"
    );
    let reopened = Vault::open(stored.dir.path(), master(2)).unwrap();
    assert_eq!(reopened.current_version(), 2);
    for (id, text) in &stored.secrets {
        assert_eq!(reopened.open_secret(*id).unwrap().expose(), *text);
    }
}

#[test]
fn new_secrets_use_the_new_version() {
    let mut stored = stored();
    stored.vault.rotate_master(master(2)).unwrap();
    let id = stored
        .vault
        .seal(&owner(SecretKind::ApiSecret), b"AfterRotation")
        .unwrap();
    assert_eq!(
        stored.vault.open_secret(id).unwrap().expose(),
        b"AfterRotation"
    );
    let status = stored.vault.status().unwrap();
    assert_eq!(status[1].data_keys, 4);
    assert_eq!(status[0].data_keys, 0);
}

#[test]
fn rotation_rejects_a_known_key() {
    let mut stored = stored();
    let err = stored.vault.rotate_master(master(1)).unwrap_err();
    assert!(
        matches!(err, VaultError::MasterKeyReused { version: 1 }),
        "{err}"
    );
    stored.vault.rotate_master(master(2)).unwrap();
    let err = stored.vault.rotate_master(master(1)).unwrap_err();
    assert!(
        matches!(err, VaultError::MasterKeyReused { version: 1 }),
        "{err}"
    );
    assert_eq!(stored.vault.current_version(), 2);
}

#[test]
fn status_counts_keys_per_version() {
    let mut stored = stored();
    let before = stored.vault.status().unwrap();
    assert_eq!(before.len(), 1);
    assert!(before[0].current);
    assert_eq!(before[0].data_keys, 3);
    assert_eq!(before[0].checkpoint_keys, 1);

    stored.vault.rotate_master(master(2)).unwrap();
    let after = stored.vault.status().unwrap();
    assert_eq!(after.len(), 2);
    assert!(!after[0].current);
    assert_eq!(after[0].data_keys, 0);
    assert_eq!(after[0].checkpoint_keys, 0);
    assert!(after[1].current);
    assert_eq!(after[1].data_keys, 3);
    assert_eq!(after[1].checkpoint_keys, 1);
}

#[test]
fn retiring_a_version_in_use_is_rejected() {
    let stored = stored();
    let err = stored.vault.retire_master_version(1).unwrap_err();
    assert!(
        matches!(
            err,
            VaultError::MasterKeyVersionInUse {
                version: 1,
                data_keys: 3,
                checkpoint_keys: 1
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("rotate-master"), "{err}");
    assert_eq!(stored.vault.status().unwrap()[0].retired_at_us, None);
}

#[test]
fn retiring_the_current_empty_version_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::open(dir.path(), master(1)).unwrap();
    let err = vault.retire_master_version(1).unwrap_err();
    assert!(
        matches!(err, VaultError::CurrentMasterKeyVersion(1)),
        "{err}"
    );
}

#[test]
fn retiring_an_unused_version_succeeds_once() {
    let mut stored = stored();
    stored.vault.rotate_master(master(2)).unwrap();
    stored.vault.retire_master_version(1).unwrap();

    let status = stored.vault.status().unwrap();
    assert!(status[0].retired_at_us.is_some());
    assert_eq!(status[1].retired_at_us, None);
    let again = stored.vault.retire_master_version(1).unwrap_err();
    assert!(
        matches!(again, VaultError::MasterKeyVersionRetired(1)),
        "{again}"
    );
    let unknown = stored.vault.retire_master_version(7).unwrap_err();
    assert!(
        matches!(unknown, VaultError::UnknownMasterKeyVersion(7)),
        "{unknown}"
    );
}

#[test]
fn checkpoint_key_survives_rotation_and_retirement() {
    let mut stored = stored();
    stored.vault.rotate_master(master(2)).unwrap();
    stored.vault.retire_master_version(1).unwrap();
    stored.vault.rotate_master(master(3)).unwrap();
    stored.vault.retire_master_version(2).unwrap();
    drop(stored.vault);

    let reopened = Vault::open(stored.dir.path(), master(3)).unwrap();
    let key = reopened.checkpoint_key(1).unwrap();
    assert_eq!(key.expose(), stored.checkpoint_key.as_slice());
    let (version, current) = reopened.current_checkpoint_key().unwrap();
    assert_eq!(version, 1);
    assert_eq!(current.expose(), stored.checkpoint_key.as_slice());
}

#[test]
fn rotation_overwrites_old_wraps_on_disk() {
    let mut stored = stored();
    let wraps_before = rows(stored.dir.path(), "data_keys", "wrapped");
    stored.vault.rotate_master(master(2)).unwrap();

    for entry in std::fs::read_dir(stored.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        for wrap in &wraps_before {
            let found = bytes.windows(wrap.len()).any(|w| w == wrap.as_slice());
            assert!(!found, "an old wrap remains in {}", path.display());
        }
    }
}
