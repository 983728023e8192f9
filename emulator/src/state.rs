//! The emulator's shared state: keys, the emulated clock, faults, the engine, request weight
//! counters and private stream tokens.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use keyward_events::Exchange;
use tokio::sync::broadcast;

use crate::engine::{AccountId, Engine, InstrumentSpec, default_instruments};
use crate::faults::FaultPlan;
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
    faults: Arc<FaultPlan>,
    engine: Arc<Engine>,
    weights: Mutex<WeightWindow>,
    market_data: Option<PathBuf>,
    testnet: bool,
    stream_tokens: Mutex<HashMap<String, StreamToken>>,
    disconnect: broadcast::Sender<()>,
    /// Whether new websocket connections are rejected, as during a network outage.
    websockets_rejected: AtomicBool,
}

/// A token a private stream connects with (a Binance listen key), and whose account it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamToken {
    pub account: AccountId,
    /// Emulated time in ms after which the token no longer works.
    pub expires_at_ms: i64,
}

/// Request weight used per client address and budget in the current minute.
#[derive(Debug, Default)]
struct WeightWindow {
    minute: i64,
    used: HashMap<(Option<IpAddr>, &'static str), u32>,
}

impl EmulatorState {
    /// Builds the state for a set of keys, the default instruments and an optional market
    /// data file to replay, as a production (not testnet) exchange.
    pub fn new(keys: Vec<EmulatorKey>, market_data: Option<PathBuf>) -> Self {
        Self::with_instruments(keys, default_instruments(), market_data, false)
    }

    /// Builds the state with its instruments; `testnet` makes it accept only testnet keys
    /// (otherwise only production keys).
    pub fn with_instruments(
        keys: Vec<EmulatorKey>,
        instruments: Vec<InstrumentSpec>,
        market_data: Option<PathBuf>,
        testnet: bool,
    ) -> Self {
        let created_at_ms = system_now_ms();
        let keys = keys
            .into_iter()
            .map(|key| StoredKey { key, created_at_ms })
            .collect();
        let faults = Arc::new(FaultPlan::default());
        EmulatorState {
            inner: Arc::new(Inner {
                keys: RwLock::new(keys),
                engine: Arc::new(Engine::new(instruments, Arc::clone(&faults))),
                faults,
                weights: Mutex::new(WeightWindow::default()),
                market_data,
                testnet,
                stream_tokens: Mutex::new(HashMap::new()),
                disconnect: broadcast::channel(16).0,
                websockets_rejected: AtomicBool::new(false),
            }),
        }
    }

    /// Returns the matching engine shared by every dialect.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.inner.engine
    }

    /// Returns the fault settings shared by the middleware and the engine.
    pub fn faults(&self) -> &Arc<FaultPlan> {
        &self.inner.faults
    }

    /// Returns whether the emulator plays a testnet (it then accepts only testnet keys).
    pub fn is_testnet(&self) -> bool {
        self.inner.testnet
    }

    /// Reads the emulated exchange clock: the system clock plus the configured skew, in ms.
    pub fn now_ms(&self) -> i64 {
        system_now_ms() + self.clock_skew_ms()
    }

    /// Returns how far the emulated clock runs ahead of the system clock, in ms (negative:
    /// behind).
    pub fn clock_skew_ms(&self) -> i64 {
        self.inner.faults.clock_skew_ms()
    }

    /// Sets the emulated clock's skew against the system clock, in ms.
    pub fn set_clock_skew_ms(&self, skew_ms: i64) {
        self.inner.faults.set_clock_skew_ms(skew_ms);
    }

    /// Stores a private stream token for `account`, valid until `expires_at_ms`.
    pub fn put_stream_token(&self, token: &str, account: AccountId, expires_at_ms: i64) {
        let mut tokens = self
            .inner
            .stream_tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        tokens.insert(
            token.to_owned(),
            StreamToken {
                account,
                expires_at_ms,
            },
        );
    }

    /// Looks up a private stream token that has not expired at `now_ms`.
    pub fn stream_token(&self, token: &str, now_ms: i64) -> Option<StreamToken> {
        let tokens = self
            .inner
            .stream_tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        tokens
            .get(token)
            .filter(|entry| entry.expires_at_ms > now_ms)
            .cloned()
    }

    /// Finds the valid token of an account, for exchanges that hand out the same listen key
    /// while it is valid.
    pub fn stream_token_of(&self, account: &AccountId, now_ms: i64) -> Option<String> {
        let tokens = self
            .inner
            .stream_tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        tokens
            .iter()
            .find(|(_, entry)| &entry.account == account && entry.expires_at_ms > now_ms)
            .map(|(token, _)| token.clone())
    }

    /// Removes a private stream token.
    pub fn remove_stream_token(&self, token: &str) {
        let mut tokens = self
            .inner
            .stream_tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        tokens.remove(token);
    }

    /// Closes every open websocket connection now, as a network fault would.
    pub fn disconnect_websockets(&self) -> usize {
        self.inner.disconnect.send(()).unwrap_or(0)
    }

    /// Rejects new websocket connections (with HTTP 503) while `rejected` is true, so that a
    /// client stays disconnected until it is set back to false.
    pub fn reject_websockets(&self, rejected: bool) {
        self.inner
            .websockets_rejected
            .store(rejected, Ordering::SeqCst);
    }

    /// Returns whether new websocket connections are rejected.
    pub fn websockets_rejected(&self) -> bool {
        self.inner.websockets_rejected.load(Ordering::SeqCst)
    }

    /// Follows requests to close every websocket; each connection holds one receiver.
    pub fn websocket_disconnects(&self) -> broadcast::Receiver<()> {
        self.inner.disconnect.subscribe()
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

    /// Adds `weight` to the client's count in one budget (named by the header that reports
    /// it) for the current minute and returns the new count. Counts reset when the minute on
    /// the emulated clock changes.
    pub fn add_weight(&self, client: Option<IpAddr>, budget: &'static str, weight: u32) -> u32 {
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
        let used = window.used.entry((client, budget)).or_insert(0);
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
        assert_eq!(state.add_weight(local, "fapi", 1), 1);
        assert_eq!(state.add_weight(local, "fapi", 5), 6);
        assert_eq!(state.add_weight(local, "sapi", 1), 1);
        assert_eq!(state.add_weight(None, "fapi", 1), 1);
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
