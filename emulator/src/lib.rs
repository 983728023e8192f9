//! A local exchange that speaks the exchanges' own wire formats, for tests, benchmarks and
//! sandbox mode.
//!
//! It shares no code with keyward's adapters: wire shapes and signature checks are written
//! here a second time, so that one mistake cannot hide in both. Binance USDT-M futures and
//! the spot key-permission endpoint are served so far.

mod admin;
pub mod binance;
mod keys;
mod server;
mod state;

pub use keys::{EmulatorKey, IpRule, KeyFileError, SecretString, demo_keys, load_keys, parse_keys};
pub use server::{Emulator, EmulatorConfig, EmulatorError, RunningEmulator, router};
pub use state::{EmulatorState, StoredKey};
