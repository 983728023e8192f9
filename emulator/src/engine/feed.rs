//! The price feed: a kline CSV or a trades CSV replayed into the engine.
//!
//! A kline file (Binance kline layout, header `open_time,open,high,low,close,volume,…`) is
//! replayed at `speed` candles per second, each candle as four price ticks: open, then low and
//! high (high first for a falling candle), then close. A trades file (header
//! `id,price,qty,quote_qty,time,is_buyer_maker`) is replayed at `speed` trades per second.
//! The file's symbol is the first listed instrument whose symbol appears in the file name,
//! otherwise `BTCUSDT`. At the end the replay starts again from the first row.
// NOTE: candles keep the file's own open times, so they run ahead of the emulated clock.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;
use tokio::task::JoinHandle;

use super::instruments::InstrumentSpec;
use super::{Engine, MarketTick};

const DEFAULT_SYMBOL: &str = "BTCUSDT";

/// One candle of a kline file, prices as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CandleRow {
    pub open_time_ms: i64,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    pub volume: Decimal,
}

/// One trade of a trades file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TradeRow {
    pub price: Decimal,
    pub quantity: Decimal,
}

/// A loaded market data file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PriceFeed {
    Candles {
        symbol: String,
        /// Binance interval name, e.g. `5m`, from the spacing of the first two rows.
        interval: String,
        candles: Vec<CandleRow>,
    },
    Trades {
        symbol: String,
        trades: Vec<TradeRow>,
    },
}

/// A market data file that cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("cannot read market data file {path}: {source}")]
    Read { path: PathBuf, source: csv::Error },
    #[error("market data file {path}, line {line}: {reason}")]
    Row {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    #[error(
        "market data file {path} has neither the kline header (open_time, open, high, low, \
         close, volume) nor the trades header (id, price, qty, …)"
    )]
    Layout { path: PathBuf },
    #[error("market data file {path} has no rows")]
    Empty { path: PathBuf },
}

impl PriceFeed {
    pub fn symbol(&self) -> &str {
        match self {
            PriceFeed::Candles { symbol, .. } | PriceFeed::Trades { symbol, .. } => symbol,
        }
    }
}

/// Reads a kline or trades CSV for replay.
///
/// # Errors
/// Returns [`FeedError`] for an unreadable file, an unknown header, an invalid row, or a file
/// without rows.
pub fn load_feed(path: &Path, instruments: &[InstrumentSpec]) -> Result<PriceFeed, FeedError> {
    let read_error = |source| FeedError::Read {
        path: path.to_owned(),
        source,
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(read_error)?;
    let headers = reader.headers().map_err(read_error)?.clone();
    let rows: Vec<csv::StringRecord> = reader
        .records()
        .collect::<Result<_, _>>()
        .map_err(read_error)?;
    if rows.is_empty() {
        return Err(FeedError::Empty {
            path: path.to_owned(),
        });
    }

    let column = |name: &str| headers.iter().position(|header| header.trim() == name);
    let symbol = symbol_of(path, instruments);
    let kline = ["open_time", "open", "high", "low", "close", "volume"].map(column);
    if let [
        Some(time),
        Some(open),
        Some(high),
        Some(low),
        Some(close),
        Some(volume),
    ] = kline
    {
        let columns = [open, high, low, close, volume];
        let candles = candles(path, &rows, time, columns)?;
        let interval = interval_name(&candles);
        return Ok(PriceFeed::Candles {
            symbol,
            interval,
            candles,
        });
    }
    if let (Some(price), Some(quantity)) = (column("price"), column("qty")) {
        let trades = rows
            .iter()
            .map(|row| {
                Ok(TradeRow {
                    price: decimal_field(path, row, price)?,
                    quantity: decimal_field(path, row, quantity)?,
                })
            })
            .collect::<Result<_, FeedError>>()?;
        return Ok(PriceFeed::Trades { symbol, trades });
    }
    Err(FeedError::Layout {
        path: path.to_owned(),
    })
}

/// Reads kline rows; `columns` are the indexes of open, high, low, close and volume.
fn candles(
    path: &Path,
    rows: &[csv::StringRecord],
    time: usize,
    columns: [usize; 5],
) -> Result<Vec<CandleRow>, FeedError> {
    let [open, high, low, close, volume] = columns;
    rows.iter()
        .map(|row| {
            let open_time_ms = time_ms(row, time).ok_or_else(|| {
                row_error(path, row, "open_time is not a time in ms or µs".to_owned())
            })?;
            Ok(CandleRow {
                open_time_ms,
                open: decimal_field(path, row, open)?,
                high: decimal_field(path, row, high)?,
                low: decimal_field(path, row, low)?,
                close: decimal_field(path, row, close)?,
                volume: decimal_field(path, row, volume)?,
            })
        })
        .collect()
}

fn decimal_field(path: &Path, row: &csv::StringRecord, index: usize) -> Result<Decimal, FeedError> {
    let text = row.get(index).unwrap_or("").trim();
    text.parse()
        .map_err(|_| row_error(path, row, format!("{text:?} is not a decimal number")))
}

fn row_error(path: &Path, row: &csv::StringRecord, reason: String) -> FeedError {
    FeedError::Row {
        path: path.to_owned(),
        line: row.position().map_or(0, |position| position.line()),
        reason,
    }
}

/// Reads a time in ms; 16-digit times are µs, as in Binance spot files since 2025.
fn time_ms(row: &csv::StringRecord, index: usize) -> Option<i64> {
    let value: i64 = row.get(index)?.trim().parse().ok()?;
    Some(if value >= 1_000_000_000_000_000 {
        value / 1000
    } else {
        value
    })
}

fn symbol_of(path: &Path, instruments: &[InstrumentSpec]) -> String {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().to_uppercase())
        .unwrap_or_default();
    instruments
        .iter()
        .find(|spec| name.contains(&spec.symbol))
        .map_or_else(|| DEFAULT_SYMBOL.to_owned(), |spec| spec.symbol.clone())
}

/// Names the spacing of the first two candles as Binance does (`1m`, `5m`, `1h`, `1d`).
fn interval_name(candles: &[CandleRow]) -> String {
    let spacing = match candles {
        [first, second, ..] => (second.open_time_ms - first.open_time_ms) / 1000,
        _ => 60,
    };
    match spacing {
        seconds if seconds % 86_400 == 0 => format!("{}d", seconds / 86_400),
        seconds if seconds % 3_600 == 0 => format!("{}h", seconds / 3_600),
        seconds if seconds % 60 == 0 => format!("{}m", seconds / 60),
        seconds => format!("{seconds}s"),
    }
}

/// Replays `feed` into `engine` until the task is aborted; `now_ms` reads the emulated clock.
pub fn spawn_feed(
    feed: PriceFeed,
    engine: Arc<Engine>,
    speed: u32,
    now_ms: impl Fn() -> i64 + Send + Sync + 'static,
) -> JoinHandle<()> {
    let speed = speed.max(1);
    tokio::spawn(async move {
        tracing::info!(symbol = feed.symbol(), speed, "price feed replaying");
        loop {
            match &feed {
                PriceFeed::Candles {
                    symbol,
                    interval,
                    candles,
                } => {
                    let pause = Duration::from_secs(1) / (4 * speed);
                    for candle in candles {
                        replay_candle(&engine, symbol, interval, candle, pause, &now_ms).await;
                    }
                }
                PriceFeed::Trades { symbol, trades } => {
                    let pause = Duration::from_secs(1) / speed;
                    for trade in trades {
                        if let Err(error) =
                            engine.set_price(symbol, trade.price, trade.quantity, now_ms())
                        {
                            tracing::error!(error = %error, "price feed stopped");
                            return;
                        }
                        tokio::time::sleep(pause).await;
                    }
                }
            }
        }
    })
}

async fn replay_candle(
    engine: &Engine,
    symbol: &str,
    interval: &str,
    candle: &CandleRow,
    pause: Duration,
    now_ms: &impl Fn() -> i64,
) {
    let path = if candle.close >= candle.open {
        [candle.open, candle.low, candle.high, candle.close]
    } else {
        [candle.open, candle.high, candle.low, candle.close]
    };
    let quantity = candle.volume / Decimal::from(4);
    let (mut high, mut low) = (candle.open, candle.open);
    for (step, price) in path.iter().enumerate() {
        let now = now_ms();
        if engine.set_price(symbol, *price, quantity, now).is_err() {
            return;
        }
        high = high.max(*price);
        low = low.min(*price);
        engine.publish_candle(MarketTick::Candle {
            symbol: symbol.to_owned(),
            interval: interval.to_owned(),
            open_time_ms: candle.open_time_ms,
            open: candle.open,
            high,
            low,
            close: *price,
            volume: quantity * Decimal::from(step + 1),
            closed: step == path.len() - 1,
            time_ms: now,
        });
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::default_instruments;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn kline_file_loads_with_symbol_and_interval() {
        let dir = tempfile::tempdir().unwrap();
        let text = "open_time,open,high,low,close,volume,close_time,quote_volume,count,\
                    taker_buy_volume,taker_buy_quote_volume,ignore\n\
                    1758240000000,117017.1,117100.0,117010.8,117043.4,360.735,1758240299999,,,,,0\n\
                    1758240300000,117043.4,117050,117000,117001,10,1758240599999,,,,,0\n";
        let path = write(dir.path(), "binance_um_ETHUSDT_5m.csv", text);
        let feed = load_feed(&path, &default_instruments()).unwrap();
        let PriceFeed::Candles {
            symbol,
            interval,
            candles,
        } = feed
        else {
            panic!("expected candles");
        };
        assert_eq!(symbol, "ETHUSDT");
        assert_eq!(interval, "5m");
        assert_eq!(candles.len(), 2);
        assert_eq!(candles[0].high, "117100.0".parse::<Decimal>().unwrap());
        assert_eq!(candles[0].open_time_ms, 1_758_240_000_000);
    }

    #[test]
    fn trades_file_loads() {
        let dir = tempfile::tempdir().unwrap();
        let text =
            "id,price,qty,quote_qty,time,is_buyer_maker\n1,61800.30,0.006,,1723161256322,false\n";
        let path = write(dir.path(), "trades.csv", text);
        let feed = load_feed(&path, &default_instruments()).unwrap();
        assert_eq!(
            feed,
            PriceFeed::Trades {
                symbol: "BTCUSDT".to_owned(),
                trades: vec![TradeRow {
                    price: "61800.30".parse().unwrap(),
                    quantity: "0.006".parse().unwrap(),
                }],
            }
        );
    }

    #[test]
    fn bad_rows_and_headers_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "bad.csv", "a,b\n1,2\n");
        assert!(matches!(
            load_feed(&path, &default_instruments()),
            Err(FeedError::Layout { .. })
        ));
        let path = write(dir.path(), "t.csv", "id,price,qty\n1,abc,1\n");
        let err = load_feed(&path, &default_instruments()).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
