//! Accounts: registration, password and TOTP checks, sessions, API tokens and throttling.
//!
//! Each account has one actor, the only writer of its `account-<uuid>` stream. Authentication
//! state that every request reads (session and token hashes, timeouts, the last TOTP step used,
//! recovery code hashes, throttle counts) lives in the account store, a SQLite file beside the
//! log whose changes commit before a call returns; no projection is ever asked whether a
//! session is valid. Password hashes and TOTP seeds are sealed in the vault.

mod actor;
mod commands;
mod error;
pub mod password;
pub mod secrets;
mod service;
mod state;
pub mod store;
pub mod throttle;
pub mod totp;
mod verify;

pub use error::AccountError;
pub use password::{Argon2Cost, PasswordHasher};
pub use secrets::Token;
pub use service::{
    AccountConfig, AccountContext, AccountService, ClientInfo, Enrollment, IssuedApiToken,
    IssuedSession, LoginRequest, NewApiToken, PasswordChange, SecondFactorInput,
    normalize_username, validate_password,
};
pub use state::{AccountState, TwoFactor};
pub use store::{AccountStore, Credential, CredentialKind};
pub use throttle::ThrottlePolicy;
