//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test crate uses a different part

pub mod mmdb;

use std::path::PathBuf;

/// `shared/data` for tests that use the real data files: `$LEAKSCOPE_SHARED_DATA`, else
/// `../shared/data` beside the crate (where CI lays `shared/`). `None` (with a message) when absent
/// locally; under `CI=true` a missing directory fails the test instead of skipping it.
pub fn shared_data(what: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("LEAKSCOPE_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    if dir.join(what).exists() {
        return Some(dir);
    }
    let msg = format!(
        "{} not found (set LEAKSCOPE_SHARED_DATA to shared/data)",
        dir.join(what).display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
    None
}
