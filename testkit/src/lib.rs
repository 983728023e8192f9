//! Test-only helpers shared by keyward's crates.
//!
//! Some tests check keyward against material kept outside the repository: recorded exchange
//! answers, signing vectors, cryptographic test vectors and real market data. They find it in a
//! folder named `shared` beside the checkout (or at `KEYWARD_SHARED_DIR`). A fresh clone has no
//! such folder, so those tests skip with a printed reason; with `KEYWARD_REQUIRE_SHARED=1` a
//! missing file fails the test instead.

use std::path::PathBuf;

/// The folder of external reference material, if it exists.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("KEYWARD_SHARED_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
    };
    dir.is_dir().then_some(dir)
}

/// Returns the path of a reference file, or `None` after printing why the caller should skip.
///
/// # Panics
/// Panics when the file is missing and `KEYWARD_REQUIRE_SHARED=1`, so that CI cannot pass by
/// skipping.
pub fn shared_file(relative: &str) -> Option<PathBuf> {
    let path = shared_dir().map(|dir| dir.join(relative));
    match path {
        Some(path) if path.exists() => Some(path),
        _ => {
            let reason = format!("reference file shared/{relative} is not present");
            if std::env::var("KEYWARD_REQUIRE_SHARED").as_deref() == Ok("1") {
                panic!("{reason}, and KEYWARD_REQUIRE_SHARED=1 forbids skipping");
            }
            eprintln!("skipped: {reason}");
            None
        }
    }
}

/// Reads a reference file as text, or returns `None` after printing why the caller should skip.
///
/// # Panics
/// As [`shared_file`], and when the file exists but cannot be read.
pub fn read_shared(relative: &str) -> Option<String> {
    let path = shared_file(relative)?;
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(err) => panic!("cannot read {}: {err}", path.display()),
    }
}
