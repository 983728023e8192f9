//! Every recorded exchange fixture is read by some test: this lists the fixture folders and
//! looks for each file name in the test sources of the adapters and the emulator.

use std::path::{Path, PathBuf};

const EXCHANGES: [&str; 3] = ["binance", "bybit", "okx"];

/// Returns the text of every Rust test source of the adapters and the emulator.
fn test_sources() -> Vec<(PathBuf, String)> {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let folders = [
        crate_dir.join("tests"),
        crate_dir.join("tests/common"),
        crate_dir.join("../emulator/tests"),
    ];
    let mut sources = Vec::new();
    for folder in folders {
        let entries = std::fs::read_dir(&folder)
            .unwrap_or_else(|err| panic!("cannot list {}: {err}", folder.display()));
        for entry in entries {
            let path = entry.expect("folder entry").path();
            let is_source = path.extension().is_some_and(|ext| ext == "rs");
            // This file names no fixture, and must not count as using one.
            if is_source
                && path
                    .file_name()
                    .is_some_and(|name| name != "fixture_coverage.rs")
            {
                let text = std::fs::read_to_string(&path).expect("readable source");
                sources.push((path, text));
            }
        }
    }
    sources
}

#[test]
fn every_fixture_is_used_by_a_test() {
    let sources = test_sources();
    let mut unused = Vec::new();
    let mut listed = 0;
    for exchange in EXCHANGES {
        let Some(dir) = keyward_testkit::shared_file(&format!("exchanges/fixtures/{exchange}"))
        else {
            return;
        };
        let entries = std::fs::read_dir(&dir).expect("fixture folder is readable");
        for entry in entries {
            let name = entry.expect("folder entry").file_name();
            let name = name.to_string_lossy().into_owned();
            listed += 1;
            let used = sources.iter().any(|(path, text)| {
                let mentions_exchange = path.to_string_lossy().contains(exchange)
                    || text.contains(&format!("fixtures/{exchange}"));
                let quoted = format!("\"{name}\"");
                let in_path = format!("/{name}\"");
                mentions_exchange && (text.contains(&quoted) || text.contains(&in_path))
            });
            if !used {
                unused.push(format!("{exchange}/{name}"));
            }
        }
    }
    assert!(listed >= 100, "only {listed} fixtures found");
    assert!(unused.is_empty(), "fixtures no test reads: {unused:#?}");
}
