//! `keyward backtest`: runs a bot configuration (strategy, risk gate and order handling) over
//! kline CSV files and prints the report, or runs a parameter sweep and prints a ranked table.

mod output;
mod params;
mod plot;
pub(crate) mod progress;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use keyward_actors::backtest::BacktestConfig;
use keyward_actors::backtest::{
    DEFAULT_FEE, DEFAULT_MAKER_FEE, DataFiles, FinalFill, MarketData, RankBy, RunOptions,
    RunSettings, RunSpec, load_candles, load_funding, run_files, run_sweep, window,
};
use keyward_events::bot::StrategySpec;
use keyward_risk::RiskConfig;

pub use params::WindowParam;
use progress::Progress;

/// Options of `keyward backtest`.
#[derive(Debug, clap::Args)]
#[command(allow_negative_numbers = true)]
pub struct BacktestArgs {
    /// Kline CSV file, or a folder whose `*.csv` files are read in name order as one series.
    #[arg(long, value_name = "CSV|DIR")]
    pub data: PathBuf,
    /// Funding-rate CSV file (calc_time,funding_interval_hours,last_funding_rate); open
    /// positions pay or receive funding at each funding time.
    #[arg(long, value_name = "FILE")]
    pub funding: Option<PathBuf>,
    /// Strategy to run.
    #[arg(long, value_enum)]
    pub strategy: StrategyName,
    /// Fast moving average window in bars, or a range A..B[:STEP] to sweep.
    #[arg(long, value_name = "N|A..B[:STEP]")]
    pub fast: WindowParam,
    /// Slow moving average window in bars (greater than --fast), or a range to sweep.
    #[arg(long, value_name = "M|A..B[:STEP]")]
    pub slow: WindowParam,
    /// Step of the ranges that do not give their own.
    #[arg(long, value_name = "BARS", default_value_t = 1, value_parser = parse_step)]
    pub step: usize,
    /// Risk configuration of a bot as JSON (the `risk` object of the bots API). Without it,
    /// the limits are derived from --position-size, --leverage and --stop-loss-pct.
    #[arg(long, value_name = "FILE", conflicts_with = "stop_loss_pct")]
    pub risk: Option<PathBuf>,
    /// Taker fee as a fraction of each market or stop fill's notional (0.0004 is 0.04%).
    #[arg(long, value_name = "RATE", default_value_t = DEFAULT_FEE)]
    pub fee: f64,
    /// Maker fee as a fraction of each limit fill's notional.
    #[arg(long, value_name = "RATE", default_value_t = DEFAULT_MAKER_FEE)]
    pub maker_fee: f64,
    /// Slippage of market and stop fills against their side, in basis points (1 is 0.01%).
    #[arg(long, value_name = "BPS", default_value_t = 0.0)]
    pub slippage_bps: f64,
    /// Starting cash in the quote currency.
    #[arg(long, value_name = "AMOUNT", default_value_t = 10_000.0)]
    pub cash: f64,
    /// Fraction of equity used as margin for each entry; 1 puts all equity in [default: 1, or
    /// max_position_pct of --risk].
    #[arg(long, value_name = "FRACTION")]
    pub position_size: Option<f64>,
    /// Distance of the protective stop from the entry price, in percent [default: 2].
    #[arg(long, value_name = "PCT")]
    pub stop_loss_pct: Option<f64>,
    /// Distance of a take-profit limit order from the entry price, in percent.
    #[arg(long, value_name = "PCT")]
    pub take_profit_pct: Option<f64>,
    /// Leverage on the margin, from 1 to 125 [default: 1].
    #[arg(long, value_name = "X")]
    pub leverage: Option<f64>,
    /// Never go short: a cross down only closes the long.
    #[arg(long)]
    pub long_only: bool,
    /// Price at which a position still open after the last bar is closed.
    #[arg(long, value_enum, default_value_t = FinalFillArg::LastClose)]
    pub final_fill: FinalFillArg,
    /// Symbol the candles belong to, recorded on each order intent.
    #[arg(long, default_value = "BTCUSDT")]
    pub symbol: String,
    /// Print one JSON object instead of a readable summary.
    #[arg(long)]
    pub json: bool,
    /// Write the equity curve and its drawdown as an SVG picture to FILE.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Metric a sweep ranks its runs by: return, sharpe, sortino, drawdown or profit-factor.
    #[arg(long, value_name = "METRIC", default_value = "return")]
    pub rank_by: RankBy,
    /// Rows of a sweep's ranked table to print (all of them with --json).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub top: usize,
}

/// Strategies `keyward backtest` can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StrategyName {
    /// Simple moving average crossover (--fast, --slow).
    Sma,
}

/// `--final-fill` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FinalFillArg {
    /// The last bar's close.
    LastClose,
    /// The last bar's open, as the `backtesting` Python package finalizes trades.
    LastOpen,
}

/// Runs the backtest or the sweep and prints its report.
///
/// # Errors
/// Fails on an invalid flag (naming it), on data that cannot be read or parsed (naming the
/// file and line), and on empty data.
pub fn run(args: BacktestArgs) -> anyhow::Result<ExitCode> {
    let spec = run_spec(&args)?;
    if args.fast.is_range() || args.slow.is_range() {
        return sweep(&args, &spec);
    }
    single(&args, &spec)
}

fn single(args: &BacktestArgs, spec: &RunSpec) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    if let Some(plot) = &args.plot {
        check_plot_path(plot, &args.data, args.funding.as_deref())?;
    }
    // Only the JSON output and the plot's title show the data's hash.
    let files = DataFiles {
        candles: Some(&args.data),
        funding: args.funding.as_deref(),
        hash_candles: args.json || args.plot.is_some(),
        ..DataFiles::default()
    };
    let bars_hint = estimated_bars(&args.data);
    let progress = Progress::on_terminal(bars_hint, "bars");
    let mut report_progress = |done: usize| {
        if let Some(progress) = &progress {
            progress.update(done);
        }
    };
    let options = RunOptions {
        record_equity: args.plot.is_some(),
        progress: Some(&mut report_progress),
    };
    let result = run_files(spec, &files, options).map_err(output::flag_error);
    if let Some(progress) = &progress {
        progress.finish();
    }
    let run = result?;
    let bars = run.report.bars;
    let run_seconds = run.run_time.as_secs_f64();
    tracing::info!(
        bars,
        trades = run.report.trades,
        load_ms = run.load_time.as_secs_f64() * 1e3,
        run_ms = run_seconds * 1e3,
        bars_per_second = (bars as f64 / run_seconds.max(1e-9)).round(),
        elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
        "backtest finished"
    );

    if let Some(path) = &args.plot {
        let title = format!(
            "{} {} {}",
            args.symbol,
            output::describe(spec),
            run.data_hash
                .as_deref()
                .and_then(|hash| hash.get(..12))
                .unwrap_or("")
        );
        let labels = plot::PlotLabels {
            title: &title,
            first_bar: run.report.first_bar_time,
            last_bar: run.report.last_bar_time,
        };
        let svg = plot::equity_svg(&run.report.equity_curve, &labels);
        std::fs::write(path, svg).with_context(|| format!("failed to write {}", path.display()))?;
    }
    output::print_single(args, spec, &run)?;
    Ok(ExitCode::SUCCESS)
}

fn parse_step(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("a step of 0 would never advance; use 1 or more".to_owned()),
        Ok(step) => Ok(step),
        Err(_) => Err(format!("{text:?} is not a whole number of bars")),
    }
}

/// Most runs one sweep may hold: each keeps its report in memory until the table is printed.
const MAX_SWEEP_RUNS: usize = 100_000;

fn sweep(args: &BacktestArgs, spec: &RunSpec) -> anyhow::Result<ExitCode> {
    let fast = args
        .fast
        .values(args.step)
        .map_err(|e| anyhow::anyhow!("invalid --fast: {e}"))?;
    let slow = args
        .slow
        .values(args.step)
        .map_err(|e| anyhow::anyhow!("invalid --slow: {e}"))?;
    let runs = fast
        .iter()
        .map(|f| slow.iter().filter(|s| *s > f).count())
        .sum::<usize>();
    if runs == 0 {
        bail!("the ranges --fast and --slow give no pair with fast below slow");
    }
    if runs > MAX_SWEEP_RUNS {
        bail!(
            "the ranges --fast and --slow give {runs} runs; at most {MAX_SWEEP_RUNS} fit in \
             one sweep, so narrow a range or raise --step"
        );
    }
    if args.plot.is_some() {
        bail!("--plot draws one run; leave it out of a sweep or give single windows");
    }

    let started = Instant::now();
    let loaded = load_candles(&args.data)?;
    let funding = args.funding.as_deref().map(load_funding).transpose()?;
    let loaded_at = Instant::now();
    let data = MarketData {
        candles: window(&loaded.candles, None, None),
        funding: funding.as_ref().map_or(&[], |funding| &funding.rates),
    };
    let progress = Progress::on_terminal(runs, "runs");
    let report_progress = |done: usize| {
        if let Some(progress) = &progress {
            progress.update(done);
        }
    };
    let windows = (fast.as_slice(), slow.as_slice());
    let results = run_sweep(
        data,
        spec,
        windows,
        args.rank_by,
        args.json,
        &report_progress,
    );
    if let Some(progress) = &progress {
        progress.finish();
    }
    let results = results.map_err(|err| anyhow::anyhow!("invalid sweep: {err}"))?;
    tracing::info!(
        runs,
        bars = loaded.candles.len(),
        load_ms = (loaded_at - started).as_millis() as u64,
        sweep_ms = loaded_at.elapsed().as_millis() as u64,
        threads = rayon_threads(),
        "sweep finished"
    );
    output::print_sweep(args, &loaded.data_hash, &results)?;
    Ok(ExitCode::SUCCESS)
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Builds the run from the flags: the strategy spec a bot would carry and its risk
/// configuration, from `--risk` or derived from the sizing flags.
/// Rejects a `--plot` path that would overwrite the input: the candle file, the funding file,
/// or any `*.csv` path, which a later run would read from a data folder as candles.
fn check_plot_path(plot: &Path, data: &Path, funding: Option<&Path>) -> anyhow::Result<()> {
    let is_csv = plot
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("csv"));
    if is_csv {
        bail!(
            "--plot {} ends in .csv, the extension of data files; give a path ending in .svg",
            plot.display()
        );
    }
    let Ok(plot_file) = plot.canonicalize() else {
        // The picture does not exist yet, so it cannot be an input.
        return Ok(());
    };
    let inputs = [("--data", Some(data)), ("--funding", funding)];
    for (flag, input) in inputs {
        let same = input
            .and_then(|input| input.canonicalize().ok())
            .is_some_and(|input| input == plot_file);
        if same {
            bail!(
                "--plot {} is the {flag} file and would be overwritten; give another path",
                plot.display()
            );
        }
    }
    Ok(())
}

fn run_spec(args: &BacktestArgs) -> anyhow::Result<RunSpec> {
    let StrategyName::Sma = args.strategy;
    let mut params = serde_json::Map::new();
    let first = |param: WindowParam| match param {
        WindowParam::Single(bars) => bars,
        WindowParam::Range { start, .. } => start,
    };
    params.insert("fast".to_owned(), first(args.fast).into());
    params.insert("slow".to_owned(), first(args.slow).into());
    let optional = [
        ("position_size", args.position_size),
        ("leverage", args.leverage),
        ("take_profit_pct", args.take_profit_pct),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            params.insert(name.to_owned(), number(name, value)?);
        }
    }
    if args.long_only {
        params.insert("long_only".to_owned(), true.into());
    }

    let risk = match &args.risk {
        Some(path) => read_risk(path)?,
        None => derived_risk(args)?,
    };
    let settings = RunSettings {
        cash: args.cash,
        fee: args.fee,
        maker_fee: args.maker_fee,
        slippage_bps: args.slippage_bps,
        final_fill: match args.final_fill {
            FinalFillArg::LastClose => FinalFill::LastClose,
            FinalFillArg::LastOpen => FinalFill::LastOpen,
        },
    };
    Ok(RunSpec {
        strategy: StrategySpec {
            name: "sma".to_owned(),
            params,
        },
        risk,
        symbol: args.symbol.clone(),
        settings,
    })
}

/// Writes a flag's value into the spec the way a bot's JSON carries it: a whole number as an
/// integer (`4`, not `4.0`), so that equal configurations hash equally.
fn number(name: &str, value: f64) -> anyhow::Result<serde_json::Value> {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        return Ok((value as i64).into());
    }
    serde_json::Number::from_f64(value)
        .map(serde_json::Value::Number)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "invalid --{} {value}: expected a finite number",
                name.replace('_', "-")
            )
        })
}

fn read_risk(path: &Path) -> anyhow::Result<RiskConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read risk configuration {}", path.display()))?;
    let risk: RiskConfig = serde_json::from_str(&text)
        .with_context(|| format!("invalid risk configuration in {}", path.display()))?;
    risk.validate()
        .with_context(|| format!("invalid risk configuration in {}", path.display()))?;
    Ok(risk)
}

/// Derives the default limits widened to let the flags' entries through, with daily loss and
/// drawdown limits that never stop a run.
fn derived_risk(args: &BacktestArgs) -> anyhow::Result<RiskConfig> {
    let stop = args.stop_loss_pct.unwrap_or(2.0);
    if !(stop > 0.0 && stop < 100.0) {
        bail!("invalid --stop-loss-pct {stop}: expected a percent above 0 and below 100");
    }
    let sizing = BacktestConfig {
        position_size: args.position_size.unwrap_or(1.0),
        leverage: args.leverage.unwrap_or(1.0),
        ..BacktestConfig::default()
    };
    sizing.validate().map_err(output::setting_error)?;
    Ok(sizing.risk_config_allowing(stop))
}

/// Estimates the bars in a file or folder from its size, for the progress bar only.
fn estimated_bars(data: &Path) -> usize {
    let size = |path: &Path| std::fs::metadata(path).map_or(0, |meta| meta.len());
    let bytes = if data.is_dir() {
        std::fs::read_dir(data)
            .map(|entries| entries.flatten().map(|entry| size(&entry.path())).sum())
            .unwrap_or(0)
    } else {
        size(data)
    };
    // A row of the layout with empty optional columns is about 75 bytes.
    (bytes / 75).max(1) as usize
}
