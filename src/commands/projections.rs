//! `keyward projections rebuild`: rebuilds read models from the first position and saves their
//! checkpoints, for after a projection's code changed or its checkpoint was lost.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use keyward_eventlog::{EventLog, SegmentLog};
use keyward_projections::{
    AuditTrail, BotFeed, CheckpointDir, Dashboard, NAMES, Projection, rebuild,
};

use super::backtest::progress::Progress;

/// Projection subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ProjectionsCommand {
    /// Rebuild projections from the first position and save their checkpoints. The server
    /// must be stopped, because it locks the log and keeps its own copy of every projection.
    Rebuild(RebuildArgs),
}

/// Options of `keyward projections rebuild`.
#[derive(Debug, clap::Args)]
pub struct RebuildArgs {
    /// Data dir of the log and the checkpoints.
    #[arg(long, value_name = "DIR", default_value = "./keyward-data")]
    pub data_dir: PathBuf,

    /// Rebuild only this projection: dashboard, audit or feed (default: all).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

/// Runs a projections subcommand.
pub fn run(command: ProjectionsCommand) -> anyhow::Result<ExitCode> {
    match command {
        ProjectionsCommand::Rebuild(args) => rebuild_all(&args),
    }
}

fn rebuild_all(args: &RebuildArgs) -> anyhow::Result<ExitCode> {
    let names: Vec<&str> = match args.name.as_deref() {
        Some(name) if NAMES.contains(&name) => vec![name],
        Some(name) => bail!(
            "unknown projection {name:?}; expected one of {}",
            NAMES.join(", ")
        ),
        None => NAMES.to_vec(),
    };
    // Opening the log for writing takes its lock, so a running server is reported instead of
    // having its checkpoints overwritten under it.
    let log = SegmentLog::open(&args.data_dir).with_context(|| {
        format!(
            "cannot open the event log in {}; stop the server before rebuilding",
            args.data_dir.display()
        )
    })?;
    let head = *log.head().borrow();
    let checkpoints = CheckpointDir::in_data_dir(&args.data_dir);
    for name in names {
        match name {
            Dashboard::NAME => rebuild_one::<Dashboard>(args, &checkpoints, head)?,
            AuditTrail::NAME => rebuild_one::<AuditTrail>(args, &checkpoints, head)?,
            _ => rebuild_one::<BotFeed>(args, &checkpoints, head)?,
        }
    }
    drop(log);
    Ok(ExitCode::SUCCESS)
}

fn rebuild_one<P: Projection>(
    args: &RebuildArgs,
    checkpoints: &CheckpointDir,
    head: u64,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let reader = SegmentLog::open_read_only(&args.data_dir)?;
    let progress = Progress::on_terminal(head as usize, "events");
    let records = reader.records(0)?.take_while(|record| {
        record
            .as_ref()
            .map_or(true, |record| record.position <= head)
    });
    let tracked = rebuild::<P>(records, |position| {
        if let Some(progress) = &progress {
            progress.update(position as usize);
        }
    })
    .with_context(|| format!("cannot rebuild the {} projection", P::NAME))?;
    if let Some(progress) = &progress {
        progress.finish();
    }
    checkpoints
        .save(
            P::NAME,
            tracked.position,
            &tracked.hash,
            &tracked.projection,
        )
        .with_context(|| format!("cannot save the {} checkpoint", P::NAME))?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "rebuilt {} from {} events in {seconds:.2} s; checkpoint at position {}",
        P::NAME,
        tracked.position,
        tracked.position
    );
    Ok(())
}
