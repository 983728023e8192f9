//! Parser of the funding-rate CSV layout of Binance's public data files
//! (`calc_time,funding_interval_hours,last_funding_rate`).

use super::{MAX_TIME_MS, UTF8_BOM, time_to_ms};

/// One funding event of a perpetual contract.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FundingRate {
    /// Funding time in milliseconds since the Unix epoch, as the exchange stamped it (Binance
    /// times carry a few milliseconds of jitter).
    pub time_ms: i64,
    /// Hours between funding events, when the file gives them.
    pub interval_hours: Option<u32>,
    /// Rate per interval as a fraction: `0.0001` is 0.01%. A long position pays
    /// `rate * notional` when it is positive and receives it when it is negative.
    pub rate: f64,
}

/// Column names of the funding CSV layout, in file order.
pub const FUNDING_COLUMNS: [&str; 3] = ["calc_time", "funding_interval_hours", "last_funding_rate"];

/// A funding CSV row or header that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FundingCsvError {
    /// One field is invalid.
    #[error("line {line}, column {column}: {value:?} {problem}")]
    Field {
        /// 1-based line number in the file, counting the header and blank lines.
        line: usize,
        column: &'static str,
        value: String,
        problem: &'static str,
    },
    /// A row does not have the 3 columns of the layout.
    #[error("line {line}: expected 3 columns, found {found}")]
    ColumnCount { line: usize, found: usize },
    /// The first line is a header, but not the funding header.
    #[error("line {line}: header {found:?} is not {expected:?}; is this a funding-rate CSV?")]
    Header {
        line: usize,
        found: String,
        expected: String,
    },
}

/// Parses a whole funding-rate CSV held in memory.
///
/// The header row is optional. The interval column may be empty. Times may be seconds,
/// milliseconds or microseconds (see [`time_to_ms`]) and must ascend strictly; blank lines are
/// skipped.
///
/// # Errors
/// Returns the first broken row or header, with its 1-based line number.
pub fn parse_funding_rates(input: &[u8]) -> Result<Vec<FundingRate>, FundingCsvError> {
    let input = input.strip_prefix(UTF8_BOM).unwrap_or(input);
    let mut rates: Vec<FundingRate> = Vec::new();
    for (index, line) in input.split(|&byte| byte == b'\n').enumerate() {
        let number = index + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.trim_ascii().is_empty() {
            continue;
        }
        let fields: Vec<&[u8]> = line.split(|&byte| byte == b',').collect();
        let [time, interval, rate] = fields[..] else {
            return Err(FundingCsvError::ColumnCount {
                line: number,
                found: fields.len(),
            });
        };
        let is_header = time
            .trim_ascii()
            .first()
            .is_some_and(u8::is_ascii_alphabetic);
        if is_header && rates.is_empty() {
            check_header(number, line)?;
            continue;
        }
        let row = Row { line: number };
        let parsed = FundingRate {
            time_ms: row.time(time)?,
            interval_hours: row.interval(interval)?,
            rate: row.rate(rate)?,
        };
        if rates
            .last()
            .is_some_and(|last| parsed.time_ms <= last.time_ms)
        {
            let problem = "is not after the previous row's calc_time; rows must be in ascending \
                           time order";
            return Err(row.error(0, time, problem));
        }
        rates.push(parsed);
    }
    Ok(rates)
}

fn check_header(line: usize, text: &[u8]) -> Result<(), FundingCsvError> {
    let found: Vec<String> = text
        .split(|&byte| byte == b',')
        .map(|field| String::from_utf8_lossy(field.trim_ascii()).to_ascii_lowercase())
        .collect();
    if found == FUNDING_COLUMNS {
        return Ok(());
    }
    Err(FundingCsvError::Header {
        line,
        found: String::from_utf8_lossy(text).into_owned(),
        expected: FUNDING_COLUMNS.join(","),
    })
}

/// Reads the fields of one data row; errors carry its line number.
struct Row {
    line: usize,
}

impl Row {
    fn time(&self, field: &[u8]) -> Result<i64, FundingCsvError> {
        let value = text(field)
            .and_then(|text| text.parse::<i64>().ok())
            .ok_or_else(|| self.error(0, field, "is not an integer"))?;
        let millis = time_to_ms(value);
        if !(0..=MAX_TIME_MS).contains(&millis) {
            return Err(self.error(0, field, "is not a time from 1970 to 9999"));
        }
        Ok(millis)
    }

    fn interval(&self, field: &[u8]) -> Result<Option<u32>, FundingCsvError> {
        if field.trim_ascii().is_empty() {
            return Ok(None);
        }
        text(field)
            .and_then(|text| text.parse::<u32>().ok())
            .filter(|hours| *hours > 0)
            .map(Some)
            .ok_or_else(|| self.error(1, field, "is not a positive whole number of hours"))
    }

    fn rate(&self, field: &[u8]) -> Result<f64, FundingCsvError> {
        text(field)
            .and_then(|text| text.parse::<f64>().ok())
            .filter(|rate| rate.is_finite() && rate.abs() < 1.0)
            .ok_or_else(|| self.error(2, field, "is not a rate between -1 and 1"))
    }

    fn error(&self, index: usize, field: &[u8], problem: &'static str) -> FundingCsvError {
        FundingCsvError::Field {
            line: self.line,
            column: FUNDING_COLUMNS[index],
            value: String::from_utf8_lossy(field).into_owned(),
            problem,
        }
    }
}

fn text(field: &[u8]) -> Option<&str> {
    std::str::from_utf8(field.trim_ascii()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "calc_time,funding_interval_hours,last_funding_rate";

    #[test]
    fn rows_are_parsed() {
        let text = format!("{HEADER}\n1758240000000,8,-0.00000231\r\n\n1758268800005,,0.0001\n");
        let rates = parse_funding_rates(text.as_bytes()).unwrap();
        let expected = [
            FundingRate {
                time_ms: 1_758_240_000_000,
                interval_hours: Some(8),
                rate: -0.000_002_31,
            },
            FundingRate {
                time_ms: 1_758_268_800_005,
                interval_hours: None,
                rate: 0.0001,
            },
        ];
        assert_eq!(rates, expected);
    }

    #[test]
    fn second_and_microsecond_times_become_milliseconds() {
        let text = "1758240000,8,0.0001\n1758268800000000,8,0.0001\n";
        let rates = parse_funding_rates(text.as_bytes()).unwrap();
        let times: Vec<i64> = rates.iter().map(|rate| rate.time_ms).collect();
        assert_eq!(times, [1_758_240_000_000, 1_758_268_800_000]);
    }

    #[test]
    fn broken_rows_name_line_and_column() {
        let cases = [
            ("1758240000000,8", "line 1: expected 3 columns, found 2"),
            ("x1,8,0.1", "line 1: header"),
            (
                "175824000000.5,8,0.1",
                r#"column calc_time: "175824000000.5" is not an integer"#,
            ),
            (
                "1758240000000,0,0.1",
                "column funding_interval_hours: \"0\"",
            ),
            (
                "1758240000000,8,abc",
                r#"column last_funding_rate: "abc" is not a rate"#,
            ),
            (
                "1758240000000,8,2",
                r#"column last_funding_rate: "2" is not a rate"#,
            ),
            (
                "1758240000000,8,0.1\n1758240000000,8,0.1",
                "line 2, column calc_time: \"1758240000000\" is not after",
            ),
        ];
        for (text, expected) in cases {
            let message = parse_funding_rates(text.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(message.contains(expected), "{text:?}: {message:?}");
        }
    }

    #[test]
    fn real_funding_files_parse() {
        let files = [
            (
                "data/market/binance_um_BTCUSDT_funding_2025-09-19_2025-10-27.csv",
                115,
            ),
            (
                "data/market/bybit_linear_ETHUSDT_funding_2024-05-01_2024-08-09.csv",
                300,
            ),
        ];
        for (relative, expected) in files {
            let Some(text) = keyward_testkit::read_shared(relative) else {
                return;
            };
            let rates = parse_funding_rates(text.as_bytes()).unwrap();
            assert_eq!(rates.len(), expected, "{relative}");
            assert!(rates.iter().all(|rate| rate.interval_hours == Some(8)));
        }
    }
}
