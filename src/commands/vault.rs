//! `keyward vault`: master key rotation, retirement of old master key versions, and status.
//!
//! Rotation and retirement take the event log's writer lock, so they fail beside a
//! server on the same data dir, which would keep using the old master key.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use keyward_eventlog::{EventLog, ExpectedVersion, SegmentLog};
use keyward_events::codec::derive_event_id;
use keyward_events::vault::{MasterKeyRotated, MasterKeyVersionRetired, VaultEvent};
use keyward_events::{Category, DomainEvent, Metadata, StreamName};
use keyward_vault::{MasterKey, Vault, VersionStatus};
use uuid::Uuid;

use crate::master_key::{self, MasterKeyArgs};

/// Environment variable holding the new master key for `vault rotate-master`.
pub const NEW_MASTER_KEY_ENV: &str = "KEYWARD_NEW_MASTER_KEY";

/// Vault subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum VaultCommand {
    /// Rewrap every data key and checkpoint key under a new master key, given in
    /// KEYWARD_NEW_MASTER_KEY or --new-master-key-file; sealed secrets stay as they are.
    RotateMaster(RotateArgs),
    /// Retire an old master key version under which nothing is wrapped any more.
    RetireMaster(RetireArgs),
    /// List the master key versions with the number of keys wrapped under each.
    Status(StatusArgs),
}

/// Options of `keyward vault rotate-master`.
#[derive(Debug, clap::Args)]
pub struct RotateArgs {
    /// Data dir of the keyring and the event log.
    #[arg(long, value_name = "DIR", default_value = "./keyward-data")]
    pub data_dir: PathBuf,

    /// File holding the new master key as base64 of 32 bytes (instead of
    /// KEYWARD_NEW_MASTER_KEY).
    #[arg(long, value_name = "FILE")]
    pub new_master_key_file: Option<PathBuf>,

    #[command(flatten)]
    pub master_key: MasterKeyArgs,
}

/// Options of `keyward vault retire-master`.
#[derive(Debug, clap::Args)]
pub struct RetireArgs {
    /// Data dir of the keyring and the event log.
    #[arg(long, value_name = "DIR", default_value = "./keyward-data")]
    pub data_dir: PathBuf,

    /// The master key version to retire, as `keyward vault status` lists it.
    #[arg(long, value_name = "N")]
    pub version: u32,

    #[command(flatten)]
    pub master_key: MasterKeyArgs,
}

/// Options of `keyward vault status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Data dir of the keyring.
    #[arg(long, value_name = "DIR", default_value = "./keyward-data")]
    pub data_dir: PathBuf,

    #[command(flatten)]
    pub master_key: MasterKeyArgs,
}

/// Runs a vault subcommand.
pub fn run(command: VaultCommand) -> anyhow::Result<ExitCode> {
    match command {
        VaultCommand::RotateMaster(args) => rotate(&args),
        VaultCommand::RetireMaster(args) => retire(&args),
        VaultCommand::Status(args) => status(&args),
    }
}

fn rotate(args: &RotateArgs) -> anyhow::Result<ExitCode> {
    let log = open_log_exclusively(&args.data_dir)?;
    let new = new_master_key(args)?;
    let master = master_key::resolve(&args.master_key, &args.data_dir, false)?;
    let mut vault = Vault::open(&args.data_dir, master).context("cannot open the keyring")?;
    let rotation = vault
        .rotate_master(new)
        .context("master key rotation failed; the keyring is unchanged")?;
    println!(
        "rotated the master key from version {} to {}: rewrapped {} data keys and {} \
         checkpoint keys; sealed secrets are unchanged",
        rotation.from_version,
        rotation.to_version,
        rotation.data_keys_rewrapped,
        rotation.checkpoint_keys_rewrapped
    );
    println!(
        "from now on only the new master key opens this data dir; retire the old version with \
         `keyward vault retire-master --version {}`",
        rotation.from_version
    );
    let event = MasterKeyRotated {
        from_version: rotation.from_version,
        to_version: rotation.to_version,
        data_keys_rewrapped: rotation.data_keys_rewrapped,
        checkpoint_keys_rewrapped: rotation.checkpoint_keys_rewrapped,
        rotated_at: Utc::now(),
    };
    record(&log, vault.id(), event.into()).with_context(|| {
        format!(
            "the keyring is rotated to master key version {}, but MasterKeyRotated could not \
             be recorded in the event log",
            rotation.to_version
        )
    })?;
    Ok(ExitCode::SUCCESS)
}

fn retire(args: &RetireArgs) -> anyhow::Result<ExitCode> {
    let log = open_log_exclusively(&args.data_dir)?;
    let master = master_key::resolve(&args.master_key, &args.data_dir, false)?;
    let vault = Vault::open(&args.data_dir, master).context("cannot open the keyring")?;
    vault.retire_master_version(args.version)?;
    println!("retired master key version {}", args.version);
    let event = MasterKeyVersionRetired {
        version: args.version,
        retired_at: Utc::now(),
    };
    record(&log, vault.id(), event.into()).with_context(|| {
        format!(
            "master key version {} is retired in the keyring, but MasterKeyVersionRetired \
             could not be recorded in the event log",
            args.version
        )
    })?;
    Ok(ExitCode::SUCCESS)
}

fn status(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let master = master_key::resolve(&args.master_key, &args.data_dir, false)?;
    let vault = Vault::open(&args.data_dir, master).context("cannot open the keyring")?;
    println!(
        "{:>7}  {:<8}  {:<20}  {:>9}  {:>15}",
        "version", "state", "created", "data keys", "checkpoint keys"
    );
    for version in vault.status()? {
        println!(
            "{:>7}  {:<8}  {:<20}  {:>9}  {:>15}",
            version.version,
            state(&version),
            format_us(version.created_at_us),
            version.data_keys,
            version.checkpoint_keys
        );
    }
    println!("{} secrets sealed", vault.len());
    Ok(ExitCode::SUCCESS)
}

fn state(version: &VersionStatus) -> &'static str {
    if version.current {
        "current"
    } else if version.retired_at_us.is_some() {
        "retired"
    } else {
        "old"
    }
}

fn format_us(us: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(us).map_or_else(
        || us.to_string(),
        |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

/// Opens the event log with its writer lock, which fails while a server runs on the data dir.
fn open_log_exclusively(data_dir: &std::path::Path) -> anyhow::Result<SegmentLog> {
    SegmentLog::open(data_dir).with_context(|| {
        format!(
            "cannot open the event log in {} for writing; stop any `keyward serve` on this data \
             dir first",
            data_dir.display()
        )
    })
}

fn new_master_key(args: &RotateArgs) -> anyhow::Result<MasterKey> {
    if let Some(key) = MasterKey::from_env(NEW_MASTER_KEY_ENV)? {
        return Ok(key);
    }
    if let Some(path) = &args.new_master_key_file {
        return MasterKey::from_file(path).context("cannot load the new master key");
    }
    bail!(
        "no new master key: set {NEW_MASTER_KEY_ENV} to base64 of 32 random bytes (for example \
         `export {NEW_MASTER_KEY_ENV}=$(head -c 32 /dev/urandom | base64)`) or pass \
         --new-master-key-file FILE"
    )
}

/// Appends one event to the vault's stream `vault-<keyring id>`.
fn record(log: &SegmentLog, vault_id: Uuid, event: VaultEvent) -> anyhow::Result<()> {
    let stream = StreamName::new(Category::Vault, vault_id);
    let new_event = event.to_new_event(derive_event_id(Uuid::now_v7(), 0), Metadata::default());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let appended = runtime.block_on(log.append(&stream, ExpectedVersion::Any, vec![new_event]))?;
    tracing::info!(
        stream = %stream,
        event_type = event.event_type(),
        position = appended.last_position,
        "vault event recorded"
    );
    Ok(())
}
