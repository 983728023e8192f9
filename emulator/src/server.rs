//! Starting, embedding and stopping the emulator, and its router: every dialect's routes
//! behind the middleware that counts requests and injects faults.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::admin;
use crate::binance::Binance;
use crate::bybit::Bybit;
use crate::dialect::Dialect;
use crate::engine::feed::{FeedError, load_feed, spawn_feed};
use crate::engine::{InstrumentFileError, default_instruments, load_instruments};
use crate::faults::{FaultKind, with_visibility_delay};
use crate::keys::EmulatorKey;
use crate::okx::Okx;
use crate::state::EmulatorState;

/// Every dialect the emulator speaks, one line each.
const DIALECTS: &[&dyn Dialect] = &[&Binance, &Bybit, &Okx];

/// Returns the dialect that owns a path.
fn dialect_for(path: &str) -> Option<&'static dyn Dialect> {
    DIALECTS.iter().copied().find(|dialect| dialect.owns(path))
}

/// How long [`RunningEmulator::shutdown`] waits for open connections before aborting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Settings of one emulator run.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    pub keys: Vec<EmulatorKey>,
    /// A kline CSV (Binance layout) or trades CSV to replay as the price feed.
    pub market_data: Option<PathBuf>,
    /// An instrument file; the built-in BTCUSDT and ETHUSDT without one.
    pub instruments: Option<PathBuf>,
    /// Candles (or trades) per second the price feed replays.
    pub speed: u32,
    /// Play a testnet, which accepts only keys marked `testnet`; otherwise only the others.
    pub testnet: bool,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            keys: Vec::new(),
            market_data: None,
            instruments: None,
            speed: 10,
            testnet: false,
        }
    }
}

/// The emulator failed to start or stop.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("market data file {path} does not exist or is not a file")]
    MarketData { path: PathBuf },
    #[error(transparent)]
    Feed(#[from] FeedError),
    #[error(transparent)]
    Instruments(#[from] InstrumentFileError),
    #[error("the emulator's server failed: {source}")]
    Serve { source: std::io::Error },
    #[error("the emulator's server task ended abnormally: {reason}")]
    Task { reason: String },
}

/// The exchange emulator.
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// Binds the listen address, starts the price feed and serves the emulator in a
    /// background task.
    ///
    /// # Errors
    /// Returns [`EmulatorError::Bind`] when the address cannot be bound,
    /// [`EmulatorError::MarketData`] or [`EmulatorError::Feed`] when the market data file is
    /// missing or invalid, and [`EmulatorError::Instruments`] for an invalid instrument file.
    pub async fn start(config: EmulatorConfig) -> Result<RunningEmulator, EmulatorError> {
        let instruments = match &config.instruments {
            Some(path) => load_instruments(path)?,
            None => default_instruments(),
        };
        let feed = match &config.market_data {
            Some(path) if !path.is_file() => {
                return Err(EmulatorError::MarketData { path: path.clone() });
            }
            Some(path) => Some(load_feed(path, &instruments)?),
            None => None,
        };
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| EmulatorError::Bind {
                addr: config.listen,
                source,
            })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind {
                addr: config.listen,
                source,
            })?;

        let state = EmulatorState::with_instruments(
            config.keys,
            instruments,
            config.market_data,
            config.testnet,
        );
        let feed_task = feed.map(|feed| {
            let clock = state.clone();
            spawn_feed(feed, Arc::clone(state.engine()), config.speed, move || {
                clock.now_ms()
            })
        });
        let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = shutdown_rx.await;
                })
                .await
        });
        tracing::info!(%local_addr, "emulator listening");
        Ok(RunningEmulator {
            local_addr,
            state,
            shutdown: Some(shutdown_tx),
            task: Some(task),
            feed: feed_task,
        })
    }
}

/// A running emulator. Dropping it signals the server to stop without waiting.
#[derive(Debug)]
pub struct RunningEmulator {
    local_addr: SocketAddr,
    state: EmulatorState,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    feed: Option<JoinHandle<()>>,
}

impl RunningEmulator {
    /// Returns the address the emulator listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://ADDRESS:PORT`; an unspecified listen address (`0.0.0.0`, `::`) becomes the
    /// loopback address of its family, which reaches the same socket.
    pub fn base_url(&self) -> String {
        let ip = match self.local_addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}", SocketAddr::new(ip, self.local_addr.port()))
    }

    /// Returns the state the routes share, to change keys or faults from code.
    pub fn state(&self) -> &EmulatorState {
        &self.state
    }

    /// Stops accepting connections, lets open requests finish (up to 5 s) and waits for the
    /// server task.
    ///
    /// # Errors
    /// Returns [`EmulatorError`] when the server failed or its task panicked.
    pub async fn shutdown(mut self) -> Result<(), EmulatorError> {
        if let Some(feed) = self.feed.take() {
            feed.abort();
        }
        self.state.disconnect_websockets();
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let Some(mut task) = self.task.take() else {
            return Ok(());
        };
        let joined = match tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await {
            Ok(joined) => joined,
            Err(_) => {
                tracing::warn!(local_addr = %self.local_addr, "emulator shutdown timed out; aborting");
                task.abort();
                return Ok(());
            }
        };
        tracing::info!(local_addr = %self.local_addr, "emulator stopped");
        match joined {
            Ok(served) => served.map_err(|source| EmulatorError::Serve { source }),
            Err(err) => Err(EmulatorError::Task {
                reason: err.to_string(),
            }),
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(feed) = self.feed.take() {
            feed.abort();
        }
        self.state.disconnect_websockets();
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Builds one router with all emulator routes (every dialect and the admin routes), for
/// embedding.
///
/// Serve it with `into_make_service_with_connect_info::<SocketAddr>()`: without connection
/// info the client address is unknown and keys with an IP allowlist are rejected.
pub fn router(state: EmulatorState) -> Router {
    let mut router = Router::new();
    for dialect in DIALECTS {
        router = router.merge(dialect.routes());
    }
    router
        .nest("/_emulator", admin::routes())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            exchange_layer,
        ))
        .with_state(state)
}

/// Rejects websocket upgrades during an outage, counts each exchange request against its
/// dialect's limits, adds the latency fault, and injects the fault drawn for it.
async fn exchange_layer(
    State(state): State<EmulatorState>,
    request: Request,
    next: Next,
) -> Response {
    if state.websockets_rejected() && is_websocket_upgrade(&request) {
        return websocket_outage();
    }
    let path = request.uri().path().to_owned();
    let Some(dialect) = dialect_for(&path) else {
        return next.run(request).await;
    };
    let client = client_ip(request.extensions());
    let headers = match dialect.admit(&state, client, request.method(), &path) {
        Ok(headers) => headers,
        Err(limited) => return *limited,
    };
    let config = state.faults().config();
    if config.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(config.latency_ms)).await;
    }
    let mut response = run_with_faults(&state, dialect, &path, request, next).await;
    response.headers_mut().extend(headers);
    response
}

/// Runs a request with the faults drawn for it: the exclusive fault (if any) decides whether
/// and how it runs, and a delayed visibility travels with it to the engine.
async fn run_with_faults(
    state: &EmulatorState,
    dialect: &dyn Dialect,
    path: &str,
    request: Request,
    next: Next,
) -> Response {
    let config = state.faults().config();
    let is_order = dialect.is_order_placement(request.method(), path);
    let draw = state.faults().draw(is_order);
    if draw.fault.is_some() || draw.delayed_visibility {
        tracing::debug!(
            path = %path,
            fault = ?draw.fault,
            delayed = draw.delayed_visibility,
            "injecting fault"
        );
    }
    let delay_ms = if draw.delayed_visibility {
        config.visibility_delay_ms
    } else {
        0
    };

    let handled = with_visibility_delay(delay_ms, next.run(request));
    match draw.fault {
        None => handled.await,
        Some(FaultKind::Timeout) => {
            tokio::time::sleep(Duration::from_millis(config.stall_ms)).await;
            dropped_connection()
        }
        Some(FaultKind::DroppedResponse) => {
            let _ = handled.await;
            dropped_connection()
        }
        Some(FaultKind::UnknownStatus) => {
            if state.faults().coin() {
                let _ = handled.await;
            }
            dialect.fault_response(FaultKind::UnknownStatus, None)
        }
        Some(kind) => dialect.fault_response(kind, config.retry_after_s),
    }
}

fn is_websocket_upgrade(request: &Request) -> bool {
    request
        .headers()
        .get(axum::http::header::UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("websocket"))
}

/// The response to a websocket upgrade during an outage: the handshake fails as it would
/// behind an unavailable load balancer.
fn websocket_outage() -> Response {
    let mut response = Response::new(Body::from("websockets are unavailable (emulated outage)"));
    *response.status_mut() = axum::http::StatusCode::SERVICE_UNAVAILABLE;
    response
}

/// A response whose body fails at once, so the server closes the connection without a
/// complete response, and to the client the request was lost.
fn dropped_connection() -> Response {
    let failing = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("connection dropped by a fault"))
    });
    Response::new(Body::from_stream(failing))
}

/// Reads the client address from axum's connection info, when the server provides it.
pub(crate) fn client_ip(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip().to_canonical())
}
