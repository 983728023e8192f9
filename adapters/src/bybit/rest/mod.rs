//! The Bybit REST client: signed and public requests with a shared request budget and the
//! measured clock offset. The calls of [`crate::ExchangeClient`] are in the submodules.

mod account;
mod exchange_client;
mod orders;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use keyward_events::Exchange;
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde::de::DeserializeOwned;

use super::wire::{BybitInstrumentPage, BybitServerTime};
use super::{
    ACCOUNT_REQUESTS_PER_SECOND, IP_REQUESTS_PER_5_SECONDS, ORDERS_PER_SECOND, parse, signing,
};
use crate::binance::signing::encode_query;
use crate::client::{ClientOptions, ProbeReport};
use crate::clock::{Clock, ClockOffset, SystemClock, offset_from_round_trip, with_offset};
use crate::credentials::{Credentials, mask_api_key};
use crate::domain::Instrument;
use crate::error::AdapterError;
use crate::hosts::{BYBIT, BYBIT_WS, ExchangeHosts};
use crate::http::{ReadResponse, send};
use crate::rate_limit::{CountedBy, RateBudget, budget_key, export_usage, shared_budget};

const EXCHANGE: Exchange = Exchange::Bybit;

/// How long the instrument list is reused before it is read again.
const INSTRUMENTS_TTL: Duration = Duration::from_secs(300);

/// One REST request before signing: query parameters for a GET, a JSON body for a POST.
#[derive(Clone, Debug)]
pub(crate) struct Call {
    pub method: Method,
    pub path: &'static str,
    pub query: Vec<(&'static str, String)>,
    pub body: serde_json::Map<String, serde_json::Value>,
    /// Whether the request places an order, which counts against the account's order limit.
    pub places_order: bool,
}

impl Call {
    pub fn get(path: &'static str) -> Self {
        Call {
            method: Method::GET,
            path,
            query: vec![("category", "linear".to_owned())],
            body: serde_json::Map::new(),
            places_order: false,
        }
    }

    pub fn post(path: &'static str) -> Self {
        let mut body = serde_json::Map::new();
        body.insert("category".to_owned(), "linear".into());
        Call {
            method: Method::POST,
            query: Vec::new(),
            body,
            ..Call::get(path)
        }
    }

    /// Adds a query parameter (GET) or a body field (POST).
    pub fn param(mut self, name: &'static str, value: impl Into<serde_json::Value>) -> Self {
        let value = value.into();
        if self.method == Method::GET {
            let text = match value {
                serde_json::Value::String(text) => text,
                other => other.to_string(),
            };
            self.query.push((name, text));
        } else {
            self.body.insert(name.to_owned(), value);
        }
        self
    }

    /// Drops the `category` parameter, for endpoints that take none.
    pub fn without_category(mut self) -> Self {
        self.query.retain(|(name, _)| *name != "category");
        self.body.remove("category");
        self
    }

    fn query_string(&self) -> String {
        let params: Vec<(&str, &str)> = self
            .query
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        encode_query(&params)
    }

    fn body_text(&self) -> String {
        if self.method == Method::GET {
            String::new()
        } else {
            serde_json::Value::Object(self.body.clone()).to_string()
        }
    }
}

/// Client of Bybit v5 linear perpetuals (`bybit` host) and its websockets (`bybit-ws` host).
/// Cheap to clone; clones share the clock offset, the request budget and the instrument cache.
#[derive(Clone)]
pub struct BybitClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    http: reqwest::Client,
    base_url: String,
    pub(crate) ws_url: String,
    clock: Arc<dyn Clock>,
    offset: ClockOffset,
    budget: Arc<RateBudget>,
    pub(crate) options: ClientOptions,
    instruments: Mutex<Option<(Instant, Vec<Instrument>)>>,
}

impl BybitClient {
    /// Builds a client against the `bybit` and `bybit-ws` hosts, on the system clock.
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
        let base_url = hosts.get(BYBIT).to_owned();
        let backoff = options.rate_limit_backoff;
        let budget = shared_budget(&budget_key(BYBIT, &base_url), || {
            RateBudget::new(IP_REQUESTS_PER_5_SECONDS, Duration::from_secs(5), backoff)
        });
        let inner = Inner {
            http,
            ws_url: hosts.get(BYBIT_WS).to_owned(),
            base_url,
            offset: ClockOffset::new(options.clock_offset_max_age),
            clock,
            budget,
            options,
            instruments: Mutex::new(None),
        };
        BybitClient {
            inner: Arc::new(inner),
        }
    }

    pub(crate) fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    pub(crate) fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Returns `METHOD URL` without the query, to name a request in errors and logs.
    pub(crate) fn endpoint(&self, call: &Call) -> String {
        format!("{} {}{}", call.method, self.inner.base_url, call.path)
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
        let call = Call::get("/v5/market/time").without_category();
        let time: BybitServerTime = self.public(&call).await?;
        parse::server_time_ms(&time.time_second, &time.time_nano).map_err(|detail| {
            parse::undecodable(&self.endpoint(&call), reqwest::StatusCode::OK, detail)
        })
    }

    /// Sends an unsigned request and decodes its result.
    pub(crate) async fn public<T: DeserializeOwned>(&self, call: &Call) -> Result<T, AdapterError> {
        let response = self.execute(call, None).await?;
        self.decode(call, &response, None)
    }

    /// Sends a signed request with the current clock offset; on clock skew (10002) the offset
    /// is measured again and the request retried once.
    pub(crate) async fn signed<T: DeserializeOwned>(
        &self,
        call: &Call,
        credentials: &Credentials,
    ) -> Result<T, AdapterError> {
        with_offset(
            &self.inner.offset,
            self.inner.clock.as_ref(),
            || Box::pin(self.measure_offset()),
            |offset| Box::pin(self.signed_once(call, credentials, offset)),
        )
        .await
    }

    async fn signed_once<T: DeserializeOwned>(
        &self,
        call: &Call,
        credentials: &Credentials,
        offset_ms: i64,
    ) -> Result<T, AdapterError> {
        let response = self
            .execute(call, Some((credentials, self.now_ms() + offset_ms)))
            .await?;
        self.decode(call, &response, Some(credentials))
    }

    /// Decodes a response's result. A rate limit pauses the budget it applies to, because 10006
    /// counts per account (orders apart from other requests) and other limits per host.
    fn decode<T: DeserializeOwned>(
        &self,
        call: &Call,
        response: &ReadResponse,
        credentials: Option<&Credentials>,
    ) -> Result<T, AdapterError> {
        let result = parse::decode(
            &self.endpoint(call),
            response.status,
            &response.headers,
            &response.body,
        );
        if let Err(AdapterError::RateLimited {
            retry_after, code, ..
        }) = &result
        {
            match credentials {
                Some(credentials) if *code == Some(10_006) => {
                    self.account_budget(&credentials.api_key, call.places_order)
                        .record_limited(*retry_after);
                }
                _ => {
                    self.inner.budget.record_limited(*retry_after);
                }
            }
        }
        result
    }

    /// Waits for the request budget, signs when given credentials, sends, and turns a failed
    /// HTTP status into an [`AdapterError`]. Bodies with status 200 are decoded by the caller.
    async fn execute(
        &self,
        call: &Call,
        signing_as: Option<(&Credentials, i64)>,
    ) -> Result<ReadResponse, AdapterError> {
        self.inner.budget.acquire(1).await;
        if let Some((credentials, _)) = signing_as {
            self.account_budget(&credentials.api_key, call.places_order)
                .acquire(1)
                .await;
        }

        let query = call.query_string();
        let body = call.body_text();
        let mut url = format!("{}{}", self.inner.base_url, call.path);
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query);
        }
        let mut request = self.inner.http.request(call.method.clone(), url);
        if call.method != Method::GET {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        if let Some((credentials, timestamp)) = signing_as {
            let recv_window = self.inner.options.recv_window_ms;
            let payload = if call.method == Method::GET {
                &query
            } else {
                &body
            };
            let signature = signing::signature(
                credentials.signer.as_ref(),
                timestamp,
                &credentials.api_key,
                recv_window,
                payload,
            )?;
            request = request
                .header("X-BAPI-API-KEY", sensitive(&credentials.api_key)?)
                .header("X-BAPI-TIMESTAMP", timestamp.to_string())
                .header("X-BAPI-RECV-WINDOW", recv_window.to_string())
                .header("X-BAPI-SIGN", signature);
        }
        let endpoint = self.endpoint(call);
        let response = send(
            EXCHANGE,
            &endpoint,
            request,
            self.inner.options.request_timeout,
        )
        .await?;

        // `X-Bapi-Limit-Status` counts per account and endpoint, so only the account's order
        // budget follows it; other endpoints pause on the 10006 itself.
        if let Some((credentials, _)) = signing_as
            && call.places_order
            && let Some(wait) = parse::limit_spent(&response.headers)
        {
            self.account_budget(&credentials.api_key, true)
                .record_limited(Some(wait));
        }
        if let Some((remaining, limit)) = parse::limit_status(&response.headers) {
            export_usage(
                BYBIT,
                CountedBy::Exchange,
                limit.saturating_sub(remaining),
                limit,
            );
        }
        self.inner.budget.export_usage(BYBIT);
        if response.status.is_success() {
            self.inner.budget.record_success();
            return Ok(response);
        }
        let error = parse::error_from_response(
            &endpoint,
            response.status,
            &response.headers,
            &response.body,
        );
        if let AdapterError::RateLimited { retry_after, .. } = &error {
            self.inner.budget.record_limited(*retry_after);
        }
        Err(error)
    }

    /// Returns the account's budget per second: of new orders, or of its other signed
    /// requests.
    fn account_budget(&self, api_key: &str, orders: bool) -> Arc<RateBudget> {
        let account = format!("{} {api_key}", self.inner.base_url);
        let backoff = self.inner.options.rate_limit_backoff;
        let (name, limit) = if orders {
            ("bybit-orders", ORDERS_PER_SECOND)
        } else {
            ("bybit-account", ACCOUNT_REQUESTS_PER_SECOND)
        };
        shared_budget(&budget_key(name, &account), || {
            RateBudget::new(limit, Duration::from_secs(1), backoff)
        })
    }

    /// Returns the linear perpetuals, read again once older than five minutes.
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
        let mut instruments = Vec::new();
        let mut cursor = String::new();
        loop {
            let mut call = Call::get("/v5/market/instruments-info").param("limit", "1000");
            if !cursor.is_empty() {
                call = call.param("cursor", cursor.clone());
            }
            let page: BybitInstrumentPage = self.public(&call).await?;
            instruments.extend(parse::instruments(page.list));
            match page.next_page_cursor {
                Some(next) if !next.is_empty() && next != cursor => cursor = next,
                _ => break,
            }
        }
        *self
            .inner
            .instruments
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), instruments.clone()));
        Ok(instruments)
    }

    /// Reads the key's information with a freshly measured clock offset.
    pub(crate) async fn probe_key(
        &self,
        credentials: &Credentials,
    ) -> Result<ProbeReport, AdapterError> {
        let offset = self.measure_offset().await?;
        self.inner.offset.record(offset, self.now_ms());
        let call = &Call::get("/v5/user/query-api").without_category();
        let started = Instant::now();
        let response = with_offset(
            &self.inner.offset,
            self.inner.clock.as_ref(),
            || Box::pin(self.measure_offset()),
            |offset| {
                Box::pin(async move {
                    let response = self
                        .execute(call, Some((credentials, self.now_ms() + offset)))
                        .await?;
                    parse::key_information(&self.endpoint(call), &response.body)
                })
            },
        )
        .await
        .map_err(|error| error.with_clock_offset(offset))?;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (permissions, raw_flags) = response;
        let offset = self.inner.offset.current(self.now_ms()).unwrap_or(offset);

        tracing::info!(
            exchange = %EXCHANGE,
            api_key = %mask_api_key(&credentials.api_key),
            host = %self.inner.base_url,
            latency_ms,
            clock_offset_ms = offset,
            "probed API key"
        );
        Ok(ProbeReport {
            permissions,
            raw_flags,
            latency_ms,
            clock_offset_ms: offset,
            exchange_host: self.inner.base_url.clone(),
        })
    }
}

fn sensitive(api_key: &str) -> Result<HeaderValue, AdapterError> {
    let mut value = HeaderValue::from_str(api_key).map_err(|_| AdapterError::InvalidKey {
        exchange: EXCHANGE,
        code: None,
        msg: "the API key contains characters that cannot be sent in an HTTP header".to_owned(),
    })?;
    value.set_sensitive(true);
    Ok(value)
}
