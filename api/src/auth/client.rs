//! The client of a request: source address, device, and whether TLS carried it.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use axum::http::request::Parts;

/// Maximum length of a header value kept, in characters.
const MAX_USER_AGENT_CHARS: usize = 256;

/// Settings of the HTTP authentication layer.
#[derive(Clone, Debug, Default)]
pub struct AuthSettings {
    /// Reverse proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` headers are believed.
    /// Requests from any other peer are judged by the peer address alone.
    pub trusted_proxies: Vec<IpAddr>,
}

/// The client of a request, from the connection and the headers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Client {
    /// The source address: the peer, or the last hop a trusted proxy added.
    pub address: Option<IpAddr>,
    /// Browser and system from the user agent, such as `Firefox on Linux`.
    pub device: String,
    /// Whether the request reached keyward (or its trusted proxy) over TLS.
    pub tls: bool,
}

impl Client {
    /// Reads the client from a request's connection info and headers.
    pub fn from_parts(parts: &Parts, settings: &AuthSettings) -> Self {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let trusted = peer.is_some_and(|ip| settings.trusted_proxies.contains(&ip));
        let forwarded = trusted.then(|| forwarded_for(&parts.headers)).flatten();
        let tls = trusted
            && header(&parts.headers, "x-forwarded-proto")
                .is_some_and(|proto| proto.eq_ignore_ascii_case("https"));
        let user_agent = header(&parts.headers, "user-agent").unwrap_or_default();
        Client {
            address: forwarded.or(peer),
            device: device_name(&user_agent),
            tls,
        }
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    let value = headers.get(name)?.to_str().ok()?;
    Some(value.chars().take(MAX_USER_AGENT_CHARS).collect())
}

/// The address the nearest proxy saw: the last entry of `X-Forwarded-For`.
fn forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let value = headers.get("x-forwarded-for")?.to_str().ok()?;
    value.rsplit(',').next()?.trim().parse().ok()
}

/// A short device name from a user agent: `Firefox on Linux`, `curl`, or `unknown device`.
pub fn device_name(user_agent: &str) -> String {
    const BROWSERS: [(&str, &str); 6] = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("MSIE ", "Internet Explorer"),
    ];
    const SYSTEMS: [(&str, &str); 6] = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ];
    let browser = BROWSERS
        .iter()
        .find(|(marker, _)| user_agent.contains(marker))
        .map(|(_, name)| *name);
    let system = SYSTEMS
        .iter()
        .find(|(marker, _)| user_agent.contains(marker))
        .map(|(_, name)| *name);
    match (browser, system) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_owned(),
        _ => program_name(user_agent),
    }
}

/// The product token of a non-browser user agent, such as `curl` from `curl/8.5.0`.
fn program_name(user_agent: &str) -> String {
    let product = user_agent
        .split(['/', ' '])
        .next()
        .unwrap_or_default()
        .trim();
    let plain = !product.is_empty()
        && product.len() <= 40
        && product
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if plain {
        product.to_owned()
    } else {
        "unknown device".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    #[test]
    fn device_names_from_user_agents() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
                "Firefox on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/131.0.0.0 Safari/537.36",
                "Chrome on Windows",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like \
                 Gecko) Version/18.1 Safari/605.1.15",
                "Safari on macOS",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
                "Edge on Windows",
            ),
            ("curl/8.5.0", "curl"),
            ("python-requests/2.32", "python-requests"),
            ("", "unknown device"),
            ("<script>alert(1)</script>", "unknown device"),
        ];
        for (user_agent, expected) in cases {
            assert_eq!(device_name(user_agent), expected, "{user_agent}");
        }
    }

    fn parts(peer: &str, headers: &[(&str, &str)]) -> Parts {
        let mut request = Request::builder();
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let (mut parts, ()) = request.body(()).unwrap().into_parts();
        let peer: SocketAddr = peer.parse().unwrap();
        parts.extensions.insert(ConnectInfo(peer));
        parts
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let headers = [
            ("x-forwarded-for", "198.51.100.7, 203.0.113.9"),
            ("x-forwarded-proto", "https"),
        ];
        let settings = AuthSettings {
            trusted_proxies: vec!["10.0.0.2".parse().unwrap()],
        };
        let proxied = Client::from_parts(&parts("10.0.0.2:4000", &headers), &settings);
        assert_eq!(proxied.address, Some("203.0.113.9".parse().unwrap()));
        assert!(proxied.tls);

        let direct = Client::from_parts(&parts("192.0.2.1:4000", &headers), &settings);
        assert_eq!(direct.address, Some("192.0.2.1".parse().unwrap()));
        assert!(!direct.tls, "an untrusted peer cannot claim TLS");
    }
}
