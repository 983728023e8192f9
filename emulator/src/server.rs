//! Starting, embedding and stopping the emulator.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::admin;
use crate::binance::{self, route_weight};
use crate::keys::EmulatorKey;
use crate::state::EmulatorState;

/// How long [`RunningEmulator::shutdown`] waits for open connections before aborting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Settings of one emulator run.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    pub keys: Vec<EmulatorKey>,
    /// A kline CSV (Binance layout) to replay as the price feed.
    pub market_data: Option<PathBuf>,
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
    #[error("the emulator's server failed: {source}")]
    Serve { source: std::io::Error },
    #[error("the emulator's server task ended abnormally: {reason}")]
    Task { reason: String },
}

/// The exchange emulator.
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// Binds the listen address and serves the emulator in a background task.
    ///
    /// # Errors
    /// Returns [`EmulatorError::Bind`] when the address cannot be bound, and
    /// [`EmulatorError::MarketData`] when the market data file is missing.
    pub async fn start(config: EmulatorConfig) -> Result<RunningEmulator, EmulatorError> {
        if let Some(path) = &config.market_data {
            // TODO: replay the CSV as a price feed; only its presence is checked so far.
            if !path.is_file() {
                return Err(EmulatorError::MarketData { path: path.clone() });
            }
        }
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

        let state = EmulatorState::new(config.keys, config.market_data);
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
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Builds one router with all emulator routes (Binance and admin), for embedding.
///
/// Serve it with `into_make_service_with_connect_info::<SocketAddr>()`: without connection
/// info the client address is unknown and keys with an IP allowlist are rejected.
pub fn router(state: EmulatorState) -> Router {
    Router::new()
        .merge(binance::routes())
        .nest("/_emulator", admin::routes())
        .layer(middleware::from_fn_with_state(state.clone(), count_weight))
        .with_state(state)
}

/// Counts each request's weight and reports the client's total for the minute in
/// `X-MBX-USED-WEIGHT-1M`, on every response.
async fn count_weight(
    State(state): State<EmulatorState>,
    request: Request,
    next: Next,
) -> Response {
    let weight = route_weight(request.uri().path());
    let client = binance::client_ip(request.extensions());
    let used = state.add_weight(client, weight);
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert("x-mbx-used-weight-1m", HeaderValue::from(used));
    response
}
