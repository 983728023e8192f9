//! keyward's HTTP API in the load tool's process, wired as `keyward serve` wires it, over an
//! embedded log in a temporary folder.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use keyward_actors::account::{
    AccountConfig, AccountContext, AccountService, AccountStore, Argon2Cost, PasswordHasher,
};
use keyward_actors::bot::BotService;
use keyward_actors::key::{ExchangeClients, KeyContext, KeyService, RetryPolicy};
use keyward_api::auth::AuthSettings;
use keyward_api::{AppState, FeedHub, ReadConsistency, StreamSettings};
use keyward_eventlog::{EventLog, SegmentLog};
use keyward_projections::{CheckpointSchedule, ProjectionHandle};
use keyward_vault::{MasterKey, MasterKeySource, Vault};

/// A running server and its log, which the publisher appends to directly.
pub struct KeywardServer {
    pub address: SocketAddr,
    pub log: Arc<dyn EventLog>,
    _dir: tempfile::TempDir,
}

/// Starts the API on a loopback port with `feed_buffer` messages per feed client.
pub async fn start(feed_buffer: usize) -> KeywardServer {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let master = MasterKey::from_bytes([7; 32], MasterKeySource::Env("bench".into()));
    let vault = Arc::new(Vault::open(dir.path(), master).expect("the keyring opens"));
    let log = keyward_api::metrics::MeteredLog::wrap(Arc::new(
        SegmentLog::open(dir.path()).expect("the log opens"),
    ));
    let accounts = start_accounts(dir.path(), Arc::clone(&log), Arc::clone(&vault)).await;
    let keys = KeyService::start(KeyContext {
        log: Arc::clone(&log),
        vault,
        exchanges: ExchangeClients::default(),
        retry: RetryPolicy::default(),
    })
    .await
    .expect("the key service starts");
    let dashboard = Arc::new(
        ProjectionHandle::spawn(Arc::clone(&log), None, CheckpointSchedule::default()).await,
    );
    let streams = StreamSettings {
        feed_buffer,
        heartbeat: Duration::from_secs(15),
        ..StreamSettings::default()
    };
    let state = AppState {
        log: Arc::clone(&log),
        keys,
        bots: BotService::new(Arc::clone(&log)),
        accounts,
        auth: Arc::new(AuthSettings::default()),
        dashboard: Arc::clone(&dashboard),
        audit: Arc::new(
            ProjectionHandle::spawn(Arc::clone(&log), None, CheckpointSchedule::default()).await,
        ),
        market_data_dir: None,
        consistency: Arc::new(ReadConsistency::default()),
        feed: FeedHub::start(Arc::clone(&log), dashboard, streams),
        streams,
        idempotency: Arc::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let address = listener.local_addr().expect("a local address");
    let app = keyward_api::router(state).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    KeywardServer {
        address,
        log,
        _dir: dir,
    }
}

async fn start_accounts(
    dir: &std::path::Path,
    log: Arc<dyn EventLog>,
    vault: Arc<Vault>,
) -> AccountService {
    // The benchmark logs in once; a cheap hash keeps that out of the measured time.
    let cost = Argon2Cost {
        memory_kib: 64,
        iterations: 1,
        ..Argon2Cost::RECOMMENDED
    };
    let context = AccountContext {
        log,
        vault,
        store: Arc::new(AccountStore::open(dir).expect("the account store opens")),
        passwords: PasswordHasher::new(cost, 1).expect("a valid Argon2 cost"),
        config: AccountConfig::default(),
    };
    AccountService::new(context)
}

/// Registers an account, logs in and creates one bot; returns the bearer token and bot id.
pub async fn bot_with_token(address: SocketAddr) -> (String, String) {
    // reqwest is built without a default TLS provider, so one is installed before its client.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let base = format!("http://{address}");
    let credentials =
        serde_json::json!({"username": "loadtest", "password": "load test password 1"});
    let registered = http
        .post(format!("{base}/api/v1/accounts"))
        .json(&credentials)
        .send()
        .await
        .expect("registration");
    assert!(registered.status().is_success(), "registration failed");
    let session: serde_json::Value = http
        .post(format!("{base}/api/v1/sessions"))
        .json(&credentials)
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("a login body");
    let token = session["token"].as_str().expect("a token").to_owned();
    let bot = serde_json::json!({"label": "load", "exchange": "binance", "symbol": "BTCUSDT",
                                 "strategy": {"name": "sma", "params": {"fast": 5, "slow": 20}}});
    let created: serde_json::Value = http
        .post(format!("{base}/api/v1/bots"))
        .bearer_auth(&token)
        .json(&bot)
        .send()
        .await
        .expect("bot creation")
        .json()
        .await
        .expect("a bot body");
    let bot_id = created["bot_id"].as_str().expect("a bot id").to_owned();
    (token, bot_id)
}
