//! The OKX REST client: signed and public requests with a shared request budget and the
//! measured clock offset. The calls of [`crate::ExchangeClient`] are in the submodules.

mod account;
mod exchange_client;
mod orders;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use keyward_events::Exchange;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use super::wire::{OkxInstrument, OkxServerTime};
use super::{ORDERS_PER_2_SECONDS, REQUESTS_PER_2_SECONDS, parse, signing};
use crate::binance::signing::encode_query;
use crate::client::{ClientOptions, ProbeReport};
use crate::clock::{Clock, ClockOffset, SystemClock, offset_from_round_trip, with_offset};
use crate::credentials::{Credentials, mask_api_key};
use crate::domain::Instrument;
use crate::error::AdapterError;
use crate::hosts::{ExchangeHosts, OKX, OKX_WS};
use crate::http::{ReadResponse, send};
use crate::rate_limit::{RateBudget, budget_key, shared_budget};

const EXCHANGE: Exchange = Exchange::Okx;

/// How long the instrument list is reused before it is read again.
const INSTRUMENTS_TTL: Duration = Duration::from_secs(300);

/// One REST request before signing: query parameters for a GET, a JSON body for a POST.
#[derive(Clone, Debug)]
pub(crate) struct Call {
    pub method: Method,
    pub path: &'static str,
    pub query: Vec<(&'static str, String)>,
    pub body: serde_json::Map<String, serde_json::Value>,
    /// A body sent in place of `body`, for endpoints that take a JSON array.
    pub array_body: Option<serde_json::Value>,
    /// Whether the request places an order, which counts against the account's order limit.
    pub places_order: bool,
}

impl Call {
    pub fn get(path: &'static str) -> Self {
        Call {
            method: Method::GET,
            path,
            query: Vec::new(),
            body: serde_json::Map::new(),
            array_body: None,
            places_order: false,
        }
    }

    pub fn post(path: &'static str) -> Self {
        Call {
            method: Method::POST,
            ..Call::get(path)
        }
    }

    /// Adds a query parameter (GET) or a body field (POST); OKX takes every value as a string.
    pub fn param(mut self, name: &'static str, value: impl Into<String>) -> Self {
        let value = value.into();
        if self.method == Method::GET {
            self.query.push((name, value));
        } else {
            self.body.insert(name.to_owned(), value.into());
        }
        self
    }

    /// Returns the path with its query string, as sent and signed.
    fn request_path(&self) -> String {
        let params: Vec<(&str, &str)> = self
            .query
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        let query = encode_query(&params);
        if query.is_empty() {
            self.path.to_owned()
        } else {
            format!("{}?{query}", self.path)
        }
    }

    fn body_text(&self) -> String {
        if self.method == Method::GET {
            String::new()
        } else if let Some(array) = &self.array_body {
            array.to_string()
        } else {
            serde_json::Value::Object(self.body.clone()).to_string()
        }
    }
}

/// Client of OKX v5 perpetual swaps (`okx` host) and its websockets (`okx-ws` host). Cheap to clone; clones share the clock
/// offset, the request budget and the instrument cache.
#[derive(Clone)]
pub struct OkxClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    http: reqwest::Client,
    base_url: String,
    /// The host as keys are verified against it: the base URL, marked for demo trading.
    host: String,
    /// Whether requests go to demo trading, with `x-simulated-trading: 1`.
    demo: bool,
    pub(crate) ws_url: String,
    clock: Arc<dyn Clock>,
    offset: ClockOffset,
    budget: Arc<RateBudget>,
    pub(crate) options: ClientOptions,
    instruments: Mutex<Option<(Instant, Vec<Instrument>)>>,
}

impl OkxClient {
    /// Builds a client against the `okx` and `okx-ws` hosts, on the system clock.
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
        let base_url = hosts.get(OKX).to_owned();
        let backoff = options.rate_limit_backoff;
        let budget = shared_budget(&budget_key(OKX, &base_url), || {
            RateBudget::new(REQUESTS_PER_2_SECONDS, Duration::from_secs(2), backoff)
        });
        let demo = hosts.okx_demo();
        let host = if demo {
            format!("{base_url} (demo trading)")
        } else {
            base_url.clone()
        };
        let inner = Inner {
            http,
            ws_url: hosts.get(OKX_WS).to_owned(),
            host,
            demo,
            base_url,
            offset: ClockOffset::new(options.clock_offset_max_age),
            clock,
            budget,
            options,
            instruments: Mutex::new(None),
        };
        OkxClient {
            inner: Arc::new(inner),
        }
    }

    pub(crate) fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// Returns the host that keys are verified against, which tells demo trading apart.
    pub(crate) fn verified_host(&self) -> &str {
        &self.inner.host
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
        let call = Call::get("/api/v5/public/time");
        let endpoint = self.endpoint(&call);
        let time: OkxServerTime = parse::first(&endpoint, self.public(&call).await?)?;
        time.ts.parse().map_err(|_| {
            parse::undecodable(
                &endpoint,
                StatusCode::OK,
                format!("ts {:?} is not a number", time.ts),
            )
        })
    }

    /// Sends an unsigned request and decodes its `data`.
    pub(crate) async fn public<T: DeserializeOwned>(
        &self,
        call: &Call,
    ) -> Result<Vec<T>, AdapterError> {
        let response = self.execute(call, None).await?;
        self.decode(call, &response)
    }

    /// Sends a signed request with the current clock offset; on clock skew (50102) the offset
    /// is measured again and the request retried once.
    pub(crate) async fn signed<T: DeserializeOwned>(
        &self,
        call: &Call,
        credentials: &Credentials,
    ) -> Result<Vec<T>, AdapterError> {
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
    ) -> Result<Vec<T>, AdapterError> {
        let response = self
            .execute(call, Some((credentials, self.now_ms() + offset_ms)))
            .await?;
        self.decode(call, &response)
    }

    fn decode<T: DeserializeOwned>(
        &self,
        call: &Call,
        response: &ReadResponse,
    ) -> Result<Vec<T>, AdapterError> {
        let result = parse::decode(&self.endpoint(call), response.status, &response.body);
        if let Err(AdapterError::RateLimited { retry_after, .. }) = &result {
            self.inner.budget.record_limited(*retry_after);
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
        if let Some((credentials, _)) = signing_as
            && call.places_order
        {
            self.order_budget(&credentials.api_key).acquire(1).await;
        }

        let request_path = call.request_path();
        let body = call.body_text();
        let url = format!("{}{request_path}", self.inner.base_url);
        let mut request = self.inner.http.request(call.method.clone(), url);
        if self.inner.demo {
            request = request.header("x-simulated-trading", "1");
        }
        if call.method != Method::GET {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        if let Some((credentials, timestamp_ms)) = signing_as {
            request = sign(
                request,
                credentials,
                timestamp_ms,
                call,
                &request_path,
                &body,
            )?;
        }
        let endpoint = self.endpoint(call);
        let response = send(
            EXCHANGE,
            &endpoint,
            request,
            self.inner.options.request_timeout,
        )
        .await?;

        // OKX sends no rate-limit headers, so only this process's count is exported.
        self.inner.budget.export_usage(OKX);
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

    /// Returns the account's budget of new orders per 2 seconds.
    fn order_budget(&self, api_key: &str) -> Arc<RateBudget> {
        let account = format!("{} {api_key}", self.inner.base_url);
        let backoff = self.inner.options.rate_limit_backoff;
        shared_budget(&budget_key("okx-orders", &account), || {
            RateBudget::new(ORDERS_PER_2_SECONDS, Duration::from_secs(2), backoff)
        })
    }

    /// Returns the USDT-margined swaps, read again once older than five minutes.
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
        let call = Call::get("/api/v5/public/instruments").param("instType", "SWAP");
        let list: Vec<OkxInstrument> = self.public(&call).await?;
        let instruments = parse::instruments(list);
        *self
            .inner
            .instruments
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), instruments.clone()));
        Ok(instruments)
    }

    /// Returns the instrument of one of keyward's symbols, for its OKX id and contract value.
    pub(crate) async fn instrument_of(&self, symbol: &str) -> Result<Instrument, AdapterError> {
        self.cached_instruments()
            .await?
            .into_iter()
            .find(|instrument| instrument.symbol == symbol)
            .ok_or_else(|| AdapterError::UnknownSymbol {
                exchange: EXCHANGE,
                symbol: symbol.to_owned(),
            })
    }

    /// Reads the account configuration with a freshly measured clock offset.
    pub(crate) async fn probe_key(
        &self,
        credentials: &Credentials,
    ) -> Result<ProbeReport, AdapterError> {
        let offset = self.measure_offset().await?;
        self.inner.offset.record(offset, self.now_ms());
        let call = &Call::get("/api/v5/account/config");
        let started = Instant::now();
        let (permissions, raw_flags) = with_offset(
            &self.inner.offset,
            self.inner.clock.as_ref(),
            || Box::pin(self.measure_offset()),
            |offset| {
                Box::pin(async move {
                    let response = self
                        .execute(call, Some((credentials, self.now_ms() + offset)))
                        .await?;
                    parse::account_config(&self.endpoint(call), &response.body)
                })
            },
        )
        .await
        .map_err(|error| error.with_clock_offset(offset))?;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
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
            exchange_host: self.inner.host.clone(),
        })
    }
}

/// Adds OKX's authentication headers. The passphrase goes out in clear, as OKX requires, and
/// is not part of the signature.
fn sign(
    request: reqwest::RequestBuilder,
    credentials: &Credentials,
    timestamp_ms: i64,
    call: &Call,
    request_path: &str,
    body: &str,
) -> Result<reqwest::RequestBuilder, AdapterError> {
    let passphrase =
        credentials
            .signer
            .passphrase()?
            .ok_or_else(|| AdapterError::InvalidCredentials {
                exchange: EXCHANGE,
                reason: "the key has no passphrase; OKX requires the one chosen when the key was \
                     created"
                    .to_owned(),
            })?;
    let timestamp =
        signing::timestamp_text(timestamp_ms).ok_or_else(|| AdapterError::ClockSkew {
            exchange: EXCHANGE,
            code: None,
            msg: format!("the request time {timestamp_ms} ms is out of range"),
            offset_ms: None,
        })?;
    let signature = signing::signature(
        credentials.signer.as_ref(),
        &timestamp,
        call.method.as_str(),
        request_path,
        body,
    )?;
    Ok(request
        .header("OK-ACCESS-KEY", sensitive(&credentials.api_key, "API key")?)
        .header("OK-ACCESS-SIGN", signature)
        .header("OK-ACCESS-TIMESTAMP", timestamp)
        .header(
            "OK-ACCESS-PASSPHRASE",
            sensitive(&passphrase, "passphrase")?,
        ))
}

fn sensitive(value: &str, name: &str) -> Result<HeaderValue, AdapterError> {
    let mut header =
        HeaderValue::from_str(value).map_err(|_| AdapterError::InvalidCredentials {
            exchange: EXCHANGE,
            reason: format!("the {name} contains characters that cannot be sent in an HTTP header"),
        })?;
    header.set_sensitive(true);
    Ok(header)
}
