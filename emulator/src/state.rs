//! The emulator's shared state: keys, the emulated clock and request weight counters.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use keyward_events::Exchange;

use crate::keys::EmulatorKey;

/// A key as the emulator stores it: the key plus when the emulator created it.
#[derive(Clone, Debug)]
pub struct StoredKey {
    pub key: EmulatorKey,
    /// Milliseconds since the Unix epoch, on the system clock at load time.
    pub created_at_ms: i64,
}

/// Shared state behind every route; cheap to clone.
#[derive(Clone, Debug)]
pub struct EmulatorState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    keys: RwLock<Vec<StoredKey>>,
    clock_skew_ms: AtomicI64,
    weights: Mutex<WeightWindow>,
    market_data: Option<PathBuf>,
}

/// Request weight used per client address in the current minute.
#[derive(Debug, Default)]
struct WeightWindow {
    minute: i64,
    used: HashMap<Option<IpAddr>, u32>,
}

impl EmulatorState {
    /// Builds the state for a set of keys and an optional kline CSV to replay.
    pub fn new(keys: Vec<EmulatorKey>, market_data: Option<PathBuf>) -> Self {
        let created_at_ms = system_now_ms();
        let keys = keys
            .into_iter()
            .map(|key| StoredKey { key, created_at_ms })
            .collect();
        EmulatorState {
            inner: Arc::new(Inner {
                keys: RwLock::new(keys),
                clock_skew_ms: AtomicI64::new(0),
                weights: Mutex::new(WeightWindow::default()),
                market_data,
            }),
        }
    }

    /// Reads the emulated exchange clock: the system clock plus the configured skew, in ms.
    pub fn now_ms(&self) -> i64 {
        system_now_ms() + self.clock_skew_ms()
    }

    /// Returns how far the emulated clock runs ahead of the system clock, in ms (negative:
    /// behind).
    pub fn clock_skew_ms(&self) -> i64 {
        self.inner.clock_skew_ms.load(Ordering::Relaxed)
    }

    /// Sets the emulated clock's skew against the system clock, in ms.
    pub fn set_clock_skew_ms(&self, skew_ms: i64) {
        self.inner.clock_skew_ms.store(skew_ms, Ordering::Relaxed);
    }

    /// Returns the kline CSV given at start, if any.
    pub fn market_data(&self) -> Option<&PathBuf> {
        self.inner.market_data.as_ref()
    }

    /// Looks up a key of one exchange by its API key.
    pub fn find_key(&self, exchange: Exchange, api_key: &str) -> Option<StoredKey> {
        let keys = self
            .inner
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        keys.iter()
            .find(|stored| stored.key.exchange == exchange && stored.key.api_key == api_key)
            .cloned()
    }

    /// Applies `change` to every key with this API key (normally one) and returns the changed
    /// keys; empty when no key matches.
    pub fn update_keys(&self, api_key: &str, change: impl Fn(&mut EmulatorKey)) -> Vec<StoredKey> {
        let mut keys = self
            .inner
            .keys
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let mut changed = Vec::new();
        for stored in keys
            .iter_mut()
            .filter(|stored| stored.key.api_key == api_key)
        {
            change(&mut stored.key);
            changed.push(stored.clone());
        }
        changed
    }

    /// Adds `weight` to the client's count for the current minute and returns the new count.
    /// Counts reset when the minute on the emulated clock changes.
    pub fn add_weight(&self, client: Option<IpAddr>, weight: u32) -> u32 {
        let minute = self.now_ms().div_euclid(60_000);
        let mut window = self
            .inner
            .weights
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if window.minute != minute {
            window.minute = minute;
            window.used.clear();
        }
        let used = window.used.entry(client).or_insert(0);
        *used = used.saturating_add(weight);
        *used
    }
}

fn system_now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::demo_keys;

    #[test]
    fn skew_moves_the_emulated_clock() {
        let state = EmulatorState::new(Vec::new(), None);
        state.set_clock_skew_ms(60_000);
        let difference = state.now_ms() - system_now_ms();
        assert!((59_000..=60_000).contains(&difference), "{difference}");
    }

    #[test]
    fn weight_accumulates_per_client() {
        let state = EmulatorState::new(Vec::new(), None);
        let local = Some(IpAddr::from([127, 0, 0, 1]));
        assert_eq!(state.add_weight(local, 1), 1);
        assert_eq!(state.add_weight(local, 5), 6);
        assert_eq!(state.add_weight(None, 1), 1);
    }

    #[test]
    fn update_changes_only_matching_keys() {
        let keys = demo_keys();
        let target = keys[0].api_key.clone();
        let state = EmulatorState::new(keys, None);
        let changed = state.update_keys(&target, |key| key.withdraw = true);
        assert_eq!(changed.len(), 1);
        assert!(
            state
                .find_key(Exchange::Binance, &target)
                .unwrap()
                .key
                .withdraw
        );
        assert!(
            state
                .update_keys("no-such-key", |key| key.read = false)
                .is_empty()
        );
    }
}
