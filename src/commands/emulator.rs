//! `keyward emulator`: the exchange emulator alone.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use keyward_emulator::{Emulator, EmulatorConfig, EmulatorKey};

use super::serve::shutdown_signal;

/// Options of `keyward emulator`.
#[derive(Debug, clap::Args)]
pub struct EmulatorArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9090")]
    pub listen: SocketAddr,

    /// Key file (JSON array of keys with their permission flags); without it, demo keys are
    /// generated and printed.
    #[arg(long, value_name = "FILE")]
    pub keys: Option<PathBuf>,

    /// Kline CSV (Binance kline layout) or trades CSV to replay as the price feed.
    #[arg(long, value_name = "CSV")]
    pub market_data: Option<PathBuf>,

    /// Candles (or trades) per second the price feed replays.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub speed: u32,

    /// Instrument file (JSON array of instrument rules); without it, BTCUSDT and ETHUSDT.
    #[arg(long, value_name = "FILE")]
    pub instruments: Option<PathBuf>,

    /// Play a testnet: accept only keys marked `"testnet": true` (otherwise only the others).
    #[arg(long)]
    pub testnet: bool,
}

/// Runs the emulator until SIGINT or SIGTERM.
pub fn run(args: EmulatorArgs) -> anyhow::Result<ExitCode> {
    let keys = match &args.keys {
        Some(path) => load_emulator_keys(path)?,
        None => {
            let keys = keyward_emulator::demo_keys();
            print_demo_keys(&keys);
            keys
        }
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let config = EmulatorConfig {
            listen: args.listen,
            keys,
            market_data: args.market_data.clone(),
            instruments: args.instruments.clone(),
            speed: args.speed,
            testnet: args.testnet,
        };
        let running = Emulator::start(config).await?;
        tracing::info!(address = %running.local_addr(), "emulator serving");
        shutdown_signal().await;
        running.shutdown().await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Loads an emulator key file.
pub fn load_emulator_keys(path: &Path) -> anyhow::Result<Vec<EmulatorKey>> {
    keyward_emulator::load_keys(path)
        .with_context(|| format!("cannot load key file {}", path.display()))
}

/// Prints generated demo keys so a user can add them; they exist only in this emulator.
pub fn print_demo_keys(keys: &[EmulatorKey]) {
    println!("Demo keys of the local exchange emulator (valid only against it):");
    for key in keys {
        println!(
            "  {:<18} exchange={} api_key={} api_secret={}",
            key.label.as_deref().unwrap_or("key"),
            key.exchange,
            key.api_key,
            key.api_secret.expose()
        );
    }
}
