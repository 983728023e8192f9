//! A key's state and the pure functions that decide its events and apply them.

use chrono::{DateTime, Utc};
use keyward_adapters::{AdapterError, ProbeReport};
use keyward_events::key::{
    KeyAdded, KeyEvent, KeyFlagged, KeyProbeFailed, KeyProbeStarted, KeyProbed, KeyRejected,
    RejectionReason, VaultRef, WithdrawalDisabledConfirmed,
};
use keyward_events::{Exchange, KeyPermissions};
use serde::Serialize;
use uuid::Uuid;

/// Where a key stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
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

/// A key as its actor knows it, rebuilt from its stream.
#[derive(Clone, Debug, PartialEq)]
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
            last_probed_at: None,
            verified_against: None,
            version: 0,
        }
    }

    /// Applies one event at stream version `version`.
    pub fn apply(&mut self, event: &KeyEvent, version: u64) {
        self.version = version;
        match event {
            KeyEvent::KeyAdded(_) | KeyEvent::KeyProbeStarted(_) | KeyEvent::KeyFlagged(_) => {}
            KeyEvent::KeyProbed(probed) => {
                self.permissions = Some(probed.permissions.clone());
                self.last_probed_at = Some(probed.probed_at);
                self.failed_attempts = 0;
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
                self.last_probed_at = Some(rejected.rejected_at);
            }
            KeyEvent::KeyRotated(rotated) => {
                self.masked_api_key = rotated.masked_api_key.clone();
                self.vault_ref = rotated.vault_ref.clone();
                self.status = KeyStatus::Pending;
                self.permissions = None;
                self.reasons.clear();
                self.verified_against = None;
            }
            KeyEvent::KeyDeleted(_) => self.status = KeyStatus::Deleted,
        }
    }

    /// Whether a probe should run now (after a restart, a pending key resumes probing).
    pub fn needs_probe(&self) -> bool {
        self.status == KeyStatus::Pending
    }
}

/// How often and how patiently a transient probe failure is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before the key is marked unreachable.
    pub max_attempts: u32,
    pub first_delay_ms: u64,
    pub max_delay_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            first_delay_ms: 500,
            max_delay_ms: 30_000,
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
        attempt: state.failed_attempts + 1,
        exchange_host: host.to_owned(),
        started_at: now,
    })
}

/// Decides the events a probe's outcome records, applying keyward's key policy: withdraw or
/// transfer enabled, or futures trading missing, rejects the key; permanent errors reject it
/// with the exchange's reason; transient errors are retried until the budget is spent.
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
            let attempt = state.failed_attempts + 1;
            vec![KeyEvent::KeyProbeFailed(KeyProbeFailed {
                attempt,
                cause: err.code().to_owned(),
                message: err.to_string(),
                retry_in_ms: retry.delay_after(attempt),
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
