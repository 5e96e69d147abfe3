//! Provenance: `manifest.json` in every output directory, so that a result can be tied to what
//! produced it — each input file with its size and SHA-256, the leakscope version and commit,
//! a hash of the rules and policy catalogue in force, the options, start and end wall time and
//! the counts. `leakscope verify DIR` re-hashes the inputs (and the outputs listed) and says
//! which still match.
//!
//! Inputs are hashed on a thread of their own while the replay runs (they are read twice, the
//! second time from the page cache), so the hash costs CPU but little wall time.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The file's name in an output directory.
pub const FILE: &str = "manifest.json";

/// One file with its fingerprint.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    /// As given on the command line or found under a named directory (outputs: relative to the
    /// output directory).
    pub path: String,
    /// Absolute path at the time of the run (inputs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absolute: Option<String>,
    /// Bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// SHA-256, hex; `None` for what cannot be read twice (standard input, a FIFO).
    pub sha256: Option<String>,
    /// Why there is no hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The rules and policy catalogue in force.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RulesEntry {
    /// SHA-256 over every file below (name, NUL, contents, NUL, in order).
    pub sha256: String,
    /// Each file: `builtin:rules/…` for the embedded ones.
    pub files: Vec<FileEntry>,
}

/// Which leakscope wrote it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Build {
    /// Crate version.
    pub version: String,
    /// Git commit (12 hex digits) or `unknown`.
    pub commit: String,
    /// Build date, UTC.
    pub build_date: String,
}

impl Build {
    /// This binary.
    pub fn current() -> Build {
        Build {
            version: env!("CARGO_PKG_VERSION").into(),
            commit: env!("LEAKSCOPE_COMMIT").into(),
            build_date: env!("LEAKSCOPE_BUILD_DATE").into(),
        }
    }
}

/// `manifest.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version of this file.
    pub manifest_version: u32,
    /// The program.
    pub leakscope: Build,
    /// `replay` or `capture`.
    pub command: String,
    /// The command line after the program name (secrets such as `--anonymize KEY` masked).
    pub arguments: Vec<String>,
    /// Wall time at the start, UTC, `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    pub started: String,
    /// Wall time at the end.
    pub ended: String,
    /// Capture files read, in order (replay).
    #[serde(default)]
    pub inputs: Vec<FileEntry>,
    /// Interface captured on (capture).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Rules and policy.
    pub rules: RulesEntry,
    /// Counters of the run (packets, flow records, …).
    pub counts: serde_json::Value,
    /// Output files of this run in the directory, with their fingerprints (replay).
    #[serde(default)]
    pub outputs: Vec<FileEntry>,
}

/// SHA-256 and size of a file, read in 1 MiB blocks.
pub fn hash_file(path: &Path) -> io::Result<(u64, String)> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                h.update(&buf[..n]);
                size += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((size, hex(&h.finalize())))
}

use crate::record::hex::hex;

/// The entry of one input: hashed if it is a regular file.
fn input_entry(path: &Path) -> FileEntry {
    let shown = path.display().to_string();
    let absolute = std::path::absolute(path).ok().map(|p| p.display().to_string());
    let regular = std::fs::metadata(path).map(|m| m.is_file()).unwrap_or(false);
    if path == Path::new("-") || !regular {
        let note = if path == Path::new("-") { "standard input" } else { "not a regular file" };
        return FileEntry {
            path: shown,
            absolute: None,
            size: None,
            sha256: None,
            note: Some(note.into()),
        };
    }
    match hash_file(path) {
        Ok((size, sha)) => {
            FileEntry { path: shown, absolute, size: Some(size), sha256: Some(sha), note: None }
        }
        Err(e) => FileEntry {
            path: shown,
            absolute,
            size: None,
            sha256: None,
            note: Some(format!("not read: {e}")),
        },
    }
}

/// The rules in force: the embedded ones, every file of each `--rules` directory, and the
/// policy catalogue (`--policy` or the embedded one).
pub fn rules_entry(rules_dirs: &[PathBuf], policy: Option<&Path>) -> RulesEntry {
    let mut files: Vec<(String, Vec<u8>)> = crate::classify::rules::builtin_files()
        .iter()
        .map(|(n, t)| (format!("builtin:{n}"), t.as_bytes().to_vec()))
        .collect();
    for dir in rules_dirs {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        paths.retain(|p| {
            p.is_file()
                && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
                && p.file_name().is_none_or(|n| n != crate::policy::CATALOGUE_FILE)
        });
        paths.sort();
        for p in paths {
            files.push((p.display().to_string(), std::fs::read(&p).unwrap_or_default()));
        }
    }
    match policy {
        Some(p) => files.push((p.display().to_string(), std::fs::read(p).unwrap_or_default())),
        None => {
            let (n, t) = crate::policy::builtin_file();
            files.push((format!("builtin:{n}"), t.as_bytes().to_vec()));
        }
    }
    let mut all = Sha256::new();
    let entries = files
        .iter()
        .map(|(name, data)| {
            all.update(name.as_bytes());
            all.update([0]);
            all.update(data);
            all.update([0]);
            FileEntry {
                path: name.clone(),
                absolute: None,
                size: Some(data.len() as u64),
                sha256: Some(hex(&Sha256::digest(data))),
                note: None,
            }
        })
        .collect();
    RulesEntry { sha256: hex(&all.finalize()), files: entries }
}

/// Wall time as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn utc_now(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let (date, time) = crate::record::civil::utc_parts(d.as_secs() as i64);
    format!("{date}T{time}.{:03}Z", d.subsec_millis())
}

/// The command line with secret values masked.
pub fn arguments() -> Vec<String> {
    let mut out = Vec::new();
    let mut mask_next = false;
    for a in std::env::args().skip(1) {
        if mask_next {
            out.push("***".into());
            mask_next = false;
        } else if a == "--anonymize" {
            out.push(a);
            mask_next = true;
        } else if a.starts_with("--anonymize=") {
            out.push("--anonymize=***".into());
        } else {
            out.push(a);
        }
    }
    out
}

/// A manifest being made: started before the run, finished after it.
pub struct Recorder {
    started: SystemTime,
    command: String,
    rules: RulesEntry,
    interface: Option<String>,
    hashing: Option<JoinHandle<Vec<FileEntry>>>,
}

impl Recorder {
    /// Starts a replay's manifest: the inputs (expanded like the replay does) are hashed on a
    /// thread of their own.
    pub fn replay(inputs: &[PathBuf], rules_dirs: &[PathBuf], policy: Option<&Path>) -> Self {
        let files: Vec<PathBuf> = match crate::capture::paths::expand(inputs) {
            Ok(e) => e.files.into_iter().map(|i| i.path).collect(),
            Err(_) => Vec::new(), // the replay reports it
        };
        let hashing = std::thread::Builder::new()
            .name("manifest hashes".into())
            .spawn(move || files.iter().map(|p| input_entry(p)).collect())
            .ok();
        Recorder {
            started: SystemTime::now(),
            command: "replay".into(),
            rules: rules_entry(rules_dirs, policy),
            interface: None,
            hashing,
        }
    }

    /// Starts a capture's manifest.
    pub fn capture(interface: &str, rules_dirs: &[PathBuf]) -> Self {
        Recorder {
            started: SystemTime::now(),
            command: "capture".into(),
            rules: rules_entry(rules_dirs, None),
            interface: Some(interface.into()),
            hashing: None,
        }
    }

    /// Writes `dir/manifest.json` with `counts`; `outputs` are file names in `dir` to
    /// fingerprint (those that exist).
    pub fn finish(
        self,
        dir: &Path,
        counts: serde_json::Value,
        outputs: &[String],
    ) -> anyhow::Result<PathBuf> {
        // The outputs (a few files) are hashed side by side while the inputs' thread finishes:
        // the run's end waits for the largest file, not for their sum.
        let outputs: Vec<FileEntry> = std::thread::scope(|scope| {
            let hashers: Vec<_> = outputs
                .iter()
                .map(|name| (name, scope.spawn(move || hash_file(&dir.join(name)).ok())))
                .collect();
            hashers
                .into_iter()
                .filter_map(|(name, h)| {
                    let (size, sha) = h.join().ok().flatten()?;
                    Some(FileEntry {
                        path: name.clone(),
                        absolute: None,
                        size: Some(size),
                        sha256: Some(sha),
                        note: None,
                    })
                })
                .collect()
        });
        let inputs = self.hashing.and_then(|h| h.join().ok()).unwrap_or_default();
        let m = Manifest {
            manifest_version: 1,
            leakscope: Build::current(),
            command: self.command,
            arguments: arguments(),
            started: utc_now(self.started),
            ended: utc_now(SystemTime::now()),
            inputs,
            interface: self.interface,
            rules: self.rules,
            counts,
            outputs,
        };
        let path = dir.join(FILE);
        let mut text = serde_json::to_string_pretty(&m)?;
        text.push('\n');
        let mut f = crate::output::create::open(&path, crate::output::create::Mode::Truncate)?;
        io::Write::write_all(&mut f, text.as_bytes())
            .map_err(|e| anyhow::anyhow!("{}: write failed: {e}", path.display()))?;
        Ok(path)
    }
}

/// What `verify` found for one file.
#[derive(Debug, PartialEq, Eq)]
pub enum Check {
    /// Size and hash as recorded.
    Same,
    /// Different now: what differs.
    Changed(String),
    /// Cannot be read.
    Missing(String),
    /// Not hashed at the time (standard input).
    NotRecorded,
}

/// Checks one recorded file against `path` now.
pub fn check(entry: &FileEntry, path: &Path) -> Check {
    let Some(want) = &entry.sha256 else { return Check::NotRecorded };
    match hash_file(path) {
        Err(e) => Check::Missing(e.to_string()),
        Ok((size, sha)) if entry.size.is_some_and(|s| s != size) => Check::Changed(format!(
            "size {size} bytes, was {}; SHA-256 {sha}",
            entry.size.unwrap_or(0)
        )),
        Ok((_, sha)) if &sha != want => Check::Changed(format!("SHA-256 {sha}, was {want}")),
        Ok(_) => Check::Same,
    }
}

/// Reads `dir/manifest.json` and checks every input (at its absolute path, else as given) and
/// every output (in `dir`). Returns one line per file and whether all match.
pub fn verify(dir: &Path) -> anyhow::Result<(Vec<String>, bool)> {
    let path = dir.join(FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        anyhow::anyhow!("{}: {e} (not a leakscope output directory?)", path.display())
    })?;
    let m: Manifest = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: not a leakscope manifest: {e}", path.display()))?;
    let mut lines = Vec::new();
    let mut all = true;
    let mut say = |what: &str, e: &FileEntry, found: Check| {
        let line = match found {
            Check::Same => format!("ok       {what} {}", e.path),
            Check::NotRecorded => format!("skipped  {what} {} (not hashed: {})", e.path, {
                e.note.as_deref().unwrap_or("no hash")
            }),
            Check::Changed(why) => {
                all = false;
                format!("CHANGED  {what} {}: {why}", e.path)
            }
            Check::Missing(why) => {
                all = false;
                format!("MISSING  {what} {}: {why}", e.path)
            }
        };
        lines.push(line);
    };
    for e in &m.inputs {
        let at = e
            .absolute
            .as_deref()
            .map(PathBuf::from)
            .filter(|p| p.exists())
            .unwrap_or_else(|| PathBuf::from(&e.path));
        say("input ", e, check(e, &at));
    }
    for e in &m.outputs {
        say("output", e, check(e, &dir.join(&e.path)));
    }
    Ok((lines, all))
}

/// A replay's counts for the manifest.
pub fn replay_counts(o: &crate::replay::ReplayOutcome) -> serde_json::Value {
    let s = &o.stats;
    let mut counts = serde_json::json!({
        "files": o.files,
        "packets": s.packets.packets,
        "bytes": s.packets.bytes,
        "flow_records": s.records,
        "meta_records": s.meta_records,
        "evicted": s.table.evicted,
        "decode_errors": s.packets.decode_errors.total(),
        "damaged_inputs": o.faults.len(),
        "skipped": o.skipped.len(),
        "certs_capped": s.certs_capped,
        "carried_evicted": s.carried_evicted,
        "segments_refused": crate::dissect::stream::refused(),
        "exposure_caps": o.exposure_caps,
        "wall_seconds": o.elapsed.as_secs_f64(),
    });
    // Only a replay stopped early says so: the counts cover the packets read before the signal.
    if let Some(sig) = o.interrupted {
        counts["interrupted"] = signal_name(sig).into();
    }
    counts
}

/// `SIGINT`, `SIGTERM`, … for a signal number.
pub fn signal_name(sig: i32) -> String {
    nix::sys::signal::Signal::try_from(sig)
        .map_or_else(|_| format!("signal {sig}"), |s| s.as_str().to_owned())
}

/// The outputs of a replay inside `dir` to fingerprint: the JSON Lines files, and `--csv` or
/// `--sqlite` files when they were written there.
pub fn replay_outputs(dir: &Path, extra: &[Option<&Path>]) -> Vec<String> {
    let mut v = vec!["flows.jsonl".to_owned(), "events.jsonl".to_owned()];
    let abs_dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    for p in extra.iter().flatten() {
        let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        if let Ok(rel) = abs.strip_prefix(&abs_dir) {
            v.push(rel.display().to_string());
        }
    }
    v
}
