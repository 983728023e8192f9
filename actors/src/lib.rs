//! Actors that own keyward's streams (keys, bots, accounts), the strategies bots run, and the
//! backtest driver that runs a bot's own decision code over historical candles.

pub mod account;
pub mod backtest;
pub mod bot;
pub mod key;
pub mod strategy;
