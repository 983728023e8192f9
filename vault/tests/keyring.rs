//! The keyring end to end: seal, reopen, bindings, wrong master key.

use base64::Engine;
use keyward_vault::{MasterKey, MasterKeySource, SecretKind, SecretOwner, Vault, VaultError};
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

#[test]
fn sealed_secret_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let vault = Vault::open(dir.path(), master(1)).unwrap();
        vault.seal(&owner(), b"VaultMarkerSecret77").unwrap()
    };
    let vault = Vault::open(dir.path(), master(1)).unwrap();
    assert_eq!(
        vault.open_secret(id).unwrap().expose(),
        b"VaultMarkerSecret77"
    );
}

#[test]
fn wrong_master_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    Vault::open(dir.path(), master(1)).unwrap();
    let err = Vault::open(dir.path(), master(2)).unwrap_err();
    assert!(
        matches!(err, VaultError::WrongMasterKey { version: 1 }),
        "{err}"
    );
}

#[test]
fn plaintext_is_not_in_the_keyring_file() {
    let dir = tempfile::tempdir().unwrap();
    let marker = b"KeyringPlaintextMarker42";
    let vault = Vault::open(dir.path(), master(3)).unwrap();
    vault.seal(&owner(), marker).unwrap();
    drop(vault);
    let encoded = base64::engine::general_purpose::STANDARD.encode(marker);
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&data);
        assert!(!text.contains("KeyringPlaintextMarker42"));
        assert!(!text.contains(&encoded));
        assert!(!text.contains(&hex::encode(marker)));
    }
}

#[test]
fn unknown_secret_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::open(dir.path(), master(1)).unwrap();
    let missing = Uuid::now_v7();
    assert!(matches!(vault.open_secret(missing), Err(VaultError::NotFound(id)) if id == missing));
}
