//! The exchange-neutral face of an adapter: [`ExchangeClient`] and what a key probe reports.

use std::collections::BTreeMap;
use std::sync::Arc;

use keyward_events::{Exchange, KeyPermissions};

use crate::binance::BinanceClient;
use crate::credentials::Credentials;
use crate::error::AdapterError;
use crate::hosts::ExchangeHosts;

/// Result of probing an API key.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeReport {
    /// The key's permissions, normalized across exchanges.
    pub permissions: KeyPermissions,
    /// Every flag of the exchange's response as sent, including ones keyward does not map.
    pub raw_flags: BTreeMap<String, serde_json::Value>,
    /// Round trip of the key-permission request, in milliseconds.
    pub latency_ms: u64,
    /// Exchange clock minus local clock, in milliseconds.
    pub clock_offset_ms: i64,
    /// The hosts the verdict holds for, as [`ExchangeClient::host`] returns them.
    pub exchange_host: String,
}

/// One exchange's REST API, as the rest of keyward uses it.
#[async_trait::async_trait]
pub trait ExchangeClient: Send + Sync {
    /// Returns the exchange this client talks to.
    fn exchange(&self) -> Exchange;

    /// Returns the host (or hosts) this client's verdicts apply to. A verification made against
    /// one value does not carry over to another.
    fn host(&self) -> &str;

    /// Reads the exchange's clock, in milliseconds since the Unix epoch.
    ///
    /// # Errors
    /// Returns [`AdapterError`] when the exchange cannot be reached or returns an invalid response.
    async fn server_time(&self) -> Result<i64, AdapterError>;

    /// Reads what an API key may do, from the exchange's key-permission endpoint.
    ///
    /// # Errors
    /// Returns [`AdapterError`]: an unknown key, a wrong secret, clock skew, rate limits,
    /// timeouts, server and transport failures, or an response that does not decode.
    async fn probe(&self, credentials: &Credentials) -> Result<ProbeReport, AdapterError>;
}

/// Builds the client of one exchange against the configured hosts.
///
/// # Errors
/// Returns [`AdapterError::Unsupported`] for Bybit and OKX, which have no adapter yet.
pub fn client_for(
    exchange: Exchange,
    hosts: &ExchangeHosts,
    http: reqwest::Client,
) -> Result<Arc<dyn ExchangeClient>, AdapterError> {
    match exchange {
        Exchange::Binance => Ok(Arc::new(BinanceClient::new(hosts, http))),
        // TODO: Bybit (/v5/user/query-api) and OKX (/api/v5/account/config) adapters.
        Exchange::Bybit | Exchange::Okx => Err(AdapterError::Unsupported { exchange }),
    }
}

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

/// Returns a `reqwest` client builder set up for exchange APIs: no redirects (a redirect would carry
/// the API key header to another host) and a connect timeout of 3 s.
///
/// `build()` panics when no rustls crypto provider is installed, because reqwest is built
/// with `rustls-no-provider`; the binary installs one at start.
pub fn http_client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(std::time::Duration::from_secs(3))
        .user_agent(concat!("keyward/", env!("CARGO_PKG_VERSION")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bybit_and_okx_are_unsupported() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        for exchange in [Exchange::Bybit, Exchange::Okx] {
            let result = client_for(exchange, &ExchangeHosts::default(), reqwest::Client::new());
            let err = result.err().expect("no adapter yet");
            assert_eq!(err.code(), "unsupported_exchange");
        }
    }
}
