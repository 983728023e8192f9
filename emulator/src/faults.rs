//! Injected faults: what goes wrong, how often, and the middleware that makes it go wrong.
//!
//! Faults are drawn per request, either from a queue of one-shot faults (deterministic, for
//! tests that need a given failure at a given request) or at random with per-kind rates from a
//! seeded generator. Each dialect responds to an injected failure in its exchange's own shape
//! ([`crate::dialect::Dialect::fault_response`]). Faults that need the engine (an order that
//! shows in queries only after a delay) travel with the request to the engine.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

/// One kind of injected fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The request stalls for `stall_ms`, is not carried out, and the connection is dropped.
    Timeout,
    /// An HTTP 5xx response; the request is not carried out.
    ServerError,
    /// HTTP 429 (or the exchange's rate-limit code); not carried out.
    RateLimited,
    /// HTTP 418, an address ban; not carried out.
    IpBanned,
    /// An order placement is carried out, then the connection is dropped before the response.
    DroppedResponse,
    /// An order placement is carried out or not, at random, and the answer says the execution
    /// status is unknown.
    UnknownStatus,
    /// An order placement is carried out, but the order shows in queries only after
    /// `visibility_delay_ms`. Queued, it is the request's only fault; drawn at random
    /// (`delayed_visibility_rate`) it comes on top of any other fault of the request.
    DelayedVisibility,
}

impl FaultKind {
    /// Returns whether the fault applies to order placements only.
    pub fn orders_only(self) -> bool {
        matches!(
            self,
            FaultKind::DroppedResponse | FaultKind::UnknownStatus | FaultKind::DelayedVisibility
        )
    }
}

/// The fault settings, as the admin routes show and change them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// How far the emulated clock runs ahead of the system clock, in ms (negative: behind).
    pub clock_skew_ms: i64,
    /// Delay added before every exchange request, in ms.
    pub latency_ms: u64,
    /// When true, faults hit order placements only; otherwise every exchange request.
    pub orders_only: bool,
    pub timeout_rate: f64,
    pub server_error_rate: f64,
    pub rate_limit_rate: f64,
    pub ip_ban_rate: f64,
    pub dropped_response_rate: f64,
    pub unknown_status_rate: f64,
    /// Share of order placements whose order shows in queries only after
    /// `visibility_delay_ms`, drawn apart from the other faults, so that it also hits
    /// placements whose response is dropped.
    pub delayed_visibility_rate: f64,
    /// How long a timed-out request stalls before its connection is dropped, in ms.
    pub stall_ms: u64,
    /// How long a delayed order stays out of queries, in ms.
    pub visibility_delay_ms: u64,
    /// `Retry-After` sent with injected 429 and 418 answers, in seconds; none when absent.
    pub retry_after_s: Option<u64>,
    /// Whether the engine rejects a reused client order id, as exchanges do. Turning it off
    /// shows whether a client avoids duplicates by itself.
    pub duplicate_check: bool,
    /// Request weight per minute and client address before Binance answers 429 (Binance
    /// publishes 2400).
    pub weight_limit_per_minute: u32,
    /// Seed of the random draws; a fresh seed from the system when absent.
    pub seed: Option<u64>,
    /// One-shot faults for the next matching requests, in order.
    pub next: VecDeque<FaultKind>,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            clock_skew_ms: 0,
            latency_ms: 0,
            orders_only: false,
            timeout_rate: 0.0,
            server_error_rate: 0.0,
            rate_limit_rate: 0.0,
            ip_ban_rate: 0.0,
            dropped_response_rate: 0.0,
            unknown_status_rate: 0.0,
            delayed_visibility_rate: 0.0,
            stall_ms: 10_000,
            visibility_delay_ms: 1_000,
            retry_after_s: Some(1),
            duplicate_check: true,
            weight_limit_per_minute: 2400,
            seed: None,
            next: VecDeque::new(),
        }
    }
}

impl FaultConfig {
    /// Returns the rates of the faults that exclude each other: one per request at most.
    fn rates(&self) -> [(FaultKind, f64); 6] {
        [
            (FaultKind::Timeout, self.timeout_rate),
            (FaultKind::ServerError, self.server_error_rate),
            (FaultKind::RateLimited, self.rate_limit_rate),
            (FaultKind::IpBanned, self.ip_ban_rate),
            (FaultKind::DroppedResponse, self.dropped_response_rate),
            (FaultKind::UnknownStatus, self.unknown_status_rate),
        ]
    }

    /// Checks that every rate is a probability and that the exclusive ones add up to at
    /// most 1.
    ///
    /// # Errors
    /// Returns the first rate out of range, or the sum.
    pub fn validate(&self) -> Result<(), String> {
        let visibility = (FaultKind::DelayedVisibility, self.delayed_visibility_rate);
        for (kind, rate) in self.rates().into_iter().chain([visibility]) {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!(
                    "the rate of {kind:?} must be between 0 and 1, got {rate}"
                ));
            }
        }
        let total: f64 = self.rates().iter().map(|(_, rate)| rate).sum();
        if total > 1.0 + 1e-9 {
            return Err(format!("fault rates add up to {total}, more than 1"));
        }
        Ok(())
    }
}

/// The current fault settings, the random generator and how many faults were injected.
#[derive(Debug)]
pub struct FaultPlan {
    state: Mutex<PlanState>,
    /// The clock skew, kept apart so that reading the clock takes no lock.
    clock_skew_ms: AtomicI64,
}

#[derive(Debug)]
struct PlanState {
    config: FaultConfig,
    rng: StdRng,
    injected: BTreeMap<FaultKind, u64>,
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan {
            state: Mutex::new(PlanState {
                config: FaultConfig::default(),
                rng: rand::make_rng(),
                injected: BTreeMap::new(),
            }),
            clock_skew_ms: AtomicI64::new(0),
        }
    }
}

impl FaultPlan {
    /// Returns the current settings.
    pub fn config(&self) -> FaultConfig {
        let mut config = self.lock().config.clone();
        config.clock_skew_ms = self.clock_skew_ms();
        config
    }

    /// Returns how far the emulated clock runs ahead of the system clock, in ms.
    pub fn clock_skew_ms(&self) -> i64 {
        self.clock_skew_ms.load(Ordering::Relaxed)
    }

    /// Sets how far the emulated clock runs ahead of the system clock, in ms.
    pub fn set_clock_skew_ms(&self, skew_ms: i64) {
        self.clock_skew_ms.store(skew_ms, Ordering::Relaxed);
    }

    /// Replaces the settings; a seed in them restarts the random generator from it.
    ///
    /// # Errors
    /// Returns the reason when a rate is out of range.
    pub fn set(&self, config: FaultConfig) -> Result<(), String> {
        config.validate()?;
        self.set_clock_skew_ms(config.clock_skew_ms);
        let mut state = self.lock();
        if let Some(seed) = config.seed {
            state.rng = StdRng::seed_from_u64(seed);
        }
        state.config = config;
        Ok(())
    }

    /// Changes the settings in place.
    ///
    /// # Errors
    /// Returns the reason when the result is invalid; the settings then stay as they were.
    pub fn update(&self, change: impl FnOnce(&mut FaultConfig)) -> Result<FaultConfig, String> {
        let mut config = self.config();
        let old_seed = config.seed;
        change(&mut config);
        config.validate()?;
        self.set_clock_skew_ms(config.clock_skew_ms);
        let mut state = self.lock();
        if let Some(seed) = config.seed.filter(|seed| Some(*seed) != old_seed) {
            state.rng = StdRng::seed_from_u64(seed);
        }
        state.config = config.clone();
        Ok(config)
    }

    /// Returns how many faults of each kind were injected so far.
    pub fn injected(&self) -> BTreeMap<FaultKind, u64> {
        self.lock().injected.clone()
    }

    /// Draws the faults of one exchange request.
    pub fn draw(&self, is_order_placement: bool) -> Draw {
        let mut state = self.lock();
        if state.config.orders_only && !is_order_placement {
            return Draw::default();
        }
        let applies = |kind: FaultKind| is_order_placement || !kind.orders_only();
        let queued = state.config.next.iter().position(|kind| applies(*kind));
        let fault = match queued {
            Some(index) => state.config.next.remove(index),
            None => draw_random(&mut state, applies),
        };
        let rate = state.config.delayed_visibility_rate;
        let delayed = fault == Some(FaultKind::DelayedVisibility)
            || (is_order_placement && queued.is_none() && state.rng.random::<f64>() < rate);
        if let Some(kind) = fault {
            *state.injected.entry(kind).or_insert(0) += 1;
        }
        if delayed && fault != Some(FaultKind::DelayedVisibility) {
            *state
                .injected
                .entry(FaultKind::DelayedVisibility)
                .or_insert(0) += 1;
        }
        Draw {
            fault: fault.filter(|kind| *kind != FaultKind::DelayedVisibility),
            delayed_visibility: delayed,
        }
    }

    /// Returns a random boolean from the plan's generator, for faults with two outcomes.
    pub fn coin(&self) -> bool {
        self.lock().rng.random::<bool>()
    }

    fn lock(&self) -> MutexGuard<'_, PlanState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The faults drawn for one request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Draw {
    /// The request's exclusive fault, if any.
    pub fault: Option<FaultKind>,
    /// Whether the order the request places shows in queries only after a delay.
    pub delayed_visibility: bool,
}

fn draw_random(state: &mut PlanState, applies: impl Fn(FaultKind) -> bool) -> Option<FaultKind> {
    let roll: f64 = state.rng.random();
    let mut threshold = 0.0;
    for (kind, rate) in state.config.rates() {
        threshold += rate;
        if roll < threshold {
            return applies(kind).then_some(kind);
        }
    }
    None
}

tokio::task_local! {
    /// The visibility delay the fault middleware drew for the request being handled, in ms.
    static VISIBILITY_DELAY_MS: u64;
}

/// Runs `future` (the handling of one request) with a delayed-visibility fault in effect.
pub(crate) async fn with_visibility_delay<F: Future>(delay_ms: u64, future: F) -> F::Output {
    VISIBILITY_DELAY_MS.scope(delay_ms, future).await
}

/// Returns the visibility delay of the request being handled, 0 when none was drawn.
pub(crate) fn current_visibility_delay_ms() -> u64 {
    VISIBILITY_DELAY_MS.try_with(|delay| *delay).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_faults_come_first_and_skip_non_orders() {
        let plan = FaultPlan::default();
        plan.update(|config| {
            config.next = VecDeque::from([FaultKind::DroppedResponse, FaultKind::ServerError]);
        })
        .unwrap();
        assert_eq!(plan.draw(false).fault, Some(FaultKind::ServerError));
        assert_eq!(plan.draw(false), Draw::default());
        assert_eq!(plan.draw(true).fault, Some(FaultKind::DroppedResponse));
        assert_eq!(plan.draw(true), Draw::default());
        assert_eq!(plan.injected().len(), 2);
    }

    #[test]
    fn seeded_rates_repeat_and_match_roughly() {
        let draws = |seed| {
            let plan = FaultPlan::default();
            plan.update(|config| {
                config.seed = Some(seed);
                config.server_error_rate = 0.1;
                config.timeout_rate = 0.1;
            })
            .unwrap();
            (0..1000).map(|_| plan.draw(true)).collect::<Vec<_>>()
        };
        let first = draws(7);
        assert_eq!(first, draws(7));
        let faults = first.iter().filter(|draw| draw.fault.is_some()).count();
        assert!(
            (150..=250).contains(&faults),
            "{faults} faults in 1000 draws at 20%"
        );
    }

    #[test]
    fn delayed_visibility_comes_on_top_of_other_faults() {
        let plan = FaultPlan::default();
        plan.update(|config| {
            config.seed = Some(3);
            config.dropped_response_rate = 1.0;
            config.delayed_visibility_rate = 1.0;
        })
        .unwrap();
        let draw = plan.draw(true);
        assert_eq!(draw.fault, Some(FaultKind::DroppedResponse));
        assert!(draw.delayed_visibility);
        assert!(!plan.draw(false).delayed_visibility);
    }

    #[test]
    fn invalid_rates_are_rejected() {
        let plan = FaultPlan::default();
        let err = plan.update(|config| config.timeout_rate = 1.5).unwrap_err();
        assert!(err.contains("between 0 and 1"), "{err}");
        let err = plan
            .update(|config| {
                config.timeout_rate = 0.6;
                config.server_error_rate = 0.6;
            })
            .unwrap_err();
        assert!(err.contains("more than 1"), "{err}");
        assert!((plan.config().timeout_rate).abs() < f64::EPSILON);
    }
}
