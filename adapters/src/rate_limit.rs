//! One request budget per exchange host, shared by every client and bot in the process.
//!
//! Exchanges limit requests per IP address (Binance: request weight per minute) and answer an
//! overrun with 429, then ban the address (418). A [`RateBudget`] reserves each request's weight
//! before sending, waits when the window is spent, follows the exchange's own count where it
//! sends one (Binance `X-MBX-USED-WEIGHT-1M`), and after a 429 or 418 holds every request back
//! until the exchange's `Retry-After`, or an exponential backoff where it sends none. So bots
//! on one exchange never hammer it, however many there are.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Maximum pause after repeated rate-limit responses without `Retry-After`.
const MAX_BACKOFF: Duration = Duration::from_secs(120);

/// A request budget: `limit` weight per `window`, plus any pause the exchange imposed.
#[derive(Debug)]
pub struct RateBudget {
    limit: u32,
    window: Duration,
    min_backoff: Duration,
    state: Mutex<BudgetState>,
}

#[derive(Debug)]
struct BudgetState {
    window_started: Instant,
    used: u32,
    paused_until: Option<Instant>,
    /// Rate-limit responses since the last request that was not limited.
    strikes: u32,
}

impl RateBudget {
    /// Creates a budget of `limit` weight per `window`. `min_backoff` is the first pause after
    /// a rate-limit response without `Retry-After`, and it doubles per repeated response up to
    /// 2 min.
    pub fn new(limit: u32, window: Duration, min_backoff: Duration) -> Self {
        RateBudget {
            limit: limit.max(1),
            window,
            min_backoff,
            state: Mutex::new(BudgetState {
                window_started: Instant::now(),
                used: 0,
                paused_until: None,
                strikes: 0,
            }),
        }
    }

    /// Waits until `weight` fits in the budget and reserves it. A request heavier than the
    /// whole window's limit waits for a fresh window and then goes alone.
    pub async fn acquire(&self, weight: u32) {
        loop {
            let wait = self.try_reserve(weight, Instant::now());
            match wait {
                None => return,
                Some(until) => {
                    let wait = until.saturating_duration_since(Instant::now());
                    let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                    tracing::debug!(weight, wait_ms, "waiting for the request budget");
                    tokio::time::sleep_until(until).await;
                }
            }
        }
    }

    /// Reserves `weight` now, or returns when to try again.
    fn try_reserve(&self, weight: u32, now: Instant) -> Option<Instant> {
        let mut state = self.lock();
        if let Some(until) = state.paused_until {
            if now < until {
                return Some(until);
            }
            state.paused_until = None;
        }
        if now.saturating_duration_since(state.window_started) >= self.window {
            state.window_started = now;
            state.used = 0;
        }
        let fits = state.used.saturating_add(weight) <= self.limit || state.used == 0;
        if !fits {
            return Some(state.window_started + self.window);
        }
        state.used = state.used.saturating_add(weight);
        None
    }

    /// Takes the exchange's count of weight used in the current window, which also counts
    /// requests of other processes on the same address.
    pub fn observe_used(&self, used: u32) {
        let mut state = self.lock();
        state.used = state.used.max(used);
    }

    /// Records a successful (not rate-limited) response, which resets the backoff.
    pub fn record_success(&self) {
        self.lock().strikes = 0;
    }

    /// Records a rate-limit answer and pauses every request of this budget: for `retry_after`
    /// when the exchange sent one, otherwise for a backoff that doubles per repeated answer.
    /// Returns the pause.
    pub fn record_limited(&self, retry_after: Option<Duration>) -> Duration {
        let mut state = self.lock();
        state.strikes = state.strikes.saturating_add(1);
        let backoff = self
            .min_backoff
            .saturating_mul(1u32 << (state.strikes - 1).min(16))
            .min(MAX_BACKOFF);
        let pause = retry_after.unwrap_or(backoff);
        let until = Instant::now() + pause;
        state.paused_until = Some(
            state
                .paused_until
                .map_or(until, |current| current.max(until)),
        );
        tracing::warn!(
            pause_ms = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX),
            strikes = state.strikes,
            "rate-limited by the exchange; pausing every request to it"
        );
        pause
    }

    /// Returns the weight reserved in the current window and the window's limit.
    pub fn usage(&self) -> (u32, u32) {
        (self.lock().used, self.limit)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BudgetState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The source of a rate-limit figure: the exchange, in a response header, or this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CountedBy {
    Exchange,
    Client,
}

impl CountedBy {
    fn label(self) -> &'static str {
        match self {
            CountedBy::Exchange => "exchange",
            CountedBy::Client => "client",
        }
    }
}

/// Exports the use of one rate-limit window as the gauges `keyward_exchange_rate_limit_used`,
/// `_remaining` and `_limit`. The labels are the host name (`binance`, `binance-spot`, `bybit`,
/// `okx`) and [`CountedBy`], never an account or key. Exchange counts that are per account
/// (Bybit's `X-Bapi-Limit-Status`) show the last response of any account.
pub fn export_usage(host: &'static str, counted_by: CountedBy, used: u32, limit: u32) {
    let by = counted_by.label();
    metrics::gauge!("keyward_exchange_rate_limit_used", "exchange" => host, "counted_by" => by)
        .set(f64::from(used));
    metrics::gauge!("keyward_exchange_rate_limit_limit", "exchange" => host, "counted_by" => by)
        .set(f64::from(limit));
    metrics::gauge!("keyward_exchange_rate_limit_remaining", "exchange" => host, "counted_by" => by)
        .set(f64::from(limit.saturating_sub(used)));
}

impl RateBudget {
    /// Exports this process's count of the current window (see [`export_usage`]).
    pub fn export_usage(&self, host: &'static str) {
        let (used, limit) = self.usage();
        export_usage(host, CountedBy::Client, used, limit);
    }
}

/// Names the budget of one host: its host name (`binance`) and base URL.
pub fn budget_key(host_name: &str, base_url: &str) -> String {
    format!("{host_name} {base_url}")
}

/// Returns the process-wide budget named `key` (an exchange and its base URL), creating it
/// with `make` on first use. Clients built separately for the same host share it.
pub fn shared_budget(key: &str, make: impl FnOnce() -> RateBudget) -> Arc<RateBudget> {
    static BUDGETS: OnceLock<Mutex<HashMap<String, Arc<RateBudget>>>> = OnceLock::new();
    let budgets = BUDGETS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut budgets = budgets.lock().unwrap_or_else(PoisonError::into_inner);
    Arc::clone(
        budgets
            .entry(key.to_owned())
            .or_insert_with(|| Arc::new(make())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn full_window_waits_for_the_next() {
        let budget = RateBudget::new(10, Duration::from_secs(60), Duration::from_millis(100));
        let started = Instant::now();
        budget.acquire(6).await;
        budget.acquire(4).await;
        assert_eq!(started.elapsed(), Duration::ZERO);
        budget.acquire(1).await;
        assert_eq!(started.elapsed(), Duration::from_secs(60));
        assert_eq!(budget.usage(), (1, 10));
    }

    #[tokio::test(start_paused = true)]
    async fn exchange_count_takes_over() {
        let budget = RateBudget::new(2400, Duration::from_secs(60), Duration::from_millis(100));
        budget.acquire(1).await;
        budget.observe_used(2399);
        let started = Instant::now();
        budget.acquire(5).await;
        assert_eq!(started.elapsed(), Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_pauses_every_request() {
        let budget = RateBudget::new(100, Duration::from_secs(60), Duration::from_millis(100));
        let pause = budget.record_limited(Some(Duration::from_secs(7)));
        assert_eq!(pause, Duration::from_secs(7));
        let started = Instant::now();
        budget.acquire(1).await;
        assert_eq!(started.elapsed(), Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_doubles_without_retry_after() {
        let budget = RateBudget::new(100, Duration::from_secs(60), Duration::from_millis(100));
        assert_eq!(budget.record_limited(None), Duration::from_millis(100));
        assert_eq!(budget.record_limited(None), Duration::from_millis(200));
        assert_eq!(budget.record_limited(None), Duration::from_millis(400));
        budget.record_success();
        assert_eq!(budget.record_limited(None), Duration::from_millis(100));
    }

    #[test]
    fn shared_budget_is_one_per_key() {
        let make = || RateBudget::new(5, Duration::from_secs(1), Duration::from_millis(1));
        let first = shared_budget("test-host-a", make);
        let again = shared_budget("test-host-a", make);
        let other = shared_budget("test-host-b", make);
        assert!(Arc::ptr_eq(&first, &again));
        assert!(!Arc::ptr_eq(&first, &other));
    }
}
