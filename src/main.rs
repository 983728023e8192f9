//! The `keyward` command: the service, the exchange emulator, backtests and audit tools.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Self-hosted control plane for crypto trading bots.
#[derive(Debug, Parser)]
#[command(name = "keyward", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a backtest of a strategy over candles in the Binance kline CSV layout.
    Backtest(commands::backtest::BacktestArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Backtest(args) => commands::backtest::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
