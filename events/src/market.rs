//! Market data shared by backtests, paper trading and the emulator's price feed.

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
