//! The Binance REST client: signed and public requests with a shared request budget and the
//! measured clock offset. The calls of [`crate::ExchangeClient`] are in the submodules.

mod account;
mod exchange_client;
mod orders;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use keyward_events::Exchange;
use reqwest::Method;
use reqwest::header::HeaderValue;

use super::{
    API_RESTRICTIONS_PATH, FUTURES_WEIGHT_PER_MINUTE, ORDERS_PER_10_SECONDS, ORDERS_PER_MINUTE,
    SERVER_TIME_PATH, SPOT_WEIGHT_PER_MINUTE, parse, signing,
};
use crate::client::ClientOptions;
use crate::clock::{Clock, ClockOffset, SystemClock, offset_from_round_trip, with_offset};
use crate::credentials::{Credentials, mask_api_key};
use crate::domain::Instrument;
use crate::error::AdapterError;
use crate::hosts::{BINANCE, BINANCE_SPOT, BINANCE_WS, ExchangeHosts};
use crate::http::{ReadResponse, numeric_header, send};
use crate::rate_limit::{CountedBy, RateBudget, budget_key, export_usage, shared_budget};

const EXCHANGE: Exchange = Exchange::Binance;

/// How long the instrument list is reused before it is read again.
const INSTRUMENTS_TTL: Duration = Duration::from_secs(300);

/// The Binance host a request goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Host {
    /// USDT-M futures, `/fapi`.
    Futures,
    /// The spot host, for `/sapi` (key restrictions).
    Spot,
}

/// One REST request before signing.
#[derive(Clone, Debug)]
pub(crate) struct Call {
    pub method: Method,
    pub host: Host,
    pub path: &'static str,
    pub params: Vec<(&'static str, String)>,
    /// Request weight Binance counts against the address.
    pub weight: u32,
    /// Whether the request places an order, which counts against the account's order limits.
    pub places_order: bool,
}

impl Call {
    pub fn get(path: &'static str, weight: u32) -> Self {
        Call {
            method: Method::GET,
            host: Host::Futures,
            path,
            params: Vec::new(),
            weight,
            places_order: false,
        }
    }

    pub fn new(method: Method, path: &'static str, weight: u32) -> Self {
        Call {
            method,
            ..Call::get(path, weight)
        }
    }

    pub fn param(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.params.push((name, value.into()));
        self
    }
}

/// Client of Binance USDT-M futures (`binance` host), of the spot host's key-permission call
/// (`binance-spot` host) and of the futures websockets (`binance-ws` host). Cheap to clone;
/// clones share the clock offset, the request budgets and the instrument cache.
#[derive(Clone)]
pub struct BinanceClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    http: reqwest::Client,
    futures_url: String,
    spot_url: String,
    pub(crate) ws_url: String,
    host: String,
    clock: Arc<dyn Clock>,
    offset: ClockOffset,
    futures_budget: Arc<RateBudget>,
    spot_budget: Arc<RateBudget>,
    pub(crate) options: ClientOptions,
    instruments: Mutex<Option<(Instant, Vec<Instrument>)>>,
}

impl BinanceClient {
    /// Builds a client against the `binance`, `binance-spot` and `binance-ws` hosts, on the
    /// system clock.
    pub fn new(hosts: &ExchangeHosts, http: reqwest::Client, options: ClientOptions) -> Self {
        Self::with_clock(hosts, http, options, Arc::new(SystemClock))
    }

    /// Builds a client whose request timestamps derive from `clock`.
    pub fn with_clock(
        hosts: &ExchangeHosts,
        http: reqwest::Client,
        options: ClientOptions,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let futures_url = hosts.get(BINANCE).to_owned();
        let spot_url = hosts.get(BINANCE_SPOT).to_owned();
        let backoff = options.rate_limit_backoff;
        let budget = |name: &str, url: &str, limit: u32| {
            shared_budget(&budget_key(name, url), || {
                RateBudget::new(limit, Duration::from_secs(60), backoff)
            })
        };
        let inner = Inner {
            futures_budget: budget(BINANCE, &futures_url, FUTURES_WEIGHT_PER_MINUTE),
            spot_budget: budget(BINANCE_SPOT, &spot_url, SPOT_WEIGHT_PER_MINUTE),
            host: format!("{futures_url},{spot_url}"),
            ws_url: hosts.get(BINANCE_WS).to_owned(),
            http,
            futures_url,
            spot_url,
            offset: ClockOffset::new(options.clock_offset_max_age),
            clock,
            options,
            instruments: Mutex::new(None),
        };
        BinanceClient {
            inner: Arc::new(inner),
        }
    }

    pub(crate) fn host_text(&self) -> &str {
        &self.inner.host
    }

    pub(crate) fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// Returns the local clock in ms.
    pub(crate) fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Returns `METHOD URL` without the query, to name a request in errors and logs.
    pub(crate) fn endpoint(&self, call: &Call) -> String {
        format!("{} {}{}", call.method, self.base_url(call.host), call.path)
    }

    fn base_url(&self, host: Host) -> &str {
        match host {
            Host::Futures => &self.inner.futures_url,
            Host::Spot => &self.inner.spot_url,
        }
    }

    fn budget(&self, host: Host) -> &RateBudget {
        match host {
            Host::Futures => &self.inner.futures_budget,
            Host::Spot => &self.inner.spot_budget,
        }
    }

    /// Reads the exchange clock and returns its offset to the local clock in ms.
    pub(crate) async fn measure_offset(&self) -> Result<i64, AdapterError> {
        let sent = self.now_ms();
        let server = self.read_server_time().await?;
        let received = self.now_ms();
        let offset = offset_from_round_trip(sent, server, received);
        tracing::debug!(exchange = %EXCHANGE, offset_ms = offset, "measured clock offset");
        Ok(offset)
    }

    pub(crate) async fn read_server_time(&self) -> Result<i64, AdapterError> {
        let call = Call::get(SERVER_TIME_PATH, 1);
        let response = self.public(&call).await?;
        Ok(parse::server_time(&self.endpoint(&call), &response.body)?.server_time)
    }

    /// Sends an unsigned request and returns the successful response.
    pub(crate) async fn public(&self, call: &Call) -> Result<ReadResponse, AdapterError> {
        let query = signing::encode_query(&borrowed(&call.params));
        self.execute(call, query, None).await
    }

    /// Sends a request with the API key header but no signature (listen keys).
    pub(crate) async fn keyed(
        &self,
        call: &Call,
        credentials: &Credentials,
    ) -> Result<ReadResponse, AdapterError> {
        let query = signing::encode_query(&borrowed(&call.params));
        self.execute(call, query, Some(credentials)).await
    }

    /// Sends a signed request with the current clock offset; on clock skew the offset is
    /// measured again and the request retried once.
    pub(crate) async fn signed(
        &self,
        call: &Call,
        credentials: &Credentials,
    ) -> Result<ReadResponse, AdapterError> {
        with_offset(
            &self.inner.offset,
            self.inner.clock.as_ref(),
            || Box::pin(self.measure_offset()),
            |offset| Box::pin(self.signed_once(call, credentials, offset)),
        )
        .await
    }

    /// Sends a signed request once with a given clock offset.
    pub(crate) async fn signed_once(
        &self,
        call: &Call,
        credentials: &Credentials,
        offset_ms: i64,
    ) -> Result<ReadResponse, AdapterError> {
        let timestamp = self.now_ms() + offset_ms;
        let mut params = borrowed(&call.params);
        let timestamp = timestamp.to_string();
        let recv_window = self.inner.options.recv_window_ms.to_string();
        params.push(("timestamp", &timestamp));
        params.push(("recvWindow", &recv_window));
        let query = signing::encode_query(&params);
        let query = signing::signed_query(credentials.signer.as_ref(), &query)?;
        self.execute(call, query, Some(credentials)).await
    }

    /// Waits for the request budget, sends, follows the weight headers, and turns a failed
    /// response into an [`AdapterError`].
    async fn execute(
        &self,
        call: &Call,
        query: String,
        credentials: Option<&Credentials>,
    ) -> Result<ReadResponse, AdapterError> {
        let budget = self.budget(call.host);
        budget.acquire(call.weight).await;
        let order_budgets = match credentials {
            Some(credentials) if call.places_order => self.order_budgets(&credentials.api_key),
            _ => Vec::new(),
        };
        for order_budget in &order_budgets {
            order_budget.acquire(1).await;
        }

        let mut url = format!("{}{}", self.base_url(call.host), call.path);
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query);
        }
        let mut request = self.inner.http.request(call.method.clone(), url);
        if let Some(credentials) = credentials {
            request = request.header("X-MBX-APIKEY", api_key_header(&credentials.api_key)?);
        }
        let endpoint = self.endpoint(call);
        let response = send(
            EXCHANGE,
            &endpoint,
            request,
            self.inner.options.request_timeout,
        )
        .await?;

        let used = numeric_header(&response.headers, "x-mbx-used-weight-1m")
            .or_else(|| numeric_header(&response.headers, "x-sapi-used-ip-weight-1m"));
        let host = match call.host {
            Host::Futures => BINANCE,
            Host::Spot => BINANCE_SPOT,
        };
        if let Some(used) = used {
            budget.observe_used(used);
            export_usage(host, CountedBy::Exchange, used, budget.usage().1);
        }
        budget.export_usage(host);
        let order_counts = ["x-mbx-order-count-10s", "x-mbx-order-count-1m"];
        for (order_budget, header) in order_budgets.iter().zip(order_counts) {
            if let Some(count) = numeric_header(&response.headers, header) {
                order_budget.observe_used(count);
            }
        }
        if response.status.is_success() {
            budget.record_success();
            return Ok(response);
        }
        let error = parse::error_from_response(
            &endpoint,
            response.status,
            &response.headers,
            &response.body,
        );
        if let AdapterError::RateLimited {
            retry_after,
            status,
            ..
        } = &error
        {
            // A 418 is a ban of at least two minutes, growing with repeats.
            let ban = (*status == 418).then_some(Duration::from_secs(120));
            budget.record_limited(retry_after.or(ban));
        }
        Err(error)
    }

    /// Returns the per-account budgets of new orders: per 10 seconds and per minute.
    fn order_budgets(&self, api_key: &str) -> Vec<Arc<RateBudget>> {
        let backoff = self.inner.options.rate_limit_backoff;
        let windows = [
            (
                "binance-orders-10s",
                ORDERS_PER_10_SECONDS,
                Duration::from_secs(10),
            ),
            (
                "binance-orders-1m",
                ORDERS_PER_MINUTE,
                Duration::from_secs(60),
            ),
        ];
        windows
            .into_iter()
            .map(|(name, limit, window)| {
                let account = format!("{} {api_key}", self.inner.futures_url);
                shared_budget(&budget_key(name, &account), || {
                    RateBudget::new(limit, window, backoff)
                })
            })
            .collect()
    }

    /// Returns the instruments, read again once older than five minutes.
    pub(crate) async fn cached_instruments(&self) -> Result<Vec<Instrument>, AdapterError> {
        {
            let cache = self
                .inner
                .instruments
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some((read_at, instruments)) = cache.as_ref()
                && read_at.elapsed() < INSTRUMENTS_TTL
            {
                return Ok(instruments.clone());
            }
        }
        let call = Call::get("/fapi/v1/exchangeInfo", 1);
        let response = self.public(&call).await?;
        let instruments = parse::instruments(&self.endpoint(&call), &response.body)?;
        *self
            .inner
            .instruments
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), instruments.clone()));
        Ok(instruments)
    }

    /// Reads the key's permissions with a freshly measured clock offset.
    pub(crate) async fn probe_key(
        &self,
        credentials: &Credentials,
    ) -> Result<crate::client::ProbeReport, AdapterError> {
        let offset = self.measure_offset().await?;
        self.inner.offset.record(offset, self.now_ms());
        let call = Call {
            host: Host::Spot,
            ..Call::get(API_RESTRICTIONS_PATH, 1)
        };
        let started = Instant::now();
        let response = self
            .signed(&call, credentials)
            .await
            .map_err(|error| error.with_clock_offset(offset))?;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let parsed = parse::api_restrictions(&self.endpoint(&call), &response.body)
            .map_err(|error| error.with_clock_offset(offset))?;
        let offset = self.inner.offset.current(self.now_ms()).unwrap_or(offset);

        tracing::info!(
            exchange = %EXCHANGE,
            api_key = %mask_api_key(&credentials.api_key),
            host = %self.inner.host,
            latency_ms,
            clock_offset_ms = offset,
            "probed API key"
        );
        Ok(crate::client::ProbeReport {
            permissions: parsed.permissions,
            raw_flags: parsed.raw_flags,
            latency_ms,
            clock_offset_ms: offset,
            exchange_host: self.inner.host.clone(),
        })
    }
}

fn borrowed<'a>(params: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    params
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect()
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
