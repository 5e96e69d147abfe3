//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use leakscope::flow::FlowConfig;
use leakscope::replay::{ReplayOptions, ReplayOutcome, replay};

/// The crate root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/captures` (or `$LEAKSCOPE_SHARED_CAPTURES`). `None` means: skip, after saying so.
/// Under CI (`CI=true`) a missing directory fails the test instead.
pub fn shared_captures(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("LEAKSCOPE_SHARED_CAPTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/captures"));
    if dir.join("ndpi").is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: shared captures missing at {} (required in CI)", dir.display());
    }
    eprintln!(
        "SKIPPED {test}: no shared captures at {} (set LEAKSCOPE_SHARED_CAPTURES)",
        dir.display()
    );
    None
}

/// `../shared/data` (or `$LEAKSCOPE_SHARED_DATA`) when it holds the test .mmdb files.
pub fn shared_data() -> Option<PathBuf> {
    let dir = std::env::var_os("LEAKSCOPE_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/data"));
    dir.join("geo/asn.mmdb").is_file().then_some(dir)
}

/// Every capture file of a group (`meta` or `negative`), sorted.
pub fn captures_in(shared: &Path, group: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(shared.join("ndpi").join(group).join("pcap"))
        .expect("capture dir")
        .map(|e| e.expect("entry").path())
        .collect();
    v.sort();
    v
}

/// Replays `inputs` into a fresh temporary directory; returns the outcome, the directory guard
/// and the parsed `flows.jsonl` lines.
pub fn replay_to_temp(
    inputs: &[PathBuf],
) -> (ReplayOutcome, tempfile::TempDir, Vec<serde_json::Value>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = ReplayOptions::new(inputs.to_vec(), Some(dir.path().to_owned()));
    opts.flow = FlowConfig::default();
    if let Some(data) = shared_data() {
        opts.asn_db = Some(data.join("geo/asn.mmdb"));
        opts.country_db = Some(data.join("geo/country.mmdb"));
    }
    let outcome = replay(&opts).expect("replay runs");
    let text = std::fs::read_to_string(dir.path().join("flows.jsonl")).expect("flows.jsonl");
    let flows = text.lines().map(|l| serde_json::from_str(l).expect("valid JSON line")).collect();
    (outcome, dir, flows)
}
