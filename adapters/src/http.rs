//! Sending a request and turning transport failures into [`AdapterError`]s.

use std::time::Duration;

use keyward_events::Exchange;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::error::AdapterError;

/// Bodies longer than this are cut when quoted in an error.
const EXCERPT_CHARS: usize = 200;

/// A response read whole: status, headers and body.
pub(crate) struct ReadResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Sends `request` and reads the whole response within `timeout`. `endpoint` names the
/// request in errors and must not contain the query string, which carries the signature.
pub(crate) async fn send(
    exchange: Exchange,
    endpoint: &str,
    request: reqwest::RequestBuilder,
    timeout: Duration,
) -> Result<ReadResponse, AdapterError> {
    let response = request
        .timeout(timeout)
        .send()
        .await
        .map_err(|err| transport_error(exchange, endpoint, err))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map_err(|err| transport_error(exchange, endpoint, err))?;
    Ok(ReadResponse {
        status,
        headers,
        body: body.to_vec(),
    })
}

fn transport_error(exchange: Exchange, endpoint: &str, err: reqwest::Error) -> AdapterError {
    let endpoint = endpoint.to_owned();
    if err.is_timeout() {
        return AdapterError::Timeout { exchange, endpoint };
    }
    // The URL contains the signed query, so it is removed from the error here.
    AdapterError::Transport {
        exchange,
        endpoint,
        source: err.without_url(),
    }
}

/// Returns the start of a body as text, for error messages.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut excerpt: String = text.chars().take(EXCERPT_CHARS).collect();
    if text.chars().count() > EXCERPT_CHARS {
        excerpt.push('…');
    }
    excerpt
}

/// Cuts an exchange's error message to `max_chars` characters, marking the cut with `…`.
pub(crate) fn shorten(msg: &str, max_chars: usize) -> String {
    if msg.chars().count() <= max_chars {
        return msg.to_owned();
    }
    let mut short: String = msg.chars().take(max_chars).collect();
    short.push('…');
    short
}

/// Reads a numeric header, e.g. `X-MBX-USED-WEIGHT-1M`.
pub(crate) fn numeric_header(headers: &HeaderMap, name: &str) -> Option<u32> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Reads the `Retry-After` header in seconds, when present and numeric.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}
