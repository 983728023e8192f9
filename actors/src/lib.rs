//! Actors that own keyward's streams (keys, bots, accounts), the strategies bots run, their order
//! handling, the simulated exchange, and the backtest driver that runs a bot's own decision code
//! over historical candles.

pub mod account;
pub mod backtest;
pub mod bot;
pub mod key;
pub mod simulated;
pub mod strategy;
pub mod supervisor;
pub mod trading;
