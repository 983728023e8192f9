//! Backtest driver.
