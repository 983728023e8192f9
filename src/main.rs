//! The `keyward` command: the service, the exchange emulator, backtests and audit tools.

mod account_args;
mod commands;
mod logging;
mod master_key;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc rather than the system allocator: rebuilding projections and loading market data
/// allocate and free millions of small buffers, which glibc's allocator spends most of its
/// time on (see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Rotate the master key, retire old master key versions, and show their status.
    #[command(subcommand)]
    Vault(commands::vault::VaultCommand),
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
        Command::Vault(command) => commands::vault::run(command),
        Command::Projections(command) => commands::projections::run(command),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", error_chain(&err));
            ExitCode::from(2)
        }
    }
}

/// Joins an error and its causes with ": ", leaving out a cause whose text the message before
/// it already contains, as it does when an error type prints its own source.
fn error_chain(err: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::error_chain;

    #[test]
    fn error_chain_skips_repeated_causes() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = anyhow::Error::new(io).context("cannot read candles.csv: no such file");
        assert_eq!(error_chain(&err), "cannot read candles.csv: no such file");
    }

    #[test]
    fn error_chain_keeps_distinct_causes() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = anyhow::Error::new(io).context("cannot read candles.csv");
        assert_eq!(error_chain(&err), "cannot read candles.csv: no such file");
    }
}
