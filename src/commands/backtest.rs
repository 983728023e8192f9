//! `keyward backtest`: runs a strategy and the risk gate over kline CSV files and prints the
//! report.

use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Instant;

use anyhow::bail;
use keyward_actors::backtest::{
    BacktestConfig, BacktestError, BacktestOutcome, BacktestReport, DEFAULT_FEE, load_candles,
    run_backtest,
};
use keyward_actors::strategy::{SmaCross, StrategyError};
use keyward_risk::RiskGate;
use serde::Serialize;
use uuid::Uuid;

/// Options of `keyward backtest`.
#[derive(Debug, clap::Args)]
#[command(allow_negative_numbers = true)]
pub struct BacktestArgs {
    /// Kline CSV file, or a folder whose `*.csv` files are read in name order as one series.
    #[arg(long, value_name = "CSV|DIR")]
    pub data: PathBuf,
    /// Strategy to run.
    #[arg(long, value_enum)]
    pub strategy: StrategyName,
    /// Fast moving average window, in bars.
    #[arg(long, value_name = "N")]
    pub fast: WindowParam,
    /// Slow moving average window, in bars; must be greater than --fast.
    #[arg(long, value_name = "M")]
    pub slow: WindowParam,
    /// Taker fee as a fraction of each fill's notional (0.0004 is 0.04%).
    #[arg(long, value_name = "RATE", default_value_t = DEFAULT_FEE)]
    pub fee: f64,
    /// Starting cash in the quote currency.
    #[arg(long, value_name = "AMOUNT", default_value_t = 10_000.0)]
    pub cash: f64,
    /// Fraction of equity used as margin for each entry (1 puts all equity in).
    #[arg(long, value_name = "FRACTION", default_value_t = 1.0)]
    pub position_size: f64,
    /// Distance of the protective stop from the entry price, in percent (2 is 2%).
    #[arg(long, value_name = "PCT", default_value_t = 2.0)]
    pub stop_loss_pct: f64,
    /// Leverage on the margin, from 1 to 125.
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    pub leverage: f64,
    /// Never go short: a cross down only closes the long.
    #[arg(long)]
    pub long_only: bool,
    /// Symbol the candles belong to, recorded on each order intent.
    #[arg(long, default_value = "BTCUSDT")]
    pub symbol: String,
    /// Print one JSON object instead of a readable summary.
    #[arg(long)]
    pub json: bool,
}

/// Strategies `keyward backtest` can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StrategyName {
    /// Simple moving average crossover (--fast, --slow).
    Sma,
}

/// A window parameter of the command line: one number of bars.
// TODO: accept ranges (`A..B[:STEP]`) and run a sweep over them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowParam {
    Single(usize),
}

impl FromStr for WindowParam {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.contains("..") {
            return Err("parameter ranges are not supported yet; give one number of bars".into());
        }
        let bars = text
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not a number of bars"))?;
        Ok(Self::Single(bars))
    }
}

impl WindowParam {
    fn bars(self) -> usize {
        match self {
            Self::Single(bars) => bars,
        }
    }
}

/// Runs the backtest and prints its report.
///
/// # Errors
/// Fails on an invalid flag (naming it), on data that cannot be read or parsed (naming the
/// file and line), and on empty data.
pub fn run(args: BacktestArgs) -> anyhow::Result<ExitCode> {
    let mut strategy = build_strategy(&args)?;
    let config = backtest_config(&args)?;
    // TODO: accept a bot's risk configuration as a file, so that its loss limits apply here.
    let gate = RiskGate::new(config.risk_config_allowing(args.stop_loss_pct))
        .map_err(|err| anyhow::anyhow!("invalid risk setting derived from the flags: {err}"))?;

    let started = Instant::now();
    let candles = load_candles(&args.data)?.candles;
    let parsed = Instant::now();
    let outcome = run_backtest(&candles, &mut strategy, &gate, &config).map_err(flag_error)?;
    let finished = Instant::now();

    let run_seconds = (finished - parsed).as_secs_f64();
    tracing::info!(
        bars = candles.len(),
        load_ms = (parsed - started).as_millis() as u64,
        run_ms = (run_seconds * 1000.0) as u64,
        bars_per_second = (candles.len() as f64 / run_seconds.max(1e-9)) as u64,
        "backtest finished"
    );
    print_outcome(&args, &outcome)?;
    Ok(ExitCode::SUCCESS)
}

fn build_strategy(args: &BacktestArgs) -> anyhow::Result<SmaCross> {
    let (fast, slow) = (args.fast.bars(), args.slow.bars());
    match args.strategy {
        StrategyName::Sma => SmaCross::new(fast, slow).map_err(|err| {
            let StrategyError {
                name,
                value,
                allowed,
            } = err;
            anyhow::anyhow!("invalid --{name} {value}: expected {allowed}")
        }),
    }
}

fn backtest_config(args: &BacktestArgs) -> anyhow::Result<BacktestConfig> {
    let stop = args.stop_loss_pct;
    if !(stop > 0.0 && stop < 100.0) {
        bail!("invalid --stop-loss-pct {stop}: expected a percent above 0 and below 100");
    }

    // Equal flags give the same run id, so equal inputs give equal intent ids.
    let description = format!(
        "keyward backtest {:?} fast={} slow={} data={}",
        args.strategy,
        args.fast.bars(),
        args.slow.bars(),
        args.data.display()
    );
    let config = BacktestConfig {
        run_id: Uuid::new_v5(&Uuid::NAMESPACE_URL, description.as_bytes()),
        symbol: args.symbol.clone(),
        cash: args.cash,
        fee: args.fee,
        position_size: args.position_size,
        leverage: args.leverage,
        long_only: args.long_only,
    };
    config.validate().map_err(flag_error)?;
    Ok(config)
}

/// Names the flag behind a setting error: field `position_size` is `--position-size`.
fn flag_error(err: BacktestError) -> anyhow::Error {
    match &err {
        BacktestError::InvalidSetting {
            name,
            value,
            allowed,
        } => {
            let flag = name.replace('_', "-");
            anyhow::anyhow!("invalid --{flag} {value}: expected {allowed}")
        }
        BacktestError::NoCandles => anyhow::Error::new(err),
    }
}

/// Reads a kline CSV file, or every `*.csv` file of a folder in name order as one series.
/// The `--json` output: the report plus the run's parameters and verdict count.
#[derive(Serialize)]
struct JsonOutput<'a> {
    strategy: &'static str,
    fast: usize,
    slow: usize,
    #[serde(flatten)]
    report: &'a BacktestReport,
    /// Number of `OrderRiskChecked` verdicts recorded.
    risk_checks: usize,
}

fn print_outcome(args: &BacktestArgs, outcome: &BacktestOutcome) -> anyhow::Result<()> {
    let report = &outcome.report;
    if args.json {
        let output = JsonOutput {
            strategy: "sma",
            fast: args.fast.bars(),
            slow: args.slow.bars(),
            report,
            risk_checks: outcome.risk_checks.len(),
        };
        println!("{}", serde_json::to_string(&output)?);
        return Ok(());
    }

    println!(
        "sma fast={} slow={} over {} bars, {} to {}",
        args.fast.bars(),
        args.slow.bars(),
        report.bars,
        report.first_bar_time.to_rfc3339(),
        report.last_bar_time.to_rfc3339()
    );
    println!(
        "trades:       {} ({} risk checks, {} intents rejected)",
        report.trades,
        outcome.risk_checks.len(),
        report.rejected_intents
    );
    println!(
        "final equity: {:.2} from {:.2}",
        report.final_equity, report.initial_cash
    );
    println!("total return: {:.2}%", report.total_return * 100.0);
    println!("max drawdown: {:.2}%", report.max_drawdown * 100.0);
    println!("fees paid:    {:.2}", report.fees_paid);
    Ok(())
}
