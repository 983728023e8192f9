//! Exchange API keys: one actor per key stream, a supervisor that restarts them, and the
//! service the API calls.

mod actor;
mod service;
mod signer;
pub mod state;

pub use actor::{KeyActor, KeyMsg, ProbeCheck};
pub use service::{ExchangeClients, KeyCommandError, KeyContext, KeyService, NewKey};
pub use signer::VaultSigner;
pub use state::{KeyState, KeyStatus, RetryPolicy};
