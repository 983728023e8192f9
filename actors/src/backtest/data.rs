//! Loading candles from kline CSV files and funding rates from funding CSV files for backtests.

use std::path::{Path, PathBuf};

use keyward_events::market::{
    Candle, FieldProblem, FundingCsvError, FundingRate, KlineCsvError, KlineParser,
    parse_funding_rates,
};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

/// Error of loading candles or funding rates.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("failed to read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid kline data in {path}: {source}")]
    Invalid {
        path: PathBuf,
        #[source]
        source: KlineCsvError,
    },
    #[error("invalid funding data in {path}: {source}")]
    InvalidFunding {
        path: PathBuf,
        #[source]
        source: FundingCsvError,
    },
    #[error("no *.csv files in data folder {0}")]
    EmptyFolder(PathBuf),
    #[error("no candles in {0}")]
    NoCandles(PathBuf),
    #[error("{0} is not a regular file or folder; give a kline CSV file or a folder of them")]
    NotAFile(PathBuf),
    #[error("{0} is a *.csv entry that is not a readable file (a broken link?); remove or fix it")]
    NotReadable(PathBuf),
}

/// Candles loaded from one file or a folder, with the SHA-256 of the bytes read.
pub struct LoadedCandles {
    pub candles: Vec<Candle>,
    /// Hex SHA-256 over every file's bytes in the order read.
    pub data_hash: String,
}

/// Loads a kline CSV file, or every `*.csv` of a folder in name order as one series.
///
/// # Errors
/// Fails when a file cannot be read or parsed (naming the file and line) or has no candles.
pub fn load_candles(data: &Path) -> Result<LoadedCandles, DataError> {
    let files = if data.is_dir() {
        csv_files(data)?
    } else if data.is_file() || !data.exists() {
        // A missing path is reported by the read below, with the OS's reason.
        vec![data.to_path_buf()]
    } else {
        return Err(DataError::NotAFile(data.to_path_buf()));
    };
    let mut hasher = Sha256::new();
    let mut candles: Vec<Candle> = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).map_err(|source| DataError::Read {
            path: file.clone(),
            source,
        })?;
        let previous = candles.last().map(|last| last.open_time_ms);
        let (_, parsed) = rayon::join(
            || hasher.update(&bytes),
            || parse_in_parts(&bytes, previous),
        );
        let parsed = parsed.map_err(|source| DataError::Invalid {
            path: file.clone(),
            source,
        })?;
        if candles.is_empty() {
            candles = parsed;
        } else {
            candles.extend_from_slice(&parsed);
        }
    }
    if candles.is_empty() {
        return Err(DataError::NoCandles(data.to_path_buf()));
    }
    Ok(LoadedCandles {
        candles,
        data_hash: hex::encode(hasher.finalize()),
    })
}

/// Files smaller than this are parsed on one thread.
const PARALLEL_FROM_BYTES: usize = 1 << 20;

/// Parses a kline file on all cores: the bytes are split at line ends into one part per
/// thread, the parts are parsed apart, and the time order is checked where they meet. Errors
/// carry the line number within the whole file. `previous` is the last open time of the file
/// before, for a folder read as one series.
fn parse_in_parts(bytes: &[u8], previous: Option<i64>) -> Result<Vec<Candle>, KlineCsvError> {
    let parts = split_at_lines(bytes, rayon::current_num_threads());
    let results: Vec<(KlineParser, Result<Vec<Candle>, KlineCsvError>)> = parts
        .par_iter()
        .enumerate()
        .map(|(index, part)| {
            let mut parser = match (index, previous) {
                (0, Some(previous)) => KlineParser::continuing_after(previous),
                (0, None) => KlineParser::new(),
                _ => KlineParser::for_later_part(),
            };
            let mut candles = Vec::new();
            let result = parser.parse_slice(part, &mut candles).map(|()| candles);
            (parser, result)
        })
        .collect();

    let mut candles: Vec<Candle> = Vec::with_capacity(bytes.len() / 64);
    let mut line_offset = 0;
    for (parser, result) in results {
        let part = result.map_err(|err| err.with_line_offset(line_offset))?;
        let last = candles.last().map(|candle| candle.open_time_ms);
        if let (Some(last), Some(first)) = (last, part.first())
            && first.open_time_ms <= last
        {
            let line = parser.first_row_line().unwrap_or(1) + line_offset;
            return Err(out_of_order(line, first.open_time_ms, last));
        }
        candles.extend_from_slice(&part);
        line_offset += parser.lines();
    }
    Ok(candles)
}

/// Splits `bytes` into up to `parts` slices that each end at a line end (or the input's end).
/// The split consumes the `\n`, so each part's lines are counted as in the whole file.
fn split_at_lines(bytes: &[u8], parts: usize) -> Vec<&[u8]> {
    if bytes.len() < PARALLEL_FROM_BYTES || parts < 2 {
        return vec![bytes];
    }
    let mut slices = Vec::with_capacity(parts);
    let mut rest = bytes;
    let target = bytes.len() / parts;
    while slices.len() + 1 < parts && rest.len() > target {
        let Some(newline) = rest[target..].iter().position(|&byte| byte == b'\n') else {
            break;
        };
        let end = target + newline;
        slices.push(&rest[..end]);
        rest = &rest[end + 1..];
    }
    slices.push(rest);
    slices
}

fn out_of_order(line: usize, open_time_ms: i64, previous: i64) -> KlineCsvError {
    KlineCsvError::Field {
        line,
        column: "open_time",
        value: open_time_ms.to_string(),
        problem: FieldProblem::NotAfterPrevious(previous),
    }
}

fn csv_files(folder: &Path) -> Result<Vec<PathBuf>, DataError> {
    let read_error = |source| DataError::Read {
        path: folder.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(folder).map_err(read_error)? {
        let path = entry.map_err(read_error)?.path();
        let is_csv = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("csv"));
        if !is_csv {
            continue;
        }
        if !path.is_file() {
            return Err(DataError::NotReadable(path));
        }
        files.push(path);
    }
    if files.is_empty() {
        return Err(DataError::EmptyFolder(folder.to_path_buf()));
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

/// Funding rates loaded from one file, with the SHA-256 of its bytes.
pub struct LoadedFunding {
    pub rates: Vec<FundingRate>,
    /// Hex SHA-256 of the file's bytes.
    pub data_hash: String,
}

/// Loads a funding-rate CSV file.
///
/// # Errors
/// Fails when the file cannot be read or parsed, naming the file and line.
pub fn load_funding(path: &Path) -> Result<LoadedFunding, DataError> {
    if path.exists() && !path.is_file() {
        return Err(DataError::NotAFile(path.to_path_buf()));
    }
    let bytes = std::fs::read(path).map_err(|source| DataError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let rates = parse_funding_rates(&bytes).map_err(|source| DataError::InvalidFunding {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(LoadedFunding {
        rates,
        data_hash: hex::encode(Sha256::digest(&bytes)),
    })
}

#[cfg(test)]
mod tests {
    use keyward_events::market::parse_klines;

    use super::*;

    const HEADER: &str = "open_time,open,high,low,close,volume,close_time,quote_volume,count,\
                          taker_buy_volume,taker_buy_quote_volume,ignore";

    /// Builds a file of `rows` 5-minute candles; from 14,000 rows it is parsed in parts.
    fn kline_file(rows: usize) -> String {
        let mut text = format!("{HEADER}\r\n");
        for index in 0..rows {
            let time = 1_758_240_000_000_i64 + index as i64 * 300_000;
            let price = 60_000.0 + (index % 1000) as f64 / 10.0;
            text.push_str(&format!(
                "{time},{price:.1},{:.1},{:.1},{price:.1},1.5,{},,,,,0\r\n",
                price + 1.0,
                price - 1.0,
                time + 299_999
            ));
        }
        text
    }

    #[test]
    fn parts_join_into_the_whole_file() {
        let text = kline_file(30_000);
        assert!(text.len() > 2 * PARALLEL_FROM_BYTES);
        let whole = parse_klines(text.as_bytes()).unwrap();
        for parts in [2, 3, 7] {
            let slices = split_at_lines(text.as_bytes(), parts);
            assert_eq!(slices.len(), parts);
            let lines: usize = slices
                .iter()
                .map(|part| part.split(|&b| b == b'\n').count())
                .sum();
            assert_eq!(lines, text.split('\n').count(), "{parts} parts");
        }
        assert_eq!(parse_in_parts(text.as_bytes(), None).unwrap(), whole);
    }

    #[test]
    fn errors_in_later_parts_name_the_file_line() {
        let text = kline_file(30_000);
        let mut lines: Vec<&str> = text.split('\n').collect();
        let broken = lines[25_000].replacen(",1.5,", ",lots,", 1);
        lines[25_000] = &broken;
        let err = parse_in_parts(lines.join("\n").as_bytes(), None).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("line 25001, column volume: \"lots\""),
            "{err}"
        );

        let text = kline_file(30_000);
        let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
        let middle = text.len() / 2;
        let mut offset = 0;
        let boundary = lines
            .iter()
            .position(|line| {
                offset += line.len() + 1;
                offset > middle
            })
            .unwrap()
            + 1;
        lines[boundary] = lines[boundary - 2].clone();
        let err = parse_in_parts(lines.join("\n").as_bytes(), None).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("line {}, column open_time", boundary + 1)),
            "{message}"
        );
        assert!(message.contains("ascending time order"), "{message}");
    }

    #[test]
    fn later_part_rejects_a_second_header() {
        let mut text = kline_file(30_000);
        text.push_str(HEADER);
        text.push('\n');
        let err = parse_in_parts(text.as_bytes(), None).unwrap_err();
        assert!(
            err.to_string().starts_with("line 30002, column open_time"),
            "{err}"
        );
    }
}
