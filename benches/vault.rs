//! The vault per secret. The benches open a stored secret for signing (HKDF, unwrap, open, with
//! no data key or plaintext cached) and time each of those steps alone. They seal a new secret
//! under a new data key, and seal it with the keyring's durable insert.
//!
//! Run with `cargo bench --bench vault`; the figures are in docs/benchmarks.md.

use std::hint::black_box;

use criterion::measurement::Measurement;
use criterion::{Criterion, criterion_group, criterion_main};
use keyward_vault::envelope::{self, derive_wrap_key};
use keyward_vault::{MasterKey, MasterKeySource, SecretKind, SecretOwner, Vault};
use uuid::Uuid;

#[path = "support/cpu_time.rs"]
mod cpu_time;

use cpu_time::ThreadCpuTime;

/// A 64-character API secret.
const SECRET: &[u8] = b"Zx1Qw8Er4Ty7Ui0OpAs3Df6Gh9Jk2Lm5Nb8Vc1Xz4Qa7Ws0Ed3Rf6Tg9Yh2Uj5Ik";

/// Secrets stored beside the measured one, so that the lookup runs in a keyring of some size.
const OTHER_SECRETS: usize = 1000;

fn master() -> MasterKey {
    MasterKey::from_bytes([7; 32], MasterKeySource::Env("BENCH".into()))
}

fn owner() -> SecretOwner {
    SecretOwner {
        account_id: Some(Uuid::now_v7()),
        record_id: Uuid::now_v7(),
        kind: SecretKind::ApiSecret,
        context: "binance".into(),
    }
}

/// Builds a keyring with [`OTHER_SECRETS`] secrets and the measured one; returns its id.
fn filled_vault(dir: &std::path::Path) -> (Vault, Uuid) {
    let vault = Vault::open(dir, master()).expect("keyring opens");
    for _ in 0..OTHER_SECRETS {
        vault.seal(&owner(), SECRET).expect("seal");
    }
    let id = vault.seal(&owner(), SECRET).expect("seal");
    (vault, id)
}

fn vault_benches<M: Measurement + 'static>(c: &mut Criterion<M>, group: &str) {
    let dir = tempfile::tempdir().expect("temporary dir");
    let (vault, id) = filled_vault(dir.path());
    assert_eq!(vault.open_secret(id).expect("opens").expose(), SECRET);
    c.bench_function(&format!("{group}/open_secret"), |b| {
        b.iter(|| vault.open_secret(black_box(id)).map(|s| s.len()))
    });

    let master = master();
    let owner = owner();
    let (dek_id, secret_id) = (Uuid::now_v7(), Uuid::now_v7());
    let (wrapped, sealed) =
        envelope::seal_new(&master, 1, dek_id, secret_id, &owner, SECRET).expect("seal");
    c.bench_function(&format!("{group}/derive_wrap_key"), |b| {
        b.iter(|| derive_wrap_key(black_box(&master), black_box(&wrapped.salt), 1))
    });
    c.bench_function(&format!("{group}/unwrap_data_key"), |b| {
        b.iter(|| envelope::unwrap_data_key(black_box(&master), dek_id, black_box(&wrapped)))
    });
    let dek = envelope::unwrap_data_key(&master, dek_id, &wrapped).expect("unwraps");
    c.bench_function(&format!("{group}/open_sealed"), |b| {
        b.iter(|| envelope::open(black_box(&dek), secret_id, black_box(&owner), &sealed))
    });
    c.bench_function(&format!("{group}/seal_new"), |b| {
        b.iter(|| {
            let (dek_id, secret_id) = (Uuid::now_v7(), Uuid::now_v7());
            envelope::seal_new(&master, 1, dek_id, secret_id, black_box(&owner), SECRET)
        })
    });
}

fn wall_time(c: &mut Criterion) {
    vault_benches(c, "vault");

    let dir = tempfile::tempdir().expect("temporary dir");
    let vault = Vault::open(dir.path(), master()).expect("keyring opens");
    let owner = owner();
    let mut group = c.benchmark_group("vault_stored");
    group.sample_size(10);
    group.bench_function("seal_and_insert", |b| {
        b.iter(|| vault.seal(black_box(&owner), SECRET))
    });
    group.finish();
}

fn cpu_time(c: &mut Criterion<ThreadCpuTime>) {
    vault_benches(c, "vault_cpu");
}

criterion_group!(wall, wall_time);
criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = cpu_time
}
criterion_main!(wall, cpu);
