//! Throttling of credential checks: a few free failures, then a doubling wait between
//! attempts, then a lock for a while.
//!
//! Subjects are usernames (known or not, so the responses do not reveal which exist) and source
//! addresses. An attempt is counted as a failure before its credentials are checked and given
//! back when they match, so concurrent attempts cannot slip past the count.

use std::time::Duration;

/// Limits for one kind of subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures allowed without any wait.
    pub free_failures: u32,
    /// Failures after which the subject is locked.
    pub lock_after: u32,
    /// How long a lock lasts.
    pub lock_for: Duration,
    /// Failures older than this (with no lock) are forgotten.
    pub window: Duration,
    /// The wait after the first failure beyond the free ones; it doubles with each further one.
    pub first_wait: Duration,
    /// Cap of the doubling wait.
    pub max_wait: Duration,
}

impl ThrottlePolicy {
    /// Defaults per username: 3 free failures, then waits of 1 s, 2 s, 4 s…, locked for 15
    /// minutes after 10.
    pub const ACCOUNT: ThrottlePolicy = ThrottlePolicy {
        free_failures: 3,
        lock_after: 10,
        lock_for: Duration::from_secs(15 * 60),
        window: Duration::from_secs(15 * 60),
        first_wait: Duration::from_secs(1),
        max_wait: Duration::from_secs(60),
    };

    /// Defaults per source address, higher than per username because one address may serve
    /// several people (NAT, an office).
    pub const SOURCE: ThrottlePolicy = ThrottlePolicy {
        free_failures: 10,
        lock_after: 30,
        lock_for: Duration::from_secs(15 * 60),
        window: Duration::from_secs(15 * 60),
        first_wait: Duration::from_secs(1),
        max_wait: Duration::from_secs(60),
    };

    /// Defaults for registrations per source address: 5 at once, then waits of 1 s, 2 s,
    /// 4 s…, and none for an hour after 20. Registrations are never given back, since each one
    /// costs a password hash and an account.
    pub const REGISTRATION: ThrottlePolicy = ThrottlePolicy {
        free_failures: 5,
        lock_after: 20,
        lock_for: Duration::from_secs(60 * 60),
        window: Duration::from_secs(60 * 60),
        first_wait: Duration::from_secs(1),
        max_wait: Duration::from_secs(60),
    };

    /// Counts an attempt for a subject with `record` at `now_ms`, or refuses it.
    ///
    /// # Errors
    /// [`Refusal::Locked`] while a lock lasts, [`Refusal::SlowDown`] when the attempt comes
    /// before the wait after the last failure has passed.
    pub fn reserve(&self, record: ThrottleRecord, now_ms: i64) -> Result<Reservation, Refusal> {
        if let Some(until_ms) = record.locked_until_ms.filter(|until| *until > now_ms) {
            return Err(Refusal::Locked { until_ms });
        }
        let expired = record.locked_until_ms.is_some()
            || now_ms - record.last_failure_at_ms > millis(self.window);
        let mut record = if expired {
            ThrottleRecord::default()
        } else {
            record
        };
        if record.failures >= self.free_failures {
            let ready_at = record.last_failure_at_ms + millis(self.wait_after(record.failures));
            if now_ms < ready_at {
                return Err(Refusal::SlowDown {
                    retry_after_ms: ready_at - now_ms,
                });
            }
        }
        record.failures += 1;
        record.last_failure_at_ms = now_ms;
        let locks = record.failures >= self.lock_after;
        if locks {
            record.locked_until_ms = Some(now_ms + millis(self.lock_for));
        }
        Ok(Reservation { record, locks })
    }

    /// Gives back a counted attempt. A username whose credentials matched starts over. Any
    /// other release only removes this attempt, so logging into one's own account does not
    /// clear the failures an address collected against others.
    pub fn release(
        &self,
        record: ThrottleRecord,
        subject: SubjectKind,
        end: AttemptEnd,
    ) -> ThrottleRecord {
        if end == AttemptEnd::Succeeded && subject == SubjectKind::Username {
            return ThrottleRecord::default();
        }
        let failures = record.failures.saturating_sub(1);
        let locked_until_ms = record
            .locked_until_ms
            .filter(|_| failures >= self.lock_after);
        ThrottleRecord {
            failures,
            locked_until_ms,
            ..record
        }
    }

    /// The wait required after `failures` failures, once past the free ones.
    fn wait_after(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(self.free_failures).min(20);
        self.first_wait
            .saturating_mul(1 << doublings)
            .min(self.max_wait)
    }
}

/// What a throttle subject is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubjectKind {
    Username,
    Address,
}

/// How a counted attempt ended, when it did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptEnd {
    /// Every credential matched.
    Succeeded,
    /// The attempt stopped before a credential was refused: the password matched but a second
    /// factor is still needed, or the server failed.
    NotJudged,
}

/// The stored count of one subject.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThrottleRecord {
    pub failures: u32,
    pub last_failure_at_ms: i64,
    pub locked_until_ms: Option<i64>,
}

/// A counted attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    /// The record to store.
    pub record: ThrottleRecord,
    /// Whether this attempt, if it fails, leaves the subject locked.
    pub locks: bool,
}

/// Why an attempt was refused before its credentials were checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Too many failures: locked until this time (ms since the Unix epoch).
    Locked { until_ms: i64 },
    /// Too soon after the last failure.
    SlowDown { retry_after_ms: i64 },
}

impl Refusal {
    /// Milliseconds until an attempt may succeed.
    pub fn retry_after_ms(&self, now_ms: i64) -> i64 {
        match self {
            Refusal::Locked { until_ms } => until_ms - now_ms,
            Refusal::SlowDown { retry_after_ms } => *retry_after_ms,
        }
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: ThrottlePolicy = ThrottlePolicy::ACCOUNT;

    /// Fails `count` attempts, each as soon as the policy allows; returns the record and time.
    fn fail_times(count: u32) -> (ThrottleRecord, i64) {
        let mut record = ThrottleRecord::default();
        let mut now = 1_000_000;
        for _ in 0..count {
            match POLICY.reserve(record, now) {
                Ok(reservation) => record = reservation.record,
                Err(refusal) => {
                    now += refusal.retry_after_ms(now);
                    record = POLICY.reserve(record, now).unwrap().record;
                }
            }
        }
        (record, now)
    }

    #[test]
    fn free_failures_need_no_wait() {
        let (record, now) = fail_times(3);
        assert_eq!(record.failures, 3);
        assert_eq!(now, 1_000_000, "no wait within the free failures");
    }

    #[test]
    fn waits_double_after_the_free_failures() {
        let cases = [(3, 1_000), (4, 2_000), (5, 4_000), (6, 8_000)];
        for (failures, wait_ms) in cases {
            let (record, now) = fail_times(failures);
            let refused = POLICY.reserve(record, now);
            assert_eq!(
                refused,
                Err(Refusal::SlowDown {
                    retry_after_ms: wait_ms
                }),
                "after {failures} failures"
            );
            assert!(POLICY.reserve(record, now + wait_ms).is_ok());
        }
    }

    #[test]
    fn tenth_failure_locks_for_fifteen_minutes() {
        let (record, now) = fail_times(9);
        assert_eq!(record.locked_until_ms, None);
        let wait = POLICY.reserve(record, now).unwrap_err().retry_after_ms(now);
        assert!(POLICY.reserve(record, now + wait).unwrap().locks);

        let (record, now) = fail_times(10);
        let until = now + 15 * 60 * 1000;
        assert_eq!(record.locked_until_ms, Some(until));
        assert_eq!(
            POLICY.reserve(record, until - 1),
            Err(Refusal::Locked { until_ms: until })
        );
        let after = POLICY.reserve(record, until).unwrap();
        assert_eq!(after.record.failures, 1, "a lock that ended starts over");
    }

    #[test]
    fn old_failures_are_forgotten() {
        let (record, now) = fail_times(5);
        let later = now + 15 * 60 * 1000 + 1;
        let reservation = POLICY.reserve(record, later).unwrap();
        assert_eq!(reservation.record.failures, 1);
    }

    #[test]
    fn release_resets_a_username_but_not_an_address() {
        let (record, _) = fail_times(5);
        assert_eq!(
            POLICY.release(record, SubjectKind::Username, AttemptEnd::Succeeded),
            ThrottleRecord::default()
        );
        let address = POLICY.release(record, SubjectKind::Address, AttemptEnd::Succeeded);
        assert_eq!(address.failures, 4);
        let not_judged = POLICY.release(record, SubjectKind::Username, AttemptEnd::NotJudged);
        assert_eq!(
            not_judged.failures, 4,
            "a missing second factor does not start over"
        );
    }

    #[test]
    fn release_lifts_a_lock_its_own_attempt_set() {
        let source = ThrottlePolicy {
            lock_after: 1,
            ..ThrottlePolicy::SOURCE
        };
        let reservation = source.reserve(ThrottleRecord::default(), 0).unwrap();
        assert!(reservation.locks);
        let released = source.release(
            reservation.record,
            SubjectKind::Address,
            AttemptEnd::Succeeded,
        );
        assert_eq!(released.locked_until_ms, None);
        assert_eq!(released.failures, 0);
    }
}
