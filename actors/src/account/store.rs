//! The account store (`accounts.db`): the strongly consistent state that authentication reads.
//!
//! It contains what must be checked on every request or changed atomically: usernames, session and
//! API token hashes with their timeouts, the last TOTP step used, recovery code hashes and the
//! throttle counts. Every change commits (`synchronous=FULL`) before the call returns, so a
//! session ended here is refused by the very next check. Plaintext tokens and codes never
//! reach it.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use keyward_events::account::{SessionEnd, SessionTransport, TokenScope};
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use super::throttle::{
    AttemptEnd, Refusal, Reservation, SubjectKind, ThrottlePolicy, ThrottleRecord,
};

/// File name of the account store inside a data dir.
pub const ACCOUNT_STORE_FILE: &str = "accounts.db";

/// Maximum length of a username kept in a throttle key; registered usernames are shorter.
const MAX_SUBJECT_CHARS: usize = 128;

/// A session's `last_used_at` is written at most this often, so reads rarely write; an idle
/// timeout may therefore end a session up to this much early.
const LAST_USED_RESOLUTION_MS: i64 = 1_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS usernames (
    username   TEXT PRIMARY KEY,
    account_id BLOB NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS credentials (
    credential_id    BLOB    PRIMARY KEY,
    account_id       BLOB    NOT NULL,
    token_hash       BLOB    NOT NULL UNIQUE,
    kind             TEXT    NOT NULL,
    transport        TEXT    NOT NULL,
    scope            TEXT,
    name             TEXT    NOT NULL,
    device           TEXT    NOT NULL,
    address          TEXT,
    created_at       INTEGER NOT NULL,
    last_used_at     INTEGER NOT NULL,
    authenticated_at INTEGER NOT NULL,
    idle_timeout_ms  INTEGER,
    expires_at       INTEGER NOT NULL,
    ended_at         INTEGER,
    end_reason       TEXT
);
CREATE INDEX IF NOT EXISTS credentials_by_account ON credentials (account_id);
CREATE TABLE IF NOT EXISTS totp_steps (
    account_id BLOB    PRIMARY KEY,
    last_step  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS recovery_codes (
    account_id BLOB NOT NULL,
    code_hash  BLOB NOT NULL,
    used_at    INTEGER,
    PRIMARY KEY (account_id, code_hash)
);
CREATE TABLE IF NOT EXISTS login_throttle (
    subject        TEXT    PRIMARY KEY,
    failures       INTEGER NOT NULL,
    last_failure_at INTEGER NOT NULL,
    locked_until   INTEGER
);
";

const CREDENTIAL_COLUMNS: &str = "credential_id, account_id, kind, transport, scope, name, \
     device, address, created_at, last_used_at, authenticated_at, idle_timeout_ms, expires_at";

/// Error of the account store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("account store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot create data dir {path}: {source}")]
    CreateDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("account store row is malformed: {0}")]
    Malformed(String),
}

/// Kind of credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialKind {
    /// A login session.
    Session,
    /// A personal API token.
    ApiToken,
}

impl CredentialKind {
    fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Session => "session",
            CredentialKind::ApiToken => "api_token",
        }
    }
}

/// An active session or API token, as stored; never its token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    /// The session id or API token id.
    pub credential_id: Uuid,
    pub account_id: Uuid,
    pub kind: CredentialKind,
    pub transport: SessionTransport,
    /// `None` for login sessions, which may do everything.
    pub scope: Option<TokenScope>,
    /// The API token's name; empty for sessions.
    pub name: String,
    pub device: String,
    pub address: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    /// Time of the last login or re-authentication with a password.
    pub authenticated_at: DateTime<Utc>,
    /// `None` for API tokens, which have no idle timeout.
    pub idle_timeout: Option<Duration>,
    pub expires_at: DateTime<Utc>,
}

/// The result of checking a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenCheck {
    Valid(Credential),
    /// The token belonged to a credential that this check found timed out and ended; the
    /// caller records the end.
    TimedOut {
        account_id: Uuid,
        credential_id: Uuid,
        kind: CredentialKind,
        reason: SessionEnd,
    },
    /// No active credential has this token.
    Unknown,
}

/// The account store; one SQLite connection behind a mutex, each call a short transaction.
pub struct AccountStore {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for AccountStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountStore").finish_non_exhaustive()
    }
}

impl AccountStore {
    /// Opens `accounts.db` in `data_dir`, creating it on first use.
    ///
    /// # Errors
    /// Fails when the folder or the database cannot be created or opened.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::CreateDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        let conn = Connection::open(data_dir.join(ACCOUNT_STORE_FILE))?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA secure_delete=ON;",
        )?;
        conn.execute_batch(SCHEMA)?;
        Ok(AccountStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Claims a username for an account; false when another account has it.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn claim_username(&self, username: &str, account_id: Uuid) -> Result<bool, StoreError> {
        let inserted = self.conn().execute(
            "INSERT INTO usernames (username, account_id) VALUES (?1, ?2) \
             ON CONFLICT (username) DO NOTHING",
            params![username, account_id.as_bytes().as_slice()],
        )?;
        Ok(inserted == 1)
    }

    /// Gives a username back after its registration failed.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn release_username(&self, username: &str, account_id: Uuid) -> Result<(), StoreError> {
        self.conn().execute(
            "DELETE FROM usernames WHERE username = ?1 AND account_id = ?2",
            params![username, account_id.as_bytes().as_slice()],
        )?;
        Ok(())
    }

    /// The account that owns a username.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn account_id(&self, username: &str) -> Result<Option<Uuid>, StoreError> {
        let id: Option<Vec<u8>> = self
            .conn()
            .query_row(
                "SELECT account_id FROM usernames WHERE username = ?1",
                [username],
                |row| row.get(0),
            )
            .optional()?;
        id.map(|bytes| uuid_from(&bytes)).transpose()
    }

    /// Stores a new credential under the hash of its token.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn insert_credential(
        &self,
        credential: &Credential,
        token_hash: &[u8; 32],
    ) -> Result<(), StoreError> {
        let idle_ms = credential.idle_timeout.map(millis);
        self.conn().execute(
            "INSERT INTO credentials (credential_id, account_id, token_hash, kind, transport, \
             scope, name, device, address, created_at, last_used_at, authenticated_at, \
             idle_timeout_ms, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                credential.credential_id.as_bytes().as_slice(),
                credential.account_id.as_bytes().as_slice(),
                token_hash.as_slice(),
                credential.kind.as_str(),
                transport_str(credential.transport),
                credential.scope.map(scope_str),
                credential.name,
                credential.device,
                credential.address,
                credential.created_at.timestamp_millis(),
                credential.last_used_at.timestamp_millis(),
                credential.authenticated_at.timestamp_millis(),
                idle_ms,
                credential.expires_at.timestamp_millis(),
            ],
        )?;
        Ok(())
    }

    /// Checks a token's hash at `now`: valid, just timed out (and now ended), or unknown.
    /// A valid session's `last_used_at` moves to `now`.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn check_token(
        &self,
        token_hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<TokenCheck, StoreError> {
        let conn = self.conn();
        let sql = format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials \
             WHERE token_hash = ?1 AND ended_at IS NULL"
        );
        let found = conn
            .query_row(&sql, [token_hash.as_slice()], credential_from_row)
            .optional()?;
        let Some(credential) = found.transpose()? else {
            return Ok(TokenCheck::Unknown);
        };
        let now_ms = now.timestamp_millis();
        if let Some(reason) = timed_out(&credential, now_ms) {
            let ended = end_where(&conn, &credential.credential_id, reason, now_ms)?;
            if !ended {
                return Ok(TokenCheck::Unknown);
            }
            return Ok(TokenCheck::TimedOut {
                account_id: credential.account_id,
                credential_id: credential.credential_id,
                kind: credential.kind,
                reason,
            });
        }
        if now_ms - credential.last_used_at.timestamp_millis() >= LAST_USED_RESOLUTION_MS {
            conn.execute(
                "UPDATE credentials SET last_used_at = ?1 WHERE credential_id = ?2",
                params![now_ms, credential.credential_id.as_bytes().as_slice()],
            )?;
        }
        Ok(TokenCheck::Valid(Credential {
            last_used_at: now,
            ..credential
        }))
    }

    /// Ends one active credential of an account; false when it is not active or not the
    /// account's.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn end_credential(
        &self,
        account_id: Uuid,
        credential_id: Uuid,
        kind: CredentialKind,
        reason: SessionEnd,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let changed = self.conn().execute(
            "UPDATE credentials SET ended_at = ?1, end_reason = ?2 \
             WHERE credential_id = ?3 AND account_id = ?4 AND kind = ?5 AND ended_at IS NULL",
            params![
                now.timestamp_millis(),
                end_str(reason),
                credential_id.as_bytes().as_slice(),
                account_id.as_bytes().as_slice(),
                kind.as_str(),
            ],
        )?;
        Ok(changed == 1)
    }

    /// Ends every active login session of an account except `keep`; returns the ended ids.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn end_sessions_except(
        &self,
        account_id: Uuid,
        keep: Option<Uuid>,
        reason: SessionEnd,
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let ids: Vec<Uuid> = {
            let mut statement = tx.prepare(
                "SELECT credential_id FROM credentials \
                 WHERE account_id = ?1 AND kind = 'session' AND ended_at IS NULL",
            )?;
            let rows = statement.query_map([account_id.as_bytes().as_slice()], |row| {
                row.get::<_, Vec<u8>>(0)
            })?;
            let mut ids = Vec::new();
            for row in rows {
                ids.push(uuid_from(&row?)?);
            }
            ids.retain(|id| Some(*id) != keep);
            ids
        };
        for id in &ids {
            end_where(&tx, id, reason, now.timestamp_millis())?;
        }
        tx.commit()?;
        Ok(ids)
    }

    /// Gives an active session a new token and records a fresh authentication; false when the
    /// session is no longer active.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn rotate_token(
        &self,
        credential_id: Uuid,
        token_hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let changed = self.conn().execute(
            "UPDATE credentials SET token_hash = ?1, authenticated_at = ?2, last_used_at = ?2 \
             WHERE credential_id = ?3 AND ended_at IS NULL",
            params![
                token_hash.as_slice(),
                now.timestamp_millis(),
                credential_id.as_bytes().as_slice(),
            ],
        )?;
        Ok(changed == 1)
    }

    /// The active credentials of one kind of an account that have not timed out at `now`,
    /// oldest first.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn active_credentials(
        &self,
        account_id: Uuid,
        kind: CredentialKind,
        now: DateTime<Utc>,
    ) -> Result<Vec<Credential>, StoreError> {
        let conn = self.conn();
        let sql = format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials \
             WHERE account_id = ?1 AND kind = ?2 AND ended_at IS NULL ORDER BY created_at"
        );
        let mut statement = conn.prepare(&sql)?;
        let rows = statement.query_map(
            params![account_id.as_bytes().as_slice(), kind.as_str()],
            credential_from_row,
        )?;
        let mut credentials = Vec::new();
        for row in rows {
            let credential = row??;
            if timed_out(&credential, now.timestamp_millis()).is_none() {
                credentials.push(credential);
            }
        }
        Ok(credentials)
    }

    /// Marks TOTP time step `step` used if it is later than every step used before: the
    /// compare-and-set that makes each code valid once, even for concurrent requests.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn use_totp_step(&self, account_id: Uuid, step: i64) -> Result<bool, StoreError> {
        let changed = self.conn().execute(
            "INSERT INTO totp_steps (account_id, last_step) VALUES (?1, ?2) \
             ON CONFLICT (account_id) DO UPDATE SET last_step = excluded.last_step \
             WHERE totp_steps.last_step < excluded.last_step",
            params![account_id.as_bytes().as_slice(), step],
        )?;
        Ok(changed == 1)
    }

    /// Replaces an account's recovery codes with new hashes; an empty list removes them all.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn replace_recovery_codes(
        &self,
        account_id: Uuid,
        hashes: &[[u8; 32]],
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "DELETE FROM recovery_codes WHERE account_id = ?1",
            [account_id.as_bytes().as_slice()],
        )?;
        for hash in hashes {
            tx.execute(
                "INSERT INTO recovery_codes (account_id, code_hash) VALUES (?1, ?2)",
                params![account_id.as_bytes().as_slice(), hash.as_slice()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Uses a recovery code once; returns how many unused codes remain, or `None` when the
    /// code is unknown or already used.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn use_recovery_code(
        &self,
        account_id: Uuid,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<u32>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let changed = tx.execute(
            "UPDATE recovery_codes SET used_at = ?1 \
             WHERE account_id = ?2 AND code_hash = ?3 AND used_at IS NULL",
            params![
                now.timestamp_millis(),
                account_id.as_bytes().as_slice(),
                hash.as_slice()
            ],
        )?;
        let remaining: u32 = tx.query_row(
            "SELECT COUNT(*) FROM recovery_codes WHERE account_id = ?1 AND used_at IS NULL",
            [account_id.as_bytes().as_slice()],
            |row| row.get(0),
        )?;
        tx.commit()?;
        Ok((changed == 1).then_some(remaining))
    }

    /// Counts an attempt against every subject at once, or refuses it when any subject is
    /// locked or must wait. Returns one reservation per subject, in order.
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn reserve_attempt(
        &self,
        subjects: &[ThrottleSubject],
        now: DateTime<Utc>,
    ) -> Result<Result<Vec<Reservation>, Refusal>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut reservations = Vec::with_capacity(subjects.len());
        for subject in subjects {
            let record = throttle_record(&tx, &subject.key)?;
            match subject.policy.reserve(record, now.timestamp_millis()) {
                Ok(reservation) => reservations.push(reservation),
                Err(refusal) => return Ok(Err(refusal)),
            }
        }
        for (subject, reservation) in subjects.iter().zip(&reservations) {
            store_throttle(&tx, &subject.key, &reservation.record)?;
        }
        tx.commit()?;
        Ok(Ok(reservations))
    }

    /// Gives back a counted attempt that did not fail (see [`ThrottlePolicy::release`]).
    ///
    /// # Errors
    /// Fails on a storage error.
    pub fn release_attempt(
        &self,
        subjects: &[ThrottleSubject],
        end: AttemptEnd,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for subject in subjects {
            let record = throttle_record(&tx, &subject.key)?;
            let released = subject.policy.release(record, subject.kind, end);
            store_throttle(&tx, &subject.key, &released)?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// One throttled subject of an attempt: a username or a source address.
#[derive(Clone, Debug)]
pub struct ThrottleSubject {
    pub key: String,
    pub kind: SubjectKind,
    pub policy: ThrottlePolicy,
}

impl ThrottleSubject {
    /// The subject of a (normalized) username, whether or not an account has it.
    pub fn username(username: &str, policy: ThrottlePolicy) -> Self {
        // Longer names cannot exist, so cutting them keeps the key short without merging real
        // usernames.
        let username: String = username.chars().take(MAX_SUBJECT_CHARS).collect();
        ThrottleSubject {
            key: format!("user:{username}"),
            kind: SubjectKind::Username,
            policy,
        }
    }

    /// The registrations of a source address.
    pub fn registration(address: &str, policy: ThrottlePolicy) -> Self {
        ThrottleSubject {
            key: format!("register:{address}"),
            kind: SubjectKind::Address,
            policy,
        }
    }

    /// The subject of a source address.
    pub fn address(address: &str, policy: ThrottlePolicy) -> Self {
        ThrottleSubject {
            key: format!("addr:{address}"),
            kind: SubjectKind::Address,
            policy,
        }
    }
}

fn throttle_record(conn: &Connection, key: &str) -> Result<ThrottleRecord, StoreError> {
    let record = conn
        .query_row(
            "SELECT failures, last_failure_at, locked_until FROM login_throttle \
             WHERE subject = ?1",
            [key],
            |row| {
                Ok(ThrottleRecord {
                    failures: row.get(0)?,
                    last_failure_at_ms: row.get(1)?,
                    locked_until_ms: row.get(2)?,
                })
            },
        )
        .optional()?;
    Ok(record.unwrap_or_default())
}

fn store_throttle(conn: &Connection, key: &str, record: &ThrottleRecord) -> Result<(), StoreError> {
    if *record == ThrottleRecord::default() {
        conn.execute("DELETE FROM login_throttle WHERE subject = ?1", [key])?;
        return Ok(());
    }
    conn.execute(
        "INSERT INTO login_throttle (subject, failures, last_failure_at, locked_until) \
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (subject) DO UPDATE SET \
         failures = excluded.failures, last_failure_at = excluded.last_failure_at, \
         locked_until = excluded.locked_until",
        params![
            key,
            record.failures,
            record.last_failure_at_ms,
            record.locked_until_ms
        ],
    )?;
    Ok(())
}

fn end_where(
    conn: &Connection,
    credential_id: &Uuid,
    reason: SessionEnd,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE credentials SET ended_at = ?1, end_reason = ?2 \
         WHERE credential_id = ?3 AND ended_at IS NULL",
        params![now_ms, end_str(reason), credential_id.as_bytes().as_slice()],
    )?;
    Ok(changed == 1)
}

/// Why a credential has timed out at `now_ms`, if it has.
fn timed_out(credential: &Credential, now_ms: i64) -> Option<SessionEnd> {
    if now_ms >= credential.expires_at.timestamp_millis() {
        return Some(SessionEnd::Expired);
    }
    let idle = credential.idle_timeout?;
    let idle_since = credential.last_used_at.timestamp_millis();
    (now_ms - idle_since >= millis(idle)).then_some(SessionEnd::IdleTimeout)
}

fn credential_from_row(row: &Row<'_>) -> rusqlite::Result<Result<Credential, StoreError>> {
    let id: Vec<u8> = row.get(0)?;
    let account: Vec<u8> = row.get(1)?;
    let kind: String = row.get(2)?;
    let transport: String = row.get(3)?;
    let scope: Option<String> = row.get(4)?;
    let idle_ms: Option<i64> = row.get(11)?;
    let times = [row.get(8)?, row.get(9)?, row.get(10)?, row.get(12)?];
    let text = (row.get(5)?, row.get(6)?, row.get(7)?);
    Ok(build_credential(
        (&id, &account),
        (&kind, &transport, scope.as_deref()),
        text,
        times,
        idle_ms,
    ))
}

type CredentialText = (String, String, Option<String>);

fn build_credential(
    ids: (&[u8], &[u8]),
    names: (&str, &str, Option<&str>),
    (name, device, address): CredentialText,
    [created, last_used, authenticated, expires]: [i64; 4],
    idle_ms: Option<i64>,
) -> Result<Credential, StoreError> {
    let (kind, transport, scope) = names;
    let kind = match kind {
        "session" => CredentialKind::Session,
        "api_token" => CredentialKind::ApiToken,
        other => return Err(StoreError::Malformed(format!("credential kind {other:?}"))),
    };
    let transport = match transport {
        "cookie" => SessionTransport::Cookie,
        _ => SessionTransport::Bearer,
    };
    let scope = match scope {
        Some("read") => Some(TokenScope::Read),
        Some("read_write") => Some(TokenScope::ReadWrite),
        Some(other) => return Err(StoreError::Malformed(format!("token scope {other:?}"))),
        None => None,
    };
    Ok(Credential {
        credential_id: uuid_from(ids.0)?,
        account_id: uuid_from(ids.1)?,
        kind,
        transport,
        scope,
        name,
        device,
        address,
        created_at: time_from(created),
        last_used_at: time_from(last_used),
        authenticated_at: time_from(authenticated),
        idle_timeout: idle_ms.map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0))),
        expires_at: time_from(expires),
    })
}

fn uuid_from(bytes: &[u8]) -> Result<Uuid, StoreError> {
    Uuid::from_slice(bytes).map_err(|_| StoreError::Malformed("an id is not 16 bytes".into()))
}

fn time_from(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn transport_str(transport: SessionTransport) -> &'static str {
    match transport {
        SessionTransport::Cookie => "cookie",
        SessionTransport::Bearer => "bearer",
    }
}

fn scope_str(scope: TokenScope) -> &'static str {
    match scope {
        TokenScope::Read => "read",
        TokenScope::ReadWrite => "read_write",
    }
}

fn end_str(reason: SessionEnd) -> &'static str {
    match reason {
        SessionEnd::LoggedOut => "logged_out",
        SessionEnd::Terminated => "terminated",
        SessionEnd::IdleTimeout => "idle_timeout",
        SessionEnd::Expired => "expired",
        SessionEnd::PasswordChanged => "password_changed",
    }
}

#[cfg(test)]
mod tests;
