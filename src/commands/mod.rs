//! One module per subcommand.

pub mod backtest;
