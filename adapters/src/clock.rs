//! The local clock, and the measured offset to an exchange's clock that signed requests use.
//!
//! Every exchange rejects a signed request whose timestamp is outside its receive window
//! (Binance -1021, Bybit 10002, OKX 50102). Adapters timestamp requests with the local clock
//! plus the offset measured from the exchange's time endpoint, re-measure it when it gets old,
//! and on a skew error re-measure once and retry once.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;

use crate::error::AdapterError;

/// A source of wall-clock time, replaceable in tests.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// The measured offset of one exchange's clock (exchange minus local, in ms), shared by every
/// request of a client.
#[derive(Debug)]
pub struct ClockOffset {
    offset_ms: AtomicI64,
    measured_at_ms: AtomicI64,
    measured: AtomicBool,
    max_age_ms: i64,
}

impl ClockOffset {
    /// Creates an offset that is measured on first use and again once older than `max_age`.
    pub fn new(max_age: Duration) -> Self {
        ClockOffset {
            offset_ms: AtomicI64::new(0),
            measured_at_ms: AtomicI64::new(0),
            measured: AtomicBool::new(false),
            max_age_ms: i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX),
        }
    }

    /// Returns the offset if it was measured less than the maximum age before `now_ms`.
    pub fn current(&self, now_ms: i64) -> Option<i64> {
        if !self.measured.load(Ordering::Acquire) {
            return None;
        }
        let age = now_ms.saturating_sub(self.measured_at_ms.load(Ordering::Relaxed));
        (age < self.max_age_ms).then(|| self.offset_ms.load(Ordering::Relaxed))
    }

    /// Stores a fresh measurement taken at `now_ms`.
    pub fn record(&self, offset_ms: i64, now_ms: i64) {
        self.offset_ms.store(offset_ms, Ordering::Relaxed);
        self.measured_at_ms.store(now_ms, Ordering::Relaxed);
        self.measured.store(true, Ordering::Release);
    }

    /// Forgets the measurement, so the next request measures again.
    pub fn invalidate(&self) {
        self.measured.store(false, Ordering::Release);
    }
}

/// Computes the offset from one server time request: the exchange's time minus the local time
/// at the request's midpoint, which is when the exchange most likely read its clock.
pub fn offset_from_round_trip(sent_ms: i64, server_ms: i64, received_ms: i64) -> i64 {
    server_ms - (sent_ms + (received_ms - sent_ms) / 2)
}

/// Runs a signed request with a current clock offset.
///
/// `measure` reads the exchange's clock and returns the offset; it runs when the stored offset
/// is missing or stale. When `request` fails with [`AdapterError::ClockSkew`], the offset is
/// measured again and the request retried once. A second skew error comes back carrying the
/// fresh offset, so the user sees how far apart the clocks are.
///
/// # Errors
/// Returns the error of `measure` or of `request`.
pub async fn with_offset<'a, T>(
    offset: &ClockOffset,
    clock: &dyn Clock,
    measure: impl Fn() -> BoxFuture<'a, Result<i64, AdapterError>>,
    request: impl Fn(i64) -> BoxFuture<'a, Result<T, AdapterError>>,
) -> Result<T, AdapterError> {
    let current = match offset.current(clock.now_ms()) {
        Some(current) => current,
        None => {
            let measured = measure().await?;
            offset.record(measured, clock.now_ms());
            measured
        }
    };
    match request(current).await {
        Err(AdapterError::ClockSkew { .. }) => {
            let measured = measure().await?;
            offset.record(measured, clock.now_ms());
            tracing::info!(
                previous_offset_ms = current,
                offset_ms = measured,
                "clock skew; resynchronized and retrying once"
            );
            request(measured)
                .await
                .map_err(|error| error.with_clock_offset(measured))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn offset_expires_after_max_age() {
        let offset = ClockOffset::new(Duration::from_secs(60));
        assert_eq!(offset.current(1_000), None);
        offset.record(250, 1_000);
        assert_eq!(offset.current(30_000), Some(250));
        assert_eq!(offset.current(61_000), None);
        offset.invalidate();
        assert_eq!(offset.current(2_000), None);
    }

    #[test]
    fn round_trip_midpoint() {
        assert_eq!(offset_from_round_trip(1_000, 5_100, 1_200), 4_000);
    }

    fn skew() -> AdapterError {
        AdapterError::ClockSkew {
            exchange: keyward_events::Exchange::Binance,
            code: Some(-1021),
            msg: "outside of the recvWindow".to_owned(),
            offset_ms: None,
        }
    }

    #[tokio::test]
    async fn skew_resyncs_and_retries_once() {
        let offset = ClockOffset::new(Duration::from_secs(600));
        let measurements = AtomicU32::new(0);
        let attempts = AtomicU32::new(0);
        let result = with_offset(
            &offset,
            &SystemClock,
            || {
                let measured = i64::from(measurements.fetch_add(1, Ordering::SeqCst)) * 1000;
                Box::pin(async move { Ok(measured) })
            },
            |offset_ms| {
                attempts.fetch_add(1, Ordering::SeqCst);
                Box::pin(async move {
                    if offset_ms == 0 {
                        Err(skew())
                    } else {
                        Ok(offset_ms)
                    }
                })
            },
        )
        .await;
        assert_eq!(result.unwrap(), 1000);
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
        assert_eq!(measurements.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn persistent_skew_reports_the_offset() {
        let offset = ClockOffset::new(Duration::from_secs(600));
        let attempts = AtomicU32::new(0);
        let result: Result<(), AdapterError> = with_offset(
            &offset,
            &SystemClock,
            || Box::pin(async { Ok(-7_250) }),
            |_| {
                attempts.fetch_add(1, Ordering::SeqCst);
                Box::pin(async { Err(skew()) })
            },
        )
        .await;
        let err = result.unwrap_err();
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
        assert!(err.to_string().contains("-7250 ms"), "{err}");
    }
}
