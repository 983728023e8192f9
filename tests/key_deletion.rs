//! Deleting a key shreds its secrets: a copy of the data dir taken afterwards contains neither the
//! wrapped data keys nor the ciphertexts, even in the WAL or free pages, and the master key
//! cannot open them. A deletion interrupted after `KeyDeleted` finishes at the next start.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use common::{Server, key_entry, master_key_b64, scan_for_secrets, write_key_file};
use keyward_eventlog::{EventLog, ExpectedVersion, SegmentLog};
use keyward_events::codec::derive_event_id;
use keyward_events::key::{KeyDeleted, KeyEvent};
use keyward_events::{Category, DomainEvent, Metadata, StreamName};
use keyward_vault::{MasterKey, MasterKeySource, Vault, VaultError};
use rusqlite::{Connection, OpenFlags};
use serde_json::json;
use uuid::Uuid;

const API_KEY: &str = "shredApiKey0001";
const SECRET: &str = "ShredMarkerSecret-7d21c9";

/// A key's rows in the keyring: secret id, ciphertext and wrapped data key.
struct StoredSecret {
    secret_id: Uuid,
    ciphertext: Vec<u8>,
    wrapped: Vec<u8>,
}

/// Reads the sealed secrets of `key_id` straight from the keyring file.
fn stored_secrets(data: &Path, key_id: Uuid) -> Vec<StoredSecret> {
    let conn = Connection::open_with_flags(
        data.join(keyward_vault::KEYRING_FILE),
        OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut statement = conn
        .prepare(
            "SELECT s.secret_id, s.ciphertext, d.wrapped FROM secrets s \
             JOIN data_keys d ON d.dek_id = s.dek_id WHERE s.record_id = ?1",
        )
        .unwrap();
    let rows = statement
        .query_map([key_id.as_bytes().as_slice()], |row| {
            Ok(StoredSecret {
                secret_id: Uuid::from_slice(&row.get::<_, Vec<u8>>(0)?).unwrap(),
                ciphertext: row.get(1)?,
                wrapped: row.get(2)?,
            })
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Lists every file under `root` with the index of each byte string of `needles` it contains.
fn files_containing(root: &Path, needles: &[&[u8]]) -> Vec<(PathBuf, usize)> {
    let mut hits = Vec::new();
    for path in common::files_under(root) {
        let data = std::fs::read(&path).unwrap();
        for (index, needle) in needles.iter().enumerate() {
            if data.windows(needle.len()).any(|w| w == *needle) {
                hits.push((path.clone(), index));
            }
        }
    }
    hits
}

fn test_master_key() -> MasterKey {
    MasterKey::from_base64(&master_key_b64(), MasterKeySource::Env("TEST".into())).unwrap()
}

async fn add_key(server: &Server) -> Uuid {
    let body = json!({"exchange": "binance", "label": "shred", "api_key": API_KEY,
                      "api_secret": SECRET});
    let (status, answer) = server.post("/api/v1/keys", &body).await;
    assert_eq!(status, 202, "{answer}");
    let key_id = answer["key_id"].as_str().unwrap().to_owned();
    let key = server.wait_key(&key_id, Duration::from_secs(5)).await;
    assert_eq!(key["status"], "verified", "{key}");
    key_id.parse().unwrap()
}

fn sandbox_keys(dir: &Path) -> PathBuf {
    write_key_file(dir, &[key_entry(API_KEY, SECRET, true, false)])
}

#[tokio::test]
async fn deleted_key_is_unrecoverable_from_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let keys = sandbox_keys(dir.path());
    let sandbox = ["--sandbox", "--sandbox-keys", keys.to_str().unwrap()];
    let server = Server::start(&data, &dir.path().join("serve.log"), &sandbox).await;
    server.login().await;
    let key_id = add_key(&server).await;
    let stored = stored_secrets(&data, key_id);
    assert_eq!(stored.len(), 2, "the API key and the secret are sealed");
    let other = server
        .register_and_login("mallory", "another long password 42")
        .await;
    let path = format!("/api/v1/keys/{key_id}");
    let (status, answer) = server.send("DELETE", &path, None, Some(&other.token)).await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(stored_secrets(&data, key_id).len(), 2);

    let (status, answer) = server.delete(&format!("/api/v1/keys/{key_id}")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "deleted");
    let (status, again) = server.delete(&format!("/api/v1/keys/{key_id}")).await;
    assert_eq!(status, 404, "{again}");
    let copy = dir.path().join("copy");
    copy_dir(&data, &copy);
    server.stop();

    let mut needles: Vec<&[u8]> = Vec::new();
    for secret in &stored {
        needles.push(&secret.ciphertext);
        needles.push(&secret.wrapped);
    }
    let hits = files_containing(&copy, &needles);
    assert!(
        hits.is_empty(),
        "shredded bytes remain in the copy: {hits:?}"
    );
    let plain = scan_for_secrets(&copy, &[SECRET, API_KEY]);
    assert!(plain.is_empty(), "plaintext in the copy: {plain:?}");
    let wal = copy.join(format!("{}-wal", keyward_vault::KEYRING_FILE));
    assert_eq!(std::fs::metadata(&wal).map_or(0, |m| m.len()), 0);

    let vault = Vault::open(&copy, test_master_key()).unwrap();
    for secret in &stored {
        let result = vault.open_secret(secret.secret_id);
        assert!(
            matches!(result, Err(VaultError::NotFound(_))),
            "secret {} opened from the copy",
            secret.secret_id
        );
    }
    let types: Vec<String> = common::stored_events(&copy)
        .into_iter()
        .filter(|e| e.stream.as_str() == format!("key-{key_id}"))
        .map(|e| e.event_type)
        .collect();
    assert_eq!(types.last().map(String::as_str), Some("KeyDeleted"));
}

/// Appends `KeyDeleted` to a key's stream without shredding, as a crash right after the
/// append would leave it.
async fn append_deletion_only(data: &Path, key_id: Uuid) {
    let log = SegmentLog::open(data).unwrap();
    let stream = StreamName::new(Category::Key, key_id);
    let records = keyward_eventlog::read_whole_stream(&log, &stream)
        .await
        .unwrap();
    let KeyEvent::KeyAdded(added) = KeyEvent::from_recorded(&records[0]).unwrap() else {
        panic!("the stream does not start with KeyAdded");
    };
    let event = KeyEvent::KeyDeleted(KeyDeleted {
        vault_ref: added.vault_ref,
        deleted_at: chrono::Utc::now(),
    });
    let last_version = records.last().unwrap().version;
    let new_event = event.to_new_event(derive_event_id(Uuid::now_v7(), 0), Metadata::default());
    log.append(
        &stream,
        ExpectedVersion::Exact(last_version),
        vec![new_event],
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn start_sweep_finishes_interrupted_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log_path = dir.path().join("serve.log");
    let keys = sandbox_keys(dir.path());
    let sandbox = ["--sandbox", "--sandbox-keys", keys.to_str().unwrap()];
    let server = Server::start(&data, &log_path, &sandbox).await;
    server.login().await;
    let key_id = add_key(&server).await;
    server.stop();
    assert_eq!(stored_secrets(&data, key_id).len(), 2);

    append_deletion_only(&data, key_id).await;
    assert_eq!(
        stored_secrets(&data, key_id).len(),
        2,
        "nothing shredded yet"
    );
    let server = Server::start(&data, &log_path, &sandbox).await;
    server.login().await;
    let (status, key) = server.get(&format!("/api/v1/keys/{key_id}")).await;
    server.stop();

    assert_eq!(status, 200, "{key}");
    assert_eq!(key["status"], "deleted", "{key}");
    assert!(
        stored_secrets(&data, key_id).is_empty(),
        "the sweep left secrets"
    );
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("shredded secrets of deleted keys"), "{log}");
    let encoded = base64::engine::general_purpose::STANDARD.encode(SECRET);
    assert!(!log.contains(&encoded));
}
