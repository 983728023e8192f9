//! `keyward audit`: tools for auditors.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use keyward_eventlog::SqliteLog;
use keyward_eventlog::chain::ChainVerifier;

use crate::master_key::MasterKeyArgs;

/// Audit subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain of the event log; exit 1 naming the first bad position.
    Verify(VerifyArgs),
}

/// Options of `keyward audit verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Data dir of the log to check.
    #[arg(long, value_name = "DIR", default_value = "./keyward-data")]
    pub data_dir: PathBuf,

    #[command(flatten)]
    pub master_key: MasterKeyArgs,
}

/// Runs an audit subcommand.
pub fn run(command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify(args) => verify(&args),
    }
}

fn verify(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    const PAGE: usize = 10_000;
    let log = SqliteLog::open_read_only(&args.data_dir)?;
    let mut verifier = ChainVerifier::default();
    let mut after = 0;
    loop {
        let page = log
            .read_all(after, PAGE)
            .context("cannot read the event log")?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.position;
        for record in &page {
            if let Err(broken) = verifier.check(record) {
                println!("chain broken at position {}: {broken}", broken.position());
                return Ok(ExitCode::from(1));
            }
        }
    }
    println!(
        "verified {} events: the hash chain is intact",
        verifier.verified()
    );
    Ok(ExitCode::SUCCESS)
}
