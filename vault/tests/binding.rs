//! Associated data: a sealed secret opens only for its own id and owner, and a wrapped data key
//! unwraps only under its own id and master key version.

use keyward_vault::envelope::{self, Sealed, WrappedKey};
use keyward_vault::{MasterKey, MasterKeySource, SecretKind, SecretOwner, Vault, VaultError};
use rusqlite::Connection;
use uuid::Uuid;

fn master(byte: u8) -> MasterKey {
    MasterKey::from_bytes([byte; 32], MasterKeySource::Env("TEST".into()))
}

fn owner() -> SecretOwner {
    SecretOwner {
        account_id: Some(Uuid::now_v7()),
        record_id: Uuid::now_v7(),
        kind: SecretKind::ApiSecret,
        context: "binance".into(),
    }
}

const DEK: [u8; 32] = [9; 32];
const PLAINTEXT: &[u8] = b"BindingMarkerSecret";

fn sealed_for(owner: &SecretOwner, secret_id: Uuid) -> Sealed {
    envelope::seal(&DEK, secret_id, owner, PLAINTEXT).unwrap()
}

#[test]
fn sealed_secret_opens_for_its_owner() {
    let owner = owner();
    let secret_id = Uuid::now_v7();
    let sealed = sealed_for(&owner, secret_id);
    let opened = envelope::open(&DEK, secret_id, &owner, &sealed).unwrap();
    assert_eq!(opened.expose(), PLAINTEXT);
}

#[test]
fn sealed_secret_fails_for_another_account() {
    let owner = owner();
    let secret_id = Uuid::now_v7();
    let sealed = sealed_for(&owner, secret_id);
    let other = SecretOwner {
        account_id: Some(Uuid::now_v7()),
        ..owner.clone()
    };
    let err = envelope::open(&DEK, secret_id, &other, &sealed).unwrap_err();
    assert!(
        matches!(err, VaultError::Tampered(id) if id == secret_id),
        "{err}"
    );
    let unowned = SecretOwner {
        account_id: None,
        ..owner
    };
    assert!(envelope::open(&DEK, secret_id, &unowned, &sealed).is_err());
}

#[test]
fn sealed_secret_fails_for_another_key_id() {
    let owner = owner();
    let secret_id = Uuid::now_v7();
    let sealed = sealed_for(&owner, secret_id);
    let other = SecretOwner {
        record_id: Uuid::now_v7(),
        ..owner
    };
    assert!(envelope::open(&DEK, secret_id, &other, &sealed).is_err());
}

#[test]
fn sealed_secret_fails_for_another_exchange() {
    let owner = owner();
    let secret_id = Uuid::now_v7();
    let sealed = sealed_for(&owner, secret_id);
    let other = SecretOwner {
        context: "okx".into(),
        ..owner
    };
    assert!(envelope::open(&DEK, secret_id, &other, &sealed).is_err());
}

#[test]
fn sealed_secret_fails_for_another_kind() {
    let owner = owner();
    let secret_id = Uuid::now_v7();
    let sealed = sealed_for(&owner, secret_id);
    for kind in [
        SecretKind::ApiKey,
        SecretKind::Passphrase,
        SecretKind::TotpSeed,
        SecretKind::PasswordHash,
    ] {
        let other = SecretOwner {
            kind,
            ..owner.clone()
        };
        assert!(
            envelope::open(&DEK, secret_id, &other, &sealed).is_err(),
            "opened as {kind:?}"
        );
    }
}

#[test]
fn sealed_secret_fails_for_another_secret_id() {
    let owner = owner();
    let sealed = sealed_for(&owner, Uuid::now_v7());
    assert!(envelope::open(&DEK, Uuid::now_v7(), &owner, &sealed).is_err());
}

#[test]
fn sealed_secret_fails_under_another_data_key() {
    let owner = owner();
    let secret_id = Uuid::now_v7();
    let sealed = sealed_for(&owner, secret_id);
    assert!(envelope::open(&[8; 32], secret_id, &owner, &sealed).is_err());
}

fn wrapped(dek_id: Uuid, version: u32) -> WrappedKey {
    envelope::wrap_data_key(&master(1), version, dek_id, &DEK).unwrap()
}

#[test]
fn wrapped_key_unwraps_under_its_id_and_version() {
    let dek_id = Uuid::now_v7();
    let wrap = wrapped(dek_id, 3);
    let dek = envelope::unwrap_data_key(&master(1), dek_id, &wrap).unwrap();
    assert_eq!(*dek, DEK);
}

#[test]
fn wrapped_key_fails_for_another_key_id() {
    let dek_id = Uuid::now_v7();
    let wrap = wrapped(dek_id, 3);
    let other = Uuid::now_v7();
    let err = envelope::unwrap_data_key(&master(1), other, &wrap).unwrap_err();
    assert!(
        matches!(err, VaultError::Tampered(id) if id == other),
        "{err}"
    );
}

#[test]
fn wrapped_key_fails_for_another_version() {
    let dek_id = Uuid::now_v7();
    let wrap = WrappedKey {
        kek_version: 4,
        ..wrapped(dek_id, 3)
    };
    assert!(envelope::unwrap_data_key(&master(1), dek_id, &wrap).is_err());
}

#[test]
fn wrapped_key_fails_with_another_salt() {
    let dek_id = Uuid::now_v7();
    let wrap = wrapped(dek_id, 3);
    let mut salt = wrap.salt;
    salt[0] ^= 1;
    let moved = WrappedKey { salt, ..wrap };
    assert!(envelope::unwrap_data_key(&master(1), dek_id, &moved).is_err());
}

#[test]
fn wrapped_key_fails_under_another_master_key() {
    let dek_id = Uuid::now_v7();
    let wrap = wrapped(dek_id, 3);
    assert!(envelope::unwrap_data_key(&master(2), dek_id, &wrap).is_err());
}

#[test]
fn wraps_of_one_key_use_fresh_salts() {
    let dek_id = Uuid::now_v7();
    let first = wrapped(dek_id, 1);
    let second = wrapped(dek_id, 1);
    assert_ne!(first.salt, second.salt);
    assert_ne!(first.nonce, second.nonce);
    assert_ne!(first.ciphertext, second.ciphertext);
}

/// Two secrets of two keys on disk whose rows had columns swapped, reopened.
struct Swapped {
    _dir: tempfile::TempDir,
    vault: Vault,
    ids: [Uuid; 2],
}

/// Stores two secrets of two keys, then swaps each of `columns` of `table` between their rows.
fn swap_rows(table: &str, columns: &[&str], id_column: &str) -> Swapped {
    let dir = tempfile::tempdir().unwrap();
    let ids = {
        let vault = Vault::open(dir.path(), master(1)).unwrap();
        let first = vault.seal(&owner(), b"FirstSecret").unwrap();
        let second = vault.seal(&owner(), b"SecondSecret").unwrap();
        [first, second]
    };
    let conn = Connection::open(dir.path().join(keyward_vault::KEYRING_FILE)).unwrap();
    let row_ids: Vec<Vec<u8>> = ids
        .iter()
        .map(|id| {
            let query = if table == "secrets" {
                "SELECT secret_id FROM secrets WHERE secret_id = ?1"
            } else {
                "SELECT dek_id FROM secrets WHERE secret_id = ?1"
            };
            conn.query_row(query, [id.as_bytes().as_slice()], |row| row.get(0))
                .unwrap()
        })
        .collect();
    for column in columns {
        let read = |id: &[u8]| -> Vec<u8> {
            let query = format!("SELECT {column} FROM {table} WHERE {id_column} = ?1");
            conn.query_row(&query, [id], |row| row.get(0)).unwrap()
        };
        let (a, b) = (read(&row_ids[0]), read(&row_ids[1]));
        let update = format!("UPDATE {table} SET {column} = ?2 WHERE {id_column} = ?1");
        conn.execute(&update, rusqlite::params![row_ids[0], b])
            .unwrap();
        conn.execute(&update, rusqlite::params![row_ids[1], a])
            .unwrap();
    }
    drop(conn);
    let vault = Vault::open(dir.path(), master(1)).unwrap();
    Swapped {
        _dir: dir,
        vault,
        ids,
    }
}

fn assert_tampered(swapped: &Swapped) {
    for id in swapped.ids {
        let result = swapped.vault.open_secret(id);
        assert!(
            matches!(result, Err(VaultError::Tampered(_))),
            "secret {id} opened after a swap"
        );
    }
}

#[test]
fn keyring_ciphertext_moved_between_records_fails() {
    let swapped = swap_rows("secrets", &["ciphertext"], "secret_id");
    assert_tampered(&swapped);
}

#[test]
fn keyring_secret_moved_with_its_nonce_fails() {
    let swapped = swap_rows("secrets", &["nonce", "ciphertext"], "secret_id");
    assert_tampered(&swapped);
}

#[test]
fn keyring_owner_moved_between_records_fails() {
    let swapped = swap_rows("secrets", &["record_id"], "secret_id");
    assert_tampered(&swapped);
}

#[test]
fn keyring_data_key_reference_moved_fails() {
    let swapped = swap_rows("secrets", &["dek_id"], "secret_id");
    assert_tampered(&swapped);
}

#[test]
fn keyring_wrapped_key_moved_between_records_fails() {
    let swapped = swap_rows("data_keys", &["wrapped"], "dek_id");
    assert_tampered(&swapped);
}

#[test]
fn keyring_whole_wrap_moved_between_records_fails() {
    let swapped = swap_rows("data_keys", &["salt", "nonce", "wrapped"], "dek_id");
    assert_tampered(&swapped);
}

#[test]
fn wrapped_key_of_wrong_length_fails() {
    let dek_id = Uuid::now_v7();
    let mut wrap = wrapped(dek_id, 3);
    wrap.ciphertext.pop();
    assert!(envelope::unwrap_data_key(&master(1), dek_id, &wrap).is_err());
}
