//! An account's state, rebuilt from its stream by applying each event.

use keyward_events::account::{AccountEvent, AccountRegistered};
use uuid::Uuid;

/// The state of an account's two-factor authentication.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TwoFactor {
    Off,
    /// A seed was issued but no code has confirmed it yet; logins do not need it.
    Pending {
        seed_ref: Uuid,
    },
    /// Logins need a TOTP or recovery code.
    On {
        seed_ref: Uuid,
    },
}

/// An account as its actor rebuilds it from the stream. Sessions are not part of it, because
/// they live in the account store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountState {
    pub account_id: Uuid,
    pub username: String,
    /// Vault id of the sealed password hash.
    pub password_ref: Uuid,
    pub two_factor: TwoFactor,
    /// Version of the stream's last event.
    pub version: u64,
}

impl AccountState {
    /// Starts a state from the stream's first event.
    pub fn from_registered(registered: &AccountRegistered) -> Self {
        AccountState {
            account_id: registered.account_id,
            username: registered.username.clone(),
            password_ref: registered.password_ref,
            two_factor: TwoFactor::Off,
            version: 0,
        }
    }

    /// Whether logins need a second factor.
    pub fn two_factor_on(&self) -> bool {
        matches!(self.two_factor, TwoFactor::On { .. })
    }

    /// Applies one event at stream version `version`.
    pub fn apply(&mut self, event: &AccountEvent, version: u64) {
        self.version = version;
        match event {
            AccountEvent::PasswordChanged(changed) => self.password_ref = changed.password_ref,
            AccountEvent::TwoFactorEnrollmentStarted(started) if !self.two_factor_on() => {
                self.two_factor = TwoFactor::Pending {
                    seed_ref: started.seed_ref,
                };
            }
            AccountEvent::TwoFactorEnabled(enabled) => {
                self.two_factor = TwoFactor::On {
                    seed_ref: enabled.seed_ref,
                };
            }
            AccountEvent::TwoFactorDisabled(_) => self.two_factor = TwoFactor::Off,
            _ => {}
        }
    }

    /// Applies one event to an optional state; `None` until `AccountRegistered`.
    pub fn evolve(state: Option<Self>, event: &AccountEvent, version: u64) -> Option<Self> {
        match (state, event) {
            (None, AccountEvent::AccountRegistered(registered)) => {
                let mut state = AccountState::from_registered(registered);
                state.version = version;
                Some(state)
            }
            (Some(mut state), _) => {
                state.apply(event, version);
                Some(state)
            }
            (None, _) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use keyward_events::account::{
        SecondFactor, TwoFactorDisabled, TwoFactorEnabled, TwoFactorEnrollmentStarted,
    };

    use super::*;

    #[test]
    fn two_factor_follows_enrollment_and_disabling() {
        let registered = AccountEvent::AccountRegistered(AccountRegistered {
            account_id: Uuid::now_v7(),
            username: "alice".into(),
            password_ref: Uuid::now_v7(),
            registered_at: Utc::now(),
        });
        let seed_ref = Uuid::now_v7();
        let events = [
            registered,
            AccountEvent::TwoFactorEnrollmentStarted(TwoFactorEnrollmentStarted {
                seed_ref,
                started_at: Utc::now(),
            }),
            AccountEvent::TwoFactorEnabled(TwoFactorEnabled {
                seed_ref,
                enabled_at: Utc::now(),
            }),
            AccountEvent::TwoFactorDisabled(TwoFactorDisabled {
                second_factor: SecondFactor::Totp,
                disabled_at: Utc::now(),
            }),
        ];
        let expected = [
            TwoFactor::Off,
            TwoFactor::Pending { seed_ref },
            TwoFactor::On { seed_ref },
            TwoFactor::Off,
        ];
        let mut state = None;
        for (version, (event, expected)) in events.iter().zip(expected).enumerate() {
            state = AccountState::evolve(state, event, version as u64);
            let current = state.as_ref().unwrap();
            assert_eq!(current.two_factor, expected, "after {event:?}");
            assert_eq!(current.version, version as u64);
        }
    }

    #[test]
    fn stream_must_start_with_registration() {
        let event = AccountEvent::TwoFactorDisabled(TwoFactorDisabled {
            second_factor: SecondFactor::Totp,
            disabled_at: Utc::now(),
        });
        assert_eq!(AccountState::evolve(None, &event, 0), None);
    }
}
