//! `keyward eventlog`: stress, benchmark and inspect the embedded event log.

mod bench;
mod dump;
mod stress;

use std::process::ExitCode;

pub use bench::BenchArgs;
pub use dump::DumpArgs;
pub use stress::StressArgs;

/// Event log subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum EventlogCommand {
    /// Append synthetic events until killed, printing `stream version position` for each
    /// acknowledged event.
    Stress(StressArgs),
    /// Measure append throughput and latency, read-all throughput and live delivery.
    Bench(BenchArgs),
    /// Print the stored events, one per line; works while a server runs on the data dir.
    Dump(DumpArgs),
}

/// Runs an event log subcommand.
pub fn run(command: EventlogCommand) -> anyhow::Result<ExitCode> {
    match command {
        EventlogCommand::Stress(args) => stress::run(&args),
        EventlogCommand::Bench(args) => bench::run(&args),
        EventlogCommand::Dump(args) => dump::run(&args),
    }
}
