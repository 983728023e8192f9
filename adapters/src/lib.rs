//! Exchange adapters: signing, wire types, parsing into domain types and REST clients.
//!
//! Every exchange lives in its own module with the same inner layout (`signing`, `wire`,
//! `parse`, `rest`). The rest of keyward uses [`ExchangeClient`] from [`client_for`] and never
//! handles wire types. Secrets stay behind [`Signer`]; no adapter holds one.

pub mod binance;
mod client;
mod credentials;
mod error;
pub mod hosts;
mod http;

pub use client::{
    Clock, ExchangeClient, ProbeReport, SystemClock, client_for, http_client_builder,
};
pub use credentials::{Credentials, PlainSigner, Signer, SignerError, hmac_sha256, mask_api_key};
pub use error::AdapterError;
pub use hosts::{ExchangeHosts, HostsError};
