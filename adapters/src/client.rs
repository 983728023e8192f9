//! The exchange-neutral face of an adapter: [`ExchangeClient`], its options, and what a key
//! probe reports.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use keyward_events::{Exchange, KeyPermissions};

use crate::binance::BinanceClient;
use crate::bybit::BybitClient;
use crate::credentials::Credentials;
use crate::domain::{
    AccountStream, Balance, ClientOrderId, Instrument, LeverageBracket, LeverageSet, MarketStream,
    MarketSubscription, OrderAck, OrderRequest, OrderStatus, Position, PositionMode,
};
use crate::error::AdapterError;
use crate::hosts::ExchangeHosts;
use crate::okx::OkxClient;
use crate::orders::OrderRetryPolicy;

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

/// One exchange's API (REST and websocket), as the rest of keyward uses it.
///
/// Symbols are keyward's (`BTCUSDT`) on every exchange; quantities are in the base asset and
/// prices in the quote asset, as `rust_decimal` values. Orders go out only as an
/// [`OrderRequest`], which only an approved order from the risk gate can produce. Signed calls
/// take the key's [`Credentials`], and the client keeps no secret.
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

    /// Reads what an API key may do, from the exchange's key-permission endpoint. It needs
    /// read access only.
    ///
    /// # Errors
    /// Returns [`AdapterError`]: an unknown key, a wrong secret or passphrase, an address
    /// outside the allowlist, clock skew, rate limits, timeouts, server and transport failures,
    /// or a response that does not decode.
    async fn probe(&self, credentials: &Credentials) -> Result<ProbeReport, AdapterError>;

    /// Reads the rules of every USDT-margined perpetual the exchange lists.
    ///
    /// # Errors
    /// As [`ExchangeClient::server_time`].
    async fn instruments(&self) -> Result<Vec<Instrument>, AdapterError>;

    /// Reads the rules of one instrument.
    ///
    /// # Errors
    /// Returns [`AdapterError::UnknownSymbol`] when the exchange does not list it, otherwise as
    /// [`ExchangeClient::server_time`].
    async fn instrument(&self, symbol: &str) -> Result<Instrument, AdapterError> {
        let instruments = self.instruments().await?;
        instruments
            .into_iter()
            .find(|instrument| instrument.symbol == symbol)
            .ok_or_else(|| AdapterError::UnknownSymbol {
                exchange: self.exchange(),
                symbol: symbol.to_owned(),
            })
    }

    /// Reads the leverage tiers of one instrument as they apply to this account.
    ///
    /// # Errors
    /// As [`ExchangeClient::probe`], or [`AdapterError::UnknownSymbol`].
    async fn leverage_brackets(
        &self,
        credentials: &Credentials,
        symbol: &str,
    ) -> Result<Vec<LeverageBracket>, AdapterError>;

    /// Reads the futures account's balances.
    ///
    /// # Errors
    /// As [`ExchangeClient::probe`].
    async fn balances(&self, credentials: &Credentials) -> Result<Vec<Balance>, AdapterError>;

    /// Reads the account's open positions, of one instrument or of all.
    ///
    /// # Errors
    /// As [`ExchangeClient::probe`].
    async fn positions(
        &self,
        credentials: &Credentials,
        symbol: Option<&str>,
    ) -> Result<Vec<Position>, AdapterError>;

    /// Sets an instrument's leverage. A response that it was already set counts as success,
    /// with [`LeverageSet::changed`] false.
    ///
    /// # Errors
    /// Returns [`AdapterError::InvalidLeverage`] when the leverage is outside the bracket,
    /// otherwise as [`ExchangeClient::probe`].
    async fn set_leverage(
        &self,
        credentials: &Credentials,
        symbol: &str,
        leverage: u32,
    ) -> Result<LeverageSet, AdapterError>;

    /// Reads the account's position mode.
    ///
    /// # Errors
    /// As [`ExchangeClient::probe`].
    async fn position_mode(&self, credentials: &Credentials) -> Result<PositionMode, AdapterError>;

    /// Makes sure the account trades in one-way mode: reads the mode, switches a hedge-mode
    /// account to one-way where the exchange allows it, and otherwise refuses with the reason.
    ///
    /// # Errors
    /// Returns [`AdapterError::PositionModeRefused`] when the account stays in hedge mode (for
    /// example, because it has open positions or orders), otherwise as
    /// [`ExchangeClient::probe`].
    async fn ensure_one_way(&self, credentials: &Credentials) -> Result<(), AdapterError>;

    /// Places an order, at most once: after a lost response the order is looked up by its
    /// client order id before any retry.
    ///
    /// # Errors
    /// Returns the exchange's rejection ([`AdapterError::FilterRejected`],
    /// [`AdapterError::InsufficientMargin`], ...), or, when the outcome stays unknown after
    /// every retry, [`AdapterError::ExecutionUnknown`] or the last transient failure.
    async fn place_order(
        &self,
        credentials: &Credentials,
        order: &OrderRequest,
    ) -> Result<OrderAck, AdapterError>;

    /// Cancels an order by its client order id and returns its final state; an order that
    /// filled meanwhile comes back filled.
    ///
    /// # Errors
    /// Returns [`AdapterError::OrderNotFound`] when the exchange has no such order, otherwise
    /// as [`ExchangeClient::probe`].
    async fn cancel_order(
        &self,
        credentials: &Credentials,
        symbol: &str,
        client_order_id: &ClientOrderId,
    ) -> Result<OrderStatus, AdapterError>;

    /// Reads an order by its client order id.
    ///
    /// # Errors
    /// Returns [`AdapterError::OrderNotFound`] when the exchange has no such order, otherwise
    /// as [`ExchangeClient::probe`].
    async fn query_order(
        &self,
        credentials: &Credentials,
        symbol: &str,
        client_order_id: &ClientOrderId,
    ) -> Result<OrderStatus, AdapterError>;

    /// Reads the account's open orders, of one instrument or of all.
    ///
    /// # Errors
    /// As [`ExchangeClient::probe`].
    async fn open_orders(
        &self,
        credentials: &Credentials,
        symbol: Option<&str>,
    ) -> Result<Vec<OrderStatus>, AdapterError>;

    /// Opens a public market data stream. It pings as the exchange requires, reconnects with
    /// backoff and subscribes again after every reconnect, reporting each in
    /// [`crate::domain::MarketEvent::Status`].
    ///
    /// # Errors
    /// Returns [`AdapterError::UnknownSymbol`] or an invalid subscription before connecting;
    /// connection failures are reported in the stream and retried.
    async fn market_stream(
        &self,
        subscriptions: &[MarketSubscription],
    ) -> Result<MarketStream, AdapterError>;

    /// Opens the account's private stream of orders, fills, positions and balances, with the
    /// exchange's login or listen-key scheme, kept alive as it requires. After every
    /// (re)connect it first sends an [`crate::domain::AccountEvent::Reconciled`] snapshot read
    /// over REST, so nothing that happened while disconnected is missed.
    ///
    /// # Errors
    /// Returns [`AdapterError`] when the first login fails for a reason a retry cannot fix
    /// (an invalid key); later failures are reported in the stream and retried.
    async fn account_stream(
        &self,
        credentials: &Credentials,
    ) -> Result<AccountStream, AdapterError>;
}

/// Settings shared by every exchange client.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientOptions {
    /// Time allowed for one REST request, from sending to the last byte of the response.
    pub request_timeout: Duration,
    /// Receive window sent with signed requests where the exchange takes one, in ms.
    pub recv_window_ms: u64,
    /// Age after which the measured clock offset is measured again.
    pub clock_offset_max_age: Duration,
    /// Retries and lookups of order placement and cancellation.
    pub orders: OrderRetryPolicy,
    /// First pause after a rate-limit response without `Retry-After`. It doubles with each
    /// such response.
    pub rate_limit_backoff: Duration,
    /// First pause before reconnecting a websocket; it doubles per failed attempt.
    pub reconnect_first_delay: Duration,
    /// Maximum pause before reconnecting a websocket.
    pub reconnect_max_delay: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            request_timeout: Duration::from_secs(5),
            recv_window_ms: 5000,
            clock_offset_max_age: Duration::from_secs(600),
            orders: OrderRetryPolicy::default(),
            rate_limit_backoff: Duration::from_secs(1),
            reconnect_first_delay: Duration::from_millis(500),
            reconnect_max_delay: Duration::from_secs(30),
        }
    }
}

/// Builds the client of one exchange against the configured hosts, with default options.
///
/// # Errors
/// Returns [`AdapterError::Unsupported`] for an exchange this build has no adapter for.
pub fn client_for(
    exchange: Exchange,
    hosts: &ExchangeHosts,
    http: reqwest::Client,
) -> Result<Arc<dyn ExchangeClient>, AdapterError> {
    client_with_options(exchange, hosts, http, ClientOptions::default())
}

/// Builds the client of one exchange against the configured hosts.
///
/// # Errors
/// Returns [`AdapterError::Unsupported`] for an exchange this build has no adapter for.
pub fn client_with_options(
    exchange: Exchange,
    hosts: &ExchangeHosts,
    http: reqwest::Client,
    options: ClientOptions,
) -> Result<Arc<dyn ExchangeClient>, AdapterError> {
    match exchange {
        Exchange::Binance => Ok(Arc::new(BinanceClient::new(hosts, http, options))),
        Exchange::Bybit => Ok(Arc::new(BybitClient::new(hosts, http, options))),
        Exchange::Okx => Ok(Arc::new(OkxClient::new(hosts, http, options))),
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
