//! Lifecycle decisions of a bot: configure, activate (with the conditions for going live),
//! pause and stop. Plain functions of the bot's state and the command; the caller appends.

use chrono::{DateTime, Duration, Utc};
use keyward_events::bot::{
    BotActivated, BotConfigured, BotMode, BotPaused, BotStopped, PauseReason,
};
use serde::Serialize;

use super::state::{BotState, BotStatus};

/// A lifecycle command that does not fit the bot's status.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bot is {status}; {action}")]
pub struct LifecycleConflict {
    pub status: &'static str,
    pub action: &'static str,
}

/// Facts going live is checked on beyond the bot's own stream, gathered by the caller from the
/// account's and the key's actors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveFacts {
    pub two_factor_on: bool,
    /// The bot's key, when it has one that belongs to its account.
    pub key: Option<KeyFacts>,
    /// Host the exchange adapter sends to now; `None` when no adapter is configured.
    pub current_host: Option<String>,
}

/// The key's verification as its actor records it after the probe at activation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyFacts {
    /// Whether the key's status is `verified`.
    pub verified: bool,
    /// Whether the key's status is `rejected`, as after a probe found withdrawals enabled.
    pub rejected: bool,
    /// Whether the probe at activation could not complete (timeout, 5xx, rate limit).
    pub probe_failed: bool,
    /// Host and time of its last `WithdrawalDisabledConfirmed`.
    pub verified_against: Option<(String, DateTime<Utc>)>,
}

/// Age and span limits of the evidence for going live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LivePolicy {
    /// Oldest accepted `WithdrawalDisabledConfirmed`.
    pub max_verification_age: Duration,
    /// Shortest backtest, first to last candle, that counts as a track record.
    pub min_backtest_span: Duration,
    /// Shortest paper run that counts as a track record.
    pub min_paper_span: Duration,
}

impl Default for LivePolicy {
    fn default() -> Self {
        Self {
            max_verification_age: Duration::hours(24),
            min_backtest_span: Duration::days(30),
            min_paper_span: Duration::hours(24),
        }
    }
}

/// A condition for going live that is not met, as reported in `activation_refused`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unmet {
    /// The account has no second factor enabled.
    TwoFactorDisabled,
    /// The bot has no key.
    KeyMissing,
    /// The key is not verified (pending, unreachable or deleted).
    KeyNotVerified,
    /// The probe at activation rejected the key.
    KeyRejected,
    /// The probe at activation could not reach the exchange or got no valid response.
    KeyProbeFailed,
    /// The key was verified against another exchange host than the current one.
    KeyVerifiedForOtherHost,
    /// The key's withdrawal check is older than allowed.
    KeyVerificationStale,
    /// The recorded risk configuration is invalid.
    RiskConfigInvalid,
    /// No long enough backtest or paper run of this configuration hash.
    NoTrackRecord,
}

impl Unmet {
    /// Returns what to do about the condition.
    pub fn message(self) -> &'static str {
        match self {
            Self::TwoFactorDisabled => "enable two-factor authentication on the account",
            Self::KeyMissing => "configure the bot with a key",
            Self::KeyNotVerified => "wait for the key's probe to verify it",
            Self::KeyRejected => {
                "fix the key on the exchange as its rejection reasons say, then rotate it"
            }
            Self::KeyProbeFailed => {
                "the key could not be probed at activation; try again once the exchange answers"
            }
            Self::KeyVerifiedForOtherHost => {
                "probe the key again against the exchange host configured now"
            }
            Self::KeyVerificationStale => "probe the key again; its check is over 24 hours old",
            Self::RiskConfigInvalid => "configure the bot with a valid risk configuration",
            Self::NoTrackRecord => {
                "run a backtest over 30 days or a paper run of 24 hours of this configuration"
            }
        }
    }
}

/// Returns every condition for going live that `bot` does not meet at `now`.
pub fn unmet_for_live(
    bot: &BotState,
    facts: &LiveFacts,
    policy: &LivePolicy,
    now: DateTime<Utc>,
) -> Vec<Unmet> {
    let mut unmet = Vec::new();
    if !facts.two_factor_on {
        unmet.push(Unmet::TwoFactorDisabled);
    }
    match (&facts.key, bot.key_id) {
        (_, None) | (None, _) => unmet.push(Unmet::KeyMissing),
        (Some(key), Some(_)) => unmet.extend(key_unmet(key, facts, policy, now)),
    }
    if !bot.risk_valid {
        unmet.push(Unmet::RiskConfigInvalid);
    }
    if !has_track_record(bot, policy) {
        unmet.push(Unmet::NoTrackRecord);
    }
    unmet
}

fn key_unmet(
    key: &KeyFacts,
    facts: &LiveFacts,
    policy: &LivePolicy,
    now: DateTime<Utc>,
) -> Option<Unmet> {
    if key.probe_failed {
        return Some(Unmet::KeyProbeFailed);
    }
    if key.rejected {
        return Some(Unmet::KeyRejected);
    }
    let Some((host, confirmed_at)) = &key.verified_against else {
        return Some(Unmet::KeyNotVerified);
    };
    if !key.verified {
        return Some(Unmet::KeyNotVerified);
    }
    if facts.current_host.as_deref() != Some(host.as_str()) {
        return Some(Unmet::KeyVerifiedForOtherHost);
    }
    if now - *confirmed_at > policy.max_verification_age {
        return Some(Unmet::KeyVerificationStale);
    }
    None
}

fn has_track_record(bot: &BotState, policy: &LivePolicy) -> bool {
    bot.track_records.iter().any(|record| {
        let span = record.to - record.from;
        let needed = if record.paper {
            policy.min_paper_span
        } else {
            policy.min_backtest_span
        };
        record.config_hash == bot.config_hash && span >= needed
    })
}

fn status_name(status: &BotStatus) -> &'static str {
    match status {
        BotStatus::Configured => "configured",
        BotStatus::Active { .. } => "active",
        BotStatus::Paused { .. } => "paused",
        BotStatus::Stopped => "stopped",
    }
}

/// Checks that a new configuration may replace the bot's: only while it is not trading.
///
/// # Errors
/// Returns a conflict while the bot is active or after it stopped.
pub fn check_configurable(bot: &BotState) -> Result<(), LifecycleConflict> {
    match bot.status {
        BotStatus::Configured | BotStatus::Paused { .. } => Ok(()),
        BotStatus::Active { .. } => Err(LifecycleConflict {
            status: "active",
            action: "pause it before changing its configuration",
        }),
        BotStatus::Stopped => Err(LifecycleConflict {
            status: "stopped",
            action: "create a new bot instead",
        }),
    }
}

/// Decides `BotActivated`. Going live must be checked with [`unmet_for_live`] first.
///
/// # Errors
/// Returns a conflict for a stopped bot, one already active, or the backtest mode.
pub fn activate(
    bot: &BotState,
    mode: BotMode,
    exchange_host: Option<String>,
    now: DateTime<Utc>,
) -> Result<BotActivated, LifecycleConflict> {
    let status = status_name(&bot.status);
    match bot.status {
        BotStatus::Stopped => {
            return Err(LifecycleConflict {
                status,
                action: "a stopped bot cannot be activated; create a new bot",
            });
        }
        BotStatus::Active { .. } => {
            return Err(LifecycleConflict {
                status,
                action: "pause it before activating it in another mode",
            });
        }
        BotStatus::Configured | BotStatus::Paused { .. } => {}
    }
    if mode == BotMode::Backtest {
        return Err(LifecycleConflict {
            status,
            action: "activate it in paper or live mode; backtests run through /backtests",
        });
    }
    Ok(BotActivated {
        mode,
        config_hash: bot.config_hash.clone(),
        exchange_host: (mode == BotMode::Live).then_some(exchange_host).flatten(),
        activated_at: now,
    })
}

/// Decides `BotPaused`.
///
/// # Errors
/// Returns a conflict unless the bot is active.
pub fn pause(
    bot: &BotState,
    reason: PauseReason,
    now: DateTime<Utc>,
) -> Result<BotPaused, LifecycleConflict> {
    if !bot.is_active() {
        return Err(LifecycleConflict {
            status: status_name(&bot.status),
            action: "only an active bot can be paused",
        });
    }
    Ok(BotPaused {
        reason,
        paused_at: now,
    })
}

/// Decides `BotStopped`.
///
/// # Errors
/// Returns a conflict when the bot already stopped.
pub fn stop(
    bot: &BotState,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<BotStopped, LifecycleConflict> {
    if bot.status == BotStatus::Stopped {
        return Err(LifecycleConflict {
            status: "stopped",
            action: "it is already stopped",
        });
    }
    Ok(BotStopped {
        reason: reason.to_owned(),
        stopped_at: now,
    })
}

/// Returns whether a replacement configuration differs from the recorded one.
pub fn changes_configuration(bot: &BotState, configured: &BotConfigured) -> bool {
    bot.config_hash != configured.config_hash
}

#[cfg(test)]
mod tests;
