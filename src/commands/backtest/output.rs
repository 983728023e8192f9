//! Output of `keyward backtest`: a readable summary or one JSON object for a run, and a ranked
//! table or JSON for a sweep. It also maps errors to the flags behind them.

use keyward_actors::backtest::{
    BacktestError, BacktestReport, FileRun, FileRunError, RunSpec, SetupError, SweepResult,
};
use std::fmt::Write as _;
use std::io::{ErrorKind, Write as _};

use serde::Serialize;

use super::BacktestArgs;

/// Writes `text` to standard output. A reader that closed the pipe early, as `| head` does,
/// ends the output quietly instead of failing the run.
fn emit(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(error) if error.kind() != ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(()),
    }
}

/// Describes the strategy of a run, as `sma 10/30`.
pub fn describe(spec: &RunSpec) -> String {
    let param = |name: &str| {
        spec.strategy
            .params
            .get(name)
            .map_or(String::new(), ToString::to_string)
    };
    format!("{} {}/{}", spec.strategy.name, param("fast"), param("slow"))
}

/// The `--json` output of one run: the report plus what identifies the run.
#[derive(Serialize)]
struct RunJson<'a> {
    strategy: &'a str,
    fast: &'a serde_json::Value,
    slow: &'a serde_json::Value,
    /// Hash of the strategy and risk configuration, as a bot with them records it.
    config_hash: String,
    data_hash: Option<&'a str>,
    funding_hash: Option<&'a str>,
    trade_list_hash: String,
    #[serde(flatten)]
    report: &'a BacktestReport,
}

/// Prints one run's report.
///
/// # Errors
/// Fails when the JSON cannot be written.
pub fn print_single(args: &BacktestArgs, spec: &RunSpec, run: &FileRun) -> anyhow::Result<()> {
    let mut text = String::new();
    let report = &run.report;
    if args.json {
        let null = serde_json::Value::Null;
        let output = RunJson {
            strategy: &spec.strategy.name,
            fast: spec.strategy.params.get("fast").unwrap_or(&null),
            slow: spec.strategy.params.get("slow").unwrap_or(&null),
            config_hash: spec.config_hash(),
            data_hash: run.data_hash.as_deref(),
            funding_hash: run.funding_hash.as_deref(),
            trade_list_hash: report.trade_list_hash(),
            report,
        };
        writeln!(text, "{}", serde_json::to_string(&output)?)?;
        return emit(&text);
    }

    writeln!(
        text,
        "{} over {} bars, {} to {}",
        describe(spec),
        report.bars,
        report.first_bar_time.to_rfc3339(),
        report.last_bar_time.to_rfc3339()
    )?;
    writeln!(
        text,
        "trades:        {} ({} risk checks, {} intents rejected)",
        report.trades, report.risk_checks, report.rejected_intents
    )?;
    writeln!(
        text,
        "final equity:  {:.2} from {:.2}",
        report.final_equity, report.initial_cash
    )?;
    writeln!(text, "total return:  {:.2}%", report.total_return * 100.0)?;
    writeln!(text, "max drawdown:  {:.2}%", report.max_drawdown * 100.0)?;
    writeln!(text, "sharpe:        {}", ratio(report.sharpe))?;
    writeln!(text, "sortino:       {}", ratio(report.sortino))?;
    writeln!(text, "win rate:      {}", percent(report.win_rate))?;
    writeln!(text, "profit factor: {}", ratio(report.profit_factor))?;
    writeln!(text, "exposure:      {:.2}%", report.exposure * 100.0)?;
    writeln!(text, "fees paid:     {:.2}", report.fees_paid)?;
    writeln!(text, "funding paid:  {:.2}", report.funding_paid)?;
    emit(&text)
}

fn ratio(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), |value| format!("{value:.3}"))
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(
        || "n/a".to_owned(),
        |value| format!("{:.2}%", value * 100.0),
    )
}

/// One row of a sweep's `--json` output.
#[derive(Serialize)]
struct SweepRow<'a> {
    rank: usize,
    fast: usize,
    slow: usize,
    trades: u64,
    final_equity: f64,
    total_return: f64,
    max_drawdown: f64,
    sharpe: Option<f64>,
    sortino: Option<f64>,
    win_rate: Option<f64>,
    profit_factor: Option<f64>,
    exposure: f64,
    fees_paid: f64,
    funding_paid: f64,
    risk_checks: u64,
    rejected_intents: u64,
    trade_list_hash: Option<&'a str>,
}

/// Prints a sweep's ranked results: the top rows as a table, or every row as JSON.
///
/// # Errors
/// Fails when the JSON cannot be written.
pub fn print_sweep(
    args: &BacktestArgs,
    data_hash: &str,
    results: &[SweepResult],
) -> anyhow::Result<()> {
    let mut text = String::new();
    let rows = results.iter().enumerate().map(|(index, result)| {
        let report = &result.report;
        SweepRow {
            rank: index + 1,
            fast: result.fast,
            slow: result.slow,
            trades: report.trades,
            final_equity: report.final_equity,
            total_return: report.total_return,
            max_drawdown: report.max_drawdown,
            sharpe: report.sharpe,
            sortino: report.sortino,
            win_rate: report.win_rate,
            profit_factor: report.profit_factor,
            exposure: report.exposure,
            fees_paid: report.fees_paid,
            funding_paid: report.funding_paid,
            risk_checks: report.risk_checks,
            rejected_intents: report.rejected_intents,
            trade_list_hash: result.trade_list_hash.as_deref(),
        }
    });
    if args.json {
        let output = serde_json::json!({
            "strategy": "sma",
            "data_hash": data_hash,
            "runs": results.len(),
            "bars": results.first().map_or(0, |result| result.report.bars),
            "results": rows.collect::<Vec<_>>(),
        });
        writeln!(text, "{}", serde_json::to_string(&output)?)?;
        return emit(&text);
    }

    writeln!(
        text,
        "{} runs over {} bars, ranked by {:?}",
        results.len(),
        results.first().map_or(0, |result| result.report.bars),
        args.rank_by
    )?;
    writeln!(
        text,
        "{:>4} {:>5} {:>5} {:>7} {:>10} {:>9} {:>8} {:>8} {:>7} {:>7} {:>9}",
        "rank",
        "fast",
        "slow",
        "trades",
        "return",
        "drawdown",
        "sharpe",
        "sortino",
        "win",
        "pf",
        "exposure"
    )?;
    for row in rows.take(args.top) {
        writeln!(
            text,
            "{:>4} {:>5} {:>5} {:>7} {:>9.2}% {:>8.2}% {:>8} {:>8} {:>7} {:>7} {:>8.2}%",
            row.rank,
            row.fast,
            row.slow,
            row.trades,
            row.total_return * 100.0,
            row.max_drawdown * 100.0,
            short(row.sharpe),
            short(row.sortino),
            row.win_rate
                .map_or("n/a".to_owned(), |win| format!("{:.1}%", win * 100.0)),
            short(row.profit_factor),
            row.exposure * 100.0,
        )?;
    }
    emit(&text)
}

fn short(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), |value| format!("{value:.2}"))
}

/// Names the flag behind a setting error: field `position_size` is `--position-size`.
pub fn setting_error(err: BacktestError) -> anyhow::Error {
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

/// Names the flag behind a run's error where one is to blame.
pub fn flag_error(err: FileRunError) -> anyhow::Error {
    match err {
        FileRunError::Setup(SetupError::Backtest(err)) | FileRunError::Backtest(err) => {
            setting_error(err)
        }
        FileRunError::Setup(SetupError::Strategy(err)) => {
            let flag = err.name.replace('_', "-");
            anyhow::anyhow!("invalid --{flag} {}: expected {}", err.value, err.allowed)
        }
        FileRunError::Setup(SetupError::Settings(err)) => {
            let flag = err.name.replace('_', "-");
            anyhow::anyhow!("invalid --{flag} {}: expected {}", err.value, err.allowed)
        }
        other => anyhow::Error::new(other),
    }
}
