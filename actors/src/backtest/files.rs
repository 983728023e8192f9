//! Backtests over files: loading the candles and the funding rates, checking that they fit
//! together, and running a bot configuration over them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use keyward_events::market::{Candle, FundingRate};

use super::data::{candle_files, hash_files, parse_files};
use super::{
    BacktestError, BacktestReport, DataError, DiscardVerdicts, MarketData, PreparedRun, RunOptions,
    RunSpec, SetupError, load_funding, run,
};

/// The files a run reads and the time window of the candles it keeps.
#[derive(Clone, Copy, Debug, Default)]
pub struct DataFiles<'a> {
    /// A kline CSV file, or a folder whose `*.csv` files are read in name order.
    pub candles: Option<&'a Path>,
    /// A funding-rate CSV file.
    pub funding: Option<&'a Path>,
    /// Keep candles opening at or after this time, in milliseconds since the Unix epoch.
    pub from_ms: Option<i64>,
    /// Keep candles opening before this time, in milliseconds since the Unix epoch.
    pub to_ms: Option<i64>,
    /// Whether to compute the SHA-256 of the candle files, on another thread beside the run.
    pub hash_candles: bool,
}

/// A run over files and the hashes of what it read.
#[derive(Clone, Debug, PartialEq)]
pub struct FileRun {
    pub report: BacktestReport,
    /// Hex SHA-256 of the candle files' bytes, in the order read, when
    /// [`DataFiles::hash_candles`] asked for it.
    pub data_hash: Option<String>,
    /// Hex SHA-256 of the funding file's bytes.
    pub funding_hash: Option<String>,
    /// Time spent reading and parsing the files.
    pub load_time: Duration,
    /// Time spent running the backtest over the loaded data, and waiting for the hash.
    pub run_time: Duration,
}

/// Formats one end of a time window for a message, or `open` when the window has none.
fn window_end(ms: Option<i64>, open: &str) -> String {
    match ms.and_then(chrono::DateTime::from_timestamp_millis) {
        Some(time) => time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        None => open.to_owned(),
    }
}

/// Error of a run over files.
#[derive(Debug, thiserror::Error)]
pub enum FileRunError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error(transparent)]
    Backtest(#[from] BacktestError),
    #[error(
        "no candles open between {} and {}; choose a window inside the data's time range",
        window_end(*from_ms, "the first candle"),
        window_end(*to_ms, "the last candle")
    )]
    EmptyWindow {
        from_ms: Option<i64>,
        to_ms: Option<i64>,
    },
    #[error("no candle data given")]
    NoCandleData,
    #[error("funding file {0} has no rows; give a funding-rate CSV with data or leave it out")]
    EmptyFunding(PathBuf),
    #[error(
        "funding file {path} has times from {} to {}, none inside the candles' range from {} to \
         {}, so no funding would be charged; give the funding file of the same period",
        format_time(funding.start),
        format_time(funding.end),
        format_time(candles.start),
        format_time(candles.end)
    )]
    FundingOutsideCandles {
        path: PathBuf,
        /// First and last funding time, in milliseconds.
        funding: TimeRange,
        /// First and last candle open time, in milliseconds.
        candles: TimeRange,
    },
}

/// First and last time of a series, in milliseconds since the Unix epoch, both included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeRange {
    pub start: i64,
    pub end: i64,
}

fn format_time(ms: i64) -> String {
    window_end(Some(ms), "")
}

/// Loads the candles and the funding rates, keeps the candles inside the window and runs
/// `spec` over them. The command line, the server's backtest route and a bot actor all run
/// their backtests through this function, so equal inputs give equal trade lists.
///
/// # Errors
/// Fails on unreadable or invalid files, an invalid configuration, or an empty window.
pub fn run_files(
    spec: &RunSpec,
    files: &DataFiles<'_>,
    options: RunOptions<'_>,
) -> Result<FileRun, FileRunError> {
    let started = Instant::now();
    let data = files.candles.ok_or(FileRunError::NoCandleData)?;
    let paths = candle_files(data)?;
    std::thread::scope(|scope| {
        // NOTE: the hash reads the files apart from the parser, so a file rewritten during the
        // run can give a hash of other bytes than those parsed.
        let hashing = files
            .hash_candles
            .then(|| scope.spawn(|| hash_files(&paths)));
        let mut run = run_parsed(spec, files, data, &paths, options, started)?;
        if let Some(hashing) = hashing {
            let hash = hashing
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
            run.data_hash = Some(hash);
            run.run_time = started.elapsed() - run.load_time;
        }
        Ok(run)
    })
}

/// Parses the candle files and the funding file, then runs `spec`; the part of [`run_files`]
/// that goes on beside the hashing.
fn run_parsed(
    spec: &RunSpec,
    files: &DataFiles<'_>,
    data: &Path,
    paths: &[PathBuf],
    options: RunOptions<'_>,
    started: Instant,
) -> Result<FileRun, FileRunError> {
    let all_candles = parse_files(data, paths)?;
    let funding = files.funding.map(load_funding).transpose()?;
    let loaded_at = Instant::now();
    let candles = window(&all_candles, files.from_ms, files.to_ms);
    if candles.is_empty() {
        return Err(FileRunError::EmptyWindow {
            from_ms: files.from_ms,
            to_ms: files.to_ms,
        });
    }
    if let (Some(path), Some(funding)) = (files.funding, &funding) {
        check_funding_range(path, &funding.rates, candles)?;
    }
    let PreparedRun {
        mut strategy,
        gate,
        config,
    } = spec.prepare()?;
    let data = MarketData {
        candles,
        funding: funding.as_ref().map_or(&[], |funding| &funding.rates),
    };
    let report = run(
        data,
        &mut strategy,
        &gate,
        &config,
        &mut DiscardVerdicts,
        options,
    )?;
    Ok(FileRun {
        report,
        data_hash: None,
        funding_hash: funding.map(|funding| funding.data_hash),
        load_time: loaded_at - started,
        run_time: loaded_at.elapsed(),
    })
}

/// Funding interval assumed when the funding file gives none, as Binance's and Bybit's
/// perpetual contracts mostly use.
const DEFAULT_FUNDING_INTERVAL_MS: i64 = 8 * 3_600_000;

/// Rejects funding rates that all lie outside the candles' time range, which would charge
/// nothing, and logs a warning when they cover only part of it.
fn check_funding_range(
    path: &Path,
    rates: &[FundingRate],
    candles: &[Candle],
) -> Result<(), FileRunError> {
    let (Some(first_rate), Some(last_rate)) = (rates.first(), rates.last()) else {
        return Err(FileRunError::EmptyFunding(path.to_path_buf()));
    };
    let (Some(first_bar), Some(last_bar)) = (candles.first(), candles.last()) else {
        return Ok(());
    };
    let funding = TimeRange {
        start: first_rate.time_ms,
        end: last_rate.time_ms,
    };
    let candle_range = TimeRange {
        start: first_bar.open_time_ms,
        end: last_bar.open_time_ms,
    };
    let interval_ms = first_rate
        .interval_hours
        .map_or(DEFAULT_FUNDING_INTERVAL_MS, |hours| {
            i64::from(hours) * 3_600_000
        });
    // The run charges the events from the first bar's open to one bar interval (the mean, as
    // the driver takes it) after the last bar's open.
    let bars = i64::try_from(candles.len()).unwrap_or(i64::MAX);
    let bar_interval_ms = match (candle_range.end - candle_range.start) / (bars - 1).max(1) {
        0 => 60_000,
        interval => interval,
    };
    let charged_from = rates.partition_point(|rate| rate.time_ms < candle_range.start);
    let charged_to =
        rates.partition_point(|rate| rate.time_ms < candle_range.end + bar_interval_ms);
    if charged_from >= charged_to {
        return Err(FileRunError::FundingOutsideCandles {
            path: path.to_path_buf(),
            funding,
            candles: candle_range,
        });
    }
    let uncovered_before = funding.start - candle_range.start > interval_ms;
    let uncovered_after = candle_range.end - funding.end > interval_ms;
    if uncovered_before || uncovered_after {
        tracing::warn!(
            file = %path.display(),
            funding_from = %format_time(funding.start),
            funding_to = %format_time(funding.end),
            candles_from = %format_time(candle_range.start),
            candles_to = %format_time(candle_range.end),
            "funding file covers only part of the candles; bars outside its range pay no funding"
        );
    }
    Ok(())
}

/// Returns the candles opening in `[from_ms, to_ms)`.
pub fn window(candles: &[Candle], from_ms: Option<i64>, to_ms: Option<i64>) -> &[Candle] {
    let start = from_ms.map_or(0, |from| candles.partition_point(|c| c.open_time_ms < from));
    let end = to_ms.map_or(candles.len(), |to| {
        candles.partition_point(|c| c.open_time_ms < to)
    });
    &candles[start..end.max(start)]
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use keyward_events::bot::StrategySpec;
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::backtest::{BacktestConfig, RunSettings};

    /// 2025-09-19T00:00:00Z in milliseconds.
    const START_MS: i64 = 1_758_240_000_000;
    const BAR_MS: i64 = 300_000;
    const HOUR_MS: i64 = 3_600_000;

    fn spec() -> RunSpec {
        let mut params = serde_json::Map::new();
        params.insert("fast".to_owned(), 2.into());
        params.insert("slow".to_owned(), 5.into());
        RunSpec {
            strategy: StrategySpec {
                name: "sma".to_owned(),
                params,
            },
            risk: BacktestConfig::default().risk_config_allowing(2.0),
            symbol: "BTCUSDT".to_owned(),
            settings: RunSettings::default(),
        }
    }

    /// Writes a day of 5-minute candles from [`START_MS`] and returns the file.
    fn kline_file() -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        for index in 0..288 {
            let time = START_MS + index * BAR_MS;
            let close = 100.0 + (index % 7) as f64;
            writeln!(
                file,
                "{time},100,110,90,{close},1,{},,,,,0",
                time + BAR_MS - 1
            )
            .unwrap();
        }
        file
    }

    /// Writes a funding file with one row per time, 8 hours apart from `first_ms`.
    fn funding_file(first_ms: i64, rows: i64) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "calc_time,funding_interval_hours,last_funding_rate").unwrap();
        for index in 0..rows {
            writeln!(file, "{},8,0.0001", first_ms + index * 8 * HOUR_MS).unwrap();
        }
        file
    }

    fn run_with_funding(funding: &Path) -> Result<FileRun, FileRunError> {
        let candles = kline_file();
        let files = DataFiles {
            candles: Some(candles.path()),
            funding: Some(funding),
            ..DataFiles::default()
        };
        run_files(&spec(), &files, RunOptions::default())
    }

    #[test]
    fn funding_outside_candles_is_rejected() {
        let day_ms = 24 * HOUR_MS;
        for first_ms in [START_MS - 10 * day_ms, START_MS + 2 * day_ms] {
            let funding = funding_file(first_ms, 3);
            let err = run_with_funding(funding.path()).unwrap_err();
            assert!(
                matches!(err, FileRunError::FundingOutsideCandles { .. }),
                "{err:?}"
            );
            let message = err.to_string();
            let file_name = funding.path().display().to_string();
            assert!(message.contains(&file_name), "{message}");
            assert!(
                message
                    .contains("candles' range from 2025-09-19T00:00:00Z to 2025-09-19T23:55:00Z"),
                "{message}"
            );
        }
    }

    #[test]
    fn funding_inside_candles_is_accepted() {
        // Covers the whole day, only its start, and only the last bar's interval.
        let cases = [
            (START_MS, 3),
            (START_MS - 16 * HOUR_MS, 3),
            (START_MS + 288 * BAR_MS - 1, 1),
        ];
        for (first_ms, rows) in cases {
            let funding = funding_file(first_ms, rows);
            let run = run_with_funding(funding.path());
            assert!(run.is_ok(), "first {first_ms}: {:?}", run.err());
        }
    }

    #[test]
    fn empty_funding_file_is_rejected() {
        let funding = funding_file(START_MS, 0);
        let err = run_with_funding(funding.path()).unwrap_err();
        assert!(matches!(err, FileRunError::EmptyFunding(_)), "{err:?}");
        assert!(err.to_string().contains("has no rows"), "{err}");
    }

    #[test]
    fn data_hash_is_computed_only_when_asked() {
        let candles = kline_file();
        let mut files = DataFiles {
            candles: Some(candles.path()),
            ..DataFiles::default()
        };
        let unhashed = run_files(&spec(), &files, RunOptions::default()).unwrap();
        assert_eq!(unhashed.data_hash, None);

        files.hash_candles = true;
        let hashed = run_files(&spec(), &files, RunOptions::default()).unwrap();
        let bytes = std::fs::read(candles.path()).unwrap();
        let expected = hex::encode(Sha256::digest(&bytes));
        assert_eq!(hashed.data_hash.as_deref(), Some(expected.as_str()));
        assert_eq!(hashed.report, unhashed.report);
    }
}
