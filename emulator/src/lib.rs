//! A local exchange that speaks the exchanges' own wire formats, for tests, benchmarks and
//! sandbox mode.
//!
//! It shares no code with keyward's adapters: wire shapes and signature checks are written
//! here a second time, so that one mistake cannot hide in both. Each exchange is a
//! [`Dialect`] (its routes, signature checks, error codes and fault answers) on top of one
//! exchange-neutral [`engine::Engine`]: instruments, prices from a replayed feed, and per key
//! an account with balance, positions, leverage and orders. Faults ([`faults`]) and the admin
//! routes under `/_emulator/` change its behaviour while it runs.

mod admin;
pub mod binance;
pub mod bybit;
pub mod dialect;
pub mod engine;
pub mod faults;
mod keys;
pub mod okx;
mod server;
mod state;

pub use dialect::Dialect;
pub use keys::{EmulatorKey, IpRule, KeyFileError, SecretString, demo_keys, load_keys, parse_keys};
pub use server::{Emulator, EmulatorConfig, EmulatorError, RunningEmulator, router};
pub use state::{EmulatorState, StoredKey, StreamToken};
