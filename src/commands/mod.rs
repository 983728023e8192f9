//! One module per subcommand.

pub mod audit;
pub mod audit_export;
pub mod audit_replay;
pub mod backtest;
pub mod emulator;
pub mod eventlog;
pub mod projections;
pub mod serve;
pub mod vault;
