use std::sync::{Arc, Barrier};

use chrono::TimeDelta;

use super::*;

fn open() -> (tempfile::TempDir, AccountStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = AccountStore::open(dir.path()).unwrap();
    (dir, store)
}

fn session(account_id: Uuid, now: DateTime<Utc>) -> Credential {
    Credential {
        credential_id: Uuid::now_v7(),
        account_id,
        kind: CredentialKind::Session,
        transport: SessionTransport::Bearer,
        scope: None,
        name: String::new(),
        device: "curl".into(),
        address: Some("127.0.0.1".into()),
        created_at: now,
        last_used_at: now,
        authenticated_at: now,
        idle_timeout: Some(Duration::from_secs(30 * 60)),
        expires_at: now + TimeDelta::hours(12),
    }
}

#[test]
fn username_is_claimed_once() {
    let (_dir, store) = open();
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    assert!(store.claim_username("alice", first).unwrap());
    assert!(!store.claim_username("alice", second).unwrap());
    assert_eq!(store.account_id("alice").unwrap(), Some(first));
    store.release_username("alice", second).unwrap();
    assert_eq!(
        store.account_id("alice").unwrap(),
        Some(first),
        "not second's to release"
    );
    assert_eq!(store.account_id("bob").unwrap(), None);
}

#[test]
fn token_check_finds_only_active_sessions() {
    let (_dir, store) = open();
    let now = Utc::now();
    let credential = session(Uuid::now_v7(), now);
    let hash = [7u8; 32];
    store.insert_credential(&credential, &hash).unwrap();
    let TokenCheck::Valid(found) = store.check_token(&hash, now).unwrap() else {
        panic!("the session should be valid");
    };
    assert_eq!(found.credential_id, credential.credential_id);
    assert_eq!(
        store.check_token(&[8u8; 32], now).unwrap(),
        TokenCheck::Unknown
    );

    let ended = store
        .end_credential(
            credential.account_id,
            credential.credential_id,
            CredentialKind::Session,
            SessionEnd::LoggedOut,
            now,
        )
        .unwrap();
    assert!(ended);
    assert_eq!(store.check_token(&hash, now).unwrap(), TokenCheck::Unknown);
}

#[test]
fn another_account_cannot_end_a_session() {
    let (_dir, store) = open();
    let now = Utc::now();
    let credential = session(Uuid::now_v7(), now);
    store.insert_credential(&credential, &[1u8; 32]).unwrap();
    let ended = store
        .end_credential(
            Uuid::now_v7(),
            credential.credential_id,
            CredentialKind::Session,
            SessionEnd::Terminated,
            now,
        )
        .unwrap();
    assert!(!ended);
    assert!(matches!(
        store.check_token(&[1u8; 32], now).unwrap(),
        TokenCheck::Valid(_)
    ));
}

#[test]
fn idle_and_absolute_timeouts_end_sessions() {
    let (_dir, store) = open();
    let now = Utc::now();
    let idle = session(Uuid::now_v7(), now);
    store.insert_credential(&idle, &[1u8; 32]).unwrap();
    let later = now + TimeDelta::minutes(30);
    let check = store.check_token(&[1u8; 32], later).unwrap();
    assert!(
        matches!(
            check,
            TokenCheck::TimedOut {
                reason: SessionEnd::IdleTimeout,
                ..
            }
        ),
        "{check:?}"
    );
    assert_eq!(
        store.check_token(&[1u8; 32], later).unwrap(),
        TokenCheck::Unknown
    );

    let busy = session(Uuid::now_v7(), now);
    store.insert_credential(&busy, &[2u8; 32]).unwrap();
    let mut at = now;
    while at < now + TimeDelta::hours(12) - TimeDelta::minutes(20) {
        at += TimeDelta::minutes(20);
        assert!(matches!(
            store.check_token(&[2u8; 32], at).unwrap(),
            TokenCheck::Valid(_)
        ));
    }
    let check = store
        .check_token(&[2u8; 32], now + TimeDelta::hours(12))
        .unwrap();
    assert!(
        matches!(
            check,
            TokenCheck::TimedOut {
                reason: SessionEnd::Expired,
                ..
            }
        ),
        "{check:?}"
    );
}

#[test]
fn api_token_has_no_idle_timeout_but_expires() {
    let (_dir, store) = open();
    let now = Utc::now();
    let token = Credential {
        kind: CredentialKind::ApiToken,
        scope: Some(TokenScope::Read),
        idle_timeout: None,
        expires_at: now + TimeDelta::days(2),
        ..session(Uuid::now_v7(), now)
    };
    store.insert_credential(&token, &[9u8; 32]).unwrap();
    let day_later = now + TimeDelta::days(1);
    let TokenCheck::Valid(found) = store.check_token(&[9u8; 32], day_later).unwrap() else {
        panic!("an API token unused for a day is still valid");
    };
    assert_eq!(found.scope, Some(TokenScope::Read));
    let check = store
        .check_token(&[9u8; 32], now + TimeDelta::days(2))
        .unwrap();
    assert!(
        matches!(
            check,
            TokenCheck::TimedOut {
                kind: CredentialKind::ApiToken,
                reason: SessionEnd::Expired,
                ..
            }
        ),
        "{check:?}"
    );
    let sessions = store
        .active_credentials(token.account_id, CredentialKind::Session, now)
        .unwrap();
    assert!(sessions.is_empty(), "API tokens are not listed as sessions");
}

#[test]
fn ending_other_sessions_keeps_the_current_one() {
    let (_dir, store) = open();
    let now = Utc::now();
    let account = Uuid::now_v7();
    let sessions: Vec<Credential> = (0..3).map(|_| session(account, now)).collect();
    for (i, credential) in sessions.iter().enumerate() {
        store.insert_credential(credential, &[i as u8; 32]).unwrap();
    }
    let keep = sessions[1].credential_id;
    let ended = store
        .end_sessions_except(account, Some(keep), SessionEnd::Terminated, now)
        .unwrap();
    assert_eq!(ended.len(), 2);
    assert!(!ended.contains(&keep));
    let active = store
        .active_credentials(account, CredentialKind::Session, now)
        .unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].credential_id, keep);
}

#[test]
fn rotated_token_replaces_the_old_one() {
    let (_dir, store) = open();
    let now = Utc::now();
    let credential = session(Uuid::now_v7(), now - TimeDelta::minutes(10));
    store.insert_credential(&credential, &[1u8; 32]).unwrap();
    assert!(
        store
            .rotate_token(credential.credential_id, &[2u8; 32], now)
            .unwrap()
    );
    assert_eq!(
        store.check_token(&[1u8; 32], now).unwrap(),
        TokenCheck::Unknown
    );
    let TokenCheck::Valid(found) = store.check_token(&[2u8; 32], now).unwrap() else {
        panic!("the new token should be valid");
    };
    assert_eq!(
        found.authenticated_at.timestamp_millis(),
        now.timestamp_millis()
    );
}

#[test]
fn totp_step_is_used_once_and_never_backwards() {
    let (_dir, store) = open();
    let account = Uuid::now_v7();
    assert!(store.use_totp_step(account, 100).unwrap());
    assert!(!store.use_totp_step(account, 100).unwrap(), "replay");
    assert!(!store.use_totp_step(account, 99).unwrap(), "an older step");
    assert!(store.use_totp_step(account, 101).unwrap());
    assert!(
        store.use_totp_step(Uuid::now_v7(), 100).unwrap(),
        "other accounts apart"
    );
}

#[test]
fn totp_step_is_used_once_under_concurrency() {
    let (_dir, store) = open();
    let store = Arc::new(store);
    let account = Uuid::now_v7();
    for step in 1..=20 {
        let barrier = Arc::new(Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let store = Arc::clone(&store);
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    store.use_totp_step(account, step).unwrap()
                })
            })
            .collect();
        let accepted = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|accepted| *accepted)
            .count();
        assert_eq!(accepted, 1, "step {step}");
    }
}

#[test]
fn recovery_code_is_used_once() {
    let (_dir, store) = open();
    let account = Uuid::now_v7();
    let hashes: Vec<[u8; 32]> = (0..10u8).map(|i| [i; 32]).collect();
    store.replace_recovery_codes(account, &hashes).unwrap();
    let now = Utc::now();
    assert_eq!(
        store.use_recovery_code(account, &[3u8; 32], now).unwrap(),
        Some(9)
    );
    assert_eq!(
        store.use_recovery_code(account, &[3u8; 32], now).unwrap(),
        None
    );
    assert_eq!(
        store
            .use_recovery_code(Uuid::now_v7(), &[4u8; 32], now)
            .unwrap(),
        None
    );
    store.replace_recovery_codes(account, &[]).unwrap();
    assert_eq!(
        store.use_recovery_code(account, &[4u8; 32], now).unwrap(),
        None
    );
}

#[test]
fn throttle_counts_concurrent_attempts() {
    let (_dir, store) = open();
    let store = Arc::new(store);
    let subjects = vec![ThrottleSubject::username("alice", ThrottlePolicy::ACCOUNT)];
    let now = Utc::now();
    let barrier = Arc::new(Barrier::new(10));
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let (store, barrier, subjects) =
                (Arc::clone(&store), Arc::clone(&barrier), subjects.clone());
            std::thread::spawn(move || {
                barrier.wait();
                store.reserve_attempt(&subjects, now).unwrap().is_ok()
            })
        })
        .collect();
    let allowed = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|allowed| *allowed)
        .count();
    assert_eq!(allowed, 3, "only the free failures pass at once");
}

#[test]
fn throttle_refusal_of_one_subject_counts_nothing() {
    let (_dir, store) = open();
    let now = Utc::now();
    let locked_policy = ThrottlePolicy {
        lock_after: 1,
        ..ThrottlePolicy::SOURCE
    };
    let address = ThrottleSubject::address("10.0.0.1", locked_policy);
    store
        .reserve_attempt(std::slice::from_ref(&address), now)
        .unwrap()
        .unwrap();
    let user = ThrottleSubject::username("bob", ThrottlePolicy::ACCOUNT);
    let refused = store
        .reserve_attempt(&[user.clone(), address], now)
        .unwrap();
    assert!(
        matches!(refused, Err(Refusal::Locked { .. })),
        "{refused:?}"
    );
    let reservations = store.reserve_attempt(&[user], now).unwrap().unwrap();
    assert_eq!(
        reservations[0].record.failures, 1,
        "the refused attempt was not counted"
    );
}
