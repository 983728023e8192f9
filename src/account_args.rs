//! Options of `keyward serve` for accounts: session timeouts, login throttling, proxies and
//! the password hashing cost.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use keyward_actors::account::{
    AccountConfig, AccountContext, AccountService, AccountStore, Argon2Cost, PasswordHasher,
    ThrottlePolicy,
};
use keyward_api::auth::AuthSettings;
use keyward_eventlog::EventLog;
use keyward_vault::Vault;

/// Account and session options.
#[derive(Debug, Clone, clap::Args)]
pub struct AccountArgs {
    /// A session unused this long ends (units s, m, h or d).
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = parse_duration)]
    pub session_idle_timeout: Duration,

    /// A session ends this long after its login, however busy (units s, m, h or d).
    #[arg(long, value_name = "DURATION", default_value = "12h", value_parser = parse_duration)]
    pub session_lifetime: Duration,

    /// Failed logins of one username (known or not) that lock it. After 3 failures, each
    /// further attempt must wait 1 s, 2 s, 4 s… up to 60 s.
    #[arg(long, value_name = "N", default_value_t = ThrottlePolicy::ACCOUNT.lock_after)]
    pub login_lock_after: u32,

    /// Failed logins from one source address that lock it. After 10 failures, each further
    /// attempt must wait as above.
    #[arg(long, value_name = "N", default_value_t = ThrottlePolicy::SOURCE.lock_after)]
    pub login_source_lock_after: u32,

    /// How long a lock lasts (units s, m, h or d).
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = parse_duration)]
    pub login_lock_duration: Duration,

    /// Address of a reverse proxy whose X-Forwarded-For and X-Forwarded-Proto headers are
    /// believed (for the source address and the cookie's Secure flag). Repeatable.
    #[arg(long = "trusted-proxy", value_name = "IP")]
    pub trusted_proxies: Vec<IpAddr>,

    /// Argon2id memory cost in KiB for new password hashes; below 19456 is for tests only.
    #[arg(long, value_name = "KIB", default_value_t = Argon2Cost::RECOMMENDED.memory_kib, hide = true)]
    pub argon2_memory_kib: u32,

    /// Argon2id passes for new password hashes; below 2 is for tests only.
    #[arg(long, value_name = "N", default_value_t = Argon2Cost::RECOMMENDED.iterations, hide = true)]
    pub argon2_iterations: u32,
}

impl AccountArgs {
    /// The session and throttle configuration these options describe.
    ///
    /// # Errors
    /// Fails on a zero timeout or lock threshold.
    pub fn config(&self) -> anyhow::Result<AccountConfig> {
        if self.session_idle_timeout.is_zero() || self.session_lifetime.is_zero() {
            bail!("--session-idle-timeout and --session-lifetime must be longer than 0 s");
        }
        if self.login_lock_after == 0 || self.login_source_lock_after == 0 {
            bail!("--login-lock-after and --login-source-lock-after must be at least 1");
        }
        Ok(AccountConfig {
            idle_timeout: self.session_idle_timeout,
            session_lifetime: self.session_lifetime,
            account_throttle: ThrottlePolicy {
                lock_after: self.login_lock_after,
                lock_for: self.login_lock_duration,
                ..ThrottlePolicy::ACCOUNT
            },
            source_throttle: ThrottlePolicy {
                lock_after: self.login_source_lock_after,
                lock_for: self.login_lock_duration,
                ..ThrottlePolicy::SOURCE
            },
            ..AccountConfig::default()
        })
    }

    /// Settings of the HTTP authentication layer.
    pub fn auth_settings(&self) -> AuthSettings {
        AuthSettings {
            trusted_proxies: self.trusted_proxies.clone(),
        }
    }

    /// Opens the account store in `data_dir` and starts the account service, claiming every
    /// username the log has.
    ///
    /// # Errors
    /// Fails when the store cannot open, the cost is invalid, or the log cannot be read.
    pub async fn start(
        &self,
        data_dir: &std::path::Path,
        log: Arc<dyn EventLog>,
        vault: Arc<Vault>,
    ) -> anyhow::Result<AccountService> {
        let cost = Argon2Cost {
            memory_kib: self.argon2_memory_kib,
            iterations: self.argon2_iterations,
            ..Argon2Cost::RECOMMENDED
        };
        if cost.is_below_recommended() {
            tracing::warn!(
                memory_kib = cost.memory_kib,
                iterations = cost.iterations,
                "password hashing cost is below the recommended minimum; use it only for tests"
            );
        }
        let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
        let passwords = PasswordHasher::new(cost, parallel).context("invalid Argon2 cost")?;
        let store = AccountStore::open(data_dir).context("cannot open the account store")?;
        let context = AccountContext {
            log,
            vault,
            store: Arc::new(store),
            passwords,
            config: self.config()?,
        };
        let accounts = AccountService::new(context);
        let registered = accounts.recover().await?;
        tracing::info!(accounts = registered, "accounts loaded");
        Ok(accounts)
    }
}

/// Parses a duration such as `90s`, `30m`, `12h` or `7d`; a bare number is seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}; write e.g. 90s, 30m, 12h or 7d"))?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 60 * 60,
        "d" => 24 * 60 * 60,
        other => return Err(format!("unknown duration unit {other:?}; use s, m, h or d")),
    };
    Ok(Duration::from_secs(number.saturating_mul(seconds)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        let cases = [
            ("90", 90),
            ("90s", 90),
            ("30m", 1800),
            ("12h", 43_200),
            ("7d", 604_800),
        ];
        for (text, seconds) in cases {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(seconds)),
                "{text}"
            );
        }
        for bad in ["", "m", "1.5h", "10w", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
