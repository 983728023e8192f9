//! Loading candles from kline CSV files and funding rates from funding CSV files for backtests.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

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
    #[error(
        "funding data {0} is not a regular file; give one funding-rate CSV file \
         (calc_time,funding_interval_hours,last_funding_rate)"
    )]
    FundingNotAFile(PathBuf),
    #[error("{0} is a *.csv entry that is not a readable file (a broken link?); remove or fix it")]
    NotReadable(PathBuf),
    #[error(
        "invalid kline data in {path}: line {line}: open_time {open_time_ms} ms is not after the \
         last row of {previous} ({last_open_ms} ms). A folder's files are read in byte-wise \
         order of their names as one series, so rename them to sort in time order or remove \
         the overlapping rows"
    )]
    FilesOverlap {
        path: PathBuf,
        line: usize,
        open_time_ms: i64,
        previous: PathBuf,
        last_open_ms: i64,
    },
}

/// The last row read before a file: the index of the file it is in and its open time.
#[derive(Clone, Copy, Debug)]
struct LastRow {
    file: usize,
    open_time_ms: i64,
}

/// Words the error of a file's first row when it does not open after the last row of an
/// earlier file, and wraps any other error of the file as [`DataError::Invalid`].
///
/// Only the first row of a file is compared with an earlier file's last open time: every
/// later row is compared with a row of its own file, which opens after that time.
fn file_error(
    files: &[PathBuf],
    file: usize,
    last_row: Option<LastRow>,
    source: KlineCsvError,
) -> DataError {
    if let (
        Some(last_row),
        KlineCsvError::Field {
            line,
            value,
            problem: FieldProblem::NotAfterPrevious(compared),
            ..
        },
    ) = (last_row, &source)
        && last_row.file != file
        && *compared == last_row.open_time_ms
        && let Ok(open_time_ms) = value.parse()
    {
        let (previous, last_open_ms) = (last_row.file, last_row.open_time_ms);
        return DataError::FilesOverlap {
            path: files[file].clone(),
            line: *line,
            open_time_ms,
            previous: files[previous].clone(),
            last_open_ms,
        };
    }
    DataError::Invalid {
        path: files[file].clone(),
        source,
    }
}

/// Candles loaded from one file or a folder, with the SHA-256 of the bytes read.
pub struct LoadedCandles {
    pub candles: Vec<Candle>,
    /// Hex SHA-256 over every file's bytes in the order read.
    pub data_hash: String,
}

/// Loads a kline CSV file, or every `*.csv` of a folder in name order as one series, and
/// hashes the bytes on another thread while they are parsed.
///
/// # Errors
/// Fails when a file cannot be read or parsed (naming the file and line) or has no candles.
pub fn load_candles(data: &Path) -> Result<LoadedCandles, DataError> {
    let files = candle_files(data)?;
    let (data_hash, candles) = rayon::join(|| hash_files(&files), || parse_files(data, &files));
    Ok(LoadedCandles {
        candles: candles?,
        data_hash: data_hash?,
    })
}

/// Lists the kline files `data` names: the file itself, or every `*.csv` of a folder in name
/// order.
///
/// # Errors
/// Fails on a folder without `*.csv` files or one that cannot be listed, and on a path that
/// is neither a file nor a folder.
pub fn candle_files(data: &Path) -> Result<Vec<PathBuf>, DataError> {
    if data.is_dir() {
        csv_files(data)
    } else if data.is_file() || !data.exists() {
        // A missing path is reported when it is read, with the OS's reason.
        Ok(vec![data.to_path_buf()])
    } else {
        Err(DataError::NotAFile(data.to_path_buf()))
    }
}

/// Parses `files` as one series of candles; `data` names them in an error for no candles.
///
/// # Errors
/// Fails when a file cannot be read or parsed, naming the file and line, or when there are no
/// candles.
pub fn parse_files(data: &Path, files: &[PathBuf]) -> Result<Vec<Candle>, DataError> {
    let mut candles: Vec<Candle> = Vec::new();
    let mut last_row = None;
    for (index, path) in files.iter().enumerate() {
        let read_error = |source| DataError::Read {
            path: path.clone(),
            source,
        };
        let file = File::open(path).map_err(read_error)?;
        let length = file.metadata().map_err(read_error)?.len();
        let previous = candles.last().map(|last| last.open_time_ms);
        let parsed = parse_in_parts(&file, length, previous)
            .map_err(|source| file_error(files, index, last_row, source))?;
        if let Some(last) = parsed.last() {
            last_row = Some(LastRow {
                file: index,
                open_time_ms: last.open_time_ms,
            });
        }
        if candles.is_empty() {
            candles = parsed;
        } else {
            candles.extend_from_slice(&parsed);
        }
    }
    if candles.is_empty() {
        return Err(DataError::NoCandles(data.to_path_buf()));
    }
    Ok(candles)
}

/// One piece of a kline file, parsed apart from the pieces before it.
pub(super) struct ParsedPiece {
    /// Index of the file among those read.
    pub(super) file: usize,
    pub(super) candles: Vec<Candle>,
    /// Lines that start in the piece.
    lines: usize,
    /// Line of the piece's first row, counted from the piece's first line.
    first_row_line: Option<usize>,
}

/// Error of reading one piece, before its place in the file is known.
pub(super) enum PieceError {
    Read(DataError),
    Parse { file: usize, error: KlineCsvError },
}

/// A byte range of one of the files read; lines starting in it belong to the piece.
#[derive(Clone, Debug)]
pub(super) struct PieceRange {
    file: usize,
    bytes: Range<u64>,
}

/// Splits `files` into pieces of [`CHUNK_BYTES`] in reading order. The last piece of each file
/// reads to its end, wherever that is when it is read.
///
/// # Errors
/// Fails when a file's length cannot be read.
pub(super) fn piece_ranges(files: &[PathBuf]) -> Result<Vec<PieceRange>, DataError> {
    let mut ranges = Vec::new();
    for (file, path) in files.iter().enumerate() {
        let length = std::fs::metadata(path)
            .map_err(|source| DataError::Read {
                path: path.clone(),
                source,
            })?
            .len();
        let pieces = length.div_ceil(CHUNK_BYTES as u64).max(1);
        for piece in 0..pieces {
            let start = piece * CHUNK_BYTES as u64;
            let end = if piece + 1 == pieces {
                u64::MAX
            } else {
                start + CHUNK_BYTES as u64
            };
            ranges.push(PieceRange {
                file,
                bytes: start..end,
            });
        }
    }
    Ok(ranges)
}

/// Pieces a reading thread may parse ahead of the run.
const PIECES_AHEAD: usize = 8;

/// The pieces of a series between the threads that parse them and the run that takes them in
/// order. The run's thread parses pieces too whenever the one it needs next is not ready, so
/// every core works until the last piece and none sits idle waiting.
pub(super) struct PieceShelf<'a> {
    files: &'a [PathBuf],
    ranges: &'a [PieceRange],
    state: Mutex<ShelfState>,
    changed: Condvar,
}

#[derive(Default)]
struct ShelfState {
    /// The first piece no thread has taken to parse yet.
    next_unclaimed: usize,
    /// The piece the run needs next.
    next_needed: usize,
    parsed: BTreeMap<usize, Result<ParsedPiece, PieceError>>,
    /// Emptied candle vectors to parse into.
    spares: Vec<Vec<Candle>>,
    stopped: bool,
}

/// A file kept open and a read buffer kept from one piece to the next.
#[derive(Default)]
pub(super) struct PieceParser {
    open: Option<(usize, File)>,
    buffer: Vec<u8>,
}

impl<'a> PieceShelf<'a> {
    pub(super) fn new(files: &'a [PathBuf], ranges: &'a [PieceRange]) -> Self {
        Self {
            files,
            ranges,
            state: Mutex::new(ShelfState::default()),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ShelfState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Parses pieces until none is left or the run stops; the body of a reading thread.
    pub(super) fn read(&self) {
        let mut parser = PieceParser::default();
        loop {
            let mut state = self.lock();
            while !state.stopped
                && state.next_unclaimed < self.ranges.len()
                && state.next_unclaimed >= state.next_needed + PIECES_AHEAD
            {
                state = self
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if state.stopped || state.next_unclaimed >= self.ranges.len() {
                return;
            }
            self.parse_next(state, &mut parser);
        }
    }

    /// Claims the first unclaimed piece, parses it with the lock released, and shelves it.
    fn parse_next(&self, mut state: MutexGuard<'_, ShelfState>, parser: &mut PieceParser) {
        let index = state.next_unclaimed;
        state.next_unclaimed += 1;
        let mut candles = state.spares.pop().unwrap_or_default();
        drop(state);
        let piece = parse_piece(
            self.files,
            &self.ranges[index],
            &mut parser.open,
            &mut parser.buffer,
            &mut candles,
        );
        let mut state = self.lock();
        state.parsed.insert(index, piece);
        drop(state);
        self.changed.notify_all();
    }

    /// Returns the next piece in order, parsing pieces on this thread while it is not ready.
    /// Returns `None` after the last piece.
    pub(super) fn next(&self, parser: &mut PieceParser) -> Option<Result<ParsedPiece, PieceError>> {
        let mut state = self.lock();
        loop {
            let needed = state.next_needed;
            if needed >= self.ranges.len() {
                return None;
            }
            if let Some(piece) = state.parsed.remove(&needed) {
                state.next_needed += 1;
                drop(state);
                self.changed.notify_all();
                return Some(piece);
            }
            if state.next_unclaimed < self.ranges.len()
                && state.next_unclaimed < needed + PIECES_AHEAD
            {
                self.parse_next(state, parser);
                state = self.lock();
            } else {
                state = self
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
    }

    /// Returns an emptied candle vector for a later piece.
    pub(super) fn give_back(&self, mut candles: Vec<Candle>) {
        candles.clear();
        self.lock().spares.push(candles);
    }

    /// Stops the reading threads after the pieces they are parsing.
    pub(super) fn stop(&self) {
        self.lock().stopped = true;
        self.changed.notify_all();
    }
}

/// Parses one piece into `candles`, keeping its file open in `open` and its read buffer in
/// `buffer` for the next piece.
fn parse_piece(
    files: &[PathBuf],
    range: &PieceRange,
    open: &mut Option<(usize, File)>,
    buffer: &mut Vec<u8>,
    candles: &mut Vec<Candle>,
) -> Result<ParsedPiece, PieceError> {
    let path = &files[range.file];
    let (_, file) = match open.take() {
        Some((index, file)) if index == range.file => open.insert((index, file)),
        _ => {
            let file = File::open(path).map_err(|source| {
                PieceError::Read(DataError::Read {
                    path: path.clone(),
                    source,
                })
            })?;
            open.insert((range.file, file))
        }
    };
    let mut parser = if range.bytes.start == 0 {
        KlineParser::new()
    } else {
        KlineParser::for_later_part()
    };
    let mut reader = PartReader::with_buffer(&*file, range.bytes.clone(), std::mem::take(buffer));
    let parsed = reader.parse_pieces(&mut parser, candles, |_| true);
    *buffer = reader.buffer;
    parsed.map_err(|error| PieceError::Parse {
        file: range.file,
        error,
    })?;
    Ok(ParsedPiece {
        file: range.file,
        candles: std::mem::take(candles),
        lines: parser.lines(),
        first_row_line: parser.first_row_line(),
    })
}

/// Joins pieces into one series in reading order: numbers their lines within each file and
/// checks the time order where pieces and files meet.
pub(super) struct PieceOrder<'a> {
    files: &'a [PathBuf],
    file: usize,
    /// Lines of the current file before the next piece.
    line_offset: usize,
    last_open_ms: Option<i64>,
    /// The file of the row that `last_open_ms` comes from.
    last_file: Option<usize>,
}

impl<'a> PieceOrder<'a> {
    pub(super) fn new(files: &'a [PathBuf]) -> Self {
        Self {
            files,
            file: 0,
            line_offset: 0,
            last_open_ms: None,
            last_file: None,
        }
    }

    /// Takes the next piece in reading order and returns it once it continues the series.
    ///
    /// # Errors
    /// Returns the piece's own error, or an out-of-order row, naming the file and the line.
    pub(super) fn accept(
        &mut self,
        piece: Result<ParsedPiece, PieceError>,
    ) -> Result<ParsedPiece, DataError> {
        let piece = match piece {
            Ok(piece) => piece,
            Err(PieceError::Read(error)) => return Err(error),
            Err(PieceError::Parse { file, error }) => {
                self.enter(file);
                return Err(self.invalid(error.with_line_offset(self.line_offset)));
            }
        };
        self.enter(piece.file);
        if let (Some(last), Some(first)) = (self.last_open_ms, piece.candles.first())
            && first.open_time_ms <= last
        {
            let line = piece.first_row_line.unwrap_or(1) + self.line_offset;
            let error = out_of_order(line, first.open_time_ms, last);
            let last_row = self.last_file.map(|file| LastRow {
                file,
                open_time_ms: last,
            });
            return Err(file_error(self.files, self.file, last_row, error));
        }
        if let Some(last) = piece.candles.last() {
            self.last_open_ms = Some(last.open_time_ms);
            self.last_file = Some(self.file);
        }
        self.line_offset += piece.lines;
        Ok(piece)
    }

    /// Starts counting lines anew when `file` is the next file.
    fn enter(&mut self, file: usize) {
        if file != self.file {
            self.file = file;
            self.line_offset = 0;
        }
    }

    fn invalid(&self, source: KlineCsvError) -> DataError {
        DataError::Invalid {
            path: self.files[self.file].clone(),
            source,
        }
    }
}

/// Returns the hex SHA-256 over the bytes of `files`, read in order.
///
/// # Errors
/// Fails when a file cannot be read.
pub fn hash_files(files: &[PathBuf]) -> Result<String, DataError> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; CHUNK_BYTES];
    for path in files {
        let read_error = |source| DataError::Read {
            path: path.clone(),
            source,
        };
        let mut file = File::open(path).map_err(read_error)?;
        loop {
            let read = match file.read(&mut buffer) {
                Ok(0) => break,
                Ok(read) => read,
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => return Err(read_error(error)),
            };
            hasher.update(&buffer[..read]);
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Files smaller than this are parsed on one thread.
pub(super) const PARALLEL_FROM_BYTES: u64 = 1 << 20;

/// Bytes read at a time. A piece this size stays in the core's cache while it is parsed.
const CHUNK_BYTES: usize = 256 * 1024;

/// Bytes read past the end of a range to finish its last line, far longer than a kline row.
const LINE_SLACK_BYTES: u64 = 4096;

/// Parses a kline file on all cores: each thread reads and parses the lines that start in its
/// share of the bytes, in pieces of [`CHUNK_BYTES`], and the time order is checked where the
/// parts meet. Errors carry the line number within the whole file. `previous` is the last open
/// time of the file before, for a folder read as one series.
fn parse_in_parts(
    file: &File,
    length: u64,
    previous: Option<i64>,
) -> Result<Vec<Candle>, KlineCsvError> {
    let parts = if length < PARALLEL_FROM_BYTES {
        1
    } else {
        rayon::current_num_threads().max(1) as u64
    };
    parse_parts(file, length, previous, parts)
}

/// Parses a kline file of `length` bytes in `parts` parts, as [`parse_in_parts`] describes.
fn parse_parts(
    file: &File,
    length: u64,
    previous: Option<i64>,
    parts: u64,
) -> Result<Vec<Candle>, KlineCsvError> {
    let results: Vec<(KlineParser, Result<Vec<Candle>, KlineCsvError>)> = (0..parts)
        .into_par_iter()
        .map(|index| {
            let mut parser = match (index, previous) {
                (0, Some(previous)) => KlineParser::continuing_after(previous),
                (0, None) => KlineParser::new(),
                _ => KlineParser::for_later_part(),
            };
            let start = length * index / parts;
            // The last part reads to the end of the file, wherever that now is.
            let end = if index + 1 == parts {
                u64::MAX
            } else {
                length * (index + 1) / parts
            };
            let result = PartReader::new(file, start..end).parse(&mut parser);
            (parser, result)
        })
        .collect();

    let mut candles: Vec<Candle> = Vec::new();
    let mut line_offset = 0;
    for (parser, result) in results {
        let part = result.map_err(|error| error.with_line_offset(line_offset))?;
        let last = candles.last().map(|candle| candle.open_time_ms);
        if let (Some(last), Some(first)) = (last, part.first())
            && first.open_time_ms <= last
        {
            let line = parser.first_row_line().unwrap_or(1) + line_offset;
            return Err(out_of_order(line, first.open_time_ms, last));
        }
        if candles.is_empty() {
            candles = part;
        } else {
            candles.extend_from_slice(&part);
        }
        line_offset += parser.lines();
    }
    Ok(candles)
}

/// Reads the lines of a file that start inside a byte range, a piece at a time.
struct PartReader<'a> {
    file: &'a File,
    /// Lines starting at these offsets belong to the part. A line starts at offset 0 or after
    /// a `\n`.
    range: Range<u64>,
    buffer: Vec<u8>,
    /// Bytes of `buffer` read from the file.
    filled: usize,
    /// File offset of `buffer[0]`.
    buffer_offset: u64,
}

impl<'a> PartReader<'a> {
    fn new(file: &'a File, range: Range<u64>) -> Self {
        Self::with_buffer(file, range, vec![0; CHUNK_BYTES])
    }

    /// Creates a reader that reads into `buffer`, a previous reader's, grown to at least
    /// [`CHUNK_BYTES`].
    fn with_buffer(file: &'a File, range: Range<u64>, mut buffer: Vec<u8>) -> Self {
        if buffer.len() < CHUNK_BYTES {
            buffer.resize(CHUNK_BYTES, 0);
        }
        // Reading starts one byte early, so that a part whose start follows a line end finds it.
        let buffer_offset = range.start.saturating_sub(1);
        Self {
            file,
            range,
            buffer,
            filled: 0,
            buffer_offset,
        }
    }

    /// Parses the part's lines with `parser` and returns their candles.
    fn parse(self, parser: &mut KlineParser) -> Result<Vec<Candle>, KlineCsvError> {
        let part_bytes = self.range.end.saturating_sub(self.range.start);
        let estimate = usize::try_from(part_bytes / 64).unwrap_or(0);
        let mut candles = Vec::with_capacity(estimate.min(1 << 24));
        let mut reader = self;
        reader.parse_pieces(parser, &mut candles, |_| true)?;
        Ok(candles)
    }

    /// Parses the part's lines with `parser` into `candles`, one piece of the file at a time,
    /// and calls `piece_done` after each piece. Reading stops early when it returns false.
    fn parse_pieces(
        &mut self,
        parser: &mut KlineParser,
        candles: &mut Vec<Candle>,
        mut piece_done: impl FnMut(&mut Vec<Candle>) -> bool,
    ) -> Result<(), KlineCsvError> {
        // Bytes at the start of the buffer already parsed or skipped.
        let mut used = 0;
        let mut seeking_line_start = self.range.start > 0;
        loop {
            self.discard(used);
            let at_end = self.fill().map_err(|source| KlineCsvError::Read {
                line: parser.lines() + 1,
                source,
            })?;
            let data = &self.buffer[..self.filled];
            used = 0;
            if seeking_line_start {
                match data.iter().position(|&byte| byte == b'\n') {
                    Some(end) => {
                        used = end + 1;
                        seeking_line_start = false;
                    }
                    None if at_end => return Ok(()),
                    // No line starts in the range, so the part has none.
                    None if self.buffer_offset + self.filled as u64 >= self.range.end => {
                        return Ok(());
                    }
                    None => {
                        used = data.len();
                        continue;
                    }
                }
            }

            let (lines, done) = self.whole_lines(used, at_end);
            parser.parse_lines(&self.buffer[used..used + lines], candles)?;
            used += lines;
            if !piece_done(candles) || done {
                return Ok(());
            }
        }
    }

    /// Returns how many bytes from `used` on form whole lines of the part, and whether the
    /// part ends with them.
    fn whole_lines(&self, used: usize, at_end: bool) -> (usize, bool) {
        let data = &self.buffer[used..self.filled];
        let data_offset = self.buffer_offset + used as u64;
        if data_offset >= self.range.end {
            return (0, true);
        }
        // The last line of the part is the one containing the byte before the range's end.
        let last_byte = usize::try_from(self.range.end - 1 - data_offset).unwrap_or(usize::MAX);
        if let Some(from) = data.get(last_byte..)
            && let Some(end) = from.iter().position(|&byte| byte == b'\n')
        {
            return (last_byte + end + 1, true);
        }
        if at_end {
            return (data.len(), true);
        }
        let lines = data
            .iter()
            .rposition(|&byte| byte == b'\n')
            .map_or(0, |end| end + 1);
        (lines, false)
    }

    /// Drops the first `used` bytes of the buffer, keeping the rest at its start.
    fn discard(&mut self, used: usize) {
        self.buffer.copy_within(used..self.filled, 0);
        self.filled -= used;
        self.buffer_offset += used as u64;
    }

    /// Reads more of the file into the buffer, growing it when a line fills it. Returns whether
    /// the file ended.
    fn fill(&mut self) -> std::io::Result<bool> {
        if self.filled == self.buffer.len() {
            self.buffer.resize(self.buffer.len() * 2, 0);
        }
        loop {
            let offset = self.buffer_offset + self.filled as u64;
            // Past the range, only the rest of its last line is needed. A read there takes at
            // least as many bytes as the buffer holds, so a very long line is read in a few
            // doubling reads rather than rescanned after every 4 KiB.
            let limit = (self.range.end.saturating_add(LINE_SLACK_BYTES))
                .saturating_sub(offset)
                .max(LINE_SLACK_BYTES)
                .max(self.filled as u64);
            let space = self.buffer.len() - self.filled;
            let length = usize::try_from(limit).map_or(space, |limit| limit.min(space));
            let target = &mut self.buffer[self.filled..self.filled + length];
            match self.file.read_at(target, offset) {
                Ok(0) => return Ok(true),
                Ok(read) => {
                    self.filled += read;
                    return Ok(false);
                }
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }
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
        // Hidden files are left out, such as the `._name.csv` metadata files that macOS
        // writes beside each file on some drives.
        let hidden = path
            .file_name()
            .is_some_and(|name| name.as_encoded_bytes().starts_with(b"."));
        if !is_csv || hidden {
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
        return Err(DataError::FundingNotAFile(path.to_path_buf()));
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

    /// Writes `texts` as the files of a folder and takes their pieces off a shelf that
    /// `readers` threads beside the taking one fill.
    fn shelve_texts(texts: &[String], readers: usize) -> Result<Vec<Candle>, DataError> {
        let folder = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = texts
            .iter()
            .enumerate()
            .map(|(index, text)| {
                let path = folder.path().join(format!("{index}.csv"));
                std::fs::write(&path, text).unwrap();
                path
            })
            .collect();
        let ranges = piece_ranges(&paths).unwrap();
        let shelf = PieceShelf::new(&paths, &ranges);
        std::thread::scope(|scope| {
            for _ in 0..readers {
                scope.spawn(|| shelf.read());
            }
            let mut order = PieceOrder::new(&paths);
            let mut parser = PieceParser::default();
            let mut candles = Vec::new();
            let mut result = Ok(());
            while let Some(piece) = shelf.next(&mut parser) {
                match order.accept(piece) {
                    Ok(piece) => {
                        candles.extend_from_slice(&piece.candles);
                        shelf.give_back(piece.candles);
                    }
                    Err(error) => {
                        result = Err(error);
                        break;
                    }
                }
            }
            shelf.stop();
            result.map(|()| candles)
        })
    }

    #[test]
    fn shelf_joins_pieces_in_order() {
        let text = kline_file(60_000);
        assert!(text.len() > 12 * CHUNK_BYTES);
        let expected = parse_klines(text.as_bytes()).unwrap();
        for readers in [0, 1, 3] {
            let candles = shelve_texts(std::slice::from_ref(&text), readers).unwrap();
            assert_eq!(candles, expected, "{readers} readers");
        }
    }

    #[test]
    fn shelf_names_file_and_line() {
        let first = kline_file(20_000);
        // The second file continues the first one's times, without a header.
        let second: String =
            kline_file(45_000)
                .lines()
                .skip(20_001)
                .fold(String::new(), |mut text, line| {
                    text.push_str(line);
                    text.push('\n');
                    text
                });
        let joined = shelve_texts(&[first.clone(), second.clone()], 2).unwrap();
        assert_eq!(joined.len(), 45_000);

        // Line 18,001 of the second file, in its fifth piece or later, has a bad volume.
        let broken: Vec<String> = second
            .lines()
            .enumerate()
            .map(|(index, line)| {
                if index == 18_000 {
                    line.replacen(",1.5,", ",1.5x,", 1)
                } else {
                    line.to_owned()
                }
            })
            .collect();
        let broken = broken.join("\n") + "\n";
        for readers in [0, 2] {
            let err = shelve_texts(&[first.clone(), broken.clone()], readers).unwrap_err();
            let message = err.to_string();
            assert!(message.contains("1.csv"), "{message}");
            assert!(message.contains("line 18001, column volume"), "{message}");
        }

        // The second file starting before the first one ends is out of order at its first
        // row, line 2, and the error names the file before it.
        let overlapping = shelve_texts(&[first.clone(), first], 2).unwrap_err();
        let message = overlapping.to_string();
        assert!(message.contains("1.csv: line 2: open_time"), "{message}");
        assert!(message.contains("last row of"), "{message}");
        assert!(message.contains("0.csv"), "{message}");
        assert!(
            message.contains("byte-wise order of their names"),
            "{message}"
        );
    }

    /// Writes `text` to a temporary file and parses it in `parts` parts.
    fn parse_text(text: &str, parts: u64) -> Result<Vec<Candle>, KlineCsvError> {
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
        parse_parts(&file, text.len() as u64, None, parts)
    }

    #[test]
    fn parts_join_into_the_whole_file() {
        let mut text = kline_file(30_000);
        assert!(text.len() as u64 > 2 * PARALLEL_FROM_BYTES);
        let whole = parse_klines(text.as_bytes()).unwrap();
        for parts in 1..=7 {
            assert_eq!(parse_text(&text, parts).unwrap(), whole, "{parts} parts");
        }
        text.truncate(text.len() - 2);
        for parts in [1, 2, 5] {
            assert_eq!(
                parse_text(&text, parts).unwrap(),
                whole,
                "{parts} parts, no last \\n"
            );
        }
    }

    #[test]
    fn blank_lines_and_short_files_split_anywhere() {
        let text = kline_file(50).replace("\r\n", "\n\n");
        let whole = parse_klines(text.as_bytes()).unwrap();
        assert_eq!(whole.len(), 50);
        for parts in 1..=40 {
            assert_eq!(parse_text(&text, parts).unwrap(), whole, "{parts} parts");
        }
        let mut lines: Vec<&str> = text.split('\n').collect();
        lines[81] = "1758240000000,1,2,3";
        let broken = lines.join("\n");
        for parts in 1..=40 {
            let err = parse_text(&broken, parts).unwrap_err();
            assert_eq!(
                err.to_string(),
                "line 82: expected 12 columns, found 4",
                "{parts} parts"
            );
        }
    }

    #[test]
    fn errors_in_later_parts_name_the_file_line() {
        let text = kline_file(30_000);
        let mut lines: Vec<&str> = text.split('\n').collect();
        let broken = lines[25_000].replacen(",1.5,", ",lots,", 1);
        lines[25_000] = &broken;
        let err = parse_text(&lines.join("\n"), 2).unwrap_err();
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
        let err = parse_text(&lines.join("\n"), 2).unwrap_err();
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
        let err = parse_text(&text, 2).unwrap_err();
        assert!(
            err.to_string().starts_with("line 30002, column open_time"),
            "{err}"
        );
    }
}
