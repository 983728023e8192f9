//! `keyward audit`: tools for auditors. They read the log without its writer's lock, so they
//! work while a server runs on the same data dir.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use keyward_eventlog::ReadError;
use keyward_eventlog::SegmentLog;
use keyward_eventlog::chain::ChainVerifier;
use keyward_eventlog::checkpoint::{
    Checkpoint, CheckpointError, CheckpointKeys, CheckpointStore, parse,
};
use keyward_vault::{Vault, VaultError};
use zeroize::Zeroizing;

use crate::master_key::{self, MasterKeyArgs};

/// Audit subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain and the signed checkpoints; exit 1 naming the first bad position.
    Verify(VerifyArgs),
    /// Write the latest signed checkpoint to --export FILE for safekeeping elsewhere, signing
    /// a new one at the head first when the latest stored one is behind it.
    Checkpoint(CheckpointArgs),
    /// Print a stream's state after each of its events, up to --until.
    Replay(super::audit_replay::ReplayArgs),
    /// Write an account's audit trail as JSON lines or CSV.
    Export(super::audit_export::ExportArgs),
}

/// Options of `keyward audit verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Data dir of the log to check.
    #[arg(long, value_name = "DIR", default_value = "./keyward-data")]
    pub data_dir: PathBuf,

    /// A checkpoint exported earlier with `audit checkpoint --export`; detects a log whose tail
    /// was cut off after it.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,

    #[command(flatten)]
    pub master_key: MasterKeyArgs,
}

/// Options of `keyward audit checkpoint`.
#[derive(Debug, clap::Args)]
pub struct CheckpointArgs {
    /// Data dir of the log.
    #[arg(long, value_name = "DIR", default_value = "./keyward-data")]
    pub data_dir: PathBuf,

    /// File to write the checkpoint to (JSON).
    #[arg(long, value_name = "FILE")]
    pub export: PathBuf,

    #[command(flatten)]
    pub master_key: MasterKeyArgs,
}

/// Runs an audit subcommand.
pub fn run(command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify(args) => verify(&args),
        AuditCommand::Checkpoint(args) => export(&args),
        AuditCommand::Replay(args) => super::audit_replay::run(&args),
        AuditCommand::Export(args) => super::audit_export::run(&args),
    }
}

/// Checkpoint keys from the vault, for the checkpointer and for verification.
pub struct VaultCheckpointKeys(pub Arc<Vault>);

impl CheckpointKeys for VaultCheckpointKeys {
    fn current(&self) -> Result<(u32, Zeroizing<Vec<u8>>), CheckpointError> {
        let (version, key) = self
            .0
            .current_checkpoint_key()
            .map_err(|e| CheckpointError::Key(e.to_string()))?;
        Ok((version, Zeroizing::new(key.expose().to_vec())))
    }
}

/// A checkpoint to check, and where it came from.
struct Claim {
    source: String,
    checkpoint: Checkpoint,
}

/// The chain walk's result: the verified head and the hashes at the claimed positions.
struct Walk {
    head: u64,
    hashes: BTreeMap<u64, [u8; 32]>,
}

fn verify(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let claims = load_claims(&args.data_dir, args.checkpoint.as_deref())?;
    let wanted = claims.iter().map(|c| c.checkpoint.position).collect();
    let walk = match walk_chain(&args.data_dir, &wanted)? {
        Ok(walk) => walk,
        Err(message) => {
            println!("{message}");
            return Ok(ExitCode::from(1));
        }
    };
    println!("verified {} events: the hash chain is intact", walk.head);
    if claims.is_empty() {
        return no_checkpoints(args);
    }
    let master = master_key::resolve(&args.master_key, &args.data_dir, false)
        .context("checkpoint signatures need the master key")?;
    let vault = Vault::open(&args.data_dir, master).context("cannot open the keyring")?;
    let mut problems: Vec<(u64, String)> = Vec::new();
    for claim in &claims {
        if let Err(problem) = check_claim(&vault, &walk, claim) {
            problems.push((claim.checkpoint.position, problem));
        }
    }
    if problems.is_empty() {
        println!("{} signed checkpoints match the log", claims.len());
        return Ok(ExitCode::SUCCESS);
    }
    problems.sort();
    for (_, problem) in &problems {
        println!("{problem}");
    }
    Ok(ExitCode::from(1))
}

/// Reports a log without checkpoints. When the keyring holds a checkpoint key, checkpoints
/// were signed, so their missing file means they were removed.
///
/// # Errors
/// Fails when a master key is given but the keyring cannot be opened with it.
fn no_checkpoints(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let signed = match master_key::resolve(&args.master_key, &args.data_dir, false) {
        Ok(master) => {
            let vault = Vault::open(&args.data_dir, master).context("cannot open the keyring")?;
            let versions = vault.status().context("cannot read the keyring")?;
            Some(versions.iter().map(|v| v.checkpoint_keys).sum::<u64>())
        }
        Err(_) => None,
    };
    let code = match signed {
        Some(keys) if keys > 0 => {
            let store = CheckpointStore::in_data_dir(&args.data_dir);
            println!(
                "no local checkpoints, but the keyring holds {keys} checkpoint key(s), so \
                 checkpoints were signed and {} was removed or emptied; check the log against \
                 an exported checkpoint with --checkpoint FILE",
                store.path().display()
            );
            ExitCode::from(1)
        }
        Some(_) => {
            println!("no signed checkpoints to check");
            ExitCode::SUCCESS
        }
        None => {
            println!(
                "no signed checkpoints to check; without the master key, whether checkpoints \
                 were ever signed is not checked"
            );
            ExitCode::SUCCESS
        }
    };
    Ok(code)
}

fn load_claims(data_dir: &Path, exported: Option<&Path>) -> anyhow::Result<Vec<Claim>> {
    let store = CheckpointStore::in_data_dir(data_dir);
    let mut claims: Vec<Claim> = store
        .load()?
        .into_iter()
        .map(|checkpoint| Claim {
            source: format!("local checkpoint in {}", store.path().display()),
            checkpoint,
        })
        .collect();
    if let Some(path) = exported {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the checkpoint file {}", path.display()))?;
        let checkpoint = parse(&text).map_err(|reason| {
            anyhow::anyhow!("{} is not an exported checkpoint: {reason}", path.display())
        })?;
        claims.push(Claim {
            source: format!("exported checkpoint {}", path.display()),
            checkpoint,
        });
    }
    Ok(claims)
}

/// Walks the whole chain; the inner error is the message for a broken or damaged log.
fn walk_chain(
    data_dir: &Path,
    wanted: &std::collections::BTreeSet<u64>,
) -> anyhow::Result<Result<Walk, String>> {
    let log = SegmentLog::open_read_only(data_dir)?;
    let mut verifier = ChainVerifier::default();
    let mut hashes = BTreeMap::new();
    for record in log.records(0)? {
        let record = match record {
            Ok(record) => record,
            Err(ReadError::Corrupt { position, reason }) => {
                return Ok(Err(format!(
                    "chain broken at position {position}: the stored record is damaged: {reason}"
                )));
            }
            Err(err) => return Err(err).context("cannot read the event log"),
        };
        if let Err(broken) = verifier.check(&record) {
            return Ok(Err(format!(
                "chain broken at position {}: {broken}",
                broken.position()
            )));
        }
        if wanted.contains(&record.position) {
            hashes.insert(record.position, record.hash);
        }
    }
    Ok(Ok(Walk {
        head: verifier.verified(),
        hashes,
    }))
}

/// Checks one checkpoint's signature and its agreement with the log.
fn check_claim(vault: &Vault, walk: &Walk, claim: &Claim) -> Result<(), String> {
    let checkpoint = &claim.checkpoint;
    let position = checkpoint.position;
    let key = match vault.checkpoint_key(checkpoint.key_version) {
        Ok(key) => key,
        Err(VaultError::UnknownCheckpointKey(version)) => {
            return Err(format!(
                "position {position}: the {} names checkpoint key version {version}, which this \
                 keyring does not hold",
                claim.source
            ));
        }
        Err(err) => return Err(format!("position {position}: cannot load its key: {err}")),
    };
    if !checkpoint.signature_valid(key.expose()) {
        return Err(format!(
            "position {position}: the {} has an invalid signature; it was altered or forged",
            claim.source
        ));
    }
    if position > walk.head {
        return Err(format!(
            "position {position}: the log ends at position {}, but the {} covers position \
             {position}; events after position {} were cut off",
            walk.head, claim.source, walk.head
        ));
    }
    if walk.hashes.get(&position) != checkpoint.hash_bytes().as_ref() {
        return Err(format!(
            "position {position}: the stored record does not have the hash in the {}; the log \
             up to it was rewritten",
            claim.source
        ));
    }
    Ok(())
}

fn export(args: &CheckpointArgs) -> anyhow::Result<ExitCode> {
    let walk = match walk_chain(&args.data_dir, &std::collections::BTreeSet::new())? {
        Ok(walk) => walk,
        Err(message) => {
            println!("{message}; not signing a checkpoint over a broken chain");
            return Ok(ExitCode::from(1));
        }
    };
    anyhow::ensure!(
        walk.head > 0,
        "the event log is empty; there is nothing to checkpoint"
    );
    let store = CheckpointStore::in_data_dir(&args.data_dir);
    let latest = store.latest()?;
    let checkpoint = match latest {
        Some(latest) if latest.position >= walk.head => latest,
        _ => sign_head(args, &store, walk.head)?,
    };
    let mut text = serde_json::to_string_pretty(&checkpoint)?;
    text.push('\n');
    write_durably(&args.export, text.as_bytes())
        .with_context(|| format!("cannot write {}", args.export.display()))?;
    println!(
        "exported the checkpoint at position {} (key version {}) to {}",
        checkpoint.position,
        checkpoint.key_version,
        args.export.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Signs and stores a checkpoint of the record at `head`, read again after the chain walk.
fn sign_head(
    args: &CheckpointArgs,
    store: &CheckpointStore,
    head: u64,
) -> anyhow::Result<Checkpoint> {
    let log = SegmentLog::open_read_only(&args.data_dir)?;
    let record = log
        .read_all(head - 1, 1)?
        .pop()
        .context("the head record disappeared while signing")?;
    let master = master_key::resolve(&args.master_key, &args.data_dir, false)
        .context("signing a checkpoint needs the master key")?;
    let vault = Vault::open(&args.data_dir, master).context("cannot open the keyring")?;
    let (version, key) = vault.current_checkpoint_key()?;
    let checkpoint = Checkpoint::sign(record.position, &record.hash, version, key.expose());
    store.append(&checkpoint)?;
    Ok(checkpoint)
}

fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
