//! Loading candles from kline CSV files and funding rates from funding CSV files for backtests.

use std::path::{Path, PathBuf};

use keyward_events::market::{
    Candle, FundingCsvError, FundingRate, KlineCsvError, KlineParser, parse_funding_rates,
};
use sha2::{Digest, Sha256};

/// Why candles could not be loaded.
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
/// Fails when a file cannot be read or parsed (naming the file and line) or holds no candles.
pub fn load_candles(data: &Path) -> Result<LoadedCandles, DataError> {
    let files = if data.is_dir() {
        csv_files(data)?
    } else {
        vec![data.to_path_buf()]
    };
    let mut hasher = Sha256::new();
    let mut candles: Vec<Candle> = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).map_err(|source| DataError::Read {
            path: file.clone(),
            source,
        })?;
        hasher.update(&bytes);
        let mut parser = match candles.last() {
            Some(last) => KlineParser::continuing_after(last.open_time_ms),
            None => KlineParser::new(),
        };
        parser
            .parse_slice(&bytes, &mut candles)
            .map_err(|source| DataError::Invalid {
                path: file.clone(),
                source,
            })?;
    }
    if candles.is_empty() {
        return Err(DataError::NoCandles(data.to_path_buf()));
    }
    Ok(LoadedCandles {
        candles,
        data_hash: hex::encode(hasher.finalize()),
    })
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
        if is_csv && path.is_file() {
            files.push(path);
        }
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
