//! `keyward serve`: the service.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use keyward_actors::bot::paper::PaperSettings;
use keyward_actors::bot::{BotRunners, BotService, LiveBots};
use keyward_actors::key::{ExchangeClients, KeyContext, KeyService, RetryPolicy};
use keyward_adapters::{ExchangeClient, ExchangeHosts, client_for, http_client_builder};
use keyward_api::idempotency::IdempotencyStore;
use keyward_api::{AppState, FeedHub, ReadConsistency, StreamSettings};
use keyward_eventlog::checkpoint::{CheckpointPolicy, CheckpointStore, spawn_checkpointer};
use keyward_eventlog::{EventLog, SegmentLog};
use keyward_events::Exchange;
use keyward_projections::{CheckpointDir, CheckpointSchedule, ProjectionHandle};
use keyward_vault::{KEYRING_FILE, Vault};

use super::emulator::{load_emulator_keys, print_demo_keys};
use crate::account_args::AccountArgs;
use crate::master_key::{self, MasterKeyArgs};

/// Timeout of one request to an exchange.
const EXCHANGE_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Options of `keyward serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Folder of the event log, the keyring and (in sandbox mode) the master key file.
    #[arg(long, value_name = "DIR", default_value = "./keyward-data")]
    pub data_dir: PathBuf,

    /// Address of the HTTP API. Beyond loopback, put a TLS-terminating proxy in front.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Event store: `embedded` (default) for the log in the data dir.
    #[arg(long, value_name = "URL")]
    pub event_store: Option<String>,

    /// Points one exchange host elsewhere, e.g. `binance=https://demo-fapi.binance.com`;
    /// NAME is binance, binance-spot, bybit or okx (REST), or binance-ws, bybit-ws or okx-ws
    /// (websockets). Repeatable.
    #[arg(long = "exchange-url", value_name = "NAME=URL")]
    pub exchange_urls: Vec<String>,

    /// Trade OKX in demo trading: every OKX request carries `x-simulated-trading: 1`, and only
    /// OKX demo keys work.
    #[arg(long)]
    pub okx_demo_trading: bool,

    /// Folder of kline CSVs that server-side backtests may read.
    #[arg(long, value_name = "DIR")]
    pub market_data_dir: Option<PathBuf>,

    /// Start the exchange emulator inside the process and point every exchange at it.
    #[arg(long)]
    pub sandbox: bool,

    /// Key file of the sandbox emulator (JSON array); without it, demo keys are printed.
    #[arg(long, value_name = "FILE", requires = "sandbox")]
    pub sandbox_keys: Option<PathBuf>,

    /// Kline CSV (Binance kline layout) or trades CSV the sandbox emulator replays as its
    /// price feed.
    #[arg(long, value_name = "CSV", requires = "sandbox")]
    pub sandbox_market_data: Option<PathBuf>,

    /// Candles (or trades) per second the sandbox price feed replays.
    #[arg(long, value_name = "N", default_value_t = 10, requires = "sandbox", value_parser = clap::value_parser!(u32).range(1..))]
    pub sandbox_speed: u32,

    /// Bot feed messages buffered per websocket client; a client further behind is closed
    /// with code 4008 and the position to resume from.
    #[arg(long, value_name = "N", default_value_t = StreamSettings::default().feed_buffer)]
    pub feed_buffer: usize,

    /// Seconds without an event after which event streams and the bot feed send a heartbeat.
    #[arg(long, value_name = "SECONDS", default_value_t = 15)]
    pub heartbeat_secs: u64,

    #[command(flatten)]
    pub master_key: MasterKeyArgs,

    #[command(flatten)]
    pub accounts: AccountArgs,
}

/// Runs the service until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    args.accounts.config()?;
    if let Some(dir) = args.market_data_dir.as_deref().filter(|dir| !dir.is_dir()) {
        bail!(
            "--market-data-dir {} is not a folder; give the folder of kline CSVs that \
             server-side backtests read",
            dir.display()
        );
    }
    if let Some(store) = args.event_store.as_deref().filter(|s| *s != "embedded") {
        bail!("unsupported --event-store {store:?}; only `embedded` is available in this build");
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(serve(args))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    prepare_data_dir(&args.data_dir)?;
    let master = master_key::resolve(&args.master_key, &args.data_dir, args.sandbox)?;
    tracing::info!(source = %master.source(), "master key loaded");
    let keyring = args.data_dir.join(KEYRING_FILE);
    let keyring_existed = keyring.exists();
    keyward_api::metrics::install();
    let log: Arc<dyn EventLog> = keyward_api::metrics::MeteredLog::wrap(Arc::new(
        SegmentLog::open(&args.data_dir).context("cannot open the event log")?,
    ));
    let head = *log.head().borrow();
    if head > 0 && !keyring_existed {
        bail!(
            "the event log in {} holds {head} events but the keyring {} is missing, so the \
             secrets, password hashes and TOTP seeds it held are gone; restore the keyring from \
             a backup of this data dir, or start with a new --data-dir",
            args.data_dir.display(),
            keyring.display()
        );
    }
    let vault = Arc::new(Vault::open(&args.data_dir, master).context("cannot open the keyring")?);
    keyward_api::metrics::spawn_event_counters(Arc::clone(&log));
    spawn_checkpointer(
        Arc::clone(&log),
        CheckpointStore::in_data_dir(&args.data_dir),
        Arc::new(crate::commands::audit::VaultCheckpointKeys(Arc::clone(
            &vault,
        ))),
        CheckpointPolicy::default(),
    );

    let mut hosts = ExchangeHosts::default();
    let emulator = if args.sandbox {
        let running = start_sandbox(&args).await?;
        hosts = ExchangeHosts::all_at(&running.base_url())?;
        Some(running)
    } else {
        None
    };
    for assignment in &args.exchange_urls {
        hosts.set_from_arg(assignment)?;
    }
    hosts.set_okx_demo(args.okx_demo_trading);

    let accounts = args
        .accounts
        .start(&args.data_dir, Arc::clone(&log), Arc::clone(&vault))
        .await?;
    let keys = start_keys(Arc::clone(&log), vault, &hosts).await?;
    keys.sweep_deleted()
        .await
        .context("cannot shred the secrets of deleted keys")?;
    let recovered = keys.recover().await?;
    let checkpoints = CheckpointDir::in_data_dir(&args.data_dir);
    let dashboard = Arc::new(
        ProjectionHandle::spawn(
            Arc::clone(&log),
            Some(checkpoints),
            CheckpointSchedule::default(),
        )
        .await,
    );
    let audit = Arc::new(
        ProjectionHandle::spawn(
            Arc::clone(&log),
            Some(CheckpointDir::in_data_dir(&args.data_dir)),
            CheckpointSchedule::default(),
        )
        .await,
    );
    let streams = StreamSettings {
        feed_buffer: args.feed_buffer,
        heartbeat: Duration::from_secs(args.heartbeat_secs.max(1)),
        ..StreamSettings::default()
    };
    let feed = FeedHub::start(Arc::clone(&log), Arc::clone(&dashboard), streams);
    let market = market_clients(&hosts)?;
    // NOTE: paper bots active when the server stopped are not started again: their candle
    // feeds were kept in memory only, so their runs would restart without the strategy's history.
    let runners =
        BotRunners::start_with_market(Arc::clone(&log), PaperSettings::default(), market).await?;
    let live = LiveBots::start(Arc::clone(&log), keys.clone()).await?;
    spawn_live_resume(live.clone());
    let state = AppState {
        log: Arc::clone(&log),
        keys,
        bots: BotService::new(Arc::clone(&log))
            .with_runners(runners)
            .with_live(live),
        accounts,
        auth: Arc::new(args.accounts.auth_settings()),
        dashboard: Arc::clone(&dashboard),
        audit: Arc::clone(&audit),
        market_data_dir: args.market_data_dir.clone(),
        consistency: Arc::new(ReadConsistency::default()),
        feed,
        streams,
        idempotency: Arc::new(
            IdempotencyStore::open(&args.data_dir).context("cannot start the API")?,
        ),
    };

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    if !local.ip().is_loopback() {
        tracing::warn!(address = %local, "listening beyond loopback; serve it only behind a TLS-terminating proxy, since tokens and passwords travel in each request");
    }
    tracing::info!(address = %local, data_dir = %args.data_dir.display(), keys = recovered, "keyward serving");
    axum::serve(
        listener,
        keyward_api::router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("the HTTP server failed")?;
    for (name, saved) in [
        ("dashboard", dashboard.save_checkpoint()),
        ("audit", audit.save_checkpoint()),
    ] {
        if let Err(err) = saved {
            tracing::warn!(projection = name, error = %err, "cannot save the projection checkpoint at shutdown");
        }
    }
    if let Some(running) = emulator {
        running.shutdown().await?;
    }
    tracing::info!("keyward stopped");
    Ok(())
}

async fn start_sandbox(args: &ServeArgs) -> anyhow::Result<keyward_emulator::RunningEmulator> {
    let keys = match &args.sandbox_keys {
        Some(path) => load_emulator_keys(path)?,
        None => {
            let keys = keyward_emulator::demo_keys();
            print_demo_keys(&keys);
            keys
        }
    };
    let config = keyward_emulator::EmulatorConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        keys,
        market_data: args.sandbox_market_data.clone(),
        speed: args.sandbox_speed,
        ..keyward_emulator::EmulatorConfig::default()
    };
    let running = keyward_emulator::Emulator::start(config).await?;
    tracing::warn!(emulator = %running.base_url(), "sandbox mode: every exchange is the local emulator");
    Ok(running)
}

/// Starts the actors of the live bots that were active or paused when the server stopped, in
/// the background, because each one reads its account from the exchange first.
fn spawn_live_resume(live: LiveBots) {
    tokio::spawn(async move {
        match live.resume().await {
            Ok(resumed) => tracing::info!(bots = resumed.len(), "live bots resumed"),
            Err(err) => tracing::error!(error = %err, "live bots could not be resumed"),
        }
    });
}

/// Builds the clients whose public market data feeds paper bots.
fn market_clients(hosts: &ExchangeHosts) -> anyhow::Result<Vec<Arc<dyn ExchangeClient>>> {
    let http = http_client_builder()
        .timeout(EXCHANGE_REQUEST_TIMEOUT)
        .build()
        .context("cannot build the HTTP client")?;
    let clients = Exchange::ALL
        .into_iter()
        .filter_map(|exchange| client_for(exchange, hosts, http.clone()).ok())
        .collect();
    Ok(clients)
}

async fn start_keys(
    log: Arc<dyn EventLog>,
    vault: Arc<Vault>,
    hosts: &ExchangeHosts,
) -> anyhow::Result<KeyService> {
    let http = http_client_builder()
        .timeout(EXCHANGE_REQUEST_TIMEOUT)
        .build()
        .context("cannot build the HTTP client")?;
    let mut exchanges = ExchangeClients::default();
    for exchange in Exchange::ALL {
        match client_for(exchange, hosts, http.clone()) {
            Ok(client) => exchanges.insert(client),
            Err(err) => tracing::warn!(%exchange, error = %err, "exchange not available"),
        }
    }
    let context = KeyContext {
        log,
        vault,
        exchanges,
        retry: RetryPolicy::default(),
    };
    Ok(KeyService::start(context).await?)
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate = match tokio::signal::unix::signal(
        tokio::signal::unix::SignalKind::terminate(),
    ) {
        Ok(signal) => signal,
        Err(err) => {
            tracing::error!(error = %err, "cannot listen for SIGTERM; only Ctrl-C stops the server");
            let _ = interrupt.await;
            return;
        }
    };
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down");
}

/// Creates the data dir readable by its owner alone, or warns when an existing one is open
/// to other users, because it contains the keyring and the event log.
fn prepare_data_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};

    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create the data dir {}", dir.display()))?;
        return Ok(());
    }
    let mode = std::fs::metadata(dir)
        .with_context(|| format!("cannot read the data dir {}", dir.display()))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(
            path = %dir.display(),
            mode = format!("{mode:o}"),
            "the data dir can be opened by other users; run `chmod 700` on it"
        );
    }
    Ok(())
}
