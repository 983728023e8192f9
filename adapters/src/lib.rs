//! Exchange adapters: signing, wire types, parsing into domain types, REST clients and
//! websocket streams.
//!
//! Every exchange lives in its own module with the same inner layout (`signing`, `wire`,
//! `parse`, `rest`, `ws`). The rest of keyward uses [`ExchangeClient`] from [`client_for`] and
//! the exchange-neutral types of [`domain`], and never handles wire types. Secrets stay behind
//! [`Signer`], and no adapter keeps one. Orders go out only as an [`OrderRequest`], which only an
//! approved order from the risk gate can produce.

pub mod binance;
pub mod bybit;
mod client;
pub mod clock;
mod credentials;
pub mod domain;
mod error;
pub mod hosts;
mod http;
pub mod okx;
pub mod orders;
pub mod precision;
pub mod rate_limit;
pub mod reconcile;
mod wire_decimal;
mod ws;

pub use client::{
    ClientOptions, ExchangeClient, ProbeReport, client_for, client_with_options,
    http_client_builder,
};
pub use clock::{Clock, SystemClock};
pub use credentials::{
    Credentials, PastedCredential, PlainSigner, Signer, SignerError, check_passphrase,
    clean_pasted, hmac_sha256, mask_api_key,
};
pub use domain::{
    AccountEvent, AccountStream, Balance, ClientOrderId, Fill, Instrument, LeverageBracket,
    LeverageSet, MarketEvent, MarketStream, MarketSubscription, OrderAck, OrderRequest, OrderState,
    OrderStatus, Position, PositionMode,
};
pub use error::{AdapterError, OrderProblem};
pub use hosts::{ExchangeHosts, HostsError};
