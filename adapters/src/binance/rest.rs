//! The Binance REST client: server time and the key probe.

use std::sync::Arc;
use std::time::Instant;

use keyward_events::Exchange;
use reqwest::header::HeaderValue;

use super::{API_RESTRICTIONS_PATH, RECV_WINDOW_MS, SERVER_TIME_PATH, parse, signing};
use crate::client::{Clock, ExchangeClient, ProbeReport, SystemClock};
use crate::credentials::{Credentials, mask_api_key};
use crate::error::AdapterError;
use crate::hosts::{BINANCE, BINANCE_SPOT, ExchangeHosts};
use crate::http::{ReadResponse, send};

const EXCHANGE: Exchange = Exchange::Binance;

/// Client of Binance USDT-M futures (`binance` host) and of the spot host's key-permission
/// call (`binance-spot` host).
pub struct BinanceClient {
    http: reqwest::Client,
    futures_url: String,
    spot_url: String,
    host: String,
    clock: Arc<dyn Clock>,
}

impl BinanceClient {
    /// Builds a client against the `binance` and `binance-spot` hosts, on the system clock.
    pub fn new(hosts: &ExchangeHosts, http: reqwest::Client) -> Self {
        let futures_url = hosts.get(BINANCE).to_owned();
        let spot_url = hosts.get(BINANCE_SPOT).to_owned();
        let host = format!("{futures_url},{spot_url}");
        BinanceClient {
            http,
            futures_url,
            spot_url,
            host,
            clock: Arc::new(SystemClock),
        }
    }

    /// Replaces the local clock that timestamps are derived from.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Measures the exchange clock minus the local clock, in ms, taking the midpoint of the
    /// server time request as the moment the exchange read its clock.
    async fn clock_offset(&self) -> Result<i64, AdapterError> {
        let sent = self.clock.now_ms();
        let server = self.server_time().await?;
        let received = self.clock.now_ms();
        let offset = server - (sent + (received - sent) / 2);
        tracing::debug!(exchange = %EXCHANGE, offset_ms = offset, "measured clock offset");
        Ok(offset)
    }

    /// Sends a signed GET without parameters of its own: `timestamp` (local clock corrected by
    /// `offset_ms`), `recvWindow` and `signature`.
    async fn signed_get(
        &self,
        base_url: &str,
        path: &str,
        credentials: &Credentials,
        offset_ms: i64,
    ) -> Result<ReadResponse, AdapterError> {
        let timestamp = self.clock.now_ms() + offset_ms;
        let query = format!("timestamp={timestamp}&recvWindow={RECV_WINDOW_MS}");
        let query = signing::signed_query(credentials.signer.as_ref(), &query)?;
        let request = self
            .http
            .get(format!("{base_url}{path}?{query}"))
            .header("X-MBX-APIKEY", api_key_header(&credentials.api_key)?);
        send(EXCHANGE, &endpoint(base_url, path), request).await
    }
}

fn endpoint(base_url: &str, path: &str) -> String {
    format!("GET {base_url}{path}")
}

fn api_key_header(api_key: &str) -> Result<HeaderValue, AdapterError> {
    let mut value = HeaderValue::from_str(api_key).map_err(|_| AdapterError::InvalidKey {
        exchange: EXCHANGE,
        code: None,
        msg: "the API key contains characters that cannot be sent in an HTTP header".to_owned(),
    })?;
    value.set_sensitive(true);
    Ok(value)
}

#[async_trait::async_trait]
impl ExchangeClient for BinanceClient {
    fn exchange(&self) -> Exchange {
        EXCHANGE
    }

    /// Returns the futures and the spot base URL, joined by a comma, because a probe made
    /// against one pair of hosts applies to that pair only.
    fn host(&self) -> &str {
        &self.host
    }

    async fn server_time(&self) -> Result<i64, AdapterError> {
        let endpoint = endpoint(&self.futures_url, SERVER_TIME_PATH);
        let request = self
            .http
            .get(format!("{}{SERVER_TIME_PATH}", self.futures_url));
        let response = send(EXCHANGE, &endpoint, request).await?;
        if !response.status.is_success() {
            return Err(parse::error_from_response(
                &endpoint,
                response.status,
                &response.headers,
                &response.body,
            ));
        }
        Ok(parse::server_time(&endpoint, &response.body)?.server_time)
    }

    async fn probe(&self, credentials: &Credentials) -> Result<ProbeReport, AdapterError> {
        let offset = self.clock_offset().await?;
        let started = Instant::now();
        let response = self
            .signed_get(&self.spot_url, API_RESTRICTIONS_PATH, credentials, offset)
            .await?;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);

        let endpoint = endpoint(&self.spot_url, API_RESTRICTIONS_PATH);
        if !response.status.is_success() {
            let error = parse::error_from_response(
                &endpoint,
                response.status,
                &response.headers,
                &response.body,
            );
            return Err(error.with_clock_offset(offset));
        }
        let parsed = parse::api_restrictions(&endpoint, &response.body)
            .map_err(|error| error.with_clock_offset(offset))?;

        tracing::info!(
            exchange = %EXCHANGE,
            api_key = %mask_api_key(&credentials.api_key),
            host = %self.host,
            latency_ms,
            clock_offset_ms = offset,
            "probed API key"
        );
        Ok(ProbeReport {
            permissions: parsed.permissions,
            raw_flags: parsed.raw_flags,
            latency_ms,
            clock_offset_ms: offset,
            exchange_host: self.host.clone(),
        })
    }
}
