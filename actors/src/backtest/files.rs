//! Backtests over files: loading the candles and the funding rates, checking that they fit
//! together, and running a bot configuration over them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use keyward_events::market::{Candle, FundingRate};

use super::data::{
    PARALLEL_FROM_BYTES, PieceOrder, PieceParser, PieceShelf, candle_files, hash_files,
    piece_ranges,
};
use super::{
    BacktestError, BacktestReport, BarRun, DataError, DiscardVerdicts, PreparedRun, RunOptions,
    RunSpec, SetupError, VerdictSink, load_funding,
};
use crate::strategy::Strategy;

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
    /// Time the longest-running reading thread spent parsing candle files beside the run.
    pub load_time: Duration,
    /// Time from the first piece to the report, which includes the pieces the run's thread
    /// parsed itself, plus the wait for the hash.
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

/// Reads the candles and the funding rates, keeps the candles inside the window and runs
/// `spec` over them. The command line, the server's backtest route and a bot actor all run
/// their backtests through this function, so equal inputs give equal trade lists.
///
/// The files are parsed in pieces on all cores while the run goes on over the pieces already
/// parsed, so reading and running overlap and the whole series is never in memory at once.
///
/// # Errors
/// Fails on unreadable or invalid files, an invalid configuration, or an empty window.
pub fn run_files(
    spec: &RunSpec,
    files: &DataFiles<'_>,
    options: RunOptions<'_>,
) -> Result<FileRun, FileRunError> {
    let data = files.candles.ok_or(FileRunError::NoCandleData)?;
    let paths = candle_files(data)?;
    std::thread::scope(|scope| {
        // NOTE: the hash reads the files apart from the parser, so a file rewritten during the
        // run can give a hash of other bytes than those parsed.
        let hashing = files
            .hash_candles
            .then(|| scope.spawn(|| hash_files(&paths)));
        let mut run = run_streamed(spec, files, data, &paths, options)?;
        if let Some(hashing) = hashing {
            let waiting_started = Instant::now();
            let hash = hashing
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
            run.data_hash = Some(hash);
            run.run_time += waiting_started.elapsed();
        }
        Ok(run)
    })
}

/// Returns how many threads beside the run read `paths`: one per core but the run's for large
/// files, at most three, and none for small ones, which the run's thread reads itself.
fn reader_count(paths: &[PathBuf]) -> usize {
    let bytes: u64 = paths
        .iter()
        .filter_map(|path| std::fs::metadata(path).ok())
        .map(|metadata| metadata.len())
        .sum();
    if bytes < PARALLEL_FROM_BYTES {
        return 0;
    }
    std::thread::available_parallelism().map_or(1, |cores| cores.get().clamp(2, 4) - 1)
}

/// Reads the candle files in 256 KiB pieces and runs `spec` over the candles as the pieces
/// arrive. [`run_files`] calls it beside the hashing.
///
/// Reading threads parse pieces ahead of the run, and the run's thread parses the piece it
/// needs itself when none is ready. Only a few pieces are parsed ahead, so the whole series is
/// never in memory at once.
fn run_streamed(
    spec: &RunSpec,
    files: &DataFiles<'_>,
    data: &Path,
    paths: &[PathBuf],
    options: RunOptions<'_>,
) -> Result<FileRun, FileRunError> {
    let PreparedRun {
        mut strategy,
        gate,
        config,
    } = spec.prepare()?;
    let funding = files.funding.map(load_funding).transpose()?;
    let rates = funding
        .as_ref()
        .map_or(&[][..], |funding| &funding.rates[..]);
    let mut sink = DiscardVerdicts;
    let mut bars = BarRun::new(&mut strategy, &gate, &config, rates, &mut sink, options)?;
    let ranges = piece_ranges(paths)?;
    let shelf = PieceShelf::new(paths, &ranges);

    let run_started = Instant::now();
    let load_time = std::thread::scope(|scope| {
        let reading: Vec<_> = (0..reader_count(paths))
            .map(|_| {
                scope.spawn(|| {
                    let reading_started = Instant::now();
                    shelf.read();
                    reading_started.elapsed()
                })
            })
            .collect();
        // Stops the readers however the run ends, a panic included, so that the scope's join
        // cannot wait for a reader that waits for the run.
        let stopper = StopReading(&shelf);
        let result = take_pieces(&shelf, paths, files, &mut bars);
        drop(stopper);
        let mut load_time = Duration::ZERO;
        for reader in reading {
            let elapsed = reader
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            load_time = load_time.max(elapsed);
        }
        result.map(|()| load_time)
    })?;

    let Some((first_ms, last_ms)) = bars.time_range() else {
        if files.from_ms.is_some() || files.to_ms.is_some() {
            return Err(FileRunError::EmptyWindow {
                from_ms: files.from_ms,
                to_ms: files.to_ms,
            });
        }
        return Err(DataError::NoCandles(data.to_path_buf()).into());
    };
    if let (Some(path), Some(funding)) = (files.funding, &funding) {
        let candles = TimeRange {
            start: first_ms,
            end: last_ms,
        };
        check_funding_range(path, &funding.rates, candles, bars.candles())?;
    }
    let report = bars.finish()?;
    let run_time = run_started.elapsed();
    Ok(FileRun {
        report,
        data_hash: None,
        funding_hash: funding.map(|funding| funding.data_hash),
        load_time,
        run_time,
    })
}

/// Stops the reading threads of a shelf when dropped.
struct StopReading<'a, 'b>(&'a PieceShelf<'b>);

impl Drop for StopReading<'_, '_> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Feeds the pieces on `shelf` to `bars` in order, keeping the candles inside the window.
fn take_pieces<S: Strategy, V: VerdictSink>(
    shelf: &PieceShelf<'_>,
    paths: &[PathBuf],
    files: &DataFiles<'_>,
    bars: &mut BarRun<'_, '_, S, V>,
) -> Result<(), FileRunError> {
    let mut order = PieceOrder::new(paths);
    let mut parser = PieceParser::default();
    while let Some(piece) = shelf.next(&mut parser) {
        let piece = order.accept(piece)?;
        for candle in window(&piece.candles, files.from_ms, files.to_ms) {
            bars.push(candle);
        }
        let past_window = files.to_ms.is_some_and(|to| {
            piece
                .candles
                .last()
                .is_some_and(|last| last.open_time_ms >= to)
        });
        shelf.give_back(piece.candles);
        if past_window {
            break;
        }
    }
    Ok(())
}

/// Funding interval assumed when the funding file gives none, as Binance's and Bybit's
/// perpetual contracts mostly use.
const DEFAULT_FUNDING_INTERVAL_MS: i64 = 8 * 3_600_000;

/// Rejects funding rates that all lie outside the candles' time range, which would charge
/// nothing, and logs a warning when they cover only part of it.
fn check_funding_range(
    path: &Path,
    rates: &[FundingRate],
    candle_range: TimeRange,
    bars: usize,
) -> Result<(), FileRunError> {
    let (Some(first_rate), Some(last_rate)) = (rates.first(), rates.last()) else {
        return Err(FileRunError::EmptyFunding(path.to_path_buf()));
    };
    let funding = TimeRange {
        start: first_rate.time_ms,
        end: last_rate.time_ms,
    };
    let interval_ms = first_rate
        .interval_hours
        .map_or(DEFAULT_FUNDING_INTERVAL_MS, |hours| {
            i64::from(hours) * 3_600_000
        });
    // The run charges the events from the first bar's open to one bar interval (the mean, as
    // the driver takes it) after the last bar's open.
    let bars = i64::try_from(bars).unwrap_or(i64::MAX);
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

    use sha2::{Digest, Sha256};

    use super::*;

    /// 2025-09-19T00:00:00Z in milliseconds.
    const START_MS: i64 = 1_758_240_000_000;
    const BAR_MS: i64 = 300_000;
    const HOUR_MS: i64 = 3_600_000;

    fn spec() -> RunSpec {
        crate::backtest::tests::sma_spec(2, 5)
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

    /// Writes `rows` 5-minute candles from [`START_MS`] on a random walk. The row at
    /// `broken_row` gets a close that is not a number.
    fn long_kline_file(rows: usize, broken_row: Option<usize>) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut close = 60_000.0_f64;
        for index in 0..rows {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let open = close;
            close = ((open * (1.0 + ((state % 2001) as f64 / 1000.0 - 1.0) * 0.004)) * 10.0)
                .round()
                / 10.0;
            let time = START_MS + index as i64 * BAR_MS;
            let high = open.max(close) + 5.0;
            let low = open.min(close) - 5.0;
            let close_text = if broken_row == Some(index) {
                "12x".to_owned()
            } else {
                format!("{close:.1}")
            };
            writeln!(
                file,
                "{time},{open:.1},{high:.1},{low:.1},{close_text},3.5,{},,,,,0",
                time + BAR_MS - 1
            )
            .unwrap();
        }
        file
    }

    /// Runs `spec` over candles already in memory, as a sweep does.
    fn run_in_memory(candles: &[Candle]) -> BacktestReport {
        let PreparedRun {
            mut strategy,
            gate,
            config,
        } = spec().prepare().unwrap();
        let data = super::super::MarketData {
            candles,
            funding: &[],
        };
        super::super::run(
            data,
            &mut strategy,
            &gate,
            &config,
            &mut DiscardVerdicts,
            RunOptions::default(),
        )
        .unwrap()
    }

    #[test]
    fn streamed_run_equals_loaded_run() {
        let file = long_kline_file(40_000, None);
        assert!(std::fs::metadata(file.path()).unwrap().len() > 8 * 256 * 1024);
        let candles = super::super::load_candles(file.path()).unwrap().candles;
        let files = DataFiles {
            candles: Some(file.path()),
            ..DataFiles::default()
        };
        let streamed = run_files(&spec(), &files, RunOptions::default()).unwrap();
        assert_eq!(streamed.report.bars, 40_000);
        assert!(streamed.report.trades > 100, "{}", streamed.report.trades);
        assert_eq!(streamed.report, run_in_memory(&candles));

        // A window that ends long before the data stops the reading early.
        let from_ms = Some(START_MS + 1_000 * BAR_MS);
        let to_ms = Some(START_MS + 9_000 * BAR_MS);
        let windowed = DataFiles {
            from_ms,
            to_ms,
            ..files
        };
        let streamed = run_files(&spec(), &windowed, RunOptions::default()).unwrap();
        assert_eq!(streamed.report.bars, 8_000);
        assert_eq!(
            streamed.report,
            run_in_memory(window(&candles, from_ms, to_ms))
        );
    }

    #[test]
    fn folder_streams_as_one_series() {
        let whole = long_kline_file(30_000, None);
        let text = std::fs::read_to_string(whole.path()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let folder = tempfile::tempdir().unwrap();
        for (part, rows) in lines.chunks(11_000).enumerate() {
            let path = folder.path().join(format!("part-{part}.csv"));
            std::fs::write(path, rows.join("\n") + "\n").unwrap();
        }
        let run_over = |data: &Path| {
            let files = DataFiles {
                candles: Some(data),
                hash_candles: true,
                ..DataFiles::default()
            };
            run_files(&spec(), &files, RunOptions::default()).unwrap()
        };
        let from_folder = run_over(folder.path());
        let from_file = run_over(whole.path());
        assert_eq!(from_folder.report, from_file.report);
        // The folder's hash covers the same bytes in the same order.
        assert_eq!(from_folder.data_hash, from_file.data_hash);
    }

    #[test]
    fn late_invalid_row_names_line() {
        let file = long_kline_file(40_000, Some(31_234));
        let files = DataFiles {
            candles: Some(file.path()),
            ..DataFiles::default()
        };
        let err = run_files(&spec(), &files, RunOptions::default()).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, FileRunError::Data(DataError::Invalid { .. })),
            "{err:?}"
        );
        assert!(message.contains("line 31235, column close"), "{message}");
        assert!(
            message.contains(&file.path().display().to_string()),
            "{message}"
        );
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
