//! The `keyward` command: the service, the exchange emulator, backtests and audit tools.

mod account_args;
mod commands;
mod logging;
mod master_key;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Self-hosted control plane for crypto trading bots.
///
/// Exit status: 0 on success, 1 when a check fails, 2 on a usage or runtime error.
#[derive(Debug, Parser)]
#[command(name = "keyward", version, about)]
struct Cli {
    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value_t = logging::LogFormat::Text)]
    log_format: logging::LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service: HTTP API, key and bot actors, projections.
    Serve(commands::serve::ServeArgs),
    /// Run the exchange emulator alone.
    Emulator(commands::emulator::EmulatorArgs),
    /// Run a backtest of a strategy over candles in the Binance kline CSV layout.
    Backtest(commands::backtest::BacktestArgs),
    /// Check and export the event log for auditors.
    #[command(subcommand)]
    Audit(commands::audit::AuditCommand),
    /// Stress, benchmark and inspect the embedded event log.
    #[command(subcommand)]
    Eventlog(commands::eventlog::EventlogCommand),
    /// Rebuild the read models from the event log.
    #[command(subcommand)]
    Projections(commands::projections::ProjectionsCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    // reqwest is built without a default TLS provider so that only ring is compiled in.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let result = match cli.command {
        Command::Serve(args) => commands::serve::run(args),
        Command::Emulator(args) => commands::emulator::run(args),
        Command::Backtest(args) => commands::backtest::run(args),
        Command::Audit(command) => commands::audit::run(command),
        Command::Eventlog(command) => commands::eventlog::run(command),
        Command::Projections(command) => commands::projections::run(command),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
