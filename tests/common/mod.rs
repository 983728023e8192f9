//! Helpers for end-to-end tests that drive the `keyward` binary.

#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;

/// Base64 of the fixed master key the tests run with.
pub fn master_key_b64() -> String {
    base64::engine::general_purpose::STANDARD.encode([42u8; 32])
}

/// The built `keyward` binary.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_keyward")
}

/// Runs `keyward ARGS` with the test master key and returns its output.
pub fn run(args: &[&str]) -> std::process::Output {
    Command::new(binary())
        .args(args)
        .env("KEYWARD_MASTER_KEY", master_key_b64())
        .output()
        .expect("keyward runs")
}

/// A free loopback port; the port may be taken again before the server binds it, which is
/// rare enough for tests.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One entry of an emulator key file.
pub fn key_entry(api_key: &str, secret: &str, futures: bool, withdraw: bool) -> serde_json::Value {
    serde_json::json!({
        "exchange": "binance", "api_key": api_key, "api_secret": secret, "read": true,
        "spot": false, "futures": futures, "withdraw": withdraw, "transfer": false,
        "ip_allowlist": ["127.0.0.1"]
    })
}

/// Writes an emulator key file into `dir`.
pub fn write_key_file(dir: &Path, entries: &[serde_json::Value]) -> PathBuf {
    let path = dir.join("keys.json");
    std::fs::write(&path, serde_json::to_vec(entries).unwrap()).unwrap();
    path
}

/// Username of the account [`Server::login`] registers.
pub const TEST_USERNAME: &str = "alice";
/// Password of the account [`Server::login`] registers.
pub const TEST_PASSWORD: &str = "correct horse battery staple 9";

/// A logged-in session.
#[derive(Clone, Debug)]
pub struct Login {
    pub token: String,
    pub session_id: String,
}

/// A `keyward serve` process on a free loopback port. `get`, `post` and `delete` send the
/// bearer token of the last [`Server::login`], if any.
pub struct Server {
    child: Child,
    pub port: u16,
    pub log_path: PathBuf,
    client: reqwest::Client,
    token: Mutex<Option<String>>,
}

impl Server {
    /// Starts `keyward serve --data-dir DATA --listen 127.0.0.1:PORT EXTRA…` and waits for
    /// `/healthz`.
    pub async fn start(data_dir: &Path, log_path: &Path, extra: &[&str]) -> Server {
        Server::start_with_master_key(data_dir, log_path, extra, &master_key_b64()).await
    }

    /// Starts the server as [`Server::start`] does, with `master_key` (base64) as its master
    /// key.
    pub async fn start_with_master_key(
        data_dir: &Path,
        log_path: &Path,
        extra: &[&str],
        master_key: &str,
    ) -> Server {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = free_port();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .unwrap();
        let child = Command::new(binary())
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .args(extra)
            .env("KEYWARD_MASTER_KEY", master_key)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("keyward serve starts");
        let server = Server {
            child,
            port,
            log_path: log_path.to_owned(),
            client: reqwest::Client::new(),
            token: Mutex::new(None),
        };
        server.wait_healthy().await;
        server
    }

    async fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let answer = self.client.get(self.url("/healthz")).send().await;
            if answer.is_ok_and(|response| response.status().is_success()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        panic!("keyward serve did not become healthy; log:\n{log}");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Registers [`TEST_USERNAME`] (or finds it registered) and logs in without 2FA; later
    /// requests carry the session's bearer token.
    pub async fn login(&self) -> Login {
        let login = self.register_and_login(TEST_USERNAME, TEST_PASSWORD).await;
        self.use_token(Some(&login.token));
        login
    }

    /// Registers an account (or finds it registered) and logs it in, without changing the
    /// token the other helpers send.
    pub async fn register_and_login(&self, username: &str, password: &str) -> Login {
        let account = serde_json::json!({"username": username, "password": password});
        let (status, answer) = self
            .send("POST", "/api/v1/accounts", Some(&account), None)
            .await;
        assert!(
            status == 201 || status == 409,
            "registration answered {status} {answer}"
        );
        let (status, answer) = self
            .send("POST", "/api/v1/sessions", Some(&account), None)
            .await;
        assert_eq!(status, 201, "login answered {answer}");
        Login {
            token: answer["token"].as_str().unwrap().to_owned(),
            session_id: answer["session_id"].as_str().unwrap().to_owned(),
        }
    }

    /// Sets the bearer token `get`, `post`, `post_raw` and `delete` send.
    pub fn use_token(&self, token: Option<&str>) {
        *self.token.lock().unwrap() = token.map(str::to_owned);
    }

    fn token(&self) -> Option<String> {
        self.token.lock().unwrap().clone()
    }

    /// Sends a request with an optional JSON body and bearer token; returns the status and
    /// the parsed response body (`null` when it is not JSON).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
        token: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.client.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    /// Sends a JSON body and returns the status and the parsed answer.
    pub async fn post(&self, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        let token = self.token();
        self.send("POST", path, Some(body), token.as_deref()).await
    }

    /// Sends raw bytes as a JSON body.
    pub async fn post_raw(&self, path: &str, body: &str) -> (u16, serde_json::Value) {
        let mut request = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(token) = self.token() {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let token = self.token();
        self.send("GET", path, None, token.as_deref()).await
    }

    pub async fn put(&self, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        let token = self.token();
        self.send("PUT", path, Some(body), token.as_deref()).await
    }

    pub async fn delete(&self, path: &str) -> (u16, serde_json::Value) {
        let token = self.token();
        self.send("DELETE", path, None, token.as_deref()).await
    }

    /// The underlying HTTP client, for requests the helpers do not cover (cookies, headers).
    pub fn http(&self) -> &reqwest::Client {
        &self.client
    }

    /// Polls a key until its status is no longer pending, or the timeout passes.
    pub async fn wait_key(&self, key_id: &str, timeout: Duration) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            let (status, body) = self.get(&format!("/api/v1/keys/{key_id}")).await;
            let pending = body["status"] == "pending";
            if status == 200 && !pending {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "key {key_id} still pending: {body}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the server with SIGTERM and waits for it.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// The forms in which a secret would show if it leaked: raw, hex, base64 (padded, unpadded,
/// URL-safe) and base32.
pub fn leak_forms(secret: &str) -> Vec<Vec<u8>> {
    leak_forms_of_bytes(secret.as_bytes())
}

/// The forms in which secret bytes would show if they leaked, as for [`leak_forms`].
pub fn leak_forms_of_bytes(bytes: &[u8]) -> Vec<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    vec![
        bytes.to_vec(),
        hex::encode(bytes).into_bytes(),
        hex::encode_upper(bytes).into_bytes(),
        STANDARD.encode(bytes).into_bytes(),
        STANDARD_NO_PAD.encode(bytes).into_bytes(),
        URL_SAFE_NO_PAD.encode(bytes).into_bytes(),
        base32(bytes).into_bytes(),
    ]
}

fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let mut buffer = 0u64;
    let mut bits = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u64::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Files at or under `root` in which any form of any secret appears, as (file, secret) pairs.
pub fn scan_for_secrets(root: &Path, secrets: &[&str]) -> Vec<(PathBuf, String)> {
    let bytes: Vec<&[u8]> = secrets.iter().map(|s| s.as_bytes()).collect();
    scan_for_secret_bytes(root, &bytes)
        .into_iter()
        .map(|(path, secret)| (path, String::from_utf8_lossy(&secret).into_owned()))
        .collect()
}

/// Files at or under `root` in which any form of any secret appears, as (file, secret) pairs.
pub fn scan_for_secret_bytes(root: &Path, secrets: &[&[u8]]) -> Vec<(PathBuf, Vec<u8>)> {
    let mut hits = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            let entries = std::fs::read_dir(&path).unwrap();
            stack.extend(entries.flatten().map(|entry| entry.path()));
            continue;
        }
        let data = std::fs::read(&path).unwrap_or_default();
        for secret in secrets {
            let found = leak_forms_of_bytes(secret)
                .iter()
                .any(|form| data.windows(form.len()).any(|w| w == form.as_slice()));
            if found {
                hits.push((path.clone(), secret.to_vec()));
            }
        }
    }
    hits
}

/// Lists every file at or under `root`.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            files.push(path);
        }
    }
    files
}

/// Writes a kline CSV of a slow sine wave, which crosses its moving averages many times.
pub fn write_wave_csv(path: &std::path::Path, bars: usize) {
    let mut text = String::from(
        "open_time,open,high,low,close,volume,close_time,quote_volume,count,\
         taker_buy_volume,taker_buy_quote_volume,ignore\n",
    );
    let start = 1_700_000_000_000_i64;
    let mut previous = 100.0_f64;
    for i in 0..bars {
        let close = 100.0 + 10.0 * (i as f64 / 15.0).sin();
        let open = previous;
        let high = open.max(close) + 0.5;
        let low = open.min(close) - 0.5;
        let time = start + i as i64 * 300_000;
        text.push_str(&format!(
            "{time},{open:.2},{high:.2},{low:.2},{close:.2},1.0,{},,,,,0\n",
            time + 299_999
        ));
        previous = close;
    }
    std::fs::write(path, text).unwrap();
}

/// Every event stored in the embedded log of a data dir, in position order.
pub fn stored_events(data_dir: &Path) -> Vec<keyward_events::RecordedEvent> {
    let log = keyward_eventlog::SegmentLog::open_read_only(data_dir).unwrap();
    let mut events = Vec::new();
    loop {
        let after = events
            .last()
            .map_or(0, |e: &keyward_events::RecordedEvent| e.position);
        let page = log.read_all(after, 1000).unwrap();
        if page.is_empty() {
            return events;
        }
        events.extend(page);
    }
}

/// The event types of the stored events of `account-…` streams, in order.
pub fn account_event_types(data_dir: &Path) -> Vec<String> {
    stored_events(data_dir)
        .into_iter()
        .filter(|e| e.stream.as_str().starts_with("account-"))
        .map(|e| e.event_type)
        .collect()
}

/// The TOTP seed inside an `otpauth://` URI.
pub fn seed_from_uri(uri: &str) -> Vec<u8> {
    let secret = uri
        .split(['?', '&'])
        .find_map(|part| part.strip_prefix("secret="))
        .expect("the URI has a secret");
    base32_decode(secret)
}

fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u64, 0);
    for c in text.bytes().filter(|c| *c != b'=') {
        let value = ALPHABET.iter().position(|a| *a == c).expect("base32") as u64;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// The current TOTP time step, after waiting out the last seconds of a step so that a test
/// has at least 12 s in which the codes of the returned step and its neighbours stay valid.
pub async fn fresh_totp_step() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let into_step = now.as_secs_f64() % 30.0;
    if into_step > 18.0 {
        tokio::time::sleep(Duration::from_secs_f64(30.0 - into_step + 0.2)).await;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    keyward_actors::account::totp::time_step(now.as_secs() as i64)
}

/// The TOTP code of `seed` at time step `step`.
pub fn totp_code(seed: &[u8], step: i64) -> String {
    keyward_actors::account::totp::code_at_step(seed, step)
}

/// Enrolls the logged-in account in TOTP and confirms it with the code of `step - 1`;
/// returns the seed and the recovery codes.
pub async fn enable_two_factor(server: &Server, step: i64) -> (Vec<u8>, Vec<String>) {
    let (status, enrollment) = server
        .post("/api/v1/2fa/enroll", &serde_json::json!({}))
        .await;
    assert_eq!(status, 200, "{enrollment}");
    let seed = seed_from_uri(enrollment["otpauth_uri"].as_str().unwrap());
    let confirm = serde_json::json!({"totp_code": totp_code(&seed, step - 1)});
    let (status, confirmed) = server.post("/api/v1/2fa/confirm", &confirm).await;
    assert_eq!(status, 200, "{confirmed}");
    let codes = confirmed["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (seed, codes)
}
