//! `keyward backtest`.

use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `keyward backtest`.
#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    /// Kline CSV file or folder of files.
    #[arg(long)]
    pub data: PathBuf,
}

/// Runs the backtest and prints its report.
pub fn run(args: BacktestArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("backtest over {} is not built yet", args.data.display())
}
