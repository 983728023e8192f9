//! A key's state and the pure functions that decide its events and apply them.

use chrono::{DateTime, Utc};
use keyward_adapters::{AdapterError, ProbeReport};
use keyward_events::key::{
    KeyAdded, KeyEvent, KeyFlagged, KeyProbeFailed, KeyProbeStarted, KeyProbed, KeyRejected,
    RejectionReason, VaultRef, WithdrawalDisabledConfirmed,
};
use keyward_events::{Exchange, KeyPermissions};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where a key stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Added, not yet verified; a probe is due or running.
    Pending,
    /// Probed: it works, trades futures, and can neither withdraw nor transfer.
    Verified,
    /// Must not be used; the reasons say why.
    Rejected,
    /// The exchange could not be reached within the retry budget.
    Unreachable,
    Deleted,
}

/// A key as its actor tracks it, rebuilt from its stream. It serializes for projection
/// checkpoints; it holds only a vault reference, never a secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyState {
    pub key_id: Uuid,
    pub account_id: Option<Uuid>,
    pub exchange: Exchange,
    pub label: String,
    pub masked_api_key: String,
    pub vault_ref: VaultRef,
    pub status: KeyStatus,
    pub permissions: Option<KeyPermissions>,
    pub reasons: Vec<RejectionReason>,
    /// Probe attempts since the last success or rejection.
    pub failed_attempts: u32,
    /// Number of the last probe attempt started. It is ahead of `failed_attempts` when a
    /// probe started but recorded no outcome (the process stopped), so such attempts count
    /// against the retry budget too.
    pub attempts_started: u32,
    pub last_probed_at: Option<DateTime<Utc>>,
    /// Host and time of the last `WithdrawalDisabledConfirmed`.
    pub verified_against: Option<(String, DateTime<Utc>)>,
    /// Version of the stream's last event.
    pub version: u64,
}

impl KeyState {
    /// Starts a state from the stream's first event.
    pub fn from_added(added: &KeyAdded) -> Self {
        KeyState {
            key_id: added.key_id,
            account_id: added.account_id,
            exchange: added.exchange,
            label: added.label.clone(),
            masked_api_key: added.masked_api_key.clone(),
            vault_ref: added.vault_ref.clone(),
            status: KeyStatus::Pending,
            permissions: None,
            reasons: Vec::new(),
            failed_attempts: 0,
            attempts_started: 0,
            last_probed_at: None,
            verified_against: None,
            version: 0,
        }
    }

    /// Applies one event at stream version `version`.
    pub fn apply(&mut self, event: &KeyEvent, version: u64) {
        self.version = version;
        match event {
            KeyEvent::KeyAdded(_) | KeyEvent::KeyFlagged(_) => {}
            KeyEvent::KeyProbeStarted(started) => {
                self.attempts_started = started.attempt;
                // A key verified against another host counts as unverified until this probe
                // ends.
                if self.verified_elsewhere(&started.exchange_host) {
                    self.status = KeyStatus::Pending;
                    self.verified_against = None;
                }
            }
            KeyEvent::KeyProbed(probed) => {
                self.permissions = Some(probed.permissions.clone());
                self.last_probed_at = Some(probed.probed_at);
                self.failed_attempts = 0;
                self.attempts_started = 0;
            }
            KeyEvent::KeyProbeFailed(failed) => {
                self.failed_attempts = failed.attempt;
                self.last_probed_at = Some(failed.failed_at);
                if failed.retry_in_ms.is_none() {
                    self.status = KeyStatus::Unreachable;
                }
            }
            KeyEvent::WithdrawalDisabledConfirmed(confirmed) => {
                self.status = KeyStatus::Verified;
                self.reasons.clear();
                self.verified_against =
                    Some((confirmed.exchange_host.clone(), confirmed.confirmed_at));
            }
            KeyEvent::KeyRejected(rejected) => {
                self.status = KeyStatus::Rejected;
                self.reasons = rejected.reasons.clone();
                self.failed_attempts = 0;
                self.attempts_started = 0;
                self.last_probed_at = Some(rejected.rejected_at);
            }
            KeyEvent::KeyRotated(rotated) => {
                self.masked_api_key = rotated.masked_api_key.clone();
                self.vault_ref = rotated.vault_ref.clone();
                self.status = KeyStatus::Pending;
                self.permissions = None;
                self.reasons.clear();
                self.verified_against = None;
                self.failed_attempts = 0;
                self.attempts_started = 0;
            }
            KeyEvent::KeyDeleted(_) => self.status = KeyStatus::Deleted,
        }
    }

    /// Whether the key was verified against a host other than `host`, as after the server's
    /// exchange URLs changed, so it must be probed again before it counts as verified.
    pub fn verified_elsewhere(&self, host: &str) -> bool {
        self.status == KeyStatus::Verified
            && self
                .verified_against
                .as_ref()
                .is_some_and(|(verified_host, _)| verified_host != host)
    }

    /// Whether a probe should run now (after a restart, a pending key resumes probing).
    pub fn needs_probe(&self) -> bool {
        self.status == KeyStatus::Pending
    }

    /// Returns whether the key waits for a later probe because the exchange was unreachable
    /// within the retry budget.
    pub fn needs_reprobe(&self) -> bool {
        self.status == KeyStatus::Unreachable
    }

    /// Number of the next probe attempt, counting attempts that started without an outcome.
    fn next_attempt(&self) -> u32 {
        self.failed_attempts.max(self.attempts_started) + 1
    }
}

/// How often and how patiently a transient probe failure is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before the key is marked unreachable.
    pub max_attempts: u32,
    pub first_delay_ms: u64,
    pub max_delay_ms: u64,
    /// Wait before an unreachable key is probed again, in ms.
    pub reprobe_unreachable_after_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            first_delay_ms: 500,
            max_delay_ms: 30_000,
            reprobe_unreachable_after_ms: 600_000,
        }
    }
}

impl RetryPolicy {
    /// Delay before retrying after failed attempt number `attempt` (from 1), or `None` when the
    /// budget is spent. The delay doubles per attempt up to the maximum.
    pub fn delay_after(&self, attempt: u32) -> Option<u64> {
        if attempt >= self.max_attempts {
            return None;
        }
        let doubled = self
            .first_delay_ms
            .saturating_mul(1u64 << attempt.saturating_sub(1).min(20));
        Some(doubled.min(self.max_delay_ms))
    }
}

/// Decides the event that starts a probe.
pub fn start_probe(state: &KeyState, host: &str, now: DateTime<Utc>) -> KeyEvent {
    KeyEvent::KeyProbeStarted(KeyProbeStarted {
        attempt: state.next_attempt(),
        exchange_host: host.to_owned(),
        started_at: now,
    })
}

/// Decides the events a probe's outcome records, applying keyward's key policy. Withdraw or
/// transfer enabled, or futures trading missing, rejects the key, and so does a permanent
/// error, with the exchange's reason. A transient error is retried until the budget is spent,
/// never sooner than a rate limit's `Retry-After`. `state` has the probe's `KeyProbeStarted`
/// applied.
pub fn probe_outcome(
    state: &KeyState,
    outcome: Result<ProbeReport, AdapterError>,
    host: &str,
    retry: &RetryPolicy,
    now: DateTime<Utc>,
) -> Vec<KeyEvent> {
    match outcome {
        Ok(report) => judge_report(report, now),
        Err(err) if err.is_transient() => {
            let attempt = state.attempts_started.max(state.failed_attempts + 1);
            let asked_ms = err.retry_after().map_or(0, |wait| {
                u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)
            });
            vec![KeyEvent::KeyProbeFailed(KeyProbeFailed {
                attempt,
                cause: err.code().to_owned(),
                message: err.to_string(),
                retry_in_ms: retry.delay_after(attempt).map(|delay| delay.max(asked_ms)),
                exchange_host: host.to_owned(),
                failed_at: now,
            })]
        }
        Err(err) => vec![KeyEvent::KeyRejected(KeyRejected {
            reasons: vec![RejectionReason {
                code: err.code().to_owned(),
                message: err.to_string(),
                hint: Some(err.hint()),
                exchange_code: err.exchange_code(),
            }],
            exchange_host: host.to_owned(),
            rejected_at: now,
        })],
    }
}

fn judge_report(report: ProbeReport, now: DateTime<Utc>) -> Vec<KeyEvent> {
    let reasons = policy_violations(&report.permissions);
    let host = report.exchange_host.clone();
    let ip_restricted = report.permissions.ip_restricted;
    let mut events = vec![KeyEvent::KeyProbed(KeyProbed {
        permissions: report.permissions,
        latency_ms: report.latency_ms,
        clock_offset_ms: report.clock_offset_ms,
        exchange_host: host.clone(),
        raw_flags: report.raw_flags,
        probed_at: now,
    })];
    if !reasons.is_empty() {
        events.push(KeyEvent::KeyRejected(KeyRejected {
            reasons,
            exchange_host: host,
            rejected_at: now,
        }));
        return events;
    }
    events.push(KeyEvent::WithdrawalDisabledConfirmed(
        WithdrawalDisabledConfirmed {
            exchange_host: host,
            confirmed_at: now,
        },
    ));
    if !ip_restricted {
        events.push(KeyEvent::KeyFlagged(KeyFlagged {
            flag: "no_ip_allowlist".into(),
            message: "the key works from any IP address; restrict it to this server's address \
                      in the exchange's API key settings"
                .into(),
            flagged_at: now,
        }));
    }
    events
}

/// The reasons a key's permissions break keyward's policy; empty when the key is acceptable.
pub fn policy_violations(permissions: &KeyPermissions) -> Vec<RejectionReason> {
    let mut reasons = Vec::new();
    let mut reject = |code: &str, message: &str, hint: &str| {
        reasons.push(RejectionReason {
            code: code.into(),
            message: message.into(),
            hint: Some(hint.into()),
            exchange_code: None,
        });
    };
    if permissions.withdraw {
        reject(
            "withdraw_enabled",
            "the key has withdrawal permission enabled",
            "edit the key on the exchange and disable withdrawals, then add it again",
        );
    }
    if permissions.transfer {
        reject(
            "transfer_enabled",
            "the key may transfer funds between accounts",
            "disable internal and universal transfer on the key, then add it again",
        );
    }
    if !permissions.futures_trade {
        reject(
            "futures_trading_missing",
            "the key cannot trade futures",
            "enable futures trading on the key (and open a futures account), then add it again",
        );
    }
    reasons
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn added() -> KeyAdded {
        KeyAdded {
            key_id: Uuid::now_v7(),
            account_id: None,
            exchange: Exchange::Binance,
            label: "main".to_owned(),
            masked_api_key: "abcd…wxyz".to_owned(),
            vault_ref: VaultRef {
                api_key_id: Uuid::now_v7(),
                secret_id: Uuid::now_v7(),
                passphrase_id: None,
            },
            added_at: Utc::now(),
        }
    }

    fn timeout() -> AdapterError {
        AdapterError::Timeout {
            exchange: Exchange::Binance,
            endpoint: "GET /sapi/v1/account/apiRestrictions".to_owned(),
        }
    }

    /// Runs one probe attempt that fails with `error` and applies its events.
    fn failed_attempt(state: &mut KeyState, error: AdapterError, retry: &RetryPolicy) -> KeyEvent {
        let started = start_probe(state, "host", Utc::now());
        state.apply(&started, state.version + 1);
        let mut events = probe_outcome(state, Err(error), "host", retry, Utc::now());
        let failed = events.remove(0);
        state.apply(&failed, state.version + 1);
        failed
    }

    #[test]
    fn key_verified_on_another_host_is_unverified_again() {
        let mut state = KeyState::from_added(&added());
        let confirmed = KeyEvent::WithdrawalDisabledConfirmed(WithdrawalDisabledConfirmed {
            exchange_host: "https://fapi.binance.com".to_owned(),
            confirmed_at: Utc::now(),
        });
        state.apply(&confirmed, 1);
        assert_eq!(state.status, KeyStatus::Verified);
        assert!(!state.verified_elsewhere("https://fapi.binance.com"));
        assert!(state.verified_elsewhere("http://127.0.0.1:9000"));

        let started = start_probe(&state, "http://127.0.0.1:9000", Utc::now());
        state.apply(&started, 2);
        assert_eq!(state.status, KeyStatus::Pending);
        assert!(state.verified_against.is_none());
        assert!(state.needs_probe());
    }

    #[test]
    fn same_host_probe_keeps_key_verified() {
        let mut state = KeyState::from_added(&added());
        let confirmed = KeyEvent::WithdrawalDisabledConfirmed(WithdrawalDisabledConfirmed {
            exchange_host: "host".to_owned(),
            confirmed_at: Utc::now(),
        });
        state.apply(&confirmed, 1);
        let started = start_probe(&state, "host", Utc::now());
        state.apply(&started, 2);
        assert_eq!(state.status, KeyStatus::Verified);
    }

    #[test]
    fn transient_failures_end_unreachable_after_the_budget() {
        let retry = RetryPolicy::default();
        let mut state = KeyState::from_added(&added());
        for attempt in 1..=retry.max_attempts {
            let KeyEvent::KeyProbeFailed(failed) = failed_attempt(&mut state, timeout(), &retry)
            else {
                panic!("a transient failure records KeyProbeFailed");
            };
            assert_eq!(failed.attempt, attempt);
            assert_eq!(failed.cause, "timeout");
            let last = attempt == retry.max_attempts;
            assert_eq!(failed.retry_in_ms.is_none(), last, "attempt {attempt}");
        }
        assert_eq!(state.status, KeyStatus::Unreachable);
        assert!(!state.needs_probe());
        assert!(state.needs_reprobe());
    }

    #[test]
    fn retry_waits_at_least_as_long_as_the_exchange_asks() {
        let retry = RetryPolicy::default();
        let mut state = KeyState::from_added(&added());
        let limited = AdapterError::RateLimited {
            exchange: Exchange::Binance,
            status: 429,
            code: Some(-1003),
            msg: None,
            retry_after: Some(Duration::from_secs(60)),
        };
        let KeyEvent::KeyProbeFailed(failed) = failed_attempt(&mut state, limited, &retry) else {
            panic!("a rate limit records KeyProbeFailed");
        };
        assert_eq!(failed.retry_in_ms, Some(60_000));
        let KeyEvent::KeyProbeFailed(failed) = failed_attempt(&mut state, timeout(), &retry) else {
            panic!("a timeout records KeyProbeFailed");
        };
        assert_eq!(failed.retry_in_ms, Some(1_000), "the backoff doubles");
    }

    #[test]
    fn a_probe_started_without_outcome_counts_as_an_attempt() {
        let mut state = KeyState::from_added(&added());
        let started = start_probe(&state, "host", Utc::now());
        state.apply(&started, 1);
        // The process stopped here; after a restart the next probe is attempt 2.
        let KeyEvent::KeyProbeStarted(next) = start_probe(&state, "host", Utc::now()) else {
            panic!("KeyProbeStarted");
        };
        assert_eq!(next.attempt, 2);
        state.apply(&KeyEvent::KeyProbeStarted(next), 2);
        let events = probe_outcome(
            &state,
            Err(timeout()),
            "host",
            &RetryPolicy::default(),
            Utc::now(),
        );
        let KeyEvent::KeyProbeFailed(failed) = &events[0] else {
            panic!("KeyProbeFailed");
        };
        assert_eq!(failed.attempt, 2);
    }

    #[test]
    fn permanent_errors_reject_at_once() {
        let mut state = KeyState::from_added(&added());
        let started = start_probe(&state, "host", Utc::now());
        state.apply(&started, 1);
        let invalid = AdapterError::InvalidSignature {
            exchange: Exchange::Binance,
            code: Some(-1022),
            msg: "Signature for this request is not valid.".to_owned(),
        };
        let events = probe_outcome(
            &state,
            Err(invalid),
            "host",
            &RetryPolicy::default(),
            Utc::now(),
        );
        let [KeyEvent::KeyRejected(rejected)] = events.as_slice() else {
            panic!("one KeyRejected: {events:?}");
        };
        assert_eq!(rejected.reasons[0].code, "invalid_signature");
        assert!(
            rejected.reasons[0]
                .hint
                .as_deref()
                .unwrap_or("")
                .contains("secret")
        );
    }
}
