//! Finding the master key: environment, key file, or (sandbox only) a generated file.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use keyward_vault::MasterKey;
use keyward_vault::master::MASTER_KEY_ENV;

/// Name of the key file `serve --sandbox` creates in the data dir.
pub const SANDBOX_KEY_FILE: &str = "master.key";

/// Options every command that opens the vault shares.
#[derive(Debug, Clone, clap::Args)]
pub struct MasterKeyArgs {
    /// File holding the master key as base64 of 32 bytes (instead of KEYWARD_MASTER_KEY).
    #[arg(long, value_name = "FILE")]
    pub master_key_file: Option<PathBuf>,
}

/// Resolves the master key: `KEYWARD_MASTER_KEY`, then `--master-key-file`, then in sandbox
/// mode the data dir's own key file, created on first use.
pub fn resolve(args: &MasterKeyArgs, data_dir: &Path, sandbox: bool) -> anyhow::Result<MasterKey> {
    if let Some(key) = MasterKey::from_env(MASTER_KEY_ENV)? {
        return Ok(key);
    }
    if let Some(path) = &args.master_key_file {
        warn_if_others_can_read(path);
        return MasterKey::from_file(path).context("cannot load the master key");
    }
    let sandbox_file = data_dir.join(SANDBOX_KEY_FILE);
    if sandbox_file.exists() && sandbox {
        return MasterKey::from_file(&sandbox_file).context("cannot load the sandbox master key");
    }
    if sandbox {
        let key = MasterKey::generate_file(&sandbox_file)?;
        tracing::warn!(
            path = %sandbox_file.display(),
            "sandbox mode: created a master key file beside the data; anyone who can read \
             both can open the stored secrets. Use KEYWARD_MASTER_KEY or --master-key-file \
             for real keys"
        );
        return Ok(key);
    }
    if sandbox_file.exists() {
        bail!(
            "no master key given, and {} is a sandbox key file: run with --sandbox, or pass \
             --master-key-file {} to use it outside the sandbox",
            sandbox_file.display(),
            sandbox_file.display()
        );
    }
    bail!(
        "no master key: set {MASTER_KEY_ENV} to base64 of 32 random bytes (for example \
         `export {MASTER_KEY_ENV}=$(head -c 32 /dev/urandom | base64)`) or pass \
         --master-key-file FILE; keep that key safe, because without it the stored secrets \
         cannot be opened"
    )
}

/// Logs a warning when users other than the owner may read the key file.
fn warn_if_others_can_read(path: &Path) {
    use std::os::unix::fs::PermissionsExt;

    let Ok(metadata) = std::fs::metadata(path) else {
        return;
    };
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{mode:o}"),
            "the master key file can be read by other users; run `chmod 600` on it"
        );
    }
}
