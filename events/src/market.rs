//! Market data shared by backtests, paper trading and the emulator's price feed, and the parsers
//! of the Binance kline and funding-rate CSV layouts it is read from.
//!
//! The parser works on bytes that the caller has already read, so this crate stays free of I/O.
//! It walks each line once, splits fields in place and allocates only for the output vector and
//! for an error.

mod funding;
mod number;
mod row;

use std::fmt;
use std::io::BufRead;

pub use funding::{FUNDING_COLUMNS, FundingCsvError, FundingRate, parse_funding_rates};

/// One candle (kline) of the Binance kline CSV layout.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candle {
    /// Open time in milliseconds since the Unix epoch.
    pub open_time_ms: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

/// Column names of the Binance kline CSV layout, in file order.
pub const KLINE_COLUMNS: [&str; 12] = [
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
];

/// Largest accepted time, 9999-12-31T23:59:59.999Z in milliseconds, so that every parsed time
/// converts to a calendar date.
pub const MAX_TIME_MS: i64 = 253_402_300_799_999;

/// Times at or above this value have 16 or more digits and are read as microseconds (Binance
/// spot files since 2025). A millisecond time this large would lie after the year 33000.
const MICROSECONDS_FROM: i64 = 1_000_000_000_000_000;

/// Times with 10 or 11 digits, from 2001-09-09 to the year 5138 in seconds, are read as
/// seconds. As milliseconds they would lie between 1970-01-12 and 1973-03-03, before any
/// market data that these files contain.
const SECONDS: std::ops::Range<i64> = 1_000_000_000..100_000_000_000;

/// Times at or above this value have 17 or more digits. No unit gives them a date that market
/// data can have: as microseconds they lie after the year 2286, and nanoseconds would need 19
/// digits to fall after 2001.
const TOO_MANY_DIGITS_FROM: i64 = 10_000_000_000_000_000;

/// Converts a time of a market data file to milliseconds, detecting the unit from its size:
/// seconds (10 or 11 digits), milliseconds (12 to 15 digits, and 9 digits or fewer), or
/// microseconds (16 digits). A time of 17 digits or more returns `i64::MAX`, which every
/// reader rejects as after the year 9999, with the accepted units in the message.
pub fn time_to_ms(value: i64) -> i64 {
    if value >= TOO_MANY_DIGITS_FROM {
        i64::MAX
    } else if value >= MICROSECONDS_FROM {
        value / 1000
    } else if SECONDS.contains(&value) {
        value * 1000
    } else {
        value
    }
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// A kline CSV row or header that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KlineCsvError {
    /// One field is invalid.
    #[error("line {line}, column {column}: {value:?} {problem}")]
    Field {
        /// 1-based line number in the file, counting the header and blank lines.
        line: usize,
        column: &'static str,
        value: String,
        problem: FieldProblem,
    },
    /// A row does not have the 12 columns of the layout.
    #[error("line {line}: expected {} columns, found {found}", KLINE_COLUMNS.len())]
    ColumnCount { line: usize, found: usize },
    /// The first line is a header, but not the kline header.
    #[error(
        "line {line}: header column {position} is {found:?}, expected {expected:?}; \
         is this a kline CSV?"
    )]
    Header {
        line: usize,
        /// 1-based column position.
        position: usize,
        found: String,
        expected: &'static str,
    },
    /// The reader failed.
    #[error("line {line}: read failed: {source}")]
    Read {
        line: usize,
        #[source]
        source: std::io::Error,
    },
}

/// Problem found in one field of a kline row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FieldProblem {
    NotANumber,
    NotAnInteger,
    /// A price that is zero or negative.
    NotPositive,
    Negative,
    /// A time after [`MAX_TIME_MS`].
    TimeOutOfRange,
    /// An open time at or before the previous row's open time, given here in milliseconds.
    NotAfterPrevious(i64),
    /// A close time before the row's own open time.
    BeforeOpenTime,
    /// A high below another price of the row (named, with its value).
    BelowPrice(&'static str, f64),
    /// A low above another price of the row (named, with its value).
    AbovePrice(&'static str, f64),
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotANumber => f.write_str("is not a number"),
            Self::NotAnInteger => f.write_str("is not an integer"),
            Self::NotPositive => f.write_str("is not a positive price"),
            Self::Negative => f.write_str("is negative"),
            Self::TimeOutOfRange => f.write_str(
                "is after the year 9999; times must be seconds (10 or 11 digits), milliseconds \
                 (12 to 15 digits) or microseconds (16 digits), not nanoseconds",
            ),
            Self::NotAfterPrevious(previous) => write!(
                f,
                "is not after the previous row's open_time ({previous} ms); rows must be in \
                 ascending time order"
            ),
            Self::BeforeOpenTime => f.write_str("is before the row's open_time"),
            Self::BelowPrice(name, value) => write!(f, "is below the row's {name} ({value})"),
            Self::AbovePrice(name, value) => write!(f, "is above the row's {name} ({value})"),
        }
    }
}

/// Parses a whole kline CSV held in memory.
///
/// # Errors
/// Returns the first broken row or header, with its 1-based line number.
pub fn parse_klines(input: &[u8]) -> Result<Vec<Candle>, KlineCsvError> {
    let mut candles = Vec::new();
    KlineParser::new().parse_slice(input, &mut candles)?;
    Ok(candles)
}

/// Reads a whole kline CSV from a buffered reader.
///
/// # Errors
/// As [`parse_klines`], and [`KlineCsvError::Read`] when the reader fails.
pub fn read_klines(reader: impl BufRead) -> Result<Vec<Candle>, KlineCsvError> {
    let mut candles = Vec::new();
    KlineParser::new().parse_reader(reader, &mut candles)?;
    Ok(candles)
}

impl KlineCsvError {
    /// Adds `offset` to the line number, for an error found in a part of a file that starts
    /// after line `offset`.
    pub fn with_line_offset(self, offset: usize) -> Self {
        match self {
            Self::Field {
                line,
                column,
                value,
                problem,
            } => Self::Field {
                line: line + offset,
                column,
                value,
                problem,
            },
            Self::ColumnCount { line, found } => Self::ColumnCount {
                line: line + offset,
                found,
            },
            Self::Header {
                line,
                position,
                found,
                expected,
            } => Self::Header {
                line: line + offset,
                position,
                found,
                expected,
            },
            Self::Read { line, source } => Self::Read {
                line: line + offset,
                source,
            },
        }
    }
}

/// Incremental parser of the Binance kline CSV layout.
///
/// The header row is optional (Binance spot files have none) and is recognised by a first field
/// that starts with a letter. Columns 8 to 11 may be empty. Open and close times may be
/// seconds, milliseconds or microseconds, distinguished by [`time_to_ms`], and are stored as
/// milliseconds. Rows must be in strictly ascending open time order. Blank lines are skipped.
#[derive(Clone, Debug, Default)]
pub struct KlineParser {
    /// Lines consumed so far.
    line: usize,
    /// Whether a header or a row has been seen, after which no header may follow.
    started: bool,
    previous_open_time_ms: Option<i64>,
    /// Line of the first data row, once seen.
    first_row_line: Option<usize>,
}

impl KlineParser {
    /// Creates a parser for one file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates a parser for a file that continues another one: its first row must open after
    /// `open_time_ms`, the last open time of the previous file.
    pub fn continuing_after(open_time_ms: i64) -> Self {
        Self {
            previous_open_time_ms: Some(open_time_ms),
            ..Self::default()
        }
    }

    /// Creates a parser for a part of a file that starts after its first line, so that a
    /// header there is an error. Parts are parsed apart and joined by the caller, which checks
    /// the time order where they meet and adds each part's line offset to its errors.
    pub fn for_later_part() -> Self {
        Self {
            started: true,
            ..Self::default()
        }
    }

    /// Returns the number of lines consumed so far.
    pub fn lines(&self) -> usize {
        self.line
    }

    /// Returns the line number of the first data row, once one has been parsed.
    pub fn first_row_line(&self) -> Option<usize> {
        self.first_row_line
    }

    /// Parses `input` and appends its candles to `out`. A line end at the end of `input` is
    /// followed by one more, empty line, as when the text is split at each `\n`.
    ///
    /// # Errors
    /// Returns the first broken row or header. `out` then contains the candles before it.
    pub fn parse_slice(
        &mut self,
        input: &[u8],
        out: &mut Vec<Candle>,
    ) -> Result<(), KlineCsvError> {
        // Rows are longer than 64 bytes unless most columns are empty, so this rarely regrows.
        out.reserve(input.len() / 64);
        self.parse_lines(input, out)?;
        if input.last().is_none_or(|&byte| byte == b'\n') {
            self.parse_line(b"")?;
        }
        Ok(())
    }

    /// Parses whole lines and appends their candles to `out`. Each line of `input` ends with
    /// `\n`, except a last line without one at the end of a file. So a file can be fed in
    /// pieces that end at line ends, and the lines are counted as in the whole file.
    ///
    /// # Errors
    /// Returns the first broken row or header. `out` then contains the candles before it.
    pub fn parse_lines(
        &mut self,
        input: &[u8],
        out: &mut Vec<Candle>,
    ) -> Result<(), KlineCsvError> {
        let mut rest = input;
        if self.line == 0 && !self.started {
            rest = rest.strip_prefix(UTF8_BOM).unwrap_or(rest);
        }
        while !rest.is_empty() {
            if let Some((candle, used)) = self.common_row(rest) {
                out.push(candle);
                rest = &rest[used..];
                continue;
            }
            let (line, next) = match rest.iter().position(|&byte| byte == b'\n') {
                Some(end) => (&rest[..end], &rest[end + 1..]),
                None => (rest, &rest[rest.len()..]),
            };
            if let Some(candle) = self.parse_line(line)? {
                out.push(candle);
            }
            rest = next;
        }
        Ok(())
    }

    /// Takes the next row through one of the single-pass readers (the comma-mask reader, then
    /// the byte-by-byte one) when it has the common form and opens after the previous row.
    /// The header and every other case go to [`KlineParser::parse_line`], so results and
    /// errors are the same either way.
    fn common_row(&mut self, input: &[u8]) -> Option<(Candle, usize)> {
        if !self.started {
            return None;
        }
        let (candle, used) = row::common_row(input).or_else(|| number::common_row(input))?;
        if self
            .previous_open_time_ms
            .is_some_and(|previous| candle.open_time_ms <= previous)
        {
            return None;
        }
        self.line += 1;
        self.previous_open_time_ms = Some(candle.open_time_ms);
        self.first_row_line.get_or_insert(self.line);
        Some((candle, used))
    }

    /// Reads `reader` to its end and appends its candles to `out`.
    ///
    /// # Errors
    /// As [`KlineParser::parse_slice`], and [`KlineCsvError::Read`] when the reader fails.
    pub fn parse_reader(
        &mut self,
        mut reader: impl BufRead,
        out: &mut Vec<Candle>,
    ) -> Result<(), KlineCsvError> {
        let mut buffer = Vec::with_capacity(256);
        loop {
            buffer.clear();
            let read =
                reader
                    .read_until(b'\n', &mut buffer)
                    .map_err(|source| KlineCsvError::Read {
                        line: self.line + 1,
                        source,
                    })?;
            if read == 0 {
                return Ok(());
            }

            let mut line = buffer.strip_suffix(b"\n").unwrap_or(&buffer);
            if self.line == 0 {
                line = line.strip_prefix(UTF8_BOM).unwrap_or(line);
            }
            if let Some(candle) = self.parse_line(line)? {
                out.push(candle);
            }
        }
    }

    /// Parses one line without its `\n`, returning a candle for a data row and `None` for a
    /// header or blank line.
    ///
    /// # Errors
    /// Returns a [`KlineCsvError`] naming this line when it is broken.
    pub fn parse_line(&mut self, line: &[u8]) -> Result<Option<Candle>, KlineCsvError> {
        self.line += 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.trim_ascii().is_empty() {
            return Ok(None);
        }

        let fields = split_fields(line).ok_or_else(|| KlineCsvError::ColumnCount {
            line: self.line,
            found: line.split(|&byte| byte == b',').count(),
        })?;
        let first_is_header = fields[0]
            .trim_ascii()
            .first()
            .is_some_and(u8::is_ascii_alphabetic);
        if first_is_header && !self.started {
            self.started = true;
            check_header(self.line, &fields)?;
            return Ok(None);
        }
        self.started = true;

        let candle = RowReader {
            line: self.line,
            fields: &fields,
        }
        .candle()?;
        if let Some(previous) = self.previous_open_time_ms
            && candle.open_time_ms <= previous
        {
            let problem = FieldProblem::NotAfterPrevious(previous);
            return Err(field_error(self.line, 0, fields[0], problem));
        }
        self.previous_open_time_ms = Some(candle.open_time_ms);
        self.first_row_line.get_or_insert(self.line);
        Ok(Some(candle))
    }
}

/// Splits a row into exactly 12 fields, or returns `None` for any other count.
fn split_fields(line: &[u8]) -> Option<[&[u8]; 12]> {
    let mut fields: [&[u8]; 12] = [&[]; 12];
    let mut parts = line.split(|&byte| byte == b',');
    for field in &mut fields {
        *field = parts.next()?;
    }
    parts.next().is_none().then_some(fields)
}

fn check_header(line: usize, fields: &[&[u8]; 12]) -> Result<(), KlineCsvError> {
    for (index, (field, expected)) in fields.iter().zip(KLINE_COLUMNS).enumerate() {
        let found = field.trim_ascii();
        if !found.eq_ignore_ascii_case(expected.as_bytes()) {
            return Err(KlineCsvError::Header {
                line,
                position: index + 1,
                found: String::from_utf8_lossy(found).into_owned(),
                expected,
            });
        }
    }
    Ok(())
}

/// Most bytes of a field that an error message contains. A longer field is cut and marked.
const ERROR_VALUE_BYTES: usize = 64;

/// Returns `field` as text for an error message, cut after [`ERROR_VALUE_BYTES`] bytes with
/// the total length, so that a huge field does not make a huge message.
fn error_value(field: &[u8]) -> String {
    if field.len() <= ERROR_VALUE_BYTES {
        return String::from_utf8_lossy(field).into_owned();
    }
    let start = String::from_utf8_lossy(&field[..ERROR_VALUE_BYTES]);
    format!("{start}... ({} bytes)", field.len())
}

fn field_error(line: usize, index: usize, field: &[u8], problem: FieldProblem) -> KlineCsvError {
    KlineCsvError::Field {
        line,
        column: KLINE_COLUMNS[index],
        value: error_value(field),
        problem,
    }
}

/// The fields of one data row, with the line number its errors carry.
struct RowReader<'a> {
    line: usize,
    fields: &'a [&'a [u8]; 12],
}

impl RowReader<'_> {
    fn candle(&self) -> Result<Candle, KlineCsvError> {
        let candle = Candle {
            open_time_ms: self.time(0)?,
            open: self.price(1)?,
            high: self.price(2)?,
            low: self.price(3)?,
            close: self.price(4)?,
            volume: self.amount(5)?,
        };
        if self.time(6)? < candle.open_time_ms {
            return Err(self.error(6, FieldProblem::BeforeOpenTime));
        }
        self.check_optional()?;
        self.check_price_order(&candle)?;
        Ok(candle)
    }

    /// Checks the optional columns 8 to 11, which may be empty and are not kept.
    fn check_optional(&self) -> Result<(), KlineCsvError> {
        for index in [7, 9, 10] {
            if !self.fields[index].trim_ascii().is_empty() {
                self.amount(index)?;
            }
        }
        if !self.fields[8].trim_ascii().is_empty() {
            self.integer(8)?;
        }
        Ok(())
    }

    fn check_price_order(&self, candle: &Candle) -> Result<(), KlineCsvError> {
        for (name, value) in [
            ("low", candle.low),
            ("open", candle.open),
            ("close", candle.close),
        ] {
            if candle.high < value {
                return Err(self.error(2, FieldProblem::BelowPrice(name, value)));
            }
        }
        for (name, value) in [("open", candle.open), ("close", candle.close)] {
            if candle.low > value {
                return Err(self.error(3, FieldProblem::AbovePrice(name, value)));
            }
        }
        Ok(())
    }

    /// Reads a time column as milliseconds, converting seconds and microseconds.
    fn time(&self, index: usize) -> Result<i64, KlineCsvError> {
        let millis = time_to_ms(self.integer(index)?);
        if millis > MAX_TIME_MS {
            return Err(self.error(index, FieldProblem::TimeOutOfRange));
        }
        Ok(millis)
    }

    fn integer(&self, index: usize) -> Result<i64, KlineCsvError> {
        let field = self.fields[index];
        let value = number::plain_integer(field)
            .or_else(|| as_str(field).and_then(|text| text.parse::<i64>().ok()))
            .ok_or_else(|| self.error(index, FieldProblem::NotAnInteger))?;
        if value < 0 {
            return Err(self.error(index, FieldProblem::Negative));
        }
        Ok(value)
    }

    fn price(&self, index: usize) -> Result<f64, KlineCsvError> {
        let value = self.number(index)?;
        if value <= 0.0 {
            return Err(self.error(index, FieldProblem::NotPositive));
        }
        Ok(value)
    }

    fn amount(&self, index: usize) -> Result<f64, KlineCsvError> {
        let value = self.number(index)?;
        if value < 0.0 {
            return Err(self.error(index, FieldProblem::Negative));
        }
        Ok(value)
    }

    /// Reads a finite decimal number; `NaN` and infinities are rejected.
    fn number(&self, index: usize) -> Result<f64, KlineCsvError> {
        let field = self.fields[index];
        number::plain_decimal(field)
            .or_else(|| as_str(field).and_then(|text| text.parse::<f64>().ok()))
            .filter(|value| value.is_finite())
            .ok_or_else(|| self.error(index, FieldProblem::NotANumber))
    }

    fn error(&self, index: usize, problem: FieldProblem) -> KlineCsvError {
        field_error(self.line, index, self.fields[index], problem)
    }
}

fn as_str(field: &[u8]) -> Option<&str> {
    std::str::from_utf8(field.trim_ascii()).ok()
}

#[cfg(test)]
mod tests;
