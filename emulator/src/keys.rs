//! Emulator API keys: the key file, demo keys, and secrets that never print.
//!
//! The key file is a JSON array of `{"exchange", "api_key", "api_secret", "passphrase"?,
//! "read", "spot", "futures", "withdraw", "transfer", "ip_allowlist", "expires_at"?,
//! "testnet"?, "label"?}`. An empty `ip_allowlist` means the key works from any address.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use keyward_events::Exchange;
use rand::RngExt;
use rand::distr::Alphanumeric;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

const FIELDS: [&str; 13] = [
    "exchange",
    "api_key",
    "api_secret",
    "passphrase",
    "read",
    "spot",
    "futures",
    "withdraw",
    "transfer",
    "ip_allowlist",
    "expires_at",
    "testnet",
    "label",
];

/// A secret (API secret or passphrase) in a buffer zeroed on drop; `Debug` prints `[redacted]`
/// and it has no `Serialize`.
#[derive(Clone)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        SecretString(Zeroizing::new(secret.into()))
    }

    /// Returns the secret itself, for signature checks and for printing demo keys to their owner.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// One IP address or CIDR network of a key's allowlist, e.g. `192.0.2.7` or `192.0.2.0/24`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpRule {
    network: IpAddr,
    prefix: u8,
}

impl IpRule {
    /// Checks whether `ip` is this address or inside this network. IPv4-mapped IPv6 addresses
    /// (`::ffff:127.0.0.1`) count as their IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_matches(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_matches(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_matches(network: &[u8], ip: &[u8], prefix: u8) -> bool {
    let full_bytes = usize::from(prefix / 8);
    if network[..full_bytes] != ip[..full_bytes] {
        return false;
    }
    let rest_bits = prefix % 8;
    if rest_bits == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest_bits);
    network[full_bytes] & mask == ip[full_bytes] & mask
}

impl FromStr for IpRule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || format!("invalid IP address or CIDR network {text:?}");
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network = IpAddr::from_str(address.trim())
            .map_err(|_| invalid())?
            .to_canonical();
        let max_prefix = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix.trim().parse::<u8>().map_err(|_| invalid())?,
            None => max_prefix,
        };
        if prefix > max_prefix {
            return Err(invalid());
        }
        Ok(IpRule { network, prefix })
    }
}

impl fmt::Display for IpRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let max_prefix = if self.network.is_ipv4() { 32 } else { 128 };
        if self.prefix == max_prefix {
            return write!(f, "{}", self.network);
        }
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// An API key the emulator accepts, with the permissions it reports for it.
#[derive(Clone, Debug)]
pub struct EmulatorKey {
    pub exchange: Exchange,
    pub api_key: String,
    pub api_secret: SecretString,
    /// OKX keys only.
    pub passphrase: Option<SecretString>,
    pub read: bool,
    pub spot: bool,
    pub futures: bool,
    pub withdraw: bool,
    /// Internal or universal transfer.
    pub transfer: bool,
    /// Addresses the key works from; empty means any address.
    pub ip_allowlist: Vec<IpRule>,
    pub expires_at: Option<DateTime<Utc>>,
    /// A testnet key: it works only against an emulator started as a testnet.
    pub testnet: bool,
    /// A name for people reading the key list, e.g. `read-only`.
    pub label: Option<String>,
}

impl EmulatorKey {
    /// Checks whether requests from `ip` may use this key. Without a known address (the router runs
    /// without connection info) only keys without an allowlist pass.
    pub fn allows_ip(&self, ip: Option<IpAddr>) -> bool {
        if self.ip_allowlist.is_empty() {
            return true;
        }
        ip.is_some_and(|ip| self.ip_allowlist.iter().any(|rule| rule.contains(ip)))
    }
}

/// A key file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key file {path} is not valid JSON: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("key file {path} must hold a JSON array of keys")]
    NotArray { path: PathBuf },
    /// One field of one entry is missing or invalid. `index` counts from 0.
    #[error("key file {path}, entry {index}, field {field}: {reason}")]
    Entry {
        path: PathBuf,
        index: usize,
        field: String,
        reason: String,
    },
}

/// Reads and checks a key file.
///
/// # Errors
/// Returns [`KeyFileError`] naming the entry index and field of the first problem: a missing
/// or mistyped field, an unknown field, an invalid address, an OKX key without passphrase, or
/// a duplicate API key.
pub fn load_keys(path: &Path) -> Result<Vec<EmulatorKey>, KeyFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_keys(&text, path)
}

/// Parses key file text; `path` only names the file in errors.
///
/// # Errors
/// As [`load_keys`].
pub fn parse_keys(text: &str, path: &Path) -> Result<Vec<EmulatorKey>, KeyFileError> {
    let value: Value = serde_json::from_str(text).map_err(|source| KeyFileError::Json {
        path: path.to_owned(),
        source,
    })?;
    let Value::Array(entries) = value else {
        return Err(KeyFileError::NotArray {
            path: path.to_owned(),
        });
    };
    let mut keys: Vec<EmulatorKey> = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let entry_error = |field: &str, reason: String| KeyFileError::Entry {
            path: path.to_owned(),
            index,
            field: field.to_owned(),
            reason,
        };
        let key = parse_entry(entry).map_err(|(field, reason)| entry_error(field, reason))?;
        let duplicate = keys
            .iter()
            .position(|other| other.exchange == key.exchange && other.api_key == key.api_key);
        if let Some(first) = duplicate {
            return Err(entry_error(
                "api_key",
                format!("duplicate of entry {first}"),
            ));
        }
        keys.push(key);
    }
    Ok(keys)
}

/// A problem with one entry: the field and the reason.
type EntryProblem = (&'static str, String);

fn parse_entry(entry: &Value) -> Result<EmulatorKey, EntryProblem> {
    let Some(fields) = entry.as_object() else {
        return Err(("(entry)", "expected a JSON object".to_owned()));
    };
    if let Some(unknown) = fields.keys().find(|name| !FIELDS.contains(&name.as_str())) {
        return Err((
            "(entry)",
            format!("unknown field {unknown:?}; known: {}", FIELDS.join(", ")),
        ));
    }
    let exchange: String = required(fields, "exchange")?;
    let exchange = Exchange::from_str(&exchange).map_err(|err| ("exchange", err.to_string()))?;
    let key = EmulatorKey {
        exchange,
        api_key: api_key(fields)?,
        api_secret: secret(fields, "api_secret")?.ok_or(("api_secret", missing()))?,
        passphrase: secret(fields, "passphrase")?,
        read: required(fields, "read")?,
        spot: required(fields, "spot")?,
        futures: required(fields, "futures")?,
        withdraw: required(fields, "withdraw")?,
        transfer: required(fields, "transfer")?,
        ip_allowlist: ip_allowlist(fields)?,
        expires_at: expires_at(fields)?,
        testnet: optional(fields, "testnet")?.unwrap_or(false),
        label: optional(fields, "label")?,
    };
    if key.exchange.requires_passphrase() && key.passphrase.is_none() {
        return Err((
            "passphrase",
            format!("{} keys need a passphrase", key.exchange),
        ));
    }
    Ok(key)
}

fn missing() -> String {
    "missing".to_owned()
}

fn required<T: DeserializeOwned>(
    fields: &Map<String, Value>,
    name: &'static str,
) -> Result<T, EntryProblem> {
    optional(fields, name)?.ok_or((name, missing()))
}

/// Reads a field that may be absent or `null`.
fn optional<T: DeserializeOwned>(
    fields: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<T>, EntryProblem> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => T::deserialize(value)
            .map(Some)
            .map_err(|err| (name, err.to_string())),
    }
}

/// Reads a secret field, keeping its value out of error messages.
fn secret(
    fields: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<SecretString>, EntryProblem> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if !text.is_empty() => Ok(Some(SecretString::new(text.clone()))),
        Some(_) => Err((name, "expected a non-empty string".to_owned())),
    }
}

fn api_key(fields: &Map<String, Value>) -> Result<String, EntryProblem> {
    let api_key: String = required(fields, "api_key")?;
    let printable = api_key.bytes().all(|byte| byte.is_ascii_graphic());
    if api_key.is_empty() || !printable {
        return Err((
            "api_key",
            "expected printable ASCII without spaces".to_owned(),
        ));
    }
    Ok(api_key)
}

fn ip_allowlist(fields: &Map<String, Value>) -> Result<Vec<IpRule>, EntryProblem> {
    let entries: Vec<String> = required(fields, "ip_allowlist")?;
    entries
        .iter()
        .map(|entry| entry.parse().map_err(|reason| ("ip_allowlist", reason)))
        .collect()
}

fn expires_at(fields: &Map<String, Value>) -> Result<Option<DateTime<Utc>>, EntryProblem> {
    let Some(text) = optional::<String>(fields, "expires_at")? else {
        return Ok(None);
    };
    let parsed = DateTime::parse_from_rfc3339(&text)
        .map_err(|err| ("expires_at", format!("expected an RFC 3339 time: {err}")))?;
    Ok(Some(parsed.with_timezone(&Utc)))
}

/// Generates three Binance demo keys for running without a key file, labelled `good` (read and
/// futures trading, allowlist 127.0.0.1 and ::1), `withdraw-enabled` (the same plus
/// withdrawals) and `read-only` (reading only, no allowlist).
pub fn demo_keys() -> Vec<EmulatorKey> {
    let loopback = vec![
        IpRule {
            network: IpAddr::V4(Ipv4Addr::LOCALHOST),
            prefix: 32,
        },
        IpRule {
            network: IpAddr::V6(Ipv6Addr::LOCALHOST),
            prefix: 128,
        },
    ];
    let demo =
        |label: &str, futures: bool, withdraw: bool, ip_allowlist: Vec<IpRule>| EmulatorKey {
            exchange: Exchange::Binance,
            api_key: random_token(),
            api_secret: SecretString::new(random_token()),
            passphrase: None,
            read: true,
            spot: false,
            futures,
            withdraw,
            transfer: false,
            ip_allowlist,
            expires_at: None,
            testnet: false,
            label: Some(label.to_owned()),
        };
    vec![
        demo("good", true, false, loopback.clone()),
        demo("withdraw-enabled", true, true, loopback),
        demo("read-only", false, false, Vec::new()),
    ]
}

/// Generates 64 random letters and digits, the shape of a Binance API key or secret.
fn random_token() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(64)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<EmulatorKey>, KeyFileError> {
        parse_keys(text, Path::new("keys.json"))
    }

    fn entry_error(text: &str) -> (usize, String, String) {
        match parse(text) {
            Err(KeyFileError::Entry {
                index,
                field,
                reason,
                ..
            }) => (index, field, reason),
            other => panic!("expected an entry error, got {other:?}"),
        }
    }

    const GOOD: &str = r#"{"exchange":"binance","api_key":"k1","api_secret":"s3cr3t-value",
        "read":true,"spot":false,"futures":true,"withdraw":false,"transfer":false,
        "ip_allowlist":["127.0.0.1","10.0.0.0/8"],"expires_at":"2030-01-02T03:04:05Z"}"#;

    #[test]
    fn parses_a_complete_entry() {
        let keys = parse(&format!("[{GOOD}]")).unwrap();
        assert_eq!(keys.len(), 1);
        let key = &keys[0];
        assert_eq!(key.exchange, Exchange::Binance);
        assert!(key.futures);
        assert!(key.read);
        assert!(!key.withdraw);
        assert_eq!(key.ip_allowlist.len(), 2);
        assert_eq!(
            key.expires_at.unwrap().to_rfc3339(),
            "2030-01-02T03:04:05+00:00"
        );
        assert!(!key.testnet);
    }

    #[test]
    fn debug_hides_the_secret() {
        let keys = parse(&format!("[{GOOD}]")).unwrap();
        let printed = format!("{keys:?}");
        assert!(!printed.contains("s3cr3t-value"), "{printed}");
        assert!(printed.contains("[redacted]"), "{printed}");
    }

    #[test]
    fn missing_field_names_index_and_field() {
        let second = GOOD.replace(r#""withdraw":false,"#, "").replace("k1", "k2");
        let (index, field, reason) = entry_error(&format!("[{GOOD},{second}]"));
        assert_eq!(
            (index, field.as_str(), reason.as_str()),
            (1, "withdraw", "missing")
        );
    }

    #[test]
    fn mistyped_field_is_named() {
        let text = GOOD.replace(r#""read":true"#, r#""read":"yes""#);
        let (_, field, reason) = entry_error(&format!("[{text}]"));
        assert_eq!(field, "read");
        assert!(reason.contains("expected a boolean"), "{reason}");
    }

    #[test]
    fn mistyped_secret_is_not_echoed() {
        let text = GOOD.replace(r#""s3cr3t-value""#, "987654321");
        let (_, field, reason) = entry_error(&format!("[{text}]"));
        assert_eq!(field, "api_secret");
        assert!(!reason.contains("987654321"), "{reason}");
    }

    #[test]
    fn unknown_field_is_rejected() {
        let text = GOOD.replace(r#""spot":false"#, r#""spot":false,"withdrawl":true"#);
        let (_, _, reason) = entry_error(&format!("[{text}]"));
        assert!(reason.contains("withdrawl"), "{reason}");
    }

    #[test]
    fn bad_address_is_rejected() {
        let text = GOOD.replace("10.0.0.0/8", "10.0.0.0/33");
        let (_, field, _) = entry_error(&format!("[{text}]"));
        assert_eq!(field, "ip_allowlist");
    }

    #[test]
    fn okx_key_needs_passphrase() {
        let text = GOOD.replace("binance", "okx");
        let (_, field, _) = entry_error(&format!("[{text}]"));
        assert_eq!(field, "passphrase");
    }

    #[test]
    fn duplicate_key_is_rejected() {
        let (index, field, reason) = entry_error(&format!("[{GOOD},{GOOD}]"));
        assert_eq!((index, field.as_str()), (1, "api_key"));
        assert!(reason.contains("entry 0"), "{reason}");
    }

    #[test]
    fn not_an_array_is_rejected() {
        assert!(matches!(parse(GOOD), Err(KeyFileError::NotArray { .. })));
    }

    #[test]
    fn load_keys_reports_missing_file() {
        let err = load_keys(Path::new("/nonexistent/keys.json")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/keys.json"), "{err}");
    }

    #[test]
    fn ip_rules_match_addresses_and_networks() {
        let network: IpRule = "192.0.2.0/25".parse().unwrap();
        assert!(network.contains("192.0.2.127".parse().unwrap()));
        assert!(!network.contains("192.0.2.128".parse().unwrap()));
        let host: IpRule = "127.0.0.1".parse().unwrap();
        assert!(host.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!host.contains("::1".parse().unwrap()));
        assert_eq!(network.to_string(), "192.0.2.0/25");
    }

    #[test]
    fn empty_allowlist_allows_any_address() {
        let keys = demo_keys();
        let read_only = keys
            .iter()
            .find(|key| key.label.as_deref() == Some("read-only"))
            .unwrap();
        assert!(read_only.allows_ip(None));
        let good = keys
            .iter()
            .find(|key| key.label.as_deref() == Some("good"))
            .unwrap();
        assert!(good.allows_ip(Some("127.0.0.1".parse().unwrap())));
        assert!(!good.allows_ip(Some("192.0.2.1".parse().unwrap())));
        assert!(!good.allows_ip(None));
    }

    #[test]
    fn demo_keys_are_distinct_and_random() {
        let keys = demo_keys();
        assert_eq!(keys.len(), 3);
        assert_ne!(keys[0].api_key, keys[1].api_key);
        assert_eq!(keys[0].api_key.len(), 64);
        assert_ne!(keys[0].api_secret.expose(), keys[1].api_secret.expose());
        assert!(keys[1].withdraw);
    }
}
