//! REST and websocket base URLs per exchange host name, with the production hosts as defaults.
//!
//! The host names are fixed: `binance` (USDT-M futures), `binance-spot` (the host of the key
//! restrictions call), `bybit` and `okx` for REST, and `binance-ws`, `bybit-ws` and `okx-ws`
//! for websockets. This is server configuration, never a per-user field, so no user can aim
//! keyward's signed requests at another host.

use std::collections::BTreeMap;

use reqwest::Url;

/// Host name of Binance USDT-M futures (`/fapi`).
pub const BINANCE: &str = "binance";
/// Host name of the Binance spot API, which serves `/sapi/v1/account/apiRestrictions`.
pub const BINANCE_SPOT: &str = "binance-spot";
/// Host name of the Bybit v5 API.
pub const BYBIT: &str = "bybit";
/// Host name of the OKX v5 API.
pub const OKX: &str = "okx";
/// Host name of Binance USDT-M futures websockets (routes `/public`, `/market`, `/private`).
pub const BINANCE_WS: &str = "binance-ws";
/// Host name of Bybit v5 websockets (paths `/v5/public/linear`, `/v5/private`).
pub const BYBIT_WS: &str = "bybit-ws";
/// Host name of OKX v5 websockets (paths `/ws/v5/public`, `/ws/v5/private`,
/// `/ws/v5/business`).
pub const OKX_WS: &str = "okx-ws";

/// OKX's production websocket host.
const OKX_PRODUCTION_WS: &str = "wss://ws.okx.com:8443";
/// OKX's demo trading websocket host; its REST host is the production one.
const OKX_DEMO_WS: &str = "wss://wspap.okx.com:8443";

const DEFAULTS: [(&str, &str); 7] = [
    (BINANCE, "https://fapi.binance.com"),
    (BINANCE_SPOT, "https://api.binance.com"),
    (BYBIT, "https://api.bybit.com"),
    (OKX, "https://www.okx.com"),
    (BINANCE_WS, "wss://fstream.binance.com"),
    (BYBIT_WS, "wss://stream.bybit.com"),
    (OKX_WS, OKX_PRODUCTION_WS),
];

/// Returns whether a host name is one of the websocket hosts, whose URLs are `ws` or `wss`.
fn is_websocket(name: &str) -> bool {
    matches!(name, BINANCE_WS | BYBIT_WS | OKX_WS)
}

/// A host name or base URL that [`ExchangeHosts`] does not accept.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HostsError {
    #[error(
        "unknown exchange host name {name:?}; expected one of binance, binance-spot, bybit, \
         okx, binance-ws, bybit-ws, okx-ws"
    )]
    UnknownName { name: String },
    #[error("invalid base URL {url:?} for exchange host {name}: {reason}")]
    InvalidUrl {
        name: String,
        url: String,
        reason: String,
    },
    /// The URL carries a user name or password; the URL itself is left out of the message.
    #[error(
        "invalid base URL for exchange host {name}: it contains credentials; give the URL \
         without a user name or password"
    )]
    CredentialsInUrl { name: String },
    #[error("invalid exchange host override {arg:?}: expected NAME=URL, e.g. binance=https://host")]
    InvalidAssignment { arg: String },
}

/// The base URL of every exchange host name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExchangeHosts {
    urls: BTreeMap<&'static str, String>,
    /// Whether OKX requests go to demo trading (`x-simulated-trading: 1`).
    okx_demo: bool,
}

impl Default for ExchangeHosts {
    fn default() -> Self {
        let urls = DEFAULTS
            .iter()
            .map(|(name, url)| (*name, (*url).to_owned()))
            .collect();
        ExchangeHosts {
            urls,
            okx_demo: false,
        }
    }
}

impl ExchangeHosts {
    /// Points every host name at one `http` base URL, as the sandbox does with the emulator:
    /// websocket hosts get the same address with `ws` (or `wss` for `https`).
    ///
    /// # Errors
    /// Returns [`HostsError`] when `url` is not a valid base URL.
    pub fn all_at(url: &str) -> Result<Self, HostsError> {
        let mut hosts = ExchangeHosts::default();
        let ws_url = url
            .strip_prefix("http")
            .map_or_else(|| url.to_owned(), |rest| format!("ws{rest}"));
        for (name, _) in DEFAULTS {
            let url = if is_websocket(name) { &ws_url } else { url };
            hosts.set(name, url)?;
        }
        Ok(hosts)
    }

    /// Sets the base URL of one host name.
    ///
    /// The URL must be `http` or `https` (`ws` or `wss` for websocket hosts) with a host, and without path, query, fragment or
    /// credentials. It is stored as its origin, e.g. `http://127.0.0.1:9000`.
    ///
    /// # Errors
    /// Returns [`HostsError`] for an unknown name or an invalid URL.
    pub fn set(&mut self, name: &str, url: &str) -> Result<(), HostsError> {
        let Some((known, _)) = DEFAULTS.iter().find(|(known, _)| *known == name) else {
            return Err(HostsError::UnknownName {
                name: name.to_owned(),
            });
        };
        let origin = validate_base_url(name, url)?;
        self.urls.insert(known, origin);
        Ok(())
    }

    /// Applies an override written `NAME=URL`, as given to `--exchange-url`.
    ///
    /// # Errors
    /// Returns [`HostsError`] when `arg` has no `=`, or as [`ExchangeHosts::set`].
    pub fn set_from_arg(&mut self, arg: &str) -> Result<(), HostsError> {
        let Some((name, url)) = arg.split_once('=') else {
            return Err(HostsError::InvalidAssignment {
                arg: arg.to_owned(),
            });
        };
        self.set(name.trim(), url.trim())
    }

    /// Sends OKX requests to demo trading: every request carries `x-simulated-trading: 1`, and
    /// the OKX websocket host, unless set, becomes the demo one.
    pub fn set_okx_demo(&mut self, demo: bool) {
        self.okx_demo = demo;
        if demo && self.get(OKX_WS) == OKX_PRODUCTION_WS {
            self.urls.insert(OKX_WS, OKX_DEMO_WS.to_owned());
        }
    }

    /// Returns whether OKX requests go to demo trading.
    pub fn okx_demo(&self) -> bool {
        self.okx_demo
    }

    /// Returns the base URL of a host name, or `""` for a name that is not one of the seven.
    pub fn get(&self, name: &str) -> &str {
        self.urls.get(name).map_or("", String::as_str)
    }
}

fn validate_base_url(name: &str, url: &str) -> Result<String, HostsError> {
    let invalid = |reason: &str| HostsError::InvalidUrl {
        name: name.to_owned(),
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = Url::parse(url).map_err(|err| invalid(&err.to_string()))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(HostsError::CredentialsInUrl {
            name: name.to_owned(),
        });
    }
    if is_websocket(name) {
        if !matches!(parsed.scheme(), "ws" | "wss") {
            return Err(invalid("the scheme of a websocket host must be ws or wss"));
        }
    } else if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if parsed.host().is_none() {
        return Err(invalid("the URL has no host"));
    }
    if parsed.path() != "/" {
        return Err(invalid(
            "a base URL has no path; give only scheme, host and port",
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid("a base URL has no query or fragment"));
    }
    Ok(origin(&parsed))
}

/// Serializes scheme, host and port; `Url::origin` is opaque for `ws` schemes.
fn origin(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_production_hosts() {
        let hosts = ExchangeHosts::default();
        assert_eq!(hosts.get(BINANCE), "https://fapi.binance.com");
        assert_eq!(hosts.get(BINANCE_SPOT), "https://api.binance.com");
        assert_eq!(hosts.get(BYBIT), "https://api.bybit.com");
        assert_eq!(hosts.get(OKX), "https://www.okx.com");
    }

    #[test]
    fn set_stores_origin_without_trailing_slash() {
        let mut hosts = ExchangeHosts::default();
        hosts.set(BINANCE, "http://127.0.0.1:9000/").unwrap();
        assert_eq!(hosts.get(BINANCE), "http://127.0.0.1:9000");
        assert_eq!(hosts.get(BINANCE_SPOT), "https://api.binance.com");
    }

    #[test]
    fn set_rejects_unknown_name() {
        let err = ExchangeHosts::default()
            .set("kraken", "https://x.example")
            .unwrap_err();
        assert_eq!(
            err,
            HostsError::UnknownName {
                name: "kraken".to_owned()
            }
        );
    }

    #[test]
    fn set_rejects_bad_urls() {
        let cases = [
            "ftp://127.0.0.1",
            "http://127.0.0.1/fapi",
            "http://127.0.0.1/?a=b",
            "http://127.0.0.1/#frag",
            "127.0.0.1:9000",
            "",
        ];
        for url in cases {
            let err = ExchangeHosts::default().set(BINANCE, url).unwrap_err();
            assert!(
                matches!(err, HostsError::InvalidUrl { .. }),
                "{url}: {err:?}"
            );
        }
    }

    #[test]
    fn credentials_in_url_stay_out_of_error() {
        let err = ExchangeHosts::default()
            .set(OKX, "https://user:hunter2@127.0.0.1")
            .unwrap_err();
        assert_eq!(
            err,
            HostsError::CredentialsInUrl {
                name: OKX.to_owned()
            }
        );
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn set_from_arg_splits_name_and_url() {
        let mut hosts = ExchangeHosts::default();
        hosts
            .set_from_arg("binance-spot=http://[::1]:8081")
            .unwrap();
        assert_eq!(hosts.get(BINANCE_SPOT), "http://[::1]:8081");
        let err = hosts.set_from_arg("binance").unwrap_err();
        assert!(matches!(err, HostsError::InvalidAssignment { .. }));
    }

    #[test]
    fn all_at_points_every_name_at_one_address() {
        let hosts = ExchangeHosts::all_at("http://127.0.0.1:7000").unwrap();
        for (name, _) in DEFAULTS {
            let expected = if is_websocket(name) {
                "ws://127.0.0.1:7000"
            } else {
                "http://127.0.0.1:7000"
            };
            assert_eq!(hosts.get(name), expected, "{name}");
        }
    }

    #[test]
    fn websocket_hosts_take_ws_schemes_only() {
        let mut hosts = ExchangeHosts::default();
        hosts
            .set(BINANCE_WS, "wss://fstream.binancefuture.com")
            .unwrap();
        assert_eq!(hosts.get(BINANCE_WS), "wss://fstream.binancefuture.com");
        hosts.set(OKX_WS, "ws://[::1]:9000").unwrap();
        assert_eq!(hosts.get(OKX_WS), "ws://[::1]:9000");
        let err = hosts.set(BYBIT_WS, "https://stream.bybit.com").unwrap_err();
        assert!(matches!(err, HostsError::InvalidUrl { .. }), "{err:?}");
        let err = hosts.set(BYBIT, "wss://stream.bybit.com").unwrap_err();
        assert!(matches!(err, HostsError::InvalidUrl { .. }), "{err:?}");
    }
}
